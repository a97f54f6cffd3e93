import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { findRelease } from '../db/releases';
import { emailAddress, idParam } from '../fields';
import { buildMessage, messageSettings } from '../mail/message';
import { createMailer, type Mailer } from '../mail/transport';
import { organisation } from '../render/organisation';
import { compiledRelease } from '../render/store';
import { requireRole } from './auth';
import { HttpError, notFound, parse } from './errors';
import { releaseSample } from './releases';

/** `phase: "advance"` sends the embargo-marked copy that advance lists receive. */
const testSendBody = z.object({ email: emailAddress, phase: z.enum(['lift', 'advance']).default('lift') }).strict();
const releaseParams = z.object({ id: idParam });

/**
 * One copy of a release to a staff address, exactly as a journalist on its first list would get
 * it but marked "[TEST]". It touches no delivery, and its unsubscribe link names no subscriber.
 */
export function testSendRoutes(app: FastifyInstance, ctx: Context) {
  const { db, config } = ctx;
  let mailer: Mailer | undefined;
  app.addHook('onClose', async () => mailer?.close());

  app.post('/api/releases/:id/test-send', { preHandler: requireRole(db, 'editor', 'operator') }, async (request) => {
    const { id } = parse(releaseParams, request.params, 'id');
    const { email, phase } = parse(testSendBody, request.body);
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    const sample = await releaseSample(ctx, id);
    const compiled = await compiledRelease(db, release, organisation(config), phase);
    const message = buildMessage(
      compiled,
      { ...sample, deliveryId: 0, subscriberId: 0, listId: 0, email, name: null },
      messageSettings(config, ctx.secret),
      { test: true },
    );
    mailer ??= createMailer(config);
    try {
      const outcome = await mailer.send(message);
      await recordAudit(db, { releaseId: id, actor: request.actor!.label, action: 'test-send', details: { to: email, version: release.version, phase } });
      return { sent: true, to: email, messageId: outcome.messageId, response: outcome.response };
    } catch (error) {
      throw new HttpError(502, 'relay_refused', `the mail relay did not take the test copy: ${(error as Error).message}`, { field: 'email' });
    }
  });
}
