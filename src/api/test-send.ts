import { z } from 'zod';
import { spend } from '../auth/throttle.js';
import type { Config } from '../config.js';
import { isStaffAddress } from '../db/accounts.js';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/index.js';
import { findRelease } from '../db/releases.js';
import { emailAddress } from '../fields.js';
import { assembleMessage } from '../mail/assemble.js';
import { personaliseMessage, messageSettings } from '../mail/message.js';
import { organisation } from '../render/organisation.js';
import { compiledRelease } from '../releases/renders.js';
import { HttpError, notFound } from './errors.js';
import { releaseSampleRecipient } from '../db/subscribers.js';
import { idParams, type ApiPlugin } from './plugin.js';

/** `phase: "advance"` sends the embargo-marked copy that advance lists receive. */
const testSendBody = z.object({ email: emailAddress, phase: z.enum(['lift', 'advance']).default('lift') }).strict();
const sent = z.object({
  sent: z.literal(true),
  to: z.string(),
  messageId: z.string(),
  response: z.string().describe("the relay's answer"),
});

/**
 * A test copy carries the embargoed text, so it may go only to the address of an active staff
 * account or one TEST_SEND_ALLOWLIST names (an address, or "@domain" for a whole domain): an
 * editor's token cannot mail a release to an outsider before its lift.
 */
async function mayReceiveTestCopy(db: Db, config: Config, email: string): Promise<boolean> {
  const address = email.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@'));
  if (config.TEST_SEND_ALLOWLIST.some((entry) => entry.toLowerCase() === address || entry.toLowerCase() === domain))
    return true;
  return isStaffAddress(db, address);
}

/**
 * One copy of a release to a staff address, exactly as a journalist on its first list would get
 * it but marked "[TEST]". It touches no delivery, and its unsubscribe link names no subscriber.
 * Each person or token may send TEST_SENDS_PER_HOUR of them.
 */
export const testSendRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db, config } = ctx;

  app.post(
    '/:id/test-send',
    { schema: { params: idParams, body: testSendBody, response: { 200: sent } } },
    async (request) => {
      const { id } = request.params;
      const { email, phase } = request.body;
      const release = await findRelease(db, id);
      if (!release) throw notFound(`release ${id}`);
      if (!(await mayReceiveTestCopy(db, config, email))) {
        throw new HttpError(
          400,
          'invalid_input',
          'email: test copies go only to the address of a staff account or one TEST_SEND_ALLOWLIST names',
          { field: 'email' },
        );
      }
      await spend(db, `test-send:${request.actor.label}`, { max: config.TEST_SENDS_PER_HOUR, windowSeconds: 3600 });
      const sample = await releaseSampleRecipient(ctx.db, id);
      const compiled = await compiledRelease(db, release, organisation(config), phase);
      const message = assembleMessage(
        personaliseMessage(
          compiled,
          { ...sample, deliveryId: 0, subscriberId: 0, listId: 0, email, name: null },
          messageSettings(config, ctx.keys),
          { test: true },
        ),
      );
      try {
        const outcome = await app.mailer().send(message);
        await recordAudit(db, {
          releaseId: id,
          actor: request.actor.label,
          action: 'test-send',
          details: { to: email, version: release.version, phase },
        });
        return { sent: true as const, to: email, messageId: outcome.messageId, response: outcome.response };
      } catch (error) {
        throw new HttpError(
          502,
          'relay_refused',
          `the mail relay did not take the test copy: ${(error as Error).message}`,
          { field: 'email' },
        );
      }
    },
  );
};
