import { Transform, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { Db } from '../db';
import { upsertMembers, type SubscriberInput } from '../db/subscribers';
import { emailAddress, optionalLine } from '../fields';

export interface ImportReport {
  added: number;
  updated: number;
  suppressed: number;
  invalid: Array<{ line: number; reason: string }>;
}

export class ImportHeaderError extends Error {}

const BATCH = 1000;
const nameField = optionalLine(200);
/** Spreadsheets wrap long cells; a name or outlet is one line, so any run of white space becomes one space. */
const oneLine = (value: string | undefined) => value?.replace(/\s+/g, ' ');

/**
 * Turns CRLF into LF on the way into the parser: csv-parse counts one line too many after a blank
 * CRLF line, and the line numbers in the report must match what staff see in their editor.
 */
function crlfToLf(): Transform {
  let heldCr = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const bytes = heldCr ? Buffer.concat([Buffer.from([13]), chunk]) : chunk;
      heldCr = bytes.length > 0 && bytes[bytes.length - 1] === 13;
      const body = heldCr ? bytes.subarray(0, -1) : bytes;
      const out: number[] = [];
      for (let i = 0; i < body.length; i++) if (!(body[i] === 13 && body[i + 1] === 10)) out.push(body[i]!);
      callback(null, Buffer.from(out));
    },
    flush(callback) {
      callback(null, heldCr ? Buffer.from([13]) : undefined);
    },
  });
}

/**
 * Streams a CSV into a list: rows are validated one by one and written a thousand at a time, so a
 * file of any length never sits in memory. Good rows are kept and each bad row is reported by its
 * line number (invariant 6's one exception).
 */
export async function importCsv(db: Db, listId: number, input: Readable): Promise<ImportReport> {
  const report: ImportReport = { added: 0, updated: 0, suppressed: 0, invalid: [] };
  const parser = input.pipe(crlfToLf()).pipe(
    parse({
      bom: true,
      columns: (header: string[]) => {
        const names = header.map((h) => h.trim().toLowerCase());
        if (!names.includes('email')) throw new ImportHeaderError('the header row must name an "email" column');
        return names;
      },
      skip_empty_lines: true,
      relax_column_count: true,
      trim: true,
      info: true,
    }),
  );
  let batch = new Map<string, SubscriberInput>();
  const flush = async () => {
    const counts = await upsertMembers(db, listId, [...batch.values()]);
    report.added += counts.added;
    report.updated += counts.updated;
    report.suppressed += counts.suppressed;
    batch = new Map();
  };

  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      const email = emailAddress.safeParse(record.email ?? '');
      const name = nameField.safeParse(oneLine(record.name));
      const outlet = nameField.safeParse(oneLine(record.outlet));
      if (!email.success || !name.success || !outlet.success) {
        const [field, result] = !email.success ? ['email', email] : !name.success ? ['name', name] : ['outlet', outlet];
        report.invalid.push({ line: info.lines, reason: `${field}: ${result.error!.issues[0]!.message}` });
        continue;
      }
      // The same address twice in a file merges as a second upsert would: first spelling, later details.
      const key = email.data.toLowerCase();
      const earlier = batch.get(key);
      batch.set(key, { email: earlier?.email ?? email.data, name: name.data ?? earlier?.name ?? null, outlet: outlet.data ?? earlier?.outlet ?? null });
      if (batch.size >= BATCH) await flush();
    }
  } catch (error) {
    if (error instanceof ImportHeaderError || (error as { cause?: unknown }).cause instanceof ImportHeaderError) throw error;
    const line = (error as { lines?: number }).lines;
    report.invalid.push({ line: line ?? 0, reason: `unreadable CSV: ${(error as Error).message}` });
  }
  await flush();
  return report;
}
