import { pipeline, Transform, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { Db } from '../db/index.js';
import { upsertMembers, type SubscriberInput } from '../db/subscribers.js';
import { internationalAddress, optionalLine } from '../fields.js';

export interface ImportReport {
  added: number;
  updated: number;
  suppressed: number;
  /** The first MAX_INVALID_LISTED bad lines, each with its reason. */
  invalid: Array<{ line: number; reason: string }>;
  /** How many bad lines there were in all (more than listed when a file is mostly wrong). */
  invalidCount: number;
}

export class ImportHeaderError extends Error {}

/** The file was larger than MAX_IMPORT_BYTES; what came before the limit was imported, as `report` says. */
export class ImportTooLargeError extends Error {
  constructor(
    readonly maxBytes: number,
    readonly report: ImportReport,
  ) {
    super(`the file is larger than ${maxBytes} bytes (MAX_IMPORT_BYTES); the rows before the limit were imported`);
  }
}

const BATCH = 1000;
/** A report lists this many bad lines and counts the rest: a file of junk must not make a junk-sized answer. */
export const MAX_INVALID_LISTED = 1000;
/**
 * The longest record (line) the parser accepts, in characters: an address, a name and an outlet fit many times over.
 */
export const MAX_RECORD_CHARS = 10_000;

/** Passes bytes through until `maxBytes`, then fails the stream. */
function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(
        seen > maxBytes ? new ImportTooLargeError(maxBytes, emptyReport()) : null,
        seen > maxBytes ? undefined : chunk,
      );
    },
  });
}

const emptyReport = (): ImportReport => ({ added: 0, updated: 0, suppressed: 0, invalid: [], invalidCount: 0 });
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
 * file never sits in memory, and the file, each record and the report are bounded. Good rows are
 * kept and each bad row is reported by its line number (the one exception to refusing bad input whole).
 */
export async function importCsv(db: Db, listId: number, input: Readable, maxBytes: number): Promise<ImportReport> {
  const report = emptyReport();
  const parser = parse({
    max_record_size: MAX_RECORD_CHARS,
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
  });
  // An error in our streams (the byte limit) ends them all, and the loop below with it. The request
  // itself is left to drain, not destroyed, so the answer can still be sent.
  const limit = byteLimit(maxBytes);
  pipeline(limit, crlfToLf(), parser, () => {});
  input.pipe(limit);
  limit.on('error', () => {
    input.unpipe(limit);
    input.resume();
  });
  const invalid = (line: number, reason: string) => {
    report.invalidCount += 1;
    if (report.invalid.length < MAX_INVALID_LISTED) report.invalid.push({ line, reason });
  };
  let batch = new Map<string, SubscriberInput>();
  const flush = async () => {
    const counts = await upsertMembers(db, listId, [...batch.values()]);
    report.added += counts.added;
    report.updated += counts.updated;
    report.suppressed += counts.suppressed;
    batch = new Map();
  };

  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      const email = internationalAddress.safeParse(record.email ?? '');
      const name = nameField.safeParse(oneLine(record.name));
      const outlet = nameField.safeParse(oneLine(record.outlet));
      if (!email.success || !name.success || !outlet.success) {
        const [field, result] = !email.success ? ['email', email] : !name.success ? ['name', name] : ['outlet', outlet];
        invalid(info.lines, `${field}: ${result.error!.issues[0]!.message}`);
        continue;
      }
      // The same address twice in a file merges as a second upsert would: first spelling, later details.
      const key = email.data.toLowerCase();
      const earlier = batch.get(key);
      batch.set(key, {
        email: earlier?.email ?? email.data,
        name: name.data ?? earlier?.name ?? null,
        outlet: outlet.data ?? earlier?.outlet ?? null,
      });
      if (batch.size >= BATCH) await flush();
    }
  } catch (error) {
    if (error instanceof ImportHeaderError || (error as { cause?: unknown }).cause instanceof ImportHeaderError)
      throw error;
    if (error instanceof ImportTooLargeError) {
      await flush();
      throw new ImportTooLargeError(maxBytes, report);
    }
    const { lines, code } = error as { lines?: number; code?: string };
    invalid(
      lines ?? 0,
      code === 'CSV_MAX_RECORD_SIZE'
        ? `unreadable CSV: a line longer than ${MAX_RECORD_CHARS} characters`
        : `unreadable CSV: ${(error as Error).message}`,
    );
  }
  await flush();
  return report;
}
