import { expect, it } from 'vitest';
import { MessageSlots } from '../../src/pipeline/message-slots.js';

/** A message that stays in hand until `finish` is called; `order` records when each one got its slot. */
function harness(slots: number) {
  const pool = new MessageSlots(slots);
  const order: string[] = [];
  const finishers = new Map<string, () => void>();
  let inHand = 0;
  let most = 0;
  const send = (batch: ReturnType<MessageSlots['open']>, name: string) =>
    batch.run(
      () =>
        new Promise<void>((resolve) => {
          order.push(name);
          most = Math.max(most, ++inHand);
          finishers.set(name, () => {
            inHand -= 1;
            resolve();
          });
        }),
    );
  const finish = async (name: string) => {
    finishers.get(name)!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { pool, order, send, finish, most: () => most };
}

it('gives a batch that has not sent yet the next free slot, then serves the oldest batch first', async () => {
  const { pool, order, send, finish, most } = harness(2);
  const old = pool.open();
  const sends = ['a1', 'a2', 'a3', 'a4'].map((name) => send(old, name));
  await new Promise((resolve) => setImmediate(resolve));
  expect(order).toEqual(['a1', 'a2']);

  // Two batches claimed while the first holds every slot: each one's first message goes next.
  const second = pool.open();
  const third = pool.open();
  sends.push(send(second, 'b1'), send(second, 'b2'), send(third, 'c1'));
  await finish('a1');
  expect(order.slice(2)).toEqual(['b1']);
  await finish('a2');
  expect(order.slice(3)).toEqual(['c1']);

  // Every batch has started: the oldest goes first, so batches end in the order they were claimed.
  await finish('b1');
  expect(order.slice(4)).toEqual(['a3']);
  await finish('c1');
  expect(order.slice(5)).toEqual(['a4']);
  await finish('a3');
  expect(order.slice(6)).toEqual(['b2']);
  await finish('a4');
  await finish('b2');
  await Promise.all(sends);
  expect(most()).toBe(2);
  for (const batch of [old, second, third]) batch.close();
});

it('lets go of a slot whose message failed', async () => {
  const pool = new MessageSlots(1);
  const batch = pool.open();
  await expect(batch.run(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
  await expect(batch.run(async () => 'next')).resolves.toBe('next');
  batch.close();
});
