import pino from 'pino';
import { expect, it } from 'vitest';
import { GroupWriter } from '../../src/pipeline/group-writer.js';

const log = pino({ level: 'silent' });

it('writes rows added within the interval as one group, and settles each adder once stored', async () => {
  const writes: number[][] = [];
  const writer = new GroupWriter<number>(async (rows) => void writes.push(rows), log, 20);
  const first = [writer.add(1), writer.add(2)];
  const second = writer.add(3); // another batch of the same process, same group
  expect(writes).toEqual([]);
  await Promise.all([...first, second]);
  expect(writes).toEqual([[1, 2, 3]]);
  writer.add(4);
  writer.flush(); // a batch at its end does not wait for the interval
  await writer.add(5);
  expect(writes).toEqual([[1, 2, 3], [4], [5]]);
});

it('retries a failed write, and a group that fails for good rejects its own adders only', async () => {
  const writes: number[][] = [];
  let failures = 0;
  const writer = new GroupWriter<number>(
    async (rows) => {
      if (rows.includes(13) || failures++ < 1) throw new Error('connection lost');
      writes.push(rows);
    },
    log,
    5,
    1,
    2,
  );
  await writer.add(1); // failed once, then stored
  const doomed = writer.add(13);
  writer.flush();
  const later = writer.add(2);
  await expect(doomed).rejects.toThrow('connection lost');
  await later;
  expect(writes).toEqual([[1], [2]]);
});
