/**
 * `npm run build && npx tsx scripts/staff-bench.ts [--releases 1000] [--subscribers 100000] [--seconds 5] [--connections 10]`
 *
 * The staff side at size: seeds a database of its own with R scheduled releases and N subscribers
 * on one list, starts `presslift api` as its own process, times importing a CSV of N more rows
 * through the API, then loads each GET endpoint and console page (signed in as an admin) with
 * autocannon (C connections, S seconds each) and prints, per endpoint, requests and
 * p50/p90/p97.5 (the bound on p95)/p99 latency in ms, one JSON line each, then one summary line.
 * An endpoint that answers nothing is reported as such and the rest are still measured. Cleans
 * up what it made.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SESSION_COOKIE } from '../src/api/auth.js';
import { loadConfig } from '../src/config.js';
import { createContext } from '../src/context.js';
import { dropDatabase } from '../src/db/index.js';
import { createList } from '../src/db/lists.js';
import { createAccount } from '../src/db/accounts.js';
import { createSession } from '../src/db/sessions.js';
import { createApiToken } from '../src/db/tokens.js';
import { createLogger } from '../src/log.js';
import { createRelease, scheduleRelease } from '../src/releases/lifecycle.js';
import { prepareDatabase } from '../src/processes.js';
import { benchBody, seedAudience } from './bench/seed.js';

const { values: args } = parseArgs({
  options: {
    releases: { type: 'string', default: '1000' },
    subscribers: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
  },
});
const root = path.resolve(import.meta.dirname, '..');
const id = randomBytes(4).toString('hex');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * One endpoint under load. autocannon's latency histogram gives p50, p97.5 and p99 (no p95): p97.5
 * is reported as the bound on p95 (p95 ≤ p97.5), so "p95 under 100 ms" holds if it does.
 */
async function load(url: string, headers: Record<string, string>): Promise<Record<string, number | string>> {
  const result = await autocannon({
    url,
    connections: Number(args.connections),
    duration: Number(args.seconds),
    headers,
  });
  if (result.requests.total === 0) return { requests: 0, errors: result.errors, timeouts: result.timeouts };
  return {
    requests: result.requests.total,
    non_2xx: result.non2xx,
    errors: result.errors,
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p95_bound_ms: result.latency.p97_5,
    p99_ms: result.latency.p99,
  };
}

async function main() {
  const port = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/presslift_staff_${id}`,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `{plstaff-${id}}`,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    OUTBOX_DIR: `/tmp/presslift-staff-${id}/outbox`,
  };
  const config = loadConfig(env);
  const log = createLogger('warn');
  await prepareDatabase(config, log);
  const ctx = await createContext(config, log);
  let api: ReturnType<typeof spawn> | undefined;
  try {
    const listId = await seedAudience(ctx.db, Number(args.subscribers));
    const tomorrow = Date.now() + 86_400_000;
    let releaseId = 0;
    for (let i = 0; i < Number(args.releases); i++) {
      const release = await createRelease(
        ctx,
        {
          title: `Staff bench release ${i + 1}`,
          summary: 'A release among many.',
          bodyMarkdown: benchBody(),
          embargoAt: new Date(tomorrow + i * 60_000),
          embargoTimeZone: 'Europe/London',
          listIds: [listId],
          contact: { name: null, email: null, phone: null },
          advance: null,
        },
        'bench',
      );
      await scheduleRelease(ctx, release.id, 'bench', 1);
      releaseId ||= release.id;
    }
    // The console's pages as a signed-in admin would load them (the password is never used); the
    // API's as that admin's token.
    const admin = await createAccount(ctx.db, 'bench-admin@example.org', 'admin', 'scrypt$unused');
    const session = await createSession(ctx.db, admin.id, 60);
    const { token } = await createApiToken(ctx.db, {
      name: 'staff-bench',
      role: 'admin',
      ownerAccountId: admin.id,
      createdBy: 'cli:bench',
    });

    api = spawn(process.execPath, ['bin/presslift.js', 'api'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    const exited = new Promise<never>((_, reject) =>
      api!.once('exit', (code) => reject(new Error(`presslift api exited with ${code}`))),
    );
    for (;;) {
      const up = await Promise.race([
        fetch(`${base}/healthz`).then(
          () => true,
          () => false,
        ),
        exited,
      ]);
      if (up) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // The import: N new addresses onto a second list, through the API as staff would send it.
    const importList = await createList(ctx.db, 'Imported');
    const csv = [
      'email,name',
      ...Array.from({ length: Number(args.subscribers) }, (_, i) => `imported${i}@bench.example.org,Imported ${i}`),
    ].join('\n');
    const started = performance.now();
    const imported = await fetch(`${base}/api/lists/${importList.id}/subscribers/import`, {
      method: 'POST',
      body: csv,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    });
    const importMs = performance.now() - started;
    if (imported.status !== 200) throw new Error(`import answered ${imported.status}: ${await imported.text()}`);

    const endpoints = [
      '/api/releases',
      '/api/releases?limit=200',
      `/api/releases/${releaseId}`,
      '/api/lists',
      `/api/releases/${releaseId}/deliveries`,
      '/console/releases',
      `/console/releases/${releaseId}`,
      `/console/lists/${listId}`,
    ];
    const results: Record<string, Record<string, number | string>> = {};
    for (const endpoint of endpoints) {
      const headers: Record<string, string> = endpoint.startsWith('/console')
        ? { cookie: `${SESSION_COOKIE}=${session.token}` }
        : { authorization: `Bearer ${token}` };
      results[endpoint] = await load(`${base}${endpoint}`, headers);
      console.log(
        JSON.stringify({
          endpoint,
          ...results[endpoint],
          load_average: loadavg().map((l) => Math.round(l * 100) / 100),
        }),
      );
    }
    console.log(
      JSON.stringify({
        releases: Number(args.releases),
        subscribers: Number(args.subscribers),
        connections: Number(args.connections),
        seconds: Number(args.seconds),
        import_rows: Number(args.subscribers),
        import_ms: Math.round(importMs),
        p95_bound_ms_max: Math.max(...Object.values(results).map((r) => Number(r.p95_bound_ms ?? Infinity))),
        unanswered: Object.keys(results).filter((endpoint) => results[endpoint]!.requests === 0),
        load_average: loadavg().map((l) => Math.round(l * 100) / 100),
      }),
    );
  } finally {
    api?.kill('SIGTERM');
    const keys = await ctx.redis.keys(`${config.QUEUE_PREFIX}:*`);
    if (keys.length > 0) await ctx.redis.del(...keys);
    await ctx.close();
    await dropDatabase(config.DATABASE_URL);
  }
}

await main();
