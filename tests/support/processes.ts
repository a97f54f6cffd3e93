import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The CLI from source, through tsx: tests run what is in src/, never a stale dist/.
const CLI = path.join(ROOT, 'src/cli.ts');

type LogLine = Record<string, unknown>;

/** A `presslift` child process whose JSON log lines are kept for assertions. */
export interface PressliftProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first log line whose `msg` matches. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<LogLine>;
  kill(signal: NodeJS.Signals): void;
  /** The last log lines, for an error message when a scenario goes wrong. */
  tail(lines?: number): string;
}

/** Runs `presslift <args>` (src/cli.ts through tsx) with exactly the given environment (plus PATH). */
export function spawnPresslift(args: string[], env: Record<string, string>): PressliftProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const collect = (line: string) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ msg: line });
    }
  };
  createInterface({ input: child.stdout! }).on('line', collect);
  createInterface({ input: child.stderr! }).on('line', (line) => collect(`stderr: ${line}`));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const tail = (lines = 20) =>
    logs
      .slice(-lines)
      .map((l) => JSON.stringify(l))
      .join('\n');
  const matching = (msg: string | RegExp) => (entry: LogLine) =>
    typeof entry.msg === 'string' && (typeof msg === 'string' ? entry.msg === msg : msg.test(entry.msg));

  return {
    child,
    logs,
    exited,
    tail,
    kill: (signal) => void child.kill(signal),
    async waitForLog(msg, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find(matching(msg));
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`pid ${child.pid} exited before logging "${msg}":\n${tail()}`);
        if (Date.now() > deadline)
          throw new Error(`no log "${msg}" from pid ${child.pid} within ${timeoutMs} ms:\n${tail()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** Starts a worker process (`presslift worker`) and resolves once its workers are consuming jobs. */
export async function startWorkerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<PressliftProcess> {
  const worker = spawnPresslift(['worker'], env);
  try {
    await worker.waitForLog('workers started', timeoutMs);
  } catch (error) {
    worker.kill('SIGKILL');
    throw error;
  }
  return worker;
}

/** Stops a process if it is still running: SIGKILL, since a test that is cleaning up has nothing to wait for. */
export async function killProcess(proc: PressliftProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.kill('SIGKILL');
  await proc.exited;
}

/** Runs a short CLI command (e.g. `pause`, `reconcile`) to its end; rejects unless it exits 0. */
export async function runPresslift(args: string[], env: Record<string, string>): Promise<PressliftProcess> {
  const command = spawnPresslift(args, env);
  const code = await command.exited;
  if (code !== 0) throw new Error(`presslift ${args.join(' ')} exited ${code}:\n${command.tail()}`);
  return command;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
