/**
 * `npx tsx scripts/profile-top.ts DIR [N]`: the N (default 5) functions with the most self time
 * across the .cpuprofile files in DIR (as written by `node --cpu-prof`), idle and GC listed apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [dir, top = '5'] = process.argv.slice(2);
if (!dir) throw new Error('usage: profile-top.ts DIR [N]');
const selfUs = new Map<string, number>();
let totalUs = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Profile;
  const names = new Map(
    profile.nodes.map((n) => {
      const where = n.callFrame.url
        ? `${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|workers)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
        : '';
      return [n.id, `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim()];
    }),
  );
  profile.samples.forEach((node, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    const name = names.get(node)!;
    selfUs.set(name, (selfUs.get(name) ?? 0) + us);
  });
}
const busyUs = totalUs - (selfUs.get('(idle)') ?? 0);
console.log(
  `busy ${(busyUs / 1000).toFixed(0)} ms of ${(totalUs / 1000).toFixed(0)} ms sampled; idle ${((selfUs.get('(idle)') ?? 0) / 1000).toFixed(0)} ms`,
);
const entries = [...selfUs.entries()]
  .filter(([name]) => name !== '(idle)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(top));
for (const [name, us] of entries)
  console.log(
    `${(us / 1000).toFixed(0).padStart(7)} ms  ${((100 * us) / busyUs).toFixed(1).padStart(5)}% of busy  ${name}`,
  );
