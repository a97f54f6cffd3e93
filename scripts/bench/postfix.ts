/**
 * Postfix's C test tools as the bench's wire: `smtp-sink` (the sink) and `smtp-source -d` (the
 * ceiling: what the wire and the sink allow, with no client-side work worth the name). Debian's
 * `postfix` package installs both in /usr/sbin.
 *
 * The sink runs with -v, and its log of commands (read from its stderr as it comes) is what the
 * bench counts: a RCPT TO line names the recipient, a "." line is an accepted message. With one
 * recipient a message, the n-th RCPT and the n-th "." belong together closely enough for timing;
 * duplicates and losses are counted from the RCPT addresses. Message bodies are not kept.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Arrival, Sink } from './processes.js';

const SINK = '/usr/sbin/smtp-sink';
const SOURCE = '/usr/sbin/smtp-source';

export const postfixAvailable = (): boolean => existsSync(SINK) && existsSync(SOURCE);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostfixSink(): Promise<Sink> {
  const port = await freePort();
  // -u: it must drop root; -m: room for every connection the bench opens.
  const child = spawn(SINK, ['-u', 'nobody', '-v', '-m', '1024', `127.0.0.1:${port}`, '1024'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let starts: number[] = [];
  let recipients: string[] = [];
  let accepted: number[] = [];
  const lines = createInterface({ input: child.stderr! });
  lines.on('line', (line) => {
    const command = line.slice(line.indexOf(': ') + 2);
    if (command === '.') accepted.push(Date.now());
    else if (command.startsWith('RCPT TO:'))
      recipients.push(
        command
          .slice(8)
          .replace(/^<|>.*$/g, '')
          .toLowerCase(),
      );
    else if (command.startsWith('MAIL FROM:')) starts.push(Date.now());
  });
  // Ready once it accepts a connection.
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 50) throw new Error('smtp-sink did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The log trails the wire by a little: wait until it has been quiet for a moment.
  const settled = async () => {
    let seen = -1;
    while (seen !== accepted.length + recipients.length) {
      seen = accepted.length + recipients.length;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    async report(): Promise<Arrival[]> {
      await settled();
      return accepted.map((acceptedAt, i) => ({
        messageId: '',
        to: recipients[i] ?? '',
        startedAt: starts[i] ?? acceptedAt,
        acceptedAt,
        bytes: 0,
      }));
    },
    async reset() {
      await settled();
      starts = [];
      recipients = [];
      accepted = [];
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/**
 * The wire's ceiling: `smtp-source -d` sending `count` messages of `bytes` bytes over `connections`
 * connections, each kept open from message to message, to the sink at `smtpUrl`.
 */
export async function sourceCeiling(
  smtpUrl: string,
  count: number,
  bytes: number,
  connections: number,
): Promise<{ msgsPerS: number }> {
  const url = new URL(smtpUrl);
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      SOURCE,
      [
        '-d',
        '-s',
        String(connections),
        '-m',
        String(count),
        '-l',
        String(bytes),
        '-f',
        'ceiling@bench.example.org',
        '-t',
        'ceiling@bench.example.org',
        `${url.hostname}:${url.port}`,
      ],
      { stdio: 'inherit' },
    );
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited with ${code}`))));
  });
  return { msgsPerS: count / ((performance.now() - started) / 1000) };
}
