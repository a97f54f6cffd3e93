import type { Config } from '../config.js';
import type { Context } from '../context.js';
import type { Db } from '../db/index.js';
import { freezeAudienceChunks, type FrozenChunk } from '../db/deliveries.js';
import { databaseNow } from '../db/releases.js';
import type { Release } from '../db/schema.js';
import { addSendJobs, sendJobs } from '../queue/send-jobs.js';
import { beginSending } from '../releases/lifecycle.js';

/**
 * Rows in a lift's first chunk: a quick first send job, claimed within milliseconds of the lift.
 * Twenty releases lifting together freeze theirs in one statement and then make twenty claims at
 * once: at 5 rows each the last first message left 150-190 ms after the instant, at 25 170-280
 * (alternating runs of `npm run bench -- --sink postfix --releases 20 --runs 2`).
 */
export const firstChunkSize = (config: Config) => Math.min(5, config.SEND_BATCH_SIZE, config.FANOUT_CHUNK_SIZE);

/** A lifted release, its first chunk frozen and its first send jobs queued. */
export interface LiftStart {
  release: Release;
  firstChunk: FrozenChunk;
  jobs: number;
}

interface Waiting {
  release: Release;
  resolve: (start: LiftStart | null) => void;
  reject: (error: unknown) => void;
}

/** The lifts gathering for each instant, per context (a test process runs several). */
const gathering = new WeakMap<Context, Map<number, Waiting[]>>();

/**
 * Lifts a release at its send instant together with every other lift of this process due then:
 * 00:01 is everyone's favourite embargo. They wait for the instant once, one UPDATE lifts them all,
 * one statement freezes each one's first chunk and one addBulk queues their first send jobs. Each
 * on its own, twenty releases made sixty round trips queue on two cores, and the last release's
 * first message left 210–240 ms after the instant.
 * Null when the release was not lifted by this call: it moved on (a new version, a cancellation)
 * meanwhile, or another job of this process lifts it.
 */
export function liftAtInstant(ctx: Context, release: Release): Promise<LiftStart | null> {
  const instant = release.send_at.getTime();
  const groups = gathering.get(ctx) ?? new Map<number, Waiting[]>();
  gathering.set(ctx, groups);
  const group = groups.get(instant);
  // A second job for the same lift (a duplicate delivery) leaves it to the first.
  if (group?.some((w) => w.release.id === release.id && w.release.version === release.version))
    return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    if (group) return group.push({ release, resolve, reject });
    const started = [{ release, resolve, reject }];
    groups.set(instant, started);
    void liftTogether(ctx, release.send_at, started, () => groups.delete(instant));
  });
}

async function liftTogether(ctx: Context, instant: Date, group: Waiting[], close: () => void): Promise<void> {
  const { db, config, queues } = ctx;
  try {
    try {
      await untilInstant(db, instant);
    } finally {
      // A lift that comes later forms a group of its own, which finds its instant passed.
      close();
    }
    const lifted = await beginSending(
      ctx,
      group.map((w) => w.release),
    );
    const chunks = await freezeAudienceChunks(
      db,
      'lift',
      firstChunkSize(config),
      lifted.map((r) => ({ releaseId: r.id, version: r.version, instant: r.lifted_at!, afterSubscriberId: 0 })),
    );
    const jobs = new Map(lifted.map((r) => [r.id, sendJobs(config, r.id, chunks.get(r.id)!.queuedIds, { turn: 1 })]));
    await addSendJobs(queues.send, [...jobs.values()].flat());
    const byId = new Map(lifted.map((r) => [r.id, r]));
    for (const { release, resolve } of group) {
      const own = byId.get(release.id);
      resolve(own ? { release: own, firstChunk: chunks.get(own.id)!, jobs: jobs.get(own.id)!.length } : null);
    }
  } catch (error) {
    for (const { reject } of group) reject(error);
  }
}

/**
 * Waits until PostgreSQL's clock reaches the instant. Sleeps most of the way, then checks again:
 * the lift's own UPDATE re-checks `send_at <= now()`, so this only decides how punctual it is.
 */
async function untilInstant(db: Db, instant: Date): Promise<void> {
  for (;;) {
    const remainingMs = instant.getTime() - (await databaseNow(db)).getTime();
    if (remainingMs <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, remainingMs));
  }
}
