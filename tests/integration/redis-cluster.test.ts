import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOfSize, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { killProcess, runPresslift, startWorkerProcess, type PressliftProcess } from '../support/processes.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

// Debian's redis-server as a three-master cluster with a replica each; the API (this process) and
// two `presslift worker` processes reach it through REDIS_CLUSTER_NODES only.
let cluster: RedisCluster;
let smtp: TestSmtp;
let h: Harness;
const workers: PressliftProcess[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  smtp = await startSmtp();
  h = await createHarness({
    REDIS_CLUSTER_NODES: cluster.seeds,
    REDIS_URL: 'redis://127.0.0.1:1',
    SMTP_URL: smtp.url,
    SEND_BATCH_SIZE: '4',
    RECONCILE_INTERVAL_SECONDS: '2',
  });
  const env = { ...h.env, LOG_LEVEL: 'info', SMTP_POOL_SIZE: '2', SEND_CONCURRENCY: '2' };
  workers.push(await startWorkerProcess(env), await startWorkerProcess(env));
}, 120_000);
afterAll(async () => {
  await Promise.all(workers.map(killProcess));
  await h?.close();
  await smtp?.close();
  await cluster?.stop();
});

const messagesOf = (releaseId: number) =>
  smtp.messages.filter((m) => m.mail.messageId?.startsWith(`<release-${releaseId}.`));

describe('Redis Cluster', () => {
  it('schedules, lifts and sends through a failover of the node holding the slot, losing nothing and sending nothing twice', async () => {
    const list = await listOfSize(h, 'Cluster', 40, 'cluster.example');
    smtp.delayMs = 60;
    const before = await cluster.slotOwner(h.config.QUEUE_PREFIX);
    const { id, embargoAt } = await scheduleIn(h, [list], 3000);
    await waitUntil(async () => messagesOf(id).length >= 10, 60_000, 'the send under way');

    const failover = await cluster.failover(h.config.QUEUE_PREFIX);
    expect(failover).toEqual({ slot: before.slot, from: before.master, to: before.replica });
    smtp.delayMs = 0;
    // A release scheduled after the failover lifts on time through the promoted master.
    const after = await scheduleIn(h, [list], 2500);
    const sent = await releaseReaches(h, id, 'sent', 90_000);
    const sentAfter = await releaseReaches(h, after.id, 'sent', 90_000);

    const reconciled = await runPresslift(['reconcile'], h.env);
    const counts = reconciled.logs.find((l) => 'liftJobs' in l);
    for (const [release, summary] of [
      [id, sent],
      [after.id, sentAfter],
    ] as const) {
      const copies = messagesOf(release);
      expect(summary.counts).toMatchObject({ sent: 40, queued: 0, sending: 0, failed: 0 });
      expect(new Set(copies.map((m) => m.mail.messageId)).size).toBe(40);
      expect(copies).toHaveLength(40);
      const lifted = await h.ctx.db
        .selectFrom('releases')
        .select(['lifted_at', 'send_at'])
        .where('id', '=', release)
        .executeTakeFirstOrThrow();
      expect(copies.every((m) => m.startedAt >= lifted.send_at.getTime())).toBe(true);
    }
    const { rows } = await sql<{
      state: string;
      n: number;
    }>`SELECT state, count(*)::int AS n FROM deliveries GROUP BY state`.execute(h.ctx.db);
    expect(rows).toEqual([{ state: 'sent', n: 80 }]);
    const moved = workers.flatMap((w) => w.logs).filter((l) => /MOVED|CLUSTERDOWN/.test(JSON.stringify(l))).length;
    console.info(
      JSON.stringify({
        redisCluster: { masters: 3, replicas: 3, slot: failover.slot, failover: `${failover.from} -> ${failover.to}` },
        releases: [
          { id, embargoAt: embargoAt.toISOString(), sent: messagesOf(id).length },
          { id: after.id, sent: messagesOf(after.id).length },
        ],
        duplicates: 80 - new Set([...messagesOf(id), ...messagesOf(after.id)].map((m) => m.mail.messageId)).size,
        reconcile: counts,
        workerLogLinesMentioningMovedOrClusterDown: moved,
      }),
    );
  }, 180_000);
});
