import { describe, expect, it } from 'vitest';
import { CHAOS_TABLE_HEADER, chaosScale, chaosTableRow, PROCESS_SCENARIOS } from '../support/chaos.js';

// Real worker processes and a real SMTP server, at a small size; `npm run chaos` runs the same at full size.
const { scale, full } = chaosScale();

describe('delivery survives', () => {
  for (const scenario of PROCESS_SCENARIOS) {
    it(
      scenario.name,
      async () => {
        const outcome = await scenario.run(scale);
        if (full) console.log(`${CHAOS_TABLE_HEADER}\n${chaosTableRow(outcome)}\n${JSON.stringify(outcome.notes)}`);
        expect(outcome.problems, JSON.stringify(outcome)).toEqual([]);
      },
      full ? 3_600_000 : 180_000,
    );
  }
});
