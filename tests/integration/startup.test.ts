import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase } from '../../src/db/index.js';
import { BASE_DATABASE_URL, REDIS_URL } from '../support/harness.js';
import { freePort, spawnPresslift } from '../support/processes.js';

/** What `presslift start` prints and how it exits when a service it needs is not there. */
async function startWithout(env: Record<string, string>) {
  const started = spawnPresslift(['start'], { PORT: String(await freePort()), ...env });
  const code = await started.exited;
  return { code, lines: started.logs.map((line) => String(line.msg)) };
}

// PostgreSQL is there in the Redis case, so the start creates and migrates this database first.
const database = new URL(BASE_DATABASE_URL);
database.pathname = `/presslift_test_startup_${randomBytes(4).toString('hex')}`;
afterAll(() => dropDatabase(database.toString()));

describe('starting without the services Presslift needs', () => {
  it('names PostgreSQL, where it looked and what to do in one line, and exits 1', async () => {
    const port = await freePort();
    const { code, lines } = await startWithout({
      DATABASE_URL: `postgres://presslift:s3cret@127.0.0.1:${port}/presslift`,
      REDIS_URL,
    });
    expect(code).toBe(1);
    expect(lines).toEqual([
      `stderr: PostgreSQL is not reachable at 127.0.0.1:${port} (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:${port}. ` +
        'Start PostgreSQL there, or set DATABASE_URL to where it runs.',
    ]);
  });

  it('names Redis the same way instead of warning for ever, and exits 1', async () => {
    const port = await freePort();
    const { code, lines } = await startWithout({
      DATABASE_URL: database.toString(),
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(code).toBe(1);
    expect(lines.filter((line) => line.startsWith('stderr:'))).toEqual([
      `stderr: Redis is not reachable at 127.0.0.1:${port} (REDIS_URL): connect ECONNREFUSED 127.0.0.1:${port}. ` +
        'Start Redis there, or set REDIS_URL to where it runs.',
    ]);
  });
});
