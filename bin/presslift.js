#!/usr/bin/env node
// Production runs the compiled service: `npm run build` writes dist/ (`npm start` builds first).
// Development and the tests run src/ through tsx instead (`npm run dev`, tests/support/processes.ts).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('presslift: dist/ is missing; run `npm run build` first (or `npm run dev` to run from source)');
  process.exit(1);
}
await import(entry.href);
