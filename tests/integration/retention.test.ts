import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/db/accounts.js';
import { createSession } from '../../src/db/sessions.js';
import { createApiToken, revokeApiToken } from '../../src/db/tokens.js';
import { applyRetention } from '../../src/pipeline/retention.js';
import { listOfSize, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ DELIVERY_RETENTION_DAYS: '400' });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
});

const deliveryRows = async (releaseId: number) =>
  (
    await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE release_id = ${releaseId}`.execute(
      h.ctx.db,
    )
  ).rows[0]!.n;
const count = async (table: string) =>
  (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(h.ctx.db)).rows[0]!.n;

describe('retention', () => {
  it('prunes the deliveries of releases older than DELIVERY_RETENTION_DAYS to their counts, in batches, and keeps the audit', async () => {
    const list = await listOfSize(h, 'Old', 7, 'old.example');
    const old = await scheduleIn(h, [list], 2000);
    const recent = await scheduleIn(h, [list], 2000);
    await releaseReaches(h, old.id, 'sent');
    await releaseReaches(h, recent.id, 'sent');
    await h.ctx.db
      .updateTable('deliveries')
      .set({ state: 'failed', last_error: '550 no' })
      .where('release_id', '=', old.id)
      .where('id', '=', sql<number>`(SELECT min(id) FROM deliveries WHERE release_id = ${old.id})`)
      .execute();
    const before = (await h.api('GET', `/api/releases/${old.id}`)).json;
    expect(before.counts).toMatchObject({ sent: 6, failed: 1 });
    await sql`UPDATE releases SET completed_at = now() - interval '401 days' WHERE id = ${old.id}`.execute(h.ctx.db);
    await sql`UPDATE releases SET completed_at = now() - interval '399 days' WHERE id = ${recent.id}`.execute(h.ctx.db);
    const audit = await count('audit');

    // Batches of 3 rows: three statements for seven rows.
    const result = await applyRetention(h.ctx, 3);
    expect(result).toMatchObject({ releases: 1, deliveries: 7 });
    expect(await deliveryRows(old.id)).toBe(0);
    expect(await deliveryRows(recent.id)).toBe(7);
    const after = (await h.api('GET', `/api/releases/${old.id}`)).json;
    expect(after.counts).toEqual(before.counts);
    const release = await h.ctx.db
      .selectFrom('releases')
      .select(['delivery_counts', 'deliveries_pruned_at', 'status'])
      .where('id', '=', old.id)
      .executeTakeFirstOrThrow();
    expect(release).toMatchObject({
      status: 'sent',
      deliveries_pruned_at: expect.any(Date),
      delivery_counts: { sent: 6, failed: 1, queued: 0 },
    });
    expect(await count('audit')).toBe(audit);
    const account = await createAccount(h.ctx.db, 'ops@old.example', 'operator', 'scrypt$x');
    const cookie = `presslift_session=${(await createSession(h.ctx.db, account.id, 1)).token}`;
    const report = await h.app.inject({ method: 'GET', url: `/console/releases/${old.id}`, headers: { cookie } });
    expect(report.body).toContain('Delivery details were pruned');
    expect(report.body).toMatch(/data-count="sent">6</);
    expect(report.body).not.toMatch(/Retry 1 failed/);

    // A second pass has nothing to do and leaves the kept counts alone.
    expect(await applyRetention(h.ctx, 3)).toMatchObject({ releases: 0, deliveries: 0 });
    expect((await h.api('GET', `/api/releases/${old.id}`)).json.counts).toEqual(before.counts);
  });

  it('purges expired sessions and long-revoked tokens', async () => {
    const account = await createAccount(h.ctx.db, 'staff@old.example', 'editor', 'scrypt$x');
    const live = await createSession(h.ctx.db, account.id, 1);
    await createSession(h.ctx.db, account.id, 1);
    await sql`UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE account_id = ${account.id} AND token_hash <> encode(sha256(${live.token}::bytea), 'hex')`.execute(
      h.ctx.db,
    );
    const stale = await createApiToken(h.ctx.db, {
      name: 'stale',
      role: 'editor',
      ownerAccountId: null,
      createdBy: 'cli:test',
    });
    const fresh = await createApiToken(h.ctx.db, {
      name: 'fresh',
      role: 'editor',
      ownerAccountId: null,
      createdBy: 'cli:test',
    });
    await revokeApiToken(h.ctx.db, stale.id);
    await revokeApiToken(h.ctx.db, fresh.id);
    await sql`UPDATE api_tokens SET revoked_at = now() - interval '91 days' WHERE id = ${stale.id}`.execute(h.ctx.db);

    const sessions = await count('sessions');
    const result = await applyRetention(h.ctx);
    expect(result.purged).toMatchObject({ sessions: 1, revokedTokens: 1 });
    expect(await count('sessions')).toBe(sessions - 1);
    const tokens = await h.ctx.db.selectFrom('api_tokens').select('name').execute();
    expect(tokens.map((t) => t.name).sort()).toEqual(['fresh', 'test-admin']);
  });
});
