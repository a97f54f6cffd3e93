/**
 * `npm run chaos [-- --recipients N] [-- --only <text>]`: every fault of issue 4 against a release of
 * a few thousand recipients, with real worker processes, a real SMTP server, and a private
 * redis-server for the Redis case. Prints one table row per scenario; exits 1 if any promise broke.
 */
import { parseArgs } from 'node:util';
import { FULL, SCENARIOS, type ChaosOutcome, type ChaosRow } from '../tests/support/chaos';

const { values } = parseArgs({ options: { recipients: { type: 'string' }, only: { type: 'string' } } });
const scale = { ...FULL, ...(values.recipients ? { recipients: Number(values.recipients) } : {}) };
const chosen = SCENARIOS.filter((s) => !values.only || s.name.includes(values.only));

const COLUMNS: Array<keyof ChaosRow> = ['scenario', 'recipients', 'sent', 'bounced', 'failed', 'skipped', 'duplicates', 'lost', 'sent_before_embargo', 'seconds'];
const outcomes: Array<ChaosOutcome | { row: Pick<ChaosRow, 'scenario'>; problems: string[]; notes: Record<string, unknown> }> = [];

for (const scenario of chosen) {
  console.error(`running: ${scenario.name} (${scale.recipients} recipients)`);
  try {
    const outcome = await scenario.run(scale);
    outcomes.push(outcome);
    console.error(`  ${outcome.problems.length === 0 ? 'held' : `BROKEN: ${outcome.problems.join('; ')}`} ${JSON.stringify(outcome.notes)}`);
  } catch (error) {
    outcomes.push({ row: { scenario: scenario.name }, problems: [(error as Error).message], notes: {} });
    console.error(`  ERROR: ${(error as Error).message}`);
  }
}

const cells = outcomes.map((o) => [...COLUMNS.map((c) => String((o.row as Partial<ChaosRow>)[c] ?? '-')), o.problems.length === 0 ? 'ok' : 'BROKEN']);
const header = [...COLUMNS, 'verdict'];
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
for (const row of cells) console.log(line(row));
process.exit(outcomes.every((o) => o.problems.length === 0) ? 0 : 1);
