import type { Readable } from 'node:stream';
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

/**
 * Streams a CSV into a list: rows are validated one by one and written a thousand at a time, so a
 * file of any length never sits in memory. Good rows are kept and each bad row is reported by its
 * line number (invariant 6's one exception).
 */
export async function importCsv(db: Db, listId: number, input: Readable): Promise<ImportReport> {
  const report: ImportReport = { added: 0, updated: 0, suppressed: 0, invalid: [] };
  const parser = input.pipe(
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
      const name = nameField.safeParse(record.name);
      const outlet = nameField.safeParse(record.outlet);
      if (!email.success || !name.success || !outlet.success) {
        const [field, result] = !email.success ? ['email', email] : !name.success ? ['name', name] : ['outlet', outlet];
        report.invalid.push({ line: info.lines, reason: `${field}: ${result.error!.issues[0]!.message}` });
        continue;
      }
      // The same address twice in a file: the later row wins.
      batch.set(email.data.toLowerCase(), { email: email.data, name: name.data, outlet: outlet.data });
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
