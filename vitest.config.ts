import { defineConfig } from 'vitest/config';

// Two cores: two test files at a time, each with its own database and queue prefix.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/support/browser-check.ts'],
    pool: 'forks',
    // Memory tests measure what is retained, after a full collection (tests/integration/hostile-input.test.ts).
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
