import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { Queues } from '../queue/index.js';
import type { DeliveryState, ReleaseStatus } from '../states.js';
import { QUEUE_STATES } from './metrics.js';
import { pauseState, type PauseState } from '../controls/pause.js';

export interface StatusDeps {
  db: Db;
  queues: Queues;
}

export interface OperatorStatus {
  sending: PauseState;
  queues: Record<string, { paused: boolean; workers: string[] } & Record<(typeof QUEUE_STATES)[number], number>>;
  /**
   * Releases sending now, or due to send (embargo, or an earlier lift) within 24 hours or overdue, e.g. held by a
   * pause; ids only.
   */
  releases: Array<{
    id: number;
    status: ReleaseStatus;
    sendAt: string;
    liftLagMs: number | null;
    counts: Partial<Record<DeliveryState, number>>;
  }>;
}

/** What an operator checks first: is sending paused, how deep are the queues, who works, what is due. */
export async function operatorStatus(ctx: StatusDeps): Promise<OperatorStatus> {
  const queues: OperatorStatus['queues'] = {};
  for (const queue of [ctx.queues.lift, ctx.queues.send]) {
    const [counts, paused, workers] = await Promise.all([
      queue.getJobCounts(...QUEUE_STATES),
      queue.isPaused(),
      queue.getWorkers(),
    ]);
    queues[queue.name] = {
      ...(Object.fromEntries(QUEUE_STATES.map((state) => [state, counts[state] ?? 0])) as Record<
        (typeof QUEUE_STATES)[number],
        number
      >),
      paused,
      // A worker's client name ends with ":w:<host>:<pid>" (WORKER_NAME).
      workers: workers.map((w) => (w.rawname ?? '').split(':w:')[1] ?? w.addr ?? 'unknown').sort(),
    };
  }
  const { rows } = await sql<{
    id: number;
    status: ReleaseStatus;
    send_at: Date;
    lifted_at: Date | null;
    counts: Record<DeliveryState, number> | null;
  }>`
    SELECT r.id, r.status, r.send_at, r.lifted_at,
           (SELECT jsonb_object_agg(state, n) FROM (SELECT state, count(*)::int AS n FROM deliveries d WHERE d.release_id = r.id GROUP BY state) c) AS counts
    FROM releases r
    WHERE r.status = 'sending' OR (r.status = 'scheduled' AND r.send_at < now() + interval '24 hours')
    ORDER BY r.send_at`.execute(ctx.db);
  return {
    sending: await pauseState(ctx.db),
    queues,
    releases: rows.map((r) => ({
      id: r.id,
      status: r.status,
      sendAt: r.send_at.toISOString(),
      liftLagMs: r.lifted_at ? r.lifted_at.getTime() - r.send_at.getTime() : null,
      counts: r.counts ?? {},
    })),
  };
}

/** The status as a few aligned lines for a terminal. */
export function formatStatus(status: OperatorStatus): string {
  const lines: string[] = [];
  const { sending } = status;
  lines.push(
    sending.paused
      ? `SENDING PAUSED by ${sending.by} at ${sending.at} — \`presslift resume\` to continue`
      : 'sending: running',
  );
  const table = [['queue', ...QUEUE_STATES, 'paused', 'workers']];
  for (const [name, q] of Object.entries(status.queues)) {
    table.push([
      name,
      ...QUEUE_STATES.map((state) => String(q[state])),
      q.paused ? 'yes' : 'no',
      `${q.workers.length}: ${q.workers.join(', ') || 'none'}`,
    ]);
  }
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  lines.push(
    '',
    ...table.map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    ),
  );
  lines.push(
    '',
    status.releases.length > 0 ? 'releases sending or due within 24 h:' : 'no release sending or due within 24 h',
  );
  for (const r of status.releases) {
    const counts =
      Object.entries(r.counts)
        .map(([state, n]) => `${state} ${n}`)
        .join(', ') || 'no deliveries yet';
    const lag = r.liftLagMs === null ? '' : `, lifted ${(r.liftLagMs / 1000).toFixed(1)} s late`;
    lines.push(`  #${r.id} ${r.status}, sends at ${r.sendAt}${lag}: ${counts}`);
  }
  return lines.join('\n');
}
