import type { Db } from '../db/index.js';
import { recipientStanding, renewLease } from '../db/deliveries.js';
import { releaseStanding } from '../db/releases.js';
import type { Logger } from '../log.js';
import { sendingPaused } from '../controls/pause.js';

/** Why a claimed row was not handed to SMTP, and so what becomes of it. */
export type Withheld =
  /** The release was cancelled: the row is cancelled. */
  | { kind: 'cancelled' }
  /** An operator paused all sending: the row goes back to the queue, for resume. */
  | { kind: 'paused' }
  /**
   * The claim could not keep its lease (a renewal failed, or the process stalled past it): the row goes back to the
   * queue if still this claim's.
   */
  | { kind: 'lease' }
  /** The row was staged for a version of the release that is no longer current: it is discarded. */
  | { kind: 'superseded' }
  /** The recipient unsubscribed from every list of the row's phase, or was suppressed: the row is skipped. */
  | { kind: 'skipped'; reason: string };

/** How often a running batch asks whether its release was cancelled, changed or paused (two cheap one-row reads). */
export const CHECK_INTERVAL_MS = 250;
/** How often it asks about its remaining recipients' consent (one query over the batch's rows). */
export const CONSENT_INTERVAL_MS = 1000;

const READINGS = ['release', 'recipients'] as const;
type Reading = (typeof READINGS)[number];
const INTERVAL_MS: Record<Reading, number> = { release: CHECK_INTERVAL_MS, recipients: CONSENT_INTERVAL_MS };

export interface GuardedClaim {
  token: string;
  releaseId: number;
  /**
   * Each claimed row, the release version it was frozen for, and whether it is a notice (or correction) of a change.
   */
  rows: Array<{ id: number; version: number; notice?: boolean }>;
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
 * - No message is built on a reading of the release older than CHECK_INTERVAL_MS: its status and
 *   version and the pause flag. A cancellation or a pause stops the batch, and a new version (an
 *   edit, a move, an unschedule, a lift-now) supersedes the rows staged for the old one.
 * - Nor on a reading of its recipients older than CONSENT_INTERVAL_MS: in one query, whether the
 *   remaining rows are still held and their recipients still want the release (an unsubscribe, a
 *   staff suppression, a hard bounce elsewhere). A failed check counts as "go on": the lease still
 *   guards.
 *
 * The readings run on timers beside the sending, so no message waits for one, but only while the
 * batch has a message in hand (`message`): a worker holds many batches, most of them waiting for
 * the process's message slots (see MessageSlots), and reading for every one of them cost
 * PostgreSQL more than the sending did. A message whose batch has not read for longer than an
 * interval waits for fresh readings before it is built. `mayHandOver`, asked when a connection is
 * ready for the message, decides synchronously from the latest answers and the process's clock,
 * right before MAIL FROM is written.
 */
export class BatchGuard {
  private readonly pending: Set<number>;
  private readonly versions: Map<number, number>;
  private readonly notices: Set<number>;
  private readonly withheld = new Map<number, Withheld>();
  private stoppedBy: Withheld | null = null;
  private leaseUntil: number;
  private readonly timers: NodeJS.Timeout[];
  /** Messages of this batch being built or sent right now. */
  private inHand = 0;
  /** When each reading began (performance.now()), and the one under way. */
  private readonly readAt: Record<Reading, number>;
  private readonly reading = new Map<Reading, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly claim: GuardedClaim,
    private readonly leaseSeconds: number,
    private readonly log: Logger,
  ) {
    this.pending = new Set(claim.rows.map((row) => row.id));
    this.versions = new Map(claim.rows.map((row) => [row.id, row.version]));
    this.notices = new Set(claim.rows.filter((row) => row.notice).map((row) => row.id));
    this.leaseUntil = claim.claimedAt + leaseSeconds * 1000;
    // The claim itself read the release and the recipients: the first readings are due one interval on.
    this.readAt = { release: claim.claimedAt, recipients: claim.claimedAt };
    this.timers = [
      repeat(() => this.renew(), (leaseSeconds * 1000) / 3),
      ...READINGS.map((what) =>
        repeat(() => (this.inHand > 0 ? this.read(what) : Promise.resolve()), INTERVAL_MS[what]),
      ),
    ];
  }

  /**
   * Runs one message of the batch (build and hand-over): first takes again the readings older than
   * their interval, and while it is in hand the timers keep reading.
   */
  async message<T>(send: () => Promise<T>): Promise<T> {
    this.inHand += 1;
    try {
      const now = performance.now();
      await Promise.all(
        READINGS.filter((what) => now - this.readAt[what] >= INTERVAL_MS[what]).map((w) => this.read(w)),
      );
      return await send();
    } finally {
      this.inHand -= 1;
    }
  }

  /** One reading at a time of each kind; whoever asks meanwhile waits for the one under way. */
  private read(what: Reading): Promise<void> {
    let round = this.reading.get(what);
    if (!round) {
      const startedAt = performance.now();
      round = (what === 'release' ? this.refreshRelease() : this.refreshRecipients()).finally(() => {
        this.readAt[what] = startedAt;
        this.reading.delete(what);
      });
      this.reading.set(what, round);
    }
    return round;
  }

  /** Before a message is built: is this row still to be sent? */
  check(id: number): boolean {
    return !this.stoppedBy && !this.withheld.has(id);
  }

  /**
   * At the moment of handing over: yes only while the lease holds with a third of it to spare and
   * nothing has withheld the row. Synchronous, so no other work of this process runs between the
   * answer and MAIL FROM. A yes marks the row handed over.
   */
  mayHandOver(id: number): boolean {
    if (this.stoppedBy || this.withheld.has(id)) return false;
    if (performance.now() >= this.leaseUntil - (this.leaseSeconds * 1000) / 3) {
      this.stop(
        { kind: 'lease' },
        'the lease on this batch was not renewed in time (a stalled process?); stopping before the next message',
      );
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
    for (const timer of this.timers) clearTimeout(timer);
  }

  private stop(reason: Withheld, message: string): void {
    if (this.stoppedBy) return;
    this.stoppedBy = reason;
    this.log[reason.kind === 'lease' ? 'warn' : 'info']({ pending: this.pending.size }, message);
  }

  /** Rows this claim no longer holds mean its lease ended at some point: it must not trust the rest either. */
  private lostRows(count: number): void {
    this.stop(
      { kind: 'lease' },
      `${count} rows of this batch are no longer held by its claim (taken over after the lease ended); stopping before the next message`,
    );
  }

  private async renew(): Promise<void> {
    const startedAt = performance.now();
    try {
      const held = await renewLease(this.db, [...this.versions.keys()], this.claim.token, this.leaseSeconds);
      const lost = [...this.pending].filter((id) => !held.has(id)).length;
      if (lost > 0) this.lostRows(lost);
      else this.leaseUntil = Math.max(this.leaseUntil, startedAt + this.leaseSeconds * 1000);
    } catch (error) {
      this.stop(
        { kind: 'lease' },
        `lease renewal failed (${(error as Error).message}); stopping before the next message`,
      );
    }
  }

  private async refreshRelease(): Promise<void> {
    if (this.pending.size === 0 || this.stoppedBy) return;
    try {
      const [release, paused] = await Promise.all([
        releaseStanding(this.db, this.claim.releaseId),
        sendingPaused(this.db),
      ]);
      if (!release) return this.stop({ kind: 'cancelled' }, 'release deleted; the rest of the batch is not sent');
      if (paused) return this.stop({ kind: 'paused' }, 'sending paused; the rest of the batch goes back to the queue');
      // Notices tell of cancellations and new versions: only copies of the release stop for them.
      const copies = [...this.pending].filter((id) => !this.notices.has(id));
      if (release.status === 'cancelled' && copies.length > 0) {
        if (this.notices.size === 0)
          return this.stop({ kind: 'cancelled' }, 'release cancelled; the rest of the batch is not sent');
        for (const id of copies) this.withheld.set(id, { kind: 'cancelled' });
        return;
      }
      // A claimed row stays current until a lifecycle change makes a new version (see src/releases/lifecycle.ts).
      for (const id of copies)
        if (this.versions.get(id)! < release.version) this.withheld.set(id, { kind: 'superseded' });
    } catch (error) {
      this.log.warn(
        { err: (error as Error).message },
        'checking the release against PostgreSQL failed; going on under the lease',
      );
    }
  }

  private async refreshRecipients(): Promise<void> {
    const ids = [...this.pending].filter((id) => !this.withheld.has(id));
    if (ids.length === 0 || this.stoppedBy) return;
    try {
      // Rows handed over while the query ran are the relay's now (and may be recorded already).
      const rows = (await recipientStanding(this.db, ids, this.claim.token)).filter((row) => this.pending.has(row.id));
      const found = new Set(rows.map((row) => row.id));
      const lost =
        rows.filter((row) => !row.held).length + ids.filter((id) => this.pending.has(id) && !found.has(id)).length;
      if (lost > 0) return this.lostRows(lost);
      for (const row of rows)
        if (row.skipReason) this.withheld.set(row.id, { kind: 'skipped', reason: row.skipReason });
    } catch (error) {
      this.log.warn(
        { err: (error as Error).message },
        "checking the batch's recipients against PostgreSQL failed; going on under the lease",
      );
    }
  }
}

/**
 * Runs a check every `ms`, the next one only after the last has answered (a slow PostgreSQL never
 * piles checks up). Clearing the returned timer ends it whichever round it is in: a cleared timer
 * is not re-armed by refresh().
 */
function repeat(check: () => Promise<void>, ms: number): NodeJS.Timeout {
  const handle = setTimeout(function run() {
    void check().finally(() => handle.refresh());
  }, ms);
  return handle;
}
