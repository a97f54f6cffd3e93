import { beforeAll, describe, expect, it } from 'vitest';
import { signUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { createRelease, listWith, releaseReaches } from '../support/fixtures.js';
import { watchBatchChecks } from '../support/batch-checks.js';
import { waitUntil } from '../support/harness.js';
import { gateFor } from '../support/smtp.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

// One batch holds the whole release (five people: a lift's first chunk) on one connection; a second set of workers (its own SMTP
// connection) sends another release meanwhile, whose hard bounce must reach the first batch.
const t = useSmtpHarness({ SEND_BATCH_SIZE: '50', SEND_CONCURRENCY: '1', SMTP_POOL_SIZE: '1' });
beforeAll(async () => {
  await t.h.startWorkers();
});
const checks = watchBatchChecks();

const people = (count: number) => Array.from({ length: count }, (_, i) => ({ email: `consent${i}@example.org` }));
const inMs = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);

describe('consent reaches a running batch', () => {
  it('an unsubscribe, a staff suppression and a hard bounce elsewhere stop their messages in a batch already claimed', async () => {
    const { h, smtp } = t;
    const list = await listWith(h, 'Consent desk', people(5));
    const elsewhere = await listWith(h, 'Elsewhere', [{ email: 'consent4@example.org' }]);
    smtp.respond = (to) =>
      to === 'consent4@example.org' ? { code: 550, message: '5.1.1 no such mailbox' } : undefined;
    const gate = gateFor(smtp, 'consent1@example.org');
    const release = await createRelease(h, [list], inMs(1500));
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    await gate.reached;
    // The batch holds every row not yet sent: nothing is left for a later claim to check.
    const states = await h.ctx.db
      .selectFrom('deliveries')
      .select('state')
      .where('release_id', '=', release.id)
      .execute();
    expect(states.filter((r) => r.state !== 'sent' && r.state !== 'sending')).toEqual([]);

    const subscriber = async (email: string) =>
      (await h.ctx.db.selectFrom('subscribers').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
    // One click from the journalist.
    const token = signUnsubscribeToken(h.ctx.keys, await subscriber('consent2@example.org'), list);
    expect(
      (await h.app.inject({ method: 'POST', url: `/unsubscribe/${token}`, payload: 'List-Unsubscribe=One-Click' }))
        .statusCode,
    ).toBe(200);
    // Staff suppress an address.
    expect(
      (await h.api('POST', '/api/suppressions', { email: 'consent3@example.org', reason: 'asked by phone' })).status,
    ).toBe(201);
    // Another release hard-bounces at an address this batch still has to mail.
    const other = await createRelease(h, [elsewhere], inMs(3_600_000));
    expect((await h.api('POST', `/api/releases/${other.id}/lift`, { reason: 'now' })).status).toBe(200);
    await waitUntil(
      async () =>
        (
          await h.ctx.db
            .selectFrom('suppressions')
            .select('reason')
            .where('email_key', '=', 'consent4@example.org')
            .executeTakeFirst()
        )?.reason,
      15_000,
      'the hard bounce',
    );
    // The batch's next consent check (within CONSENT_INTERVAL_MS of the change) has read all three:
    // its next message knows of them.
    await checks.answered('refreshRecipients', release.id);
    gate.open();

    const done = await releaseReaches(h, release.id, 'sent');
    expect(done.counts).toMatchObject({ sent: 2, skipped: 3, sending: 0, queued: 0 });
    const copies = smtp.messages
      .filter((m) => m.mail.messageId!.startsWith(`<release-${release.id}.`))
      .map((m) => m.to[0])
      .sort();
    expect(copies).toEqual(
      people(5)
        .map((p) => p.email)
        .filter((e) => !/consent[234]@/.test(e))
        .sort(),
    );
    const skipped = (await h.api('GET', `/api/releases/${release.id}/deliveries?state=skipped`)).json.items;
    expect(skipped.map((d: { email: string; lastError: string }) => [d.email, d.lastError])).toEqual([
      ['consent2@example.org', 'unsubscribed before sending'],
      ['consent3@example.org', 'suppressed: asked by phone'],
      ['consent4@example.org', expect.stringMatching(/^suppressed: 550 5\.1\.1 no such mailbox/)],
    ]);
    const rows = await h.ctx.db
      .selectFrom('deliveries as d')
      .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
      .select(['s.email', 'd.state'])
      .where('d.release_id', '=', release.id)
      .orderBy('s.email')
      .execute();
    expect(rows).toEqual(
      people(5)
        .map((p) => p.email)
        .sort()
        .map((email) => ({ email, state: /consent[234]@/.test(email) ? 'skipped' : 'sent' })),
    );
  });
});
