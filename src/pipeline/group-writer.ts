import type { Logger } from '../log.js';

interface Group<T> {
  rows: T[];
  stored: Promise<void>;
  settle(error?: unknown): void;
}

/**
 * Collects rows and writes them in groups at most `intervalMs` apart. Recording each acceptance
 * promptly keeps the accepted-but-unrecorded window (invariant "once per recipient") to milliseconds, while one
 * multi-row UPDATE per group keeps PostgreSQL from becoming the bottleneck. One writer serves a
 * whole worker process, so its concurrent batches share each UPDATE (and each commit). A failed
 * write is retried, not dropped: losing it would send those messages again after the lease.
 */
export class GroupWriter<T> {
  private group: Group<T> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly log: Logger,
    private readonly intervalMs = 25,
    private readonly retryMs = 500,
    private readonly maxRetries = 120,
  ) {}

  /** Queues a row; the promise settles once its group is stored, or has failed for good. */
  add(row: T): Promise<void> {
    if (!this.group) {
      this.group = newGroup<T>();
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
    }
    this.group.rows.push(row);
    return this.group.stored;
  }

  /** Starts writing what is queued now rather than at the end of the interval. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.group;
    this.group = undefined;
    // One group at a time, in order: at most one UPDATE of this process in flight.
    if (group)
      this.chain = this.chain
        .then(() => this.writeWithRetry(group.rows))
        .then(
          () => group.settle(),
          (error) => group.settle(error),
        );
  }

  private async writeWithRetry(rows: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.write(rows);
        return;
      } catch (error) {
        if (attempt >= this.maxRetries) throw error;
        this.log.warn(
          { err: (error as Error).message, rows: rows.length, attempt },
          'recording delivery states failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      }
    }
  }
}

function newGroup<T>(): Group<T> {
  let settle!: (error?: unknown) => void;
  const stored = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Whoever added a row awaits this; the handler keeps a failure from counting as unhandled before then.
  stored.catch(() => {});
  return { rows: [], stored, settle };
}
