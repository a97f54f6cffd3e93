/**
 * At most `slots` tasks at once, the rest waiting in the order they asked: a task that finishes
 * hands its slot to the longest-waiting one, so callers that ask again after each step (a fan-out
 * chunk by chunk) take turns rather than one of them running ahead.
 */
export class Turns {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly slots: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
