import { describe, expect, it } from 'vitest';
import { mjmlCompileCount } from '../../src/render/compile.js';
import { listOfSize, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

// Small batches on two concurrent lanes: every batch asks for the compiled email, several at once.
const t = useSmtpHarness({ SEND_BATCH_SIZE: '5', SEND_CONCURRENCY: '2' });

describe('the MJML email', () => {
  it('is compiled once per release version and phase, however many batches, previews and workers ask for it', async () => {
    const list = await listOfSize(t.h, 'Science desk', 40);
    const vetted = await listOfSize(t.h, 'Vetted writers', 10, 'vetted.example.org');
    const before = mjmlCompileCount();
    const { id } = await scheduleIn(t.h, [list], 3000, { advance: { listIds: [vetted], leadSeconds: 1 } });
    // Staff preview both copies before the lift: the workers then reuse these compiles.
    for (const phase of ['advance', 'lift']) {
      expect((await t.h.api('GET', `/api/releases/${id}/preview?phase=${phase}`)).status).toBe(200);
    }
    await releaseReaches(t.h, id, 'sent');
    await t.smtp.waitFor(50);
    expect(t.smtp.messages).toHaveLength(50);
    // One advance copy and one lift copy of version 1: two compiles, not one per batch (ten batches).
    expect(mjmlCompileCount() - before).toBe(2);
  });
});
