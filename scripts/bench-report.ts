/**
 * `npm run bench:report`: the scaling table — 1,000 / 10,000 / 100,000 recipients, each with 1 and
 * 2 worker processes — one `npm run bench` per cell, one after another: three runs (medians; the
 * first is a fresh worker's first release) up to 10,000 recipients, one run of 100,000. Prints
 * each cell's JSON line, then a Markdown table of them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const rows: Array<Record<string, number>> = [];
for (const recipients of [1_000, 10_000, 100_000]) {
  for (const workers of [1, 2]) {
    const runs = recipients > 10_000 ? 1 : 3;
    const output = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--recipients', String(recipients), '--workers', String(workers), '--runs', String(runs)], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 * 1024 * 1024,
    });
    const line = output.trim().split('\n').pop()!;
    console.log(line);
    rows.push(JSON.parse(line));
  }
}
const columns = ['recipients', 'workers', 'runs', 'sent', 'duplicates', 'lost', 'sent_before_embargo', 'lift_to_first_ms', 'lift_to_last_ms', 'msgs_per_s', 'ceiling_msgs_per_s', 'ceiling_ratio', 'pool_ceiling_msgs_per_s', 'pool_ceiling_ratio', 'worker_cpu_ms_per_msg', 'postgres_cpu_ms_per_msg', 'mjml_compiles', 'peak_rss_mb'];
console.log(`\n| ${columns.join(' | ')} |\n|${columns.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(' | ')} |`);
