import type { Context } from '../context.js';
import {
  deleteDeliveryBatch,
  keepDeliveryCounts,
  markDeliveriesPruned,
  purgeExpired,
  releasesToPrune,
} from '../db/retention.js';

/** Rows deleted per statement: each batch holds its row locks for milliseconds. */
const PRUNE_BATCH = 5_000;
/** Revoked API tokens are kept this long for the console's record, then purged. */
const REVOKED_TOKEN_DAYS = 90;
/** Webhook events and alerts are kept this long: enough to answer "did the CMS get it?". */
const OPERATIONS_DAYS = 90;

export interface RetentionResult {
  releases: number;
  deliveries: number;
  purged: Record<string, number>;
}

/**
 * Applies retention: the delivery rows of releases that ended more than DELIVERY_RETENTION_DAYS
 * ago are pruned to per-release counts (kept on the release, so reports and the API still show
 * them), in small batches that never hold long locks; expired sessions, long-revoked tokens and
 * old webhook events and alerts are purged. The audit log is kept whole.
 */
export async function applyRetention(ctx: Context, batch = PRUNE_BATCH): Promise<RetentionResult> {
  const { db, config, log } = ctx;
  const result: RetentionResult = { releases: 0, deliveries: 0, purged: {} };
  for (const releaseId of await releasesToPrune(db, config.DELIVERY_RETENTION_DAYS)) {
    await keepDeliveryCounts(db, releaseId);
    let deleted = 0;
    for (let n = batch; n === batch;) {
      n = await deleteDeliveryBatch(db, releaseId, batch);
      deleted += n;
    }
    await markDeliveriesPruned(db, releaseId);
    result.releases += 1;
    result.deliveries += deleted;
    log.info({ releaseId, deliveries: deleted }, 'retention: deliveries pruned to counts');
  }
  result.purged = await purgeExpired(db, REVOKED_TOKEN_DAYS, OPERATIONS_DAYS);
  return result;
}
