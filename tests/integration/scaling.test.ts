import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorStatus } from '../../src/telemetry/status.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { listOfSize, listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import {
  freePort,
  killProcess,
  runPresslift,
  spawnPresslift,
  startWorkerProcess,
  type PressliftProcess,
} from '../support/processes.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

// Three `presslift worker` processes against one Redis and PostgreSQL, steered by the CLI.
let h: Harness;
let smtp: TestSmtp;
let workers: PressliftProcess[] = [];
let env: Record<string, string>;
let metricsPorts: number[] = [];

beforeAll(async () => {
  smtp = await startSmtp();
  smtp.delayMs = 5; // a relay that takes a moment, so batches overlap and every worker gets some
  h = await createHarness({ SMTP_URL: smtp.url, SEND_BATCH_SIZE: '5', SEND_CONCURRENCY: '2' });
  env = { ...h.env, LOG_LEVEL: 'info' }; // the harness silences logs; these tests read them
  metricsPorts = await Promise.all([1, 2, 3].map(() => freePort()));
  workers = await Promise.all(metricsPorts.map((port) => startWorkerProcess({ ...env, METRICS_PORT: String(port) })));
  await waitUntil(
    async () => (await h.ctx.queues.send.getWorkers()).length === 3,
    30_000,
    'three send workers registered',
  );
});
afterAll(async () => {
  await Promise.all(workers.map(killProcess));
  await h?.close();
  await smtp?.close();
});

const sent = (id: number) => releaseReaches(h, id, 'sent', 60_000);

/** How each worker process names itself to Redis (WORKER_NAME). */
const workerNames = () => workers.map((w) => `${hostname()}:${w.child.pid}`).sort();

/** `presslift status --json` prints one JSON line, which the process helper parses like a log line. */
async function cliStatus(): Promise<OperatorStatus> {
  const run = await runPresslift(['status', '--json'], env);
  return run.logs.find((line) => 'queues' in line) as unknown as OperatorStatus;
}

describe('three worker processes', () => {
  it('share one release, every batch sent by exactly one of them, every recipient exactly once', async () => {
    const names = workerNames();

    const list = await listOfSize(h, 'Wire services', 150);
    const { id, embargoAt } = await scheduleIn(h, [list], 2000);
    const release = await sent(id);
    expect(release.counts).toMatchObject({ sent: 150, queued: 0, sending: 0, failed: 0 });

    const recipients = smtp.messages.map((m) => m.to[0]);
    expect(recipients).toHaveLength(150);
    expect(new Set(recipients).size).toBe(150);
    for (const message of smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());

    // The release is sent inside the last batch's job, a moment before BullMQ marks that job completed.
    const jobs = await waitUntil(
      async () => {
        const done = (await h.ctx.queues.send.getJobs(['completed'])).filter((job) => job.data.releaseId === id);
        return done.length === 30 && done;
      },
      30_000,
      '30 completed send jobs',
    );
    const perWorker = new Map<string, number>();
    for (const job of jobs) perWorker.set(job.processedBy!, (perWorker.get(job.processedBy!) ?? 0) + 1);
    expect([...perWorker.keys()].sort()).toEqual(names);

    // Each worker serves its own histograms on its METRICS_PORT, unauthenticated: together they
    // timed every message, and the one that finished the release observed its lags once.
    const scrapes = await Promise.all(
      metricsPorts.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
    );
    const total = (name: string) =>
      scrapes.reduce((sum, text) => sum + Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? 0), 0);
    expect(total('presslift_smtp_send_duration_seconds_count\\{outcome="sent"\\}')).toBe(150);
    expect(total('presslift_lift_first_send_lag_seconds_count')).toBe(1);
    expect(total('presslift_lift_last_send_lag_seconds_count')).toBe(1);
    expect((await fetch(`http://127.0.0.1:${metricsPorts[0]}/readyz`)).status).toBe(200);
  });

  it('stop sending everywhere on `presslift pause` and catch up, late, on `presslift resume`', async () => {
    smtp.messages.length = 0;
    await runPresslift(['pause'], env);
    expect(await h.ctx.queues.send.isPaused()).toBe(true);
    expect(await h.ctx.queues.lift.isPaused()).toBe(true);

    const list = await listWith(h, 'Night desk', [{ email: 'n1@example.org' }, { email: 'n2@example.org' }]);
    const { id, embargoAt } = await scheduleIn(h, [list], 2000);
    // Held past the 5 s after which a lift is logged as late.
    await waitUntil(async () => Date.now() > embargoAt.getTime() + 5500, 15_000, 'the embargo to pass');
    const held = await cliStatus();
    expect(held.sending).toMatchObject({ paused: true });
    expect(held.releases).toContainEqual(expect.objectContaining({ id, status: 'scheduled' }));
    expect(held.queues.send!.workers).toEqual(workerNames());
    expect(smtp.messages).toHaveLength(0);

    await runPresslift(['resume'], env);
    const release = await sent(id);
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(['n1@example.org', 'n2@example.org']);
    expect(release.liftLagMs).toBeGreaterThanOrEqual(5500);
    const lateLift = workers
      .flatMap((w) => w.logs)
      .find((line) => line.msg === 'embargo lifted late; freezing the audience' && line.releaseId === id);
    expect(lateLift).toMatchObject({ level: 40, releaseId: id });
    expect(Number(lateLift!.lagMs)).toBeGreaterThanOrEqual(5500);
  });

  it('send failed deliveries again on `presslift deliveries retry`', async () => {
    smtp.messages.length = 0;
    smtp.respond = (recipient, attempt) =>
      recipient === 'flaky@example.org' && attempt === 1 ? { code: 554, message: 'policy rejection' } : undefined;
    const list = await listWith(h, 'Retry desk', [{ email: 'steady@example.org' }, { email: 'flaky@example.org' }]);
    const { id } = await scheduleIn(h, [list], 2000);
    expect((await sent(id)).counts).toMatchObject({ sent: 1, failed: 1 });

    const retried = await runPresslift(['deliveries', 'retry', '--release', String(id), '--state', 'failed'], env);
    expect(retried.logs.map((l) => l.msg)).toContain(`release ${id}: 1 failed deliveries queued again in 1 send jobs`);
    expect((await sent(id)).counts).toMatchObject({ sent: 2, failed: 0 });
    smtp.respond = undefined;

    const bad = spawnPresslift(['deliveries', 'retry', '--release', 'abc'], env);
    expect(await bad.exited).not.toBe(0);
    expect(bad.tail()).toMatch(/--release must be a positive whole number/);
  });

  it('exit 0 on SIGTERM, as do the api and start roles', async () => {
    const servers = await Promise.all(
      ['api', 'start'].map(async (role) => {
        const server = spawnPresslift([role], { ...env, PORT: String(await freePort()) });
        await server.waitForLog('API listening');
        return server;
      }),
    );
    const all = [...workers, ...servers];
    for (const proc of all) proc.kill('SIGTERM');
    expect(await Promise.all(all.map((p) => p.exited))).toEqual([0, 0, 0, 0, 0]);
    for (const proc of all) expect(proc.logs.map((l) => l.msg)).toContain('stopping');
  });
});
