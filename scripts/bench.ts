/**
 * `npm run bench -- --recipients N --workers W --runs K [--pool-size P] [--cpu-prof DIR] [--rss-timeline] [--rate-timeline]`
 *
 * Seeds N subscribers in a database of its own, starts W real worker processes and a separate
 * SMTP sink, then K times schedules a release a few seconds ahead and waits for it to be sent.
 * Prints one JSON line: delivery figures (from the sink and PostgreSQL), lift precision per run
 * and their median, worker memory, and two same-run ceilings sending one pre-built message of the
 * same size N times to the same sink: a bare nodemailer pool (the ceiling), and Presslift's
 * own SMTP pool (what is left is the worker's own work). Cleans up what it made.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../src/config';
import { createContext, type Context } from '../src/context';
import { dropDatabase } from '../src/db';
import { findRelease } from '../src/db/releases';
import { createLogger } from '../src/log';
import { assembleMessage } from '../src/mail/assemble';
import { personaliseMessage, messageSettings } from '../src/mail/message';
import { createRelease, scheduleRelease } from '../src/releases/lifecycle';
import { organisation } from '../src/render/organisation';
import { compiledRelease } from '../src/releases/renders';
import { prepareDatabase } from '../src/processes';
import { nodemailerPoolCeiling, ownPoolCeiling } from './bench/ceiling';
import { postfixAvailable, sourceCeiling, startPostfixSink } from './bench/postfix';
import { postgresCpuMs, startSink, startWorker, type Arrival, type WorkerProcess } from './bench/processes';
import { benchBody, seedAudience } from './bench/seed';

const { values: args } = parseArgs({
  options: {
    recipients: { type: 'string', default: '10000' },
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
const recipients = Number(args.recipients);
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

async function oneRun(ctx: Context, listId: number, sink: Awaited<ReturnType<typeof startSink>>, run: number): Promise<RunFigures> {
  await sink.reset();
  const { rows } = await sql<{ at: Date }>`SELECT date_trunc('second', now()) + make_interval(secs => ${Math.ceil(Number(args['lead-ms']) / 1000) + 1}) AS at`.execute(ctx.db);
  const release = await createRelease(
    ctx,
    { title: `Bench release ${run + 1}`, summary: 'A benchmark of the lift.', bodyMarkdown: benchBody(), embargoAt: rows[0]!.at, embargoTimeZone: 'Europe/London', listIds: [listId], contact: { name: null, email: null, phone: null }, advance: null },
    'bench',
  );
  await scheduleRelease(ctx, release.id, 'bench', 1);
  await waitForSent(ctx, release.id, 600_000);

  const arrivals = await sink.report();
  const embargoMs = release.embargo_at.getTime();
  const distinct = new Set(arrivals.map((a) => a.to));
  const { rows: counts } = await sql<{ sent: number; compiles: number }>`
    SELECT (SELECT count(*) FROM deliveries WHERE release_id = ${release.id} AND state = 'sent')::int AS sent,
           (SELECT count(*) FROM release_renders WHERE release_id = ${release.id})::int AS compiles`.execute(ctx.db);
  const first = Math.min(...arrivals.map((a) => a.startedAt));
  const last = Math.max(...arrivals.map((a) => a.acceptedAt));
  return {
    release_id: release.id,
    sent: counts[0]!.sent,
    duplicates: arrivals.length - distinct.size,
    lost: recipients - distinct.size,
    sent_before_embargo: arrivals.filter((a: Arrival) => a.startedAt < embargoMs).length,
    lift_to_first_ms: first - embargoMs,
    lift_to_last_ms: last - embargoMs,
    msgs_per_s: round(arrivals.length / ((last - embargoMs) / 1000)),
    mjml_compiles: counts[0]!.compiles,
    accepted_per_s: arrivals.reduce<number[]>((perSecond, a) => {
      const second = Math.max(0, Math.floor((a.acceptedAt - embargoMs) / 1000));
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second]! += 1;
      return perSecond;
    }, []),
  };
}

async function main() {
  if (args.sink === 'postfix' && !postfixAvailable()) throw new Error('--sink postfix needs Debian\'s postfix package (smtp-sink, smtp-source)');
  const sink = args.sink === 'postfix' ? await startPostfixSink() : await startSink();
  env.SMTP_URL = sink.url;
  const config = loadConfig(env);
  const log = createLogger('warn');
  await prepareDatabase(config, log);
  const ctx = await createContext(config, log);
  const workers: WorkerProcess[] = [];
  try {
    const seedStarted = performance.now();
    const listId = await seedAudience(ctx.db, recipients);
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
    const figures: RunFigures[] = [];
    for (let run = 0; run < runs; run++) figures.push(await oneRun(ctx, listId, sink, run));
    clearInterval(sampler);
    const workerCpuMs = workers.reduce((sum, w) => sum + w.cpuMs(), 0) - cpuBefore;
    const postgresMs = postgresCpuMs() - postgresBefore;
    const peakRss = Math.max(peakDuringRuns, ...workers.map((w) => w.peakRssMb()));
    await Promise.all(workers.splice(0).map((w) => w.stop()));

    // The ceiling runs after the workers have stopped, so it has the machine they had.
    const sample = await findRelease(ctx.db, figures[0]!.release_id);
    const compiled = await compiledRelease(ctx.db, sample!, organisation(config), 'lift');
    const message = assembleMessage(personaliseMessage(
      compiled,
      { deliveryId: 1, releaseId: sample!.id, subscriberId: 1, listId, email: 'ceiling@bench.example.org', name: 'Zoë Müller', listName: 'Bench Correspondents', listSlug: 'bench-correspondents' },
      messageSettings(config, ctx.keys),
    ));
    await sink.reset();
    const ceiling = await nodemailerPoolCeiling(sink.url, message, recipients, config.SMTP_POOL_SIZE);
    await sink.reset();
    const poolCeiling = await ownPoolCeiling(sink.url, message, recipients, config.SMTP_POOL_SIZE);
    // The wire's own limit, with as many connections as the workers had between them.
    let source: { msgsPerS: number } | undefined;
    if (args.sink === 'postfix') {
      await sink.reset();
      source = await sourceCeiling(sink.url, recipients, message.raw.length, config.SMTP_POOL_SIZE * workerCount);
    }

    const msgsPerS = median(figures.map((f) => f.msgs_per_s));
    console.log(
      JSON.stringify({
        recipients,
        workers: workerCount,
        runs,
        sent: figures.reduce((sum, f) => sum + f.sent, 0),
        duplicates: figures.reduce((sum, f) => sum + f.duplicates, 0),
        lost: figures.reduce((sum, f) => sum + f.lost, 0),
        sent_before_embargo: figures.reduce((sum, f) => sum + f.sent_before_embargo, 0),
        lift_to_first_ms: median(figures.map((f) => f.lift_to_first_ms)),
        lift_to_first_ms_runs: figures.map((f) => f.lift_to_first_ms),
        lift_to_last_ms: median(figures.map((f) => f.lift_to_last_ms)),
        msgs_per_s: msgsPerS,
        msgs_per_s_runs: figures.map((f) => f.msgs_per_s),
        sink: args.sink,
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
        ...(source ? { source_ceiling_msgs_per_s: round(source.msgsPerS), source_ceiling_ratio: round(msgsPerS / source.msgsPerS, 2) } : {}),
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
