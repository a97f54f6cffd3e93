import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { jobsFinished, queuesSettled } from '../support/queues.js';

let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, SEND_BATCH_SIZE: '2' });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const sentRelease = (id: number) =>
  waitUntil(
    async () => {
      const r = await releaseStatus(h, id);
      return r.status === 'sent' && r;
    },
    30_000,
    'release sent',
  );

describe('a scheduled release', () => {
  it('reaches every subscriber of two overlapping lists exactly once, never before the embargo', async () => {
    smtp.messages.length = 0;
    const science = await listWith(h, 'Science desk', [
      { email: 'ada@example.org', name: 'Ada Lovelace', outlet: 'The Engine' },
      { email: 'Zoe@Example.org', name: 'Zoë Müller' },
      { email: 'jm@example.kr', name: '이정민' },
    ]);
    const health = await listWith(h, 'Health desk', [
      { email: 'ZOE@example.org', name: 'Zoë Müller' },
      { email: 'grace@example.org', name: 'Grace Hopper' },
    ]);
    const { id, embargoAt } = await scheduleIn(h, [science, health], 2000);
    expect((await releaseStatus(h, id)).status).toBe('scheduled');

    const release = await sentRelease(id);
    expect(release.counts).toMatchObject({ sent: 4, queued: 0, sending: 0, failed: 0 });
    expect(smtp.messages).toHaveLength(4);
    const recipients = smtp.messages.map((m) => m.to[0]).sort();
    expect(recipients).toEqual(['ada@example.org', 'grace@example.org', 'jm@example.kr', 'zoe@example.org']);
    for (const message of smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());

    const zoe = smtp.messages.find((m) => m.to[0] === 'zoe@example.org')!;
    expect(zoe.mail.subject).toBe('Quantum sensor maps brain activity');
    expect(zoe.mail.to && 'value' in zoe.mail.to ? zoe.mail.to.value[0] : undefined).toMatchObject({
      name: 'Zoë Müller',
    });
    expect(zoe.mail.html).toContain('Dear Zoë Müller,');
    expect(zoe.mail.html).toContain('<strong>sensor</strong>');
    expect(zoe.mail.text).toContain('Dear Zoë Müller,');
    expect(zoe.mail.text).not.toContain('EMBARGOED'); // the lift copy carries no embargo marking
    // Someone on both lists is addressed through the first of them.
    expect(zoe.raw).toMatch(/^List-Id: .*<science-desk\.presslift\.localhost>/im);
    expect(zoe.raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/im);
    expect(zoe.mail.messageId).toMatch(new RegExp(`^<release-${id}\\.delivery-\\d+@presslift\\.localhost>$`));
    const korean = smtp.messages.find((m) => m.to[0] === 'jm@example.kr')!;
    expect(korean.mail.html).toContain('Dear 이정민,');

    const deliveries = (await h.api('GET', `/api/releases/${id}/deliveries?state=sent`)).json;
    expect(deliveries.items).toHaveLength(4);
    for (const d of deliveries.items) {
      expect(d.attempts).toBe(1);
      expect(smtp.messages.some((m) => m.mail.messageId === d.messageId)).toBe(true);
    }
  });

  it('sends nothing twice when its lift job is delivered twice', async () => {
    smtp.messages.length = 0;
    const list = await listWith(h, 'Twice', [
      { email: 'one@example.org' },
      { email: 'two@example.org' },
      { email: 'three@example.org' },
    ]);
    const { id } = await scheduleIn(h, [list], 1500);
    const release = (await h.api('GET', `/api/releases/${id}`)).json;
    // The same lift, queued again under another job id, as a redelivered or duplicated job would be.
    await h.ctx.queues.lift.add(
      'lift',
      { releaseId: id, version: release.version },
      { jobId: `dup-${id}`, delay: 1500 },
    );
    await h.ctx.queues.lift.add(
      'lift',
      { releaseId: id, version: release.version },
      { jobId: `dup2-${id}`, delay: 2500 },
    );
    await sentRelease(id);
    // Both duplicates have fired and finished, and so has any send job they queued: a second copy
    // would be at the SMTP server now.
    expect(await jobsFinished(h.ctx.queues.lift, [`dup-${id}`, `dup2-${id}`])).toEqual({
      [`dup-${id}`]: 'completed',
      [`dup2-${id}`]: 'completed',
    });
    await queuesSettled(h.ctx);
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual([
      'one@example.org',
      'three@example.org',
      'two@example.org',
    ]);
    const rows = await h.ctx.db
      .selectFrom('deliveries')
      .select(['state', 'attempts'])
      .where('release_id', '=', id)
      .execute();
    expect(rows).toEqual([1, 2, 3].map(() => ({ state: 'sent', attempts: 1 })));
    expect(await releaseStatus(h, id)).toMatchObject({ status: 'sent', counts: { sent: 3, queued: 0, sending: 0 } });
  });

  it('fails a 5xx recipient with the reply recorded, and retries a 4xx until it is delivered', async () => {
    smtp.messages.length = 0;
    smtp.respond = (rcpt, attempt) => {
      if (rcpt === 'gone@example.org') return { code: 550, message: '5.1.1 mailbox does not exist' };
      if (rcpt === 'busy@example.org' && attempt < 3) return { code: 451, message: '4.3.0 try again later' };
      return undefined;
    };
    try {
      const list = await listWith(h, 'Mixed', [
        { email: 'gone@example.org' },
        { email: 'busy@example.org' },
        { email: 'fine@example.org' },
      ]);
      const { id } = await scheduleIn(h, [list], 1200);
      const release = await sentRelease(id);
      expect(release.counts).toMatchObject({ sent: 2, failed: 1 });
      const failed = (await h.api('GET', `/api/releases/${id}/deliveries?state=failed`)).json.items;
      expect(failed).toEqual([
        expect.objectContaining({
          email: 'gone@example.org',
          lastError: expect.stringContaining('mailbox does not exist'),
        }),
      ]);
      const busy = (await h.api('GET', `/api/releases/${id}/deliveries?state=sent`)).json.items.find(
        (d: { email: string }) => d.email === 'busy@example.org',
      );
      expect(busy.attempts).toBe(3);
      expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(['busy@example.org', 'fine@example.org']);
    } finally {
      smtp.respond = undefined;
    }
  });

  it('previews exactly what is sent, with scripts removed from the Markdown', async () => {
    smtp.messages.length = 0;
    const list = await listWith(h, 'Preview', [{ email: 'pat@example.org', name: 'Pat <Editor>' }]);
    const body = 'Before <script>alert("x")</script> after [click](javascript:alert(1)) <img src=x onerror="alert(2)">';
    const { id } = await scheduleIn(h, [list], 1500, { body });
    const html = (await h.api('GET', `/api/releases/${id}/preview?format=html`)).body;
    const text = (await h.api('GET', `/api/releases/${id}/preview?format=text`)).body;
    await sentRelease(id);
    const [message] = await smtp.waitFor(1);
    expect(message!.mail.html).toBe(html);
    expect(message!.mail.text?.trim()).toBe(text.trim());
    expect(html).toContain('Dear Pat &lt;Editor&gt;,');
    expect(html).not.toMatch(/<script|javascript:|onerror/i);
    expect(html).toContain('Before');
  });
});
