import { describe, expect, it } from 'vitest';
import { PROCESS_SCENARIOS, SMALL } from '../support/chaos';

// Real worker processes and a real SMTP server, at a small size; `npm run chaos` runs the same at full size.
describe('delivery survives', () => {
  for (const scenario of PROCESS_SCENARIOS) {
    it(scenario.name, async () => {
      const outcome = await scenario.run(SMALL);
      expect(outcome.problems, JSON.stringify(outcome)).toEqual([]);
    }, 180_000);
  }
});
