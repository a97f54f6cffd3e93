import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createContext, type Context } from '../../src/context.js';
import { createDb } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { asLeader } from '../../src/db/reconcile.js';
import { createLogger } from '../../src/log.js';
import { listOfSize, releaseReaches } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { killProcess, spawnPresslift, startWorkerProcess, type PressliftProcess } from '../support/processes.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

// Every connection of the API and of two worker processes goes through Debian's pgbouncer in
// transaction mode, which may give each transaction a different server connection.
let bouncer: PgBouncer;
let smtp: TestSmtp;
let h: Harness;
let ctx: Context;
const workers: PressliftProcess[] = [];

beforeAll(async () => {
  bouncer = await startPgBouncer('transaction');
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, RECONCILE_INTERVAL_SECONDS: '1' });
  const env = { ...h.env, LOG_LEVEL: 'info', DATABASE_URL: bouncer.through(h.config.DATABASE_URL) };
  ctx = await createContext(loadConfig(env), createLogger('silent'));
  workers.push(await startWorkerProcess(env), await startWorkerProcess(env));
}, 120_000);
afterAll(async () => {
  await Promise.all(workers.map(killProcess));
  await ctx?.close();
  await h?.close();
  await smtp?.close();
  await bouncer?.stop();
});

describe('PgBouncer in transaction mode', () => {
  it('carries scheduling, the lift, sending and the standing sweep of two workers', async () => {
    const app = await buildApp(ctx);
    const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
      const response = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${h.token}` } });
      return { status: response.statusCode, json: response.json() };
    };
    const list = await listOfSize(h, 'Pooled', 30, 'pooled.example');
    const embargoAt = new Date(Math.ceil((Date.now() + 2500) / 1000) * 1000);
    const created = await call('POST', '/api/releases', {
      title: 'Pooled release',
      body: 'Through the pooler.',
      embargo: { at: embargoAt.toISOString(), timeZone: 'UTC' },
      listIds: [list],
    });
    expect(created.status).toBe(201);
    expect((await call('POST', `/api/releases/${created.json.id}/schedule`)).status).toBe(200);
    const sent = await releaseReaches(h, created.json.id, 'sent', 60_000);
    expect(sent.counts).toMatchObject({ sent: 30, queued: 0, sending: 0, failed: 0 });
    const copies = smtp.messages.filter((m) => m.mail.messageId?.startsWith(`<release-${created.json.id}.`));
    expect(new Set(copies.map((m) => m.mail.messageId)).size).toBe(30);
    expect(copies).toHaveLength(30);
    expect(copies.every((m) => m.startedAt >= embargoAt.getTime())).toBe(true);
    // Both workers swept (one leader at a time): the sweep's state moves on through the pooler.
    const first = await h.ctx.db.selectFrom('reconcile_state').select('last_success_at').executeTakeFirstOrThrow();
    await waitUntil(
      async () => {
        const now = await h.ctx.db.selectFrom('reconcile_state').select('last_success_at').executeTakeFirstOrThrow();
        return now.last_success_at!.getTime() > first.last_success_at!.getTime();
      },
      10_000,
      'another sweep through the pooler',
    );
    await app.close();
  }, 90_000);

  it('gives the sweep one leader: the transaction-level advisory lock holds through the pooler', async () => {
    // The workers' own sweeps would compete for the lock; they proved themselves above.
    await Promise.all(workers.map(killProcess));
    const a = createDb(bouncer.through(h.config.DATABASE_URL), 3);
    const b = createDb(bouncer.through(h.config.DATABASE_URL), 3);
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let leading!: () => void;
      const leads = new Promise<void>((resolve) => (leading = resolve));
      const first = asLeader(a, async () => {
        leading();
        await held;
        return 'first';
      });
      await leads;
      // However pgbouncer spreads these over its server connections, none may lead meanwhile.
      const others = await Promise.all(Array.from({ length: 6 }, () => asLeader(b, async () => 'second')));
      expect(others.every((o) => !o.led)).toBe(true);
      release();
      expect(await first).toEqual({ led: true, value: 'first' });
      expect(await asLeader(b, async () => 'second')).toEqual({ led: true, value: 'second' });
    } finally {
      await a.destroy();
      await b.destroy();
    }
  });

  it('lets many processes start at once: migrations take and release their lock on one server connection', async () => {
    // Six processes' start, each with its own connection to pgbouncer, all migrating at once.
    const starts = Array.from({ length: 6 }, () => createDb(bouncer.through(h.config.DATABASE_URL), 1));
    try {
      for (let round = 0; round < 3; round++) await Promise.all(starts.map((db) => migrateToLatest(db)));
    } finally {
      await Promise.all(starts.map((db) => db.destroy()));
    }
    // No advisory lock is left behind on any server connection pgbouncer keeps open.
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(
      h.ctx.db,
    );
    expect(rows[0]!.n).toBe(0);
  }, 20_000);

  it('is refused, in one line naming the pool mode to use, when pgbouncer runs in statement mode', async () => {
    const statement = await startPgBouncer('statement');
    try {
      const migrate = spawnPresslift(['migrate'], { ...h.env, DATABASE_URL: statement.through(h.config.DATABASE_URL) });
      expect(await migrate.exited).toBe(1);
      expect(migrate.logs.map((l) => l.msg).join('\n')).toMatch(
        /statement pool mode.*set pool_mode = transaction \(or session\)/,
      );
    } finally {
      await statement.stop();
    }
  });
});
