import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.js';

const run = promisify(execFile);
/** Debian's path; root's PATH may lack /usr/sbin. */
const POSTFIX = '/usr/sbin/postfix';

/** A private Postfix instance: its own configuration, queue and log under a temporary directory. */
export interface Postfix {
  /** Where its smtpd listens (127.0.0.1). */
  port: number;
  /** Postfix's own log, to explain a failure. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface PostfixRoutes {
  /** Domain → the port on 127.0.0.1 of the SMTP server that takes its mail (no DNS is ever asked). */
  [domain: string]: number;
}

/**
 * Starts Debian's Postfix as a relay of its own, never touching the system's /etc/postfix setup:
 * `postfix -c DIR` with a main.cf whose queue and data directories, log file and listening port are
 * private, and whose transport map sends each test domain to a local port. Everything else is
 * refused by the error transport, so nothing leaves this machine. Needs root (Postfix's master
 * runs as root and drops to the postfix user), as CI and the sandbox have.
 */
export async function startPostfix(routes: PostfixRoutes, port?: number): Promise<Postfix> {
  const dir = await mkdtemp(path.join(tmpdir(), 'presslift-postfix-'));
  // The postfix user must reach its queue: the temporary directory is made 0700 for root.
  await chmod(dir, 0o755);
  port ??= await freePort();
  const config = path.join(dir, 'etc');
  await Promise.all(['etc', 'queue', 'data'].map((d) => mkdir(path.join(dir, d))));
  const { stdout: uid } = await run('id', ['-u', 'postfix']);
  const { stdout: gid } = await run('id', ['-g', 'postfix']);
  await chown(path.join(dir, 'data'), Number(uid), Number(gid));
  const transport = Object.entries(routes)
    .map(([domain, to]) => `${domain}=smtp:[127.0.0.1]:${to}`)
    .join(', ');
  await writeFile(
    path.join(config, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dir}/queue`,
      `data_directory = ${dir}/data`,
      `maillog_file = ${dir}/maillog`,
      `maillog_file_prefixes = ${dir}`,
      'myhostname = relay.presslift.test',
      'mydomain = presslift.test',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      `transport_maps = inline:{ ${transport} }`,
      'default_transport = error:this test relay delivers nowhere else',
      'relay_transport = error:this test relay delivers nowhere else',
      'smtp_dns_support_level = disabled',
      'alias_maps =',
      'alias_database =',
      'local_recipient_maps =',
      'biff = no',
      'smtp_tls_security_level = none',
      'smtpd_tls_security_level = none',
      // A refused delivery is bounced at once; a deferred one is retried soon (tests do not wait hours).
      'minimal_backoff_time = 1s',
      'maximal_backoff_time = 2s',
      'queue_run_delay = 1s',
      '',
    ].join('\n'),
  );
  // Every service unchrooted (chroot would need a copy of the system files under the queue).
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  await writeFile(path.join(config, 'master.cf'), `${services.join('\n')}\n`);

  const log = () => readFile(path.join(dir, 'maillog'), 'utf8').catch(() => '(no log)');
  try {
    await run(POSTFIX, ['-c', config, 'start']);
    await listening(port);
  } catch (error) {
    throw new Error(`Postfix did not start: ${(error as Error).message}\n${await log()}`, { cause: error });
  }
  return {
    port,
    log,
    async stop() {
      await run(POSTFIX, ['-c', config, 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function listening(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
