import { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Turns } from '../../src/pipeline/turns.js';
import { SEND_QUEUE, type SendJob } from '../../src/queue/index.js';
import { enqueueSends } from '../../src/queue/send-jobs.js';
import { workerOptions } from '../../src/queue/worker-options.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ SEND_BATCH_SIZE: '2' });
});
afterAll(async () => {
  await h?.close();
});

it('serves the send jobs of releases fanned out at once round robin, not first come first served; jobs without a turn first', async () => {
  // Release 1 queues all its jobs before release 2 and 3 queue theirs, in chunks as the lift does.
  await enqueueSends(h.ctx.queues.send, h.config, 1, [1, 2], { turn: 1 });
  await enqueueSends(h.ctx.queues.send, h.config, 1, [3, 4, 5, 6], { turn: 2 });
  await enqueueSends(h.ctx.queues.send, h.config, 2, [7, 8, 9, 10, 11, 12], { turn: 1 });
  await enqueueSends(h.ctx.queues.send, h.config, 3, [13, 14], { turn: 1 });
  await enqueueSends(h.ctx.queues.send, h.config, 3, [15, 16], { turn: 2 });
  // A hand-back (no turn) after all of them.
  await enqueueSends(h.ctx.queues.send, h.config, 9, [99]);

  const order: string[] = [];
  const worker = new Worker<SendJob>(
    SEND_QUEUE,
    async (job) => {
      order.push(`${job.data.releaseId}:${job.data.deliveryIds[0]}`);
    },
    { ...workerOptions(h.config), concurrency: 1 },
  );
  try {
    await waitUntil(async () => order.length === 9, 20_000, 'every job taken');
  } finally {
    await worker.close();
  }
  expect(order).toEqual(['9:99', '1:1', '2:7', '3:13', '1:3', '2:9', '3:15', '1:5', '2:11']);
});

it('takes turns: a task asking again waits behind those already waiting', async () => {
  const turns = new Turns(1);
  const order: string[] = [];
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  const first = turns.run(async () => {
    order.push('a1');
    await gate;
  });
  const b = turns.run(async () => order.push('b1'));
  const a2 = first.then(() => turns.run(async () => order.push('a2')));
  const c = turns.run(async () => order.push('c1'));
  open();
  await Promise.all([first, b, a2, c]);
  expect(order).toEqual(['a1', 'b1', 'c1', 'a2']);
});
