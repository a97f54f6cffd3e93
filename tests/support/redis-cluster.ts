import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';

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
  const redis = new Redis(Number(port), host!, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
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
    } catch (error) {
      if ((error as { exited?: boolean }).exited) throw error;
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts one cluster node on free ports, its cluster bus on a port of its own (by default the bus
 * is the port + 10000, which may be taken or past 65535). A port another process took meanwhile
 * makes redis-server exit at once: then it tries other ports.
 */
async function startNode(dir: string): Promise<{ node: string; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const [port, bus] = [await freePort(), await freePort()];
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(bus),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    const node = `127.0.0.1:${port}`;
    try {
      await until(
        `${node} to answer`,
        async () => {
          if (child.exitCode !== null) throw Object.assign(new Error('exited'), { exited: true });
          return (await ask<string>(node, 'PING')) === 'PONG';
        },
        15_000,
      );
      return { node, child };
    } catch (error) {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (attempt >= 5) throw error;
    }
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'presslift-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: string[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null) return;
        child.kill('SIGKILL');
        await once(child, 'exit');
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const { node, child } = await startNode(dir);
      nodes.push(node);
      children.push(child);
    }
    const create = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], {
      stdio: 'ignore',
    });
    const [code] = await once(create, 'exit');
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}`);
    for (const node of nodes)
      await until(`${node} to see the cluster ok`, async () =>
        (await ask<string>(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
      );
    // The state is ok before gossip has told every node of the replicas: slotOwner reads nodes[0]'s view.
    await until(`${nodes[0]} to see a replica of every master`, async () =>
      (await ask<unknown[][]>(nodes[0]!, 'CLUSTER', 'SLOTS')).every((range) => range.length >= 4),
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const slotOwner = async (key: string) => {
    const slot = await ask<number>(nodes[0]!, 'CLUSTER', 'KEYSLOT', key);
    const ranges = await ask<Array<[number, number, [string, number], ...Array<[string, number]>]>>(
      nodes[0]!,
      'CLUSTER',
      'SLOTS',
    );
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
      for (const node of nodes)
        await until(`${node} to see the cluster ok`, async () =>
          (await ask<string>(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
        );
      return { slot, from: master, to: replica };
    },
    stop,
  };
}
