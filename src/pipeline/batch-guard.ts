import type { Db } from '../db';
import { batchStanding, renewLease } from '../db/deliveries';
import type { Logger } from '../log';
import { sendingPaused } from '../ops/pause';

/** Why a claimed row was not handed to SMTP, and so what becomes of it. */
export type Withheld =
  /** The release was cancelled: the row is cancelled. */
  | { kind: 'cancelled' }
  /** An operator paused all sending: the row goes back to the queue, for resume. */
  | { kind: 'paused' }
  /** The claim could not keep its lease (a renewal failed, or the process stalled past it): the row goes back to the queue if still this claim's. */
  | { kind: 'lease' }
  /** The row was staged for a version of the release that is no longer current: it is discarded. */
  | { kind: 'superseded' }
  /** The recipient unsubscribed from every list of the row's phase, or was suppressed: the row is skipped. */
  | { kind: 'skipped'; reason: string };

/** How often a running batch asks PostgreSQL where its remaining rows stand. */
export const CHECK_INTERVAL_MS = 250;

export interface GuardedClaim {
  token: string;
  ids: number[];
  /** performance.now() just before the claim's statement was sent: the lease runs from no earlier. */
  claimedAt: number;
}

/**
 * Stands between a claimed batch and the relay, so that nothing leaves that should not:
 *
 * - The lease is a fencing token's. It is renewed every third of its length, and each renewal
 *   says which rows are still this claim's; and the process keeps, by its own monotonic clock, the
 *   instant until which its lease surely holds. A renewal that fails, a row no longer held, or a
 *   process that stalled (a GC pause, a frozen VM, SIGSTOP) past that instant stops the batch
 *   before its next message, so a worker can never send a row another worker has taken over.
 * - Every `intervalMs` (and however many messages ask, at most once) it reads in one query where
 *   the remaining rows stand: still held, still of the release's current version (an edit, a move,
 *   an unschedule or a lift-now supersedes staged advance copies), not cancelled, and still wanted
 *   by their recipients (an unsubscribe, a staff suppression or a hard bounce elsewhere); and
 *   whether an operator paused sending. A failed check counts as "go on": the lease still guards.
 *
 * `mayHandOver` is asked when a connection is ready for the message: it refreshes the standing if
 * it is older than the interval, then decides synchronously, by what PostgreSQL said at most one
 * interval ago and by the lease on the process's own clock, right before MAIL FROM is written.
 */
export class BatchGuard {
  private readonly pending: Set<number>;
  private readonly withheld = new Map<number, Withheld>();
  private stoppedBy: Withheld | null = null;
  private leaseUntil: number;
  private askedAt = -Infinity;
  private standing: Promise<void> = Promise.resolve();
  private readonly renewal: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly claim: GuardedClaim,
    private readonly leaseSeconds: number,
    private readonly log: Logger,
    private readonly intervalMs = CHECK_INTERVAL_MS,
  ) {
    this.pending = new Set(claim.ids);
    this.leaseUntil = claim.claimedAt + leaseSeconds * 1000;
    this.renewal = setInterval(() => void this.renew(), (leaseSeconds * 1000) / 3);
  }

  /** Before a message is built: is this row still to be sent? */
  async check(id: number): Promise<boolean> {
    await this.fresh();
    return !this.stoppedBy && !this.withheld.has(id);
  }

  /**
   * At the moment of handing over: yes only while the lease holds with a third of it to spare and
   * nothing has withheld the row. The decision after the last await is synchronous, so no other
   * work of this process runs between it and MAIL FROM. A yes marks the row handed over.
   */
  async mayHandOver(id: number): Promise<boolean> {
    await this.fresh();
    if (this.stoppedBy || this.withheld.has(id)) return false;
    if (performance.now() >= this.leaseUntil - (this.leaseSeconds * 1000) / 3) {
      this.stop({ kind: 'lease' }, 'the lease on this batch was not renewed in time (a stalled process?); stopping before the next message');
      return false;
    }
    this.pending.delete(id);
    return true;
  }

  /** Why a row that was not handed over was withheld. */
  reasonFor(id: number): Withheld {
    return this.withheld.get(id) ?? this.stoppedBy ?? { kind: 'lease' };
  }

  close(): void {
    clearInterval(this.renewal);
  }

  /** The standing as of at most one interval ago: asks PostgreSQL when it is older, once however many messages wait. */
  private fresh(): Promise<void> {
    const now = performance.now();
    if (now - this.askedAt >= this.intervalMs) {
      this.askedAt = now;
      this.standing = this.standing.then(() => this.refresh());
    }
    return this.standing;
  }

  private stop(reason: Withheld, message: string): void {
    if (this.stoppedBy) return;
    this.stoppedBy = reason;
    this.log[reason.kind === 'lease' ? 'warn' : 'info']({ pending: this.pending.size }, message);
  }

  /** Rows this claim no longer holds mean its lease ended at some point: it must not trust the rest either. */
  private lostRows(count: number): void {
    this.stop({ kind: 'lease' }, `${count} rows of this batch are no longer held by its claim (taken over after the lease ended); stopping before the next message`);
  }

  private async renew(): Promise<void> {
    const startedAt = performance.now();
    try {
      const held = await renewLease(this.db, this.claim.ids, this.claim.token, this.leaseSeconds);
      const lost = [...this.pending].filter((id) => !held.has(id)).length;
      if (lost > 0) this.lostRows(lost);
      else this.leaseUntil = Math.max(this.leaseUntil, startedAt + this.leaseSeconds * 1000);
    } catch (error) {
      this.stop({ kind: 'lease' }, `lease renewal failed (${(error as Error).message}); stopping before the next message`);
    }
  }

  private async refresh(): Promise<void> {
    const ids = [...this.pending];
    if (ids.length === 0 || this.stoppedBy) return;
    try {
      const [answer, paused] = await Promise.all([batchStanding(this.db, ids, this.claim.token), sendingPaused(this.db)]);
      // Rows handed over while the query ran are the relay's now (and may be recorded already).
      const rows = answer.filter((row) => this.pending.has(row.id));
      const found = new Set(answer.map((row) => row.id));
      const lost = rows.filter((row) => !row.held).length + ids.filter((id) => this.pending.has(id) && !found.has(id)).length;
      if (lost > 0) return this.lostRows(lost);
      if (rows.some((row) => row.cancelled)) return this.stop({ kind: 'cancelled' }, 'release cancelled; the rest of the batch is not sent');
      if (paused) return this.stop({ kind: 'paused' }, 'sending paused; the rest of the batch goes back to the queue');
      for (const row of rows) {
        if (!row.current) this.withheld.set(row.id, { kind: 'superseded' });
        else if (row.skipReason) this.withheld.set(row.id, { kind: 'skipped', reason: row.skipReason });
      }
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'checking the batch against PostgreSQL failed; going on under the lease');
    }
  }
}
