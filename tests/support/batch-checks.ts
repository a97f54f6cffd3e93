import { vi } from 'vitest';
import { BatchGuard } from '../../src/pipeline/batch-guard.js';
import { waitUntil } from './harness.js';

/** The running batch's periodic reads of PostgreSQL (see src/pipeline/batch-guard.ts). */
export type BatchCheck = 'refreshRelease' | 'refreshRecipients';

export interface BatchChecks {
  /**
   * Resolves once a running batch of the release has answered a round of `check` that began after
   * this call: from then on that batch acts on what PostgreSQL held at the call (a change committed
   * before it reaches the batch's next message). Replaces sleeping "one check interval or two".
   */
  answered(check: BatchCheck, releaseId: number, timeoutMs?: number): Promise<void>;
}

/**
 * Watches every BatchGuard's checks in this test file's process (the workers run in it), calling
 * through to the real ones. Call at the top of a test file.
 */
export function watchBatchChecks(): BatchChecks {
  let rounds = 0;
  const answers: Array<{ check: BatchCheck; releaseId: number; round: number }> = [];
  const prototype = BatchGuard.prototype as unknown as Record<BatchCheck, (this: BatchGuard) => Promise<void>>;
  for (const check of ['refreshRelease', 'refreshRecipients'] as const) {
    const real = prototype[check];
    vi.spyOn(prototype, check).mockImplementation(async function (this: BatchGuard) {
      const round = ++rounds;
      try {
        await real.call(this);
      } finally {
        answers.push({
          check,
          releaseId: (this as unknown as { claim: { releaseId: number } }).claim.releaseId,
          round,
        });
      }
    });
  }
  return {
    async answered(check, releaseId, timeoutMs = 15_000) {
      const after = rounds;
      await waitUntil(
        async () => answers.some((a) => a.check === check && a.releaseId === releaseId && a.round > after),
        timeoutMs,
        `a ${check} round of release ${releaseId}'s batch begun after the change`,
      );
    },
  };
}
