import type { FastifyReply } from 'fastify';
import { LIMITS, spend, ThrottledError } from '../auth/throttle.js';
import { html, type Html } from '../render/html.js';
import { publicRateLimit } from './security.js';
import { recordAudit } from '../db/audit.js';
import { findMembership, resubscribe, type Membership } from '../db/subscribers.js';
import { messageSettings } from '../mail/message.js';
import { serviceMessage } from '../mail/service-mail.js';
import { verifyUnsubscribeToken } from '../mail/unsubscribe-token.js';
import { unsubscribeByToken } from '../subscribers/unsubscribe.js';
import { publicPage, sendNotFound, sendPage, siteOf } from './public-page.js';
import type { RoutesPlugin } from './plugin.js';

/** How long a resubscribe confirmation link works. */
export const RESUBSCRIBE_LINK_HOURS = 48;
const RESUBSCRIBE = 'resubscribe';

/**
 * One-click unsubscribe (RFC 8058) and the way back. The signed unsubscribe token is the only
 * authority to leave: no session, no cookie. Any POST to a valid unsubscribe URL unsubscribes,
 * whatever its body (mailbox providers send `List-Unsubscribe=One-Click` form-encoded or as multipart).
 *
 * Coming back is not the token's to grant: anyone may hold an old copy of the email (forwarded,
 * archived, leaked), so resubscribing sends a confirmation link to the address itself, which works
 * for 48 hours and only for the unsubscribe it answers.
 */
export const unsubscribeRoutes: RoutesPlugin = async (app, { ctx }) => {
  const { config, db, keys } = ctx;
  const site = siteOf(config);
  const limited = { config: publicRateLimit(config) };

  app.register(async (scope) => {
    // This scope reads any small body as text; the rest of the API keeps its own parsers.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) =>
      done(null, body),
    );

    const membershipFor = async (token: string) => {
      const names = verifyUnsubscribeToken(keys, token);
      const membership = names && (await findMembership(db, names.subscriberId, names.listId));
      return membership ? { ...names!, membership } : null;
    };
    const page = (reply: FastifyReply, title: string, body: Html, status = 200) =>
      sendPage(reply, status, publicPage(site, title, html`<div class="card">${body}</div>`));
    const listLine = (m: Membership) => html`<strong>${m.email}</strong> on the <strong>${m.listName}</strong> list`;
    const button = (action: string, label: string) =>
      html`<form method="post" action="${action}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${label}</button></form>`;
    const unsubscribedPage = (reply: FastifyReply, token: string, m: Membership) =>
      page(
        reply,
        'Unsubscribed',
        html`<h1>You are unsubscribed</h1><p>${listLine(m)} will receive no more releases, including any already waiting to be sent.</p>
        <p>Changed your mind? We will email you a link to confirm.</p>${button(`/unsubscribe/${token}/resubscribe`, 'Email me a link to resubscribe')}`,
      );

    scope.get<{ Params: { token: string } }>('/unsubscribe/:token', limited, async (request, reply) => {
      const found = await membershipFor(request.params.token);
      if (!found) return sendNotFound(reply, site);
      if (found.membership.status === 'unsubscribed')
        return unsubscribedPage(reply, request.params.token, found.membership);
      return page(
        reply,
        'Unsubscribe',
        html`<h1>Unsubscribe?</h1><p>Stop sending releases to ${listLine(found.membership)}.</p>
        ${button(`/unsubscribe/${request.params.token}`, 'Unsubscribe')}`,
      );
    });

    scope.post<{ Params: { token: string } }>('/unsubscribe/:token', limited, async (request, reply) => {
      const done = await unsubscribeByToken(db, keys, request.params.token, 'link');
      if (!done) return sendNotFound(reply, site);
      return unsubscribedPage(reply, request.params.token, done.membership);
    });

    /** Mails the address a link that resubscribes it, at most a few a day. */
    scope.post<{ Params: { token: string } }>('/unsubscribe/:token/resubscribe', limited, async (request, reply) => {
      const found = await membershipFor(request.params.token);
      if (!found) return sendNotFound(reply, site);
      const { membership, subscriberId, listId } = found;
      if (membership.status === 'active')
        return page(
          reply,
          'Subscribed',
          html`<h1>You are subscribed</h1><p>${listLine(membership)} receives releases.</p>`,
        );
      if (membership.suppressed) return cannotResubscribe(reply);
      try {
        await spend(db, `resubscribe:${subscriberId}:${listId}`, LIMITS.resubscribeEmailsPerMembership);
      } catch (error) {
        if (!(error instanceof ThrottledError)) throw error;
        return page(
          reply,
          'Check your inbox',
          html`<h1>Check your inbox</h1><p>We have already sent links to ${membership.email} today; the latest one works for ${RESUBSCRIBE_LINK_HOURS} hours.</p>`,
          429,
        );
      }
      const token = keys.sealUntil(
        RESUBSCRIBE,
        `${subscriberId}.${listId}.${membership.unsubscribedMs}`,
        new Date(Date.now() + RESUBSCRIBE_LINK_HOURS * 3_600_000),
      );
      const link = `${config.PUBLIC_URL}/resubscribe/${token}`;
      await app.mailer().send(
        await serviceMessage(messageSettings(config, keys), {
          to: membership.email,
          subject: `Confirm: receive ${membership.listName} releases again`,
          text:
            `Someone, we hope you, asked for ${config.ORG_NAME} to send releases of its ${membership.listName} list to this address again.\n\n` +
            `To confirm, open this link within ${RESUBSCRIBE_LINK_HOURS} hours and press the button:\n${link}\n\n` +
            'If it was not you, ignore this message: nothing changes.\n',
        }),
      );
      await recordAudit(db, {
        releaseId: null,
        actor: `subscriber:${subscriberId}`,
        action: 'resubscribe.requested',
        details: { listId },
      });
      return page(
        reply,
        'Check your inbox',
        html`<h1>Check your inbox</h1><p>We sent a link to <strong>${membership.email}</strong>. Open it within ${RESUBSCRIBE_LINK_HOURS} hours to receive releases of the <strong>${membership.listName}</strong> list again.</p>`,
      );
    });

    const cannotResubscribe = (reply: FastifyReply) =>
      page(
        reply,
        'Resubscribe',
        html`<h1>We cannot resubscribe this address</h1><p>Mail to it was refused or reported; please write to the press office.</p>`,
      );

    /**
     * The membership a confirmation link names, if the link is ours, unexpired, and answers its current unsubscribe.
     */
    const confirmationFor = async (reply: FastifyReply, token: string) => {
      const opened = keys.openUntil(RESUBSCRIBE, token);
      if (opened === 'expired') {
        await page(
          reply,
          'Link expired',
          html`<h1>This link has expired</h1><p>Use the unsubscribe link in any of our emails to ask for a new one.</p>`,
          410,
        );
        return null;
      }
      const match = opened && /^(\d{1,15})\.(\d{1,15})\.(\d{1,15})$/.exec(opened.payload);
      const names = match
        ? { subscriberId: Number(match[1]), listId: Number(match[2]), unsubscribedMs: Number(match[3]) }
        : null;
      const membership = names && (await findMembership(db, names.subscriberId, names.listId));
      if (!names || !membership) {
        await sendNotFound(reply, site);
        return null;
      }
      if (membership.status === 'active') {
        await page(
          reply,
          'Subscribed',
          html`<h1>You are subscribed</h1><p>${listLine(membership)} receives releases.</p>`,
        );
        return null;
      }
      if (membership.unsubscribedMs !== names.unsubscribedMs) {
        await page(
          reply,
          'Link no longer valid',
          html`<h1>This link is no longer valid</h1><p>The address was unsubscribed again since it was sent. Use the unsubscribe link in any of our emails to ask for a new one.</p>`,
          410,
        );
        return null;
      }
      return { ...names, membership };
    };

    scope.get<{ Params: { token: string } }>('/resubscribe/:token', limited, async (request, reply) => {
      const found = await confirmationFor(reply, request.params.token);
      if (!found) return reply;
      return page(
        reply,
        'Resubscribe',
        html`<h1>Resubscribe?</h1><p>Send releases again to ${listLine(found.membership)}.</p>
        ${button(`/resubscribe/${request.params.token}`, 'Resubscribe')}`,
      );
    });

    scope.post<{ Params: { token: string } }>('/resubscribe/:token', limited, async (request, reply) => {
      const found = await confirmationFor(reply, request.params.token);
      if (!found) return reply;
      if (!(await resubscribe(db, found.subscriberId, found.listId, found.unsubscribedMs)))
        return cannotResubscribe(reply);
      await recordAudit(db, {
        releaseId: null,
        actor: `subscriber:${found.subscriberId}`,
        action: 'resubscribe',
        details: { listId: found.listId },
      });
      return page(
        reply,
        'Resubscribed',
        html`<h1>Welcome back</h1><p>${listLine(found.membership)} will receive releases again.</p>`,
      );
    });
  });
};
