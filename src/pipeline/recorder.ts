import type { Logger } from '../log';

/**
 * Collects rows and writes them in groups at most `intervalMs` apart. Recording each acceptance
 * promptly keeps the accepted-but-unrecorded window (invariant 2) to milliseconds, while one
 * multi-row UPDATE per group keeps PostgreSQL from becoming the bottleneck. A failed write is
 * retried, not dropped: losing it would send those messages again after the lease.
 */
export class GroupWriter<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly log: Logger,
    private readonly intervalMs = 25,
    private readonly retryMs = 500,
    private readonly maxRetries = 120,
  ) {}

  add(row: T): void {
    this.pending.push(row);
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Writes everything added so far; resolves when it is stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.pending;
    this.pending = [];
    if (rows.length > 0) this.chain = this.chain.then(() => this.writeWithRetry(rows));
    return this.chain;
  }

  private async writeWithRetry(rows: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.write(rows);
        return;
      } catch (error) {
        if (attempt >= this.maxRetries) throw error;
        this.log.warn({ err: (error as Error).message, rows: rows.length, attempt }, 'recording delivery states failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      }
    }
  }
}
