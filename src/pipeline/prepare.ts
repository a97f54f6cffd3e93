import type { Context } from '../context.js';
import { warmConnections } from '../db/index.js';
import { findRelease } from '../db/releases.js';
import type { Release } from '../db/schema.js';
import { prepareMimeParts } from '../mail/body.js';
import { assembleMessage } from '../mail/assemble.js';
import { messageSettings, personaliseMessage, type MessageSettings } from '../mail/message.js';
import { dotStuff } from '../mail/smtp-transaction.js';
import type { CompiledEmail } from '../render/compile.js';
import type { Mailer } from '../mail/transport.js';
import { createRedis } from '../queue/redis.js';
import type { RenderCache } from '../releases/renders.js';

export interface PrepareDeps {
  ctx: Context;
  renders: RenderCache;
  mailer: Mailer;
}

/**
 * Readies this process for a release's first sends: its email compiled and MIME-encoded, the
 * database pool's connections and the relay connections open, the per-message code rehearsed. The
 * lift does it in the moments before the instant, so none of it is on the clock from the instant
 * to the first message.
 */
export async function prepareToSend(deps: PrepareDeps, release: Release): Promise<{ rehearsed: number }> {
  const compiled = await deps.renders.get(release);
  prepareMimeParts(compiled);
  return { rehearsed: await warmProcess(deps, compiled, release.id) };
}

/** Messages the rehearsal builds; enough for V8 to optimise the per-message code. */
const REHEARSAL_MESSAGES = 300;
/** Built in slices, so the lift waiting in this process for its instant is never held up by more. */
const REHEARSAL_SLICE = 10;
const REHEARSAL_NAMES = ['Zoë Müller', '이정민', null, 'Reader'];
/**
 * V8 may drop optimised code (and bytecode) a process has not run for a while, and idle connections
 * close: after this, warm again.
 */
const WARM_VALID_MS = 60_000;
/** By the relay pool: a process has one (tests run several worker sets in one process). */
const warmedAt = new WeakMap<Mailer, number>();
let rehearsedAt = -Infinity;

/**
 * What is warmed is the process, not a release: one warm-up serves every release lifting within
 * the minute. Twenty releases embargoed to one second each prepare, in every process, twice (the
 * lift for its own process and the announcement); warming each time held the database pool's
 * connections and the event loop through the instant, and the last lifts woke 150 ms late.
 */
async function warmProcess(deps: PrepareDeps, compiled: CompiledEmail, releaseId: number): Promise<number> {
  const now = performance.now();
  if (now - (warmedAt.get(deps.mailer) ?? -Infinity) < WARM_VALID_MS) return 0;
  warmedAt.set(deps.mailer, now);
  // What the rehearsal warms is code, which every worker set of the process shares.
  const rehearsing = now - rehearsedAt >= WARM_VALID_MS;
  if (rehearsing) rehearsedAt = now;
  const [, , rehearsed] = await Promise.all([
    warmConnections(deps.ctx.db),
    deps.mailer.warm(),
    rehearsing ? rehearse(compiled, messageSettings(deps.ctx.config, deps.ctx.keys), releaseId) : 0,
  ]);
  return rehearsed;
}

/**
 * A fresh process sends its first messages at about half the rate of its later ones: the code that
 * personalises, encodes and dot-stuffs each message runs unoptimised until V8 has seen it
 * often. The rehearsal builds messages of this very email for made-up recipients (the reserved
 * `.invalid` domain, negative delivery ids) and throws them away: nothing leaves the process, no
 * row is written, so it is safe however early it runs.
 */
async function rehearse(compiled: CompiledEmail, settings: MessageSettings, releaseId: number): Promise<number> {
  for (let i = 0; i < REHEARSAL_MESSAGES; i++) {
    if (i % REHEARSAL_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const message = assembleMessage(
      personaliseMessage(
        compiled,
        {
          deliveryId: -1 - i,
          releaseId,
          subscriberId: -1 - i,
          listId: -1,
          email: `rehearsal-${i}@rehearsal.invalid`,
          name: REHEARSAL_NAMES[i % REHEARSAL_NAMES.length]!,
          listName: 'Rehearsal',
          listSlug: 'rehearsal',
        },
        settings,
      ),
    );
    dotStuff(message.raw);
  }
  return REHEARSAL_MESSAGES;
}

const channel = (ctx: Context) => `${ctx.config.QUEUE_PREFIX}:prepare`;

/**
 * Tells every worker process to prepare for a release version: the send jobs after the lift go to
 * whichever worker is free, so each one should be ready. The message carries ids only (invariant "embargoed text stays
 * home").
 * Best effort: a lift never fails, or waits, for want of it.
 */
export async function announcePreparation(ctx: Context, release: Release): Promise<void> {
  try {
    await ctx.redis.publish(channel(ctx), JSON.stringify({ releaseId: release.id, version: release.version }));
  } catch (error) {
    ctx.log.warn(
      { releaseId: release.id, err: (error as Error).message },
      'could not ask the other workers to prepare; they will open their connections on first use',
    );
  }
}

/**
 * Prepares this process whenever a lift announces itself. Best effort: a process that misses the
 * announcement is merely slower to its first message.
 */
export async function listenForPreparations(deps: PrepareDeps): Promise<{ close(): Promise<void> }> {
  const { ctx } = deps;
  const subscriber = createRedis(ctx.config, 'worker');
  subscriber.on('error', (error) => ctx.log.warn({ err: error.message }, 'redis subscriber error'));
  subscriber.on('message', (_channel, text: string) => {
    void (async () => {
      const { releaseId, version } = JSON.parse(text) as { releaseId: number; version: number };
      const release = await findRelease(ctx.db, releaseId);
      if (release?.version === version && release.status === 'scheduled') await prepareToSend(deps, release);
    })().catch((error: Error) =>
      ctx.log.warn({ err: error.message }, 'preparing for a lift failed; the first sends will open what they need'),
    );
  });
  await subscriber.subscribe(channel(ctx));
  return {
    async close() {
      subscriber.disconnect();
    },
  };
}
