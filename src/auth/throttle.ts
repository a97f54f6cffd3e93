import type { Db } from '../db/index.js';
import { countHit, hitsNow } from '../db/rate-counters.js';

export interface Limit {
  max: number;
  windowSeconds: number;
}

/**
 * Throttles that protect accounts and mailboxes. They count in PostgreSQL, which every sign-in
 * needs anyway, so they hold across processes and stay on when Redis is unreachable.
 */
export const LIMITS = {
  /** Every sign-in attempt (password or second factor) from one client address. */
  signInPerAddress: { max: 10, windowSeconds: 60 },
  /** Wrong passwords or codes for one account, from anywhere: slows a distributed guesser. */
  signInFailuresPerAccount: { max: 10, windowSeconds: 15 * 60 },
  /** Password-reset requests from one client address, and reset emails to one account. */
  resetRequestsPerAddress: { max: 5, windowSeconds: 60 * 60 },
  resetEmailsPerAccount: { max: 3, windowSeconds: 60 * 60 },
  /** Resubscribe confirmations mailed to one membership: nobody can flood an inbox with them. */
  resubscribeEmailsPerMembership: { max: 3, windowSeconds: 24 * 60 * 60 },
  /** Sign-ups from one client address: bots are slowed. */
  signupsPerClient: { max: 10, windowSeconds: 60 * 60 },
  /** Confirmation emails to one address: signing up again does not mail again. */
  signupEmailsPerAddress: { max: 1, windowSeconds: 24 * 60 * 60 },
  /** Confirmation emails for a change of address, per subscriber. */
  emailChangesPerSubscriber: { max: 3, windowSeconds: 24 * 60 * 60 },
} satisfies Record<string, Limit>;

export class ThrottledError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(
      `too many attempts; try again in ${retryAfterSeconds < 90 ? `${retryAfterSeconds} seconds` : `${Math.ceil(retryAfterSeconds / 60)} minutes`}`,
    );
  }
}

/** Counts one attempt under `key`; throws ThrottledError when it is over the limit. */
export async function spend(db: Db, key: string, limit: Limit): Promise<void> {
  const count = await countHit(db, key, limit.windowSeconds);
  if (count.hits > limit.max) throw new ThrottledError(Math.max(1, count.secondsLeft));
}

/** Throws ThrottledError when `key` has already used up its limit, without counting this look. */
export async function requireRoom(db: Db, key: string, limit: Limit): Promise<void> {
  const count = await hitsNow(db, key, limit.windowSeconds);
  if (count.hits >= limit.max) throw new ThrottledError(Math.max(1, count.secondsLeft));
}

/** Counts a failure under `key` (see requireRoom, which then refuses once there are too many). */
export async function noteFailure(db: Db, key: string, limit: Limit): Promise<void> {
  await countHit(db, key, limit.windowSeconds);
}
