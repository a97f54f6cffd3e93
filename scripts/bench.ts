/**
 * `npm run bench -- --recipients N --workers W --runs K [--releases R] [--sink node|postfix] [--pool-size P] [--cpu-prof DIR] [--rss-timeline] [--rate-timeline]`
 *
 * Seeds N subscribers in a database of its own, starts W real worker processes and a separate
 * SMTP sink, then K times schedules a release a few seconds ahead and waits for it to be sent.
 * Prints one JSON line: delivery figures (from the sink and PostgreSQL), lift precision per run
 * and their median, worker memory, and two same-run ceilings sending one pre-built message of the
 * same size N times to the same sink: a bare nodemailer pool (the issue's ceiling), and Presslift's
 * own SMTP pool (what is left is the worker's own work); with `--sink postfix`, Postfix's smtp-sink
 * is the sink and `smtp-source -d` with the workers' connection count is a third ceiling, the wire's.
 * With `--releases R`, each run lifts R releases of N recipients at one instant, after one release
 * of R × N as their ceiling (see manyFigures), all after an unmeasured warm-up release. Cleans up
 * what it made.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createContext, type Context } from '../src/context.js';
import { dropDatabase } from '../src/db/index.js';
import { findRelease } from '../src/db/releases.js';
import { createLogger } from '../src/log.js';
import { assembleMessage } from '../src/mail/assemble.js';
import { personaliseMessage, messageSettings } from '../src/mail/message.js';
import { createRelease, scheduleRelease } from '../src/releases/lifecycle.js';
import { organisation } from '../src/render/organisation.js';
import { compiledRelease } from '../src/releases/renders.js';
import { prepareDatabase } from '../src/processes.js';
import { nodemailerPoolCeiling, ownPoolCeiling } from './bench/ceiling.js';
import { postfixAvailable, sourceCeiling, startPostfixSink } from './bench/postfix.js';
import { postgresCpuMs, startSink, startWorker, type Arrival, type WorkerProcess } from './bench/processes.js';
import { benchBody, seedAudience } from './bench/seed.js';

const { values: args } = parseArgs({
  options: {
    /** Recipients of each release (default 10,000; 2,000 with --releases). */
    recipients: { type: 'string' },
    /** R releases, each to its own list of --recipients, embargoed to the same second; and, each run, one release to all of them as the ceiling. */
    releases: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    runs: { type: 'string', default: '1' },
    'lead-ms': { type: 'string', default: '3000' },
    /** SMTP connections per worker, for the workers and both ceilings (default: SMTP_POOL_SIZE's default). */
    'pool-size': { type: 'string' },
    'cpu-prof': { type: 'string' },
    /** Adds the workers' summed RSS once a second during the runs, to show memory flat during fan-out. */
    'rss-timeline': { type: 'boolean', default: false },
    /** Adds, per run, the messages accepted in each second after the instant: shows whether the fan-out slows the start. */
    'rate-timeline': { type: 'boolean', default: false },
    /** `node` (smtp-server in a child process, the default) or `postfix` (Postfix's smtp-sink, plus the smtp-source ceiling). */
    sink: { type: 'string', default: 'node' },
  },
});
const releaseCount = Number(args.releases);
const recipients = Number(args.recipients ?? (releaseCount > 1 ? 2000 : 10000));
/** Messages a run sends: every release's. */
const total = recipients * releaseCount;
const workerCount = Number(args.workers);
const runs = Number(args.runs);

const id = randomBytes(4).toString('hex');
const scratch = `/tmp/presslift-bench-${id}`;
mkdirSync(scratch, { recursive: true });
const env: Record<string, string> = {
  DATABASE_URL: `postgres://postgres@127.0.0.1:5432/presslift_bench_${id}`,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  QUEUE_PREFIX: `{plbench-${id}}`,
  LOG_LEVEL: 'info',
  EMBARGO_MIN_LEAD_SECONDS: '1',
  PUBLIC_URL: 'https://news.example.org',
  OUTBOX_DIR: `${scratch}/outbox`,
  ...(args['pool-size'] ? { SMTP_POOL_SIZE: args['pool-size'] } : {}),
};

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (value: number, places = 0) => Math.round(value * 10 ** places) / 10 ** places;

interface RunFigures {
  release_id: number;
  sent: number;
  duplicates: number;
  lost: number;
  sent_before_embargo: number;
  lift_to_first_ms: number;
  lift_to_last_ms: number;
  msgs_per_s: number;
  mjml_compiles: number;
  accepted_per_s: number[];
}

async function waitForSent(ctx: Context, releaseId: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await findRelease(ctx.db, releaseId))?.status !== 'sent') {
    if (Date.now() > deadline) throw new Error(`release ${releaseId} not sent within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface ReleaseTimes {
  first_ms: number;
  last_ms: number;
  /** From the instant to the lift's own UPDATE, by PostgreSQL's clock (lifted_at − send_at). */
  lift_lag_ms: number;
}

/**
 * Creates one release per list, all embargoed to the same second a few seconds ahead, schedules
 * them, waits until every one is sent, and reads what the sink saw: per release, its first message's
 * start and its last's acceptance, from the instant (recipients are told apart by their address's
 * prefix, see seedAudience).
 */
async function oneRun(
  ctx: Context,
  lists: Array<{ id: number; prefix: string }>,
  sink: Awaited<ReturnType<typeof startSink>>,
  run: number,
  expected: number,
): Promise<RunFigures & { releases: ReleaseTimes[] }> {
  await sink.reset();
  const { rows } = await sql<{
    at: Date;
  }>`SELECT date_trunc('second', now()) + make_interval(secs => ${Math.ceil(Number(args['lead-ms']) / 1000) + 1 + Math.ceil(lists.length / 2)}) AS at`.execute(
    ctx.db,
  );
  const released = [];
  for (const [i, list] of lists.entries()) {
    const release = await createRelease(
      ctx,
      {
        title: `Bench release ${run + 1}.${i + 1}`,
        summary: 'A benchmark of the lift.',
        bodyMarkdown: benchBody(),
        embargoAt: rows[0]!.at,
        embargoTimeZone: 'Europe/London',
        listIds: [list.id],
        contact: { name: null, email: null, phone: null },
        advance: null,
      },
      'bench',
    );
    await scheduleRelease(ctx, release.id, 'bench', 1);
    released.push(release);
  }
  for (const release of released) await waitForSent(ctx, release.id, 600_000);

  const arrivals = await sink.report();
  const embargoMs = rows[0]!.at.getTime();
  const distinct = new Set(arrivals.map((a) => a.to));
  const ids = released.map((r) => r.id);
  const { rows: lags } = await sql<{ id: number; lag_ms: number }>`
    SELECT id, (extract(epoch FROM lifted_at - send_at) * 1000)::float8 AS lag_ms
    FROM releases WHERE id = ANY(${ids}::bigint[]) ORDER BY id`.execute(ctx.db);
  const { rows: counts } = await sql<{ sent: number; compiles: number }>`
    SELECT (SELECT count(*) FROM deliveries WHERE release_id = ANY(${ids}::bigint[]) AND state = 'sent')::int AS sent,
           (SELECT count(*) FROM release_renders WHERE release_id = ANY(${ids}::bigint[]))::int AS compiles`.execute(
    ctx.db,
  );
  const first = Math.min(...arrivals.map((a) => a.startedAt));
  const last = Math.max(...arrivals.map((a) => a.acceptedAt));
  const times = lists.map((list, i) => {
    const own = arrivals.filter((a) => a.to.startsWith(list.prefix));
    return {
      first_ms: Math.min(...own.map((a) => a.startedAt)) - embargoMs,
      last_ms: Math.max(...own.map((a) => a.acceptedAt)) - embargoMs,
      lift_lag_ms: round(lags[i]!.lag_ms),
    };
  });
  return {
    release_id: released[0]!.id,
    sent: counts[0]!.sent,
    duplicates: arrivals.length - distinct.size,
    lost: expected - distinct.size,
    sent_before_embargo: arrivals.filter((a: Arrival) => a.startedAt < embargoMs).length,
    lift_to_first_ms: first - embargoMs,
    lift_to_last_ms: last - embargoMs,
    msgs_per_s: round(arrivals.length / ((last - embargoMs) / 1000)),
    // Compiles per release version (each release here has one version).
    mjml_compiles: counts[0]!.compiles / released.length,
    accepted_per_s: arrivals.reduce<number[]>((perSecond, a) => {
      const second = Math.max(0, Math.floor((a.acceptedAt - embargoMs) / 1000));
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second]! += 1;
      return perSecond;
    }, []),
    releases: times,
  };
}

/**
 * The many-releases figures, medians over the runs: the latest first message of any release, the
 * median and the latest release's last message, the last of all (each from the instant), and the
 * same run's single release of the same total as the ceiling: all_last_ratio (target ≤ 1.2) and
 * release_last_ratio, the latest release against the median one (fairness, target ≤ 1.5).
 */
function manyFigures(figures: Array<RunFigures & { releases: ReleaseTimes[] }>, singles: RunFigures[]) {
  const perRun = figures.map((f, i) => {
    const lasts = f.releases.map((r) => r.last_ms);
    return {
      firstMax: Math.max(...f.releases.map((r) => r.first_ms)),
      firstMedian: median(f.releases.map((r) => r.first_ms)),
      liftLagMax: Math.max(...f.releases.map((r) => r.lift_lag_ms)),
      lastMedian: median(lasts),
      lastMax: Math.max(...lasts),
      all: f.lift_to_last_ms,
      single: singles[i]!.lift_to_last_ms,
    };
  });
  return {
    release_first_ms_max: median(perRun.map((r) => r.firstMax)),
    release_first_ms_max_runs: perRun.map((r) => r.firstMax),
    release_first_ms_median_runs: perRun.map((r) => r.firstMedian),
    release_lift_lag_ms_max_runs: perRun.map((r) => r.liftLagMax),
    release_last_ms_median: median(perRun.map((r) => r.lastMedian)),
    release_last_ms_max: median(perRun.map((r) => r.lastMax)),
    all_last_ms: median(perRun.map((r) => r.all)),
    all_last_ms_runs: perRun.map((r) => r.all),
    release_last_ratio_runs: perRun.map((r) => round(r.lastMax / r.lastMedian, 2)),
    single_release_last_ms: median(perRun.map((r) => r.single)),
    single_release_last_ms_runs: perRun.map((r) => r.single),
    single_release_msgs_per_s_runs: singles.map((f) => f.msgs_per_s),
    all_last_ratio_runs: perRun.map((r) => round(r.all / r.single, 2)),
    all_last_ratio: median(perRun.map((r) => round(r.all / r.single, 2))),
    release_last_ratio: median(perRun.map((r) => round(r.lastMax / r.lastMedian, 2))),
  };
}

async function main() {
  if (args.sink === 'postfix' && !postfixAvailable())
    throw new Error("--sink postfix needs Debian's postfix package (smtp-sink, smtp-source)");
  const sink = args.sink === 'postfix' ? await startPostfixSink() : await startSink();
  env.SMTP_URL = sink.url;
  const config = loadConfig(env);
  const log = createLogger('warn');
  await prepareDatabase(config, log);
  const ctx = await createContext(config, log);
  const workers: WorkerProcess[] = [];
  try {
    const seedStarted = performance.now();
    // One list per release, its addresses prefixed r1-, r2-, …; with several releases, one more list
    // holding everyone, for the single release of the same total that is their ceiling.
    const lists =
      releaseCount > 1
        ? await Promise.all(
            Array.from({ length: releaseCount }, async (_, k) => ({
              id: await seedAudience(ctx.db, recipients, `r${k + 1}-`, `Bench ${k + 1}`),
              prefix: `r${k + 1}-`,
            })),
          )
        : [{ id: await seedAudience(ctx.db, recipients), prefix: '' }];
    const everyone =
      releaseCount > 1
        ? [{ id: await seedAudience(ctx.db, total, 'all-', 'Bench everyone'), prefix: 'all-' }]
        : undefined;
    const listId = lists[0]!.id;
    const seedMs = performance.now() - seedStarted;

    for (let i = 0; i < workerCount; i++) {
      workers.push(await startWorker(env, `${scratch}/worker-${i}.log`, args['cpu-prof']));
    }
    let peakDuringRuns = 0;
    const timeline: number[] = [];
    let ticks = 0;
    const sampler = setInterval(() => {
      const rss = workers.map((w) => w.rssMb());
      peakDuringRuns = Math.max(peakDuringRuns, ...rss);
      if (++ticks % 10 === 0) timeline.push(round(Math.max(...rss)));
    }, 100);
    const idleRss = Math.max(...workers.map((w) => w.rssMb()));

    const cpuBefore = workers.reduce((sum, w) => sum + w.cpuMs(), 0);
    const postgresBefore = postgresCpuMs();
    const figures: Array<RunFigures & { releases: ReleaseTimes[] }> = [];
    const singles: RunFigures[] = [];
    // With several releases, one release of one list first, unmeasured: the single release that is
    // their ceiling should not carry a fresh worker's first lift, nor the many the single's.
    if (everyone) await oneRun(ctx, lists.slice(0, 1), sink, -1, recipients);
    for (let run = 0; run < runs; run++) {
      if (everyone) singles.push(await oneRun(ctx, everyone, sink, run, total));
      figures.push(await oneRun(ctx, lists, sink, run, total));
    }
    clearInterval(sampler);
    const workerCpuMs = workers.reduce((sum, w) => sum + w.cpuMs(), 0) - cpuBefore;
    const postgresMs = postgresCpuMs() - postgresBefore;
    const peakRss = Math.max(peakDuringRuns, ...workers.map((w) => w.peakRssMb()));
    await Promise.all(workers.splice(0).map((w) => w.stop()));

    // The ceiling runs after the workers have stopped, so it has the machine they had.
    const sample = await findRelease(ctx.db, figures[0]!.release_id);
    const compiled = await compiledRelease(ctx.db, sample!, organisation(config), 'lift');
    const message = assembleMessage(
      personaliseMessage(
        compiled,
        {
          deliveryId: 1,
          releaseId: sample!.id,
          subscriberId: 1,
          listId,
          email: 'ceiling@bench.example.org',
          name: 'Zoë Müller',
          listName: 'Bench Correspondents',
          listSlug: 'bench-correspondents',
        },
        messageSettings(config, ctx.keys),
      ),
    );
    await sink.reset();
    const ceiling = await nodemailerPoolCeiling(sink.url, message, total, config.SMTP_POOL_SIZE);
    await sink.reset();
    const poolCeiling = await ownPoolCeiling(sink.url, message, total, config.SMTP_POOL_SIZE);
    // The wire's own limit, with as many connections as the workers had between them.
    let source: { msgsPerS: number } | undefined;
    if (args.sink === 'postfix') {
      await sink.reset();
      source = await sourceCeiling(sink.url, total, message.raw.length, config.SMTP_POOL_SIZE * workerCount);
    }

    const msgsPerS = median(figures.map((f) => f.msgs_per_s));
    console.log(
      JSON.stringify({
        recipients,
        ...(releaseCount > 1 ? { releases: releaseCount } : {}),
        workers: workerCount,
        runs,
        sent: figures.reduce((sum, f) => sum + f.sent, 0),
        duplicates: [...figures, ...singles].reduce((sum, f) => sum + f.duplicates, 0),
        lost: [...figures, ...singles].reduce((sum, f) => sum + f.lost, 0),
        sent_before_embargo: [...figures, ...singles].reduce((sum, f) => sum + f.sent_before_embargo, 0),
        lift_to_first_ms: median(figures.map((f) => f.lift_to_first_ms)),
        lift_to_first_ms_runs: figures.map((f) => f.lift_to_first_ms),
        lift_to_last_ms: median(figures.map((f) => f.lift_to_last_ms)),
        msgs_per_s: msgsPerS,
        msgs_per_s_runs: figures.map((f) => f.msgs_per_s),
        sink: args.sink,
        ...(releaseCount > 1 ? manyFigures(figures, singles) : {}),
        mjml_compiles: Math.max(...figures.map((f) => f.mjml_compiles)),
        message_bytes: ceiling.bytes,
        // Steadier than a rate on a shared machine: what the workers' own work costs a message.
        worker_cpu_ms_per_msg: round(workerCpuMs / figures.reduce((sum, f) => sum + f.sent, 0), 3),
        postgres_cpu_ms_per_msg: round(postgresMs / figures.reduce((sum, f) => sum + f.sent, 0), 3),
        idle_rss_mb: round(idleRss, 1),
        peak_rss_mb: round(peakRss, 1),
        ceiling_msgs_per_s: round(ceiling.msgsPerS),
        ceiling_ratio: round(msgsPerS / ceiling.msgsPerS, 2),
        pool_ceiling_msgs_per_s: round(poolCeiling.msgsPerS),
        pool_ceiling_ratio: round(msgsPerS / poolCeiling.msgsPerS, 2),
        ...(source
          ? {
              source_ceiling_msgs_per_s: round(source.msgsPerS),
              source_ceiling_ratio: round(msgsPerS / source.msgsPerS, 2),
            }
          : {}),
        load_average: loadavg().map((l) => round(l, 2)),
        seed_ms: round(seedMs),
        ...(args['rss-timeline'] ? { rss_mb_timeline: timeline } : {}),
        ...(args['rate-timeline'] ? { accepted_per_s_runs: figures.map((f) => f.accepted_per_s) } : {}),
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    const keys = await ctx.redis.keys(`${config.QUEUE_PREFIX}:*`);
    if (keys.length > 0) await ctx.redis.del(...keys);
    await ctx.close();
    await dropDatabase(config.DATABASE_URL);
    sink.stop();
  }
}

await main();
