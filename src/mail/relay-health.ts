import type { Db } from '../db/index.js';
import { noteRelayAccepted, noteRelayRefused } from '../db/relay-health.js';
import type { Logger } from '../log.js';

/**
 * Tells PostgreSQL how the relay answers this worker, at most once a second for each kind of
 * answer, so the leader can tell "the relay has refused every message for ten minutes" across
 * all workers without a write per message. Best effort: a failed write only delays an alert.
 */
export class RelayHealthRecorder {
  private writtenAt = { accepted: -Infinity, refused: -Infinity };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly everyMs = 1000,
  ) {}

  accepted(): void {
    if (this.due('accepted'))
      noteRelayAccepted(this.db).catch((error: Error) =>
        this.log.warn({ err: error.message }, 'could not note the relay accepting'),
      );
  }

  /** A temporary refusal (4xx, a refused or dropped connection, a timeout): the relay is not taking mail. */
  refused(reply: string): void {
    if (this.due('refused'))
      noteRelayRefused(this.db, reply).catch((error: Error) =>
        this.log.warn({ err: error.message }, 'could not note the relay refusing'),
      );
  }

  private due(kind: 'accepted' | 'refused'): boolean {
    const now = performance.now();
    if (now - this.writtenAt[kind] < this.everyMs) return false;
    this.writtenAt[kind] = now;
    return true;
  }
}
