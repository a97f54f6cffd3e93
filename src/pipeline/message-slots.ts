interface Share {
  started: boolean;
  waiting: Array<() => void>;
}

/**
 * The messages a worker process has in hand at once (being built, or on the wire), shared among
 * its batches. A freed slot goes first to a batch that has not sent yet, then to the oldest batch
 * with a message waiting. A batch just claimed so sends its first message as soon as any other
 * message is accepted: when twenty releases lift at one instant, each one's first copy leaves in
 * the first milliseconds, not after the batches ahead of it. After that, the oldest batches go
 * first, so batches end in the order they were claimed (the queue's priorities take releases in
 * turn) and the rest, holding their rows, wait without reading anything (see BatchGuard.upToDate).
 */
export class MessageSlots {
  private free: number;
  /** In the order the batches opened: Map iteration keeps it. */
  private readonly batches = new Map<object, Share>();

  constructor(slots: number) {
    this.free = slots;
  }

  /** A batch's share of the slots; `close` it once its messages are done. */
  open(): { run<T>(task: () => Promise<T>): Promise<T>; close(): void } {
    const key = {};
    const share: Share = { started: false, waiting: [] };
    this.batches.set(key, share);
    return {
      run: async <T>(task: () => Promise<T>): Promise<T> => {
        await new Promise<void>((resolve) => {
          share.waiting.push(resolve);
          this.dispatch();
        });
        try {
          return await task();
        } finally {
          this.free += 1;
          this.dispatch();
        }
      },
      close: () => this.batches.delete(key),
    };
  }

  private dispatch(): void {
    while (this.free > 0) {
      let next: Share | undefined;
      for (const share of this.batches.values()) {
        if (share.waiting.length === 0) continue;
        if (!share.started) {
          next = share;
          break;
        }
        next ??= share;
      }
      if (!next) return;
      this.free -= 1;
      next.started = true;
      next.waiting.shift()!();
    }
  }
}
