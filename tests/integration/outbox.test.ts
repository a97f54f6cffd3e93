import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness(); // no SMTP_URL: the embedded outbox
  await h.startWorkers();
});
afterAll(async () => {
  await rm(h.config.OUTBOX_DIR, { recursive: true, force: true });
  await h?.close();
});

it('writes each message as a parseable .eml file when no relay is configured', async () => {
  const list = await listWith(h, 'Outbox', [
    { email: 'ines@example.org', name: 'Inès Dupré' },
    { email: 'tom@example.org' },
  ]);
  const { id } = await scheduleIn(h, [list], 1200);
  await waitUntil(async () => (await releaseStatus(h, id)).status === 'sent', 30_000, 'release sent');

  const files = (await readdir(h.config.OUTBOX_DIR)).filter((f) => f.endsWith('.eml')).sort();
  expect(files).toHaveLength(2);
  const parsed = await Promise.all(
    files.map(async (f) => simpleParser(await readFile(path.join(h.config.OUTBOX_DIR, f)))),
  );
  const ines = parsed.find((m) => m.text?.includes('Inès Dupré'))!;
  expect(ines.subject).toBe('Quantum sensor maps brain activity');
  expect(ines.html).toContain('Dear Inès Dupré,');
  expect(ines.messageId).toMatch(/^<release-\d+\.delivery-\d+@presslift\.localhost>$/);
  const tom = parsed.find((m) => m !== ines)!;
  expect(tom.html).toContain('Dear colleague,');
  const sent = (await h.api('GET', `/api/releases/${id}/deliveries?state=sent`)).json.items;
  expect(sent.map((d: { messageId: string }) => d.messageId).sort()).toEqual(parsed.map((m) => m.messageId).sort());
});
