import { Writable } from 'node:stream';

/** A pino destination that keeps every line, so a test can read what a process logged. */
export interface LogCapture {
  stream: Writable;
  lines(): string[];
  /** Each line parsed as the JSON object pino wrote. */
  entries(): Array<Record<string, unknown>>;
}

export function captureLog(): LogCapture {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      callback();
    },
  });
  return {
    stream,
    lines: () => [...lines],
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
