import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * PgBouncer in transaction mode may run each transaction on another server connection, so nothing
 * may rely on state a server session keeps between transactions. tests/integration/pgbouncer.test.ts
 * runs Presslift through a real pgbouncer; this check keeps the code from starting to rely on it.
 */
const SESSION_STATE: Array<[string, RegExp]> = [
  ['LISTEN/NOTIFY subscriptions', /\bLISTEN\s+\w/],
  ['session SET / RESET / PREPARE / DECLARE statements', /sql`\s*(SET|RESET|PREPARE|DECLARE|DISCARD)\b/i],
  ['session-level advisory locks', /pg_(try_)?advisory_lock(_shared)?\s*\(/],
  ['temporary tables', /CREATE\s+TEMP(ORARY)?\s+TABLE/i],
  ['named prepared statements', /\bname:\s*['"`][^'"`]+['"`],\s*text:/],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

const offences = (text: string) => SESSION_STATE.filter(([, pattern]) => pattern.test(text)).map(([what]) => what);

describe('what a transaction-mode pooler allows', () => {
  it('recognises session state when it sees it', () => {
    expect(offences('await sql`LISTEN releases`.execute(db)')).toEqual(['LISTEN/NOTIFY subscriptions']);
    expect(offences('await sql`SET statement_timeout = 0`.execute(db)')).toEqual([
      'session SET / RESET / PREPARE / DECLARE statements',
    ]);
    expect(offences('SELECT pg_try_advisory_lock(1)')).toEqual(['session-level advisory locks']);
    expect(offences('SELECT pg_try_advisory_xact_lock(1)')).toEqual([]);
    expect(offences("UPDATE deliveries SET state = 'sent'")).toEqual([]);
  });

  it('finds none in Presslift: no LISTEN, no session SET, no session advisory lock, no named prepared statement', () => {
    const found = sources(path.resolve('src')).flatMap((file) =>
      offences(readFileSync(file, 'utf8')).map((what) => `${path.relative('.', file)}: ${what}`),
    );
    expect(found).toEqual([]);
  });
});
