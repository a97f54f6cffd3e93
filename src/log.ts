import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (pretty when a person is watching a terminal), or into the destination given. */
export function createLogger(level: string, name = 'presslift', destination?: DestinationStream): Logger {
  if (destination) return pino({ name, level }, destination);
  const pretty = process.stdout.isTTY && !process.env.CI;
  return pino({
    name,
    level,
    transport: pretty ? { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } : undefined,
  });
}
