import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface Arrival {
  messageId: string;
  to: string;
  startedAt: number;
  acceptedAt: number;
  bytes: number;
}

export interface Sink {
  url: string;
  report(): Promise<Arrival[]>;
  reset(): Promise<void>;
  stop(): void;
}

function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
  });
}

export async function startSink(): Promise<Sink> {
  const child = fork(path.join(root, 'scripts/bench/sink.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const { port } = await reply<{ port: number }>(child, 'listening');
  return {
    url: `smtp://127.0.0.1:${port}`,
    async report() {
      const answer = reply<{ arrivals: Arrival[] }>(child, 'report');
      child.send({ type: 'report' });
      return (await answer).arrivals;
    },
    async reset() {
      const answer = reply(child, 'reset');
      child.send({ type: 'reset' });
      await answer;
    },
    stop: () => child.kill('SIGTERM'),
  };
}

export interface WorkerProcess {
  pid: number;
  /** Resident memory now, in MB (from /proc). */
  rssMb(): number;
  /** The process's peak resident memory so far (VmHWM), in MB. */
  peakRssMb(): number;
  /** CPU time the process has used so far, user and system, in ms (from /proc). */
  cpuMs(): number;
  stop(): Promise<void>;
}

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time used so far by PostgreSQL on this machine, in ms: every live postgres process (backends,
 * WAL writer, autovacuum), plus the children that have exited (a backend ends when the pool closes
 * an idle connection; the postmaster's own counters keep what its children used).
 */
export function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('postgres')) total += procCpuMs(Number(entry), true);
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

function procCpuMs(pid: number, withExitedChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // utime and stime (then the exited children's cutime and cstime), in clock ticks of 10 ms.
    const ticks = fields[11]! + fields[12]! + (withExitedChildren ? fields[13]! + fields[14]! : 0);
    return ticks * 10;
  } catch {
    return 0;
  }
}

/** The node flags of `npm run worker` (its heap cap), so the bench runs workers as deployed. */
function workerNodeFlags(): string[] {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  return scripts.worker!.split(/\s+/).filter((arg) => arg.startsWith('--'));
}

/** A real `presslift worker` process, started as `npm run worker` does; resolves once its workers started. */
export async function startWorker(
  env: Record<string, string>,
  logFile: string,
  cpuProfDir?: string,
): Promise<WorkerProcess> {
  const nodeArgs = [...workerNodeFlags(), ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, 'bin/presslift.js', 'worker'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (seen !== 'ready') {
        seen += chunk.toString();
        if (seen.includes('"workers started"')) {
          seen = 'ready';
          resolve();
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code} before starting; see ${logFile}`)));
  });
  const pid = child.pid!;
  return {
    pid,
    rssMb: () => procStatusMb(pid, 'VmRSS'),
    peakRssMb: () => procStatusMb(pid, 'VmHWM'),
    cpuMs: () => procCpuMs(pid),
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
