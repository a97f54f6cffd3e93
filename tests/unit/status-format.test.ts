import { describe, expect, it } from 'vitest';
import { formatStatus, type OperatorStatus } from '../../src/telemetry/status.js';

const status = (paused: boolean): OperatorStatus => ({
  sending: paused ? { paused, by: 'cli:ops', at: '2026-11-29T05:00:00.000Z' } : { paused, by: null, at: null },
  queues: {
    lift: { waiting: 0, delayed: 3, active: 0, failed: 0, paused, workers: ['a:1', 'b:2'] },
    send: { waiting: 1200, delayed: 0, active: 8, failed: 1, paused, workers: [] },
  },
  releases: [
    { id: 4, status: 'sending', sendAt: '2026-11-29T05:00:00.000Z', liftLagMs: 2500, counts: { sent: 10, queued: 5 } },
    { id: 7, status: 'scheduled', sendAt: '2026-11-29T09:00:00.000Z', liftLagMs: null, counts: {} },
  ],
});

describe('presslift status as text', () => {
  it('leads with a pause, who made it and how to undo it', () => {
    expect(formatStatus(status(true)).split('\n')[0]).toBe(
      'SENDING PAUSED by cli:ops at 2026-11-29T05:00:00.000Z — `presslift resume` to continue',
    );
    expect(formatStatus(status(false)).split('\n')[0]).toBe('sending: running');
  });

  it('lines the queue table up in columns and lists releases by id only', () => {
    const lines = formatStatus(status(false)).split('\n');
    expect(lines.slice(2, 5)).toEqual([
      'queue  waiting  delayed  active  failed  paused  workers',
      'lift   0        3        0       0       no      2: a:1, b:2',
      'send   1200     0        8       1       no      0: none',
    ]);
    expect(lines).toContain('  #4 sending, sends at 2026-11-29T05:00:00.000Z, lifted 2.5 s late: sent 10, queued 5');
    expect(lines).toContain('  #7 scheduled, sends at 2026-11-29T09:00:00.000Z: no deliveries yet');
  });
});
