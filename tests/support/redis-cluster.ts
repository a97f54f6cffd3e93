import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './processes';

/** A Redis Cluster of Debian's redis-server on free local ports: three masters, each with one replica. */
export interface RedisCluster {
  /** Seed nodes as REDIS_CLUSTER_NODES takes them. */
  readonly seeds: string;
  /** Which master serves the slot of a key now, and its replica. */
  slotOwner(key: string): Promise<{ slot: number; master: string; replica: string }>;
  /** Promotes the replica of the master serving `key` (CLUSTER FAILOVER on the replica) and waits until the cluster agrees. */
  failover(key: string): Promise<{ slot: number; from: string; to: string }>;
  stop(): Promise<void>;
}

const client = (node: string) => {
  const [host, port] = node.split(':');
  const redis = new Redis(Number(port), host!, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  return redis;
};

async function ask<T>(node: string, ...args: [string, ...Array<string | number>]): Promise<T> {
  const redis = client(node);
  try {
    await redis.connect();
    return (await redis.call(...args)) as T;
  } finally {
    redis.disconnect();
  }
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'presslift-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const port = await freePort();
    nodes.push(`127.0.0.1:${port}`);
    children.push(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', dir,
    ], { stdio: 'ignore' }));
  }
  const stop = async () => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    }));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) await until(`${node} to answer`, async () => (await ask<string>(node, 'PING')) === 'PONG');
    const create = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], { stdio: 'ignore' });
    const [code] = await once(create, 'exit');
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}`);
    for (const node of nodes) await until(`${node} to see the cluster ok`, async () => (await ask<string>(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok'));
  } catch (error) {
    await stop();
    throw error;
  }

  const slotOwner = async (key: string) => {
    const slot = await ask<number>(nodes[0]!, 'CLUSTER', 'KEYSLOT', key);
    const ranges = await ask<Array<[number, number, [string, number], ...Array<[string, number]>]>>(nodes[0]!, 'CLUSTER', 'SLOTS');
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    const [, , master, replica] = range;
    return { slot, master: `${master[0]}:${master[1]}`, replica: `${replica![0]}:${replica![1]}` };
  };

  return {
    seeds: nodes.slice(0, 3).join(','),
    slotOwner,
    async failover(key) {
      const { slot, master, replica } = await slotOwner(key);
      await ask(replica, 'CLUSTER', 'FAILOVER');
      await until(`${replica} to serve slot ${slot}`, async () => {
        const now = await slotOwner(key);
        return now.master === replica && (await ask<string>(replica, 'ROLE')).toString().startsWith('master');
      });
      for (const node of nodes) await until(`${node} to see the cluster ok`, async () => (await ask<string>(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok'));
      return { slot, from: master, to: replica };
    },
    stop,
  };
}
