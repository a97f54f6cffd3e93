import { afterAll, beforeAll, expect, it } from 'vitest';
import { findRelease } from '../../src/db/releases.js';
import type { Mailer } from '../../src/mail/transport.js';
import { prepareToSend } from '../../src/pipeline/prepare.js';
import { organisation } from '../../src/render/organisation.js';
import { RenderCache } from '../../src/releases/renders.js';
import { createHarness, type Harness } from '../support/harness.js';
import { createRelease, listWith } from '../support/fixtures.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

it('rehearses a release version’s messages once before its instant, sending and writing nothing', async () => {
  const listId = await listWith(h, 'Rehearsed', [{ email: 'ada@example.org', name: 'Zoë Müller' }]);
  const release = await createRelease(h, [listId], new Date(Date.now() + 3_600_000));
  expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
  const sent: unknown[] = [];
  let warmed = 0;
  const mailer: Mailer = {
    description: 'recording',
    send: async (message) => {
      sent.push(message);
      return { messageId: message.messageId, response: '250' };
    },
    warm: async () => {
      warmed += 1;
    },
    close: () => {},
  };
  const deps = { ctx: h.ctx, renders: new RenderCache(h.ctx.db, organisation(h.config)), mailer };
  const scheduled = (await findRelease(h.ctx.db, release.id))!;

  expect(await prepareToSend(deps, scheduled)).toEqual({ rehearsed: 300 });
  // The lift prepares its own process and every process hears the announcement: once is enough
  // (and once for all the releases lifting within the minute).
  expect(await prepareToSend(deps, scheduled)).toEqual({ rehearsed: 0 });

  expect(sent).toEqual([]);
  // Connections are warmed once too: warming them for each release held the pool through the instant.
  expect(warmed).toBe(1);
  const deliveries = await h.ctx.db
    .selectFrom('deliveries')
    .select('id')
    .where('release_id', '=', release.id)
    .execute();
  expect(deliveries).toEqual([]);
  expect((await findRelease(h.ctx.db, release.id))!.status).toBe('scheduled');
});
