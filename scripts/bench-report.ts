/**
 * `npm run bench:report`: the scaling table — 1,000 / 10,000 / 100,000 recipients, each with 1 and
 * 2 worker processes — one `npm run bench` per cell, one after another: three runs (medians; the
 * first is a fresh worker's first release) up to 10,000 recipients, one run of 100,000. Then, where
 * Debian's postfix is installed, the wire's rows against Postfix's smtp-sink (`--sink postfix`:
 * 10,000 and 100,000 recipients, with the smtp-source ceiling) and the many-releases row (20
 * releases of 2,000 at one instant, `--releases 20`, against a single release of 40,000). Prints
 * each cell's JSON line and command, then Markdown tables of them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { postfixAvailable } from './bench/postfix.js';

const root = path.resolve(import.meta.dirname, '..');
type Row = Record<string, unknown> & { command: string };

function bench(args: string[]): Row {
  const output = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = output.trim().split('\n').pop()!;
  const command = `npm run bench -- ${args.join(' ')}`;
  console.log(command);
  console.log(line);
  return { command, ...JSON.parse(line) };
}

function table(title: string, columns: string[], rows: Row[]): void {
  console.log(`\n${title}\n\n| ${columns.join(' | ')} |\n|${columns.map(() => '---').join('|')}|`);
  for (const row of rows)
    console.log(
      `| ${columns.map((c) => (Array.isArray(row[c]) ? (row[c] as unknown[]).join(' / ') : (row[c] ?? ''))).join(' | ')} |`,
    );
}

const scaling: Row[] = [];
for (const recipients of [1_000, 10_000, 100_000]) {
  for (const workers of [1, 2]) {
    scaling.push(
      bench([
        '--recipients',
        String(recipients),
        '--workers',
        String(workers),
        '--runs',
        String(recipients > 10_000 ? 1 : 3),
      ]),
    );
  }
}
const wire: Row[] = [];
const many: Row[] = [];
if (postfixAvailable()) {
  wire.push(bench(['--sink', 'postfix', '--recipients', '10000', '--runs', '3']));
  wire.push(bench(['--sink', 'postfix', '--recipients', '100000', '--runs', '1', '--rss-timeline']));
  many.push(bench(['--sink', 'postfix', '--releases', '20', '--runs', '3']));
}

table(
  'Scaling (node sink)',
  [
    'recipients',
    'workers',
    'runs',
    'sent',
    'duplicates',
    'lost',
    'sent_before_embargo',
    'lift_to_first_ms',
    'lift_to_last_ms',
    'msgs_per_s',
    'msgs_per_s_runs',
    'ceiling_msgs_per_s',
    'ceiling_ratio',
    'pool_ceiling_msgs_per_s',
    'pool_ceiling_ratio',
    'worker_cpu_ms_per_msg',
    'postgres_cpu_ms_per_msg',
    'mjml_compiles',
    'peak_rss_mb',
    'load_average',
  ],
  scaling,
);
if (wire.length > 0) {
  table(
    'The wire (Postfix smtp-sink; smtp-source -d with the same connections as the ceiling)',
    [
      'command',
      'sent',
      'duplicates',
      'lost',
      'sent_before_embargo',
      'lift_to_first_ms',
      'lift_to_last_ms',
      'msgs_per_s',
      'msgs_per_s_runs',
      'source_ceiling_msgs_per_s',
      'source_ceiling_ratio',
      'ceiling_ratio',
      'pool_ceiling_ratio',
      'mjml_compiles',
      'peak_rss_mb',
      'load_average',
    ],
    wire,
  );
  table(
    'Many releases at one instant (Postfix smtp-sink)',
    [
      'command',
      'sent',
      'duplicates',
      'lost',
      'sent_before_embargo',
      'release_first_ms_max',
      'release_last_ms_median',
      'release_last_ms_max',
      'release_last_ratio',
      'all_last_ms',
      'single_release_last_ms',
      'all_last_ratio',
      'source_ceiling_ratio',
      'mjml_compiles',
      'load_average',
    ],
    many,
  );
} else {
  console.log("\n(Debian's postfix is not installed: no smtp-sink rows.)");
}
