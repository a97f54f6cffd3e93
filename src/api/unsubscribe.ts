import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { findMembership, resubscribe, unsubscribe, type Membership } from '../db/subscribers';
import { signUnsubscribeToken, verifyUnsubscribeToken, type TokenPurpose } from '../mail/unsubscribe-token';
import { escapeHtml } from '../render/escape';
import { publicPage, sendNotFound, sendPage, siteOf } from './public-page';

/**
 * One-click unsubscribe (RFC 8058) and the resubscribe link. The signed token is the only
 * authority: no session, no cookie. Any POST to a valid unsubscribe URL unsubscribes, whatever its
 * body (mailbox providers send `List-Unsubscribe=One-Click` form-encoded or as multipart).
 */
export function unsubscribeRoutes(app: FastifyInstance, ctx: Context) {
  const site = siteOf(ctx.config);

  app.register(async (scope) => {
    // This scope reads any small body as text; the rest of the API keeps its own parsers.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => done(null, body));

    const membershipFor = async (token: string, purpose: TokenPurpose) => {
      const names = verifyUnsubscribeToken(ctx.secret, token, purpose);
      const membership = names && (await findMembership(ctx.db, names.subscriberId, names.listId));
      return membership ? { ...names!, membership } : null;
    };
    const page = (reply: FastifyReply, title: string, body: string) =>
      sendPage(reply, 200, publicPage(site, title, `<div class="card">${body}</div>`));
    const form = (action: string, label: string) =>
      `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${escapeHtml(label)}</button></form>`;
    const listLine = (m: Membership) => `<strong>${escapeHtml(m.email)}</strong> on the <strong>${escapeHtml(m.listName)}</strong> list`;
    const unsubscribedPage = (reply: FastifyReply, subscriberId: number, listId: number, m: Membership) => {
      const back = `/resubscribe/${signUnsubscribeToken(ctx.secret, subscriberId, listId, 'resubscribe')}`;
      return page(reply, 'Unsubscribed', `<h1>You are unsubscribed</h1><p>${listLine(m)} will receive no more releases, including any already waiting to be sent.</p>
        <p>Changed your mind? <a href="${escapeHtml(back)}">Resubscribe</a>.</p>`);
    };

    scope.get<{ Params: { token: string } }>('/unsubscribe/:token', async (request, reply) => {
      const found = await membershipFor(request.params.token, 'unsubscribe');
      if (!found) return sendNotFound(reply, site);
      if (found.membership.status === 'unsubscribed') return unsubscribedPage(reply, found.subscriberId, found.listId, found.membership);
      return page(reply, 'Unsubscribe', `<h1>Unsubscribe?</h1><p>Stop sending releases to ${listLine(found.membership)}.</p>
        ${form(`/unsubscribe/${request.params.token}`, 'Unsubscribe')}`);
    });

    scope.post<{ Params: { token: string } }>('/unsubscribe/:token', async (request, reply) => {
      const found = await membershipFor(request.params.token, 'unsubscribe');
      if (!found) return sendNotFound(reply, site);
      await unsubscribe(ctx.db, found.subscriberId, found.listId);
      await recordAudit(ctx.db, { releaseId: null, actor: `subscriber:${found.subscriberId}`, action: 'unsubscribe', details: { listId: found.listId } });
      return unsubscribedPage(reply, found.subscriberId, found.listId, { ...found.membership, status: 'unsubscribed' });
    });

    scope.get<{ Params: { token: string } }>('/resubscribe/:token', async (request, reply) => {
      const found = await membershipFor(request.params.token, 'resubscribe');
      if (!found) return sendNotFound(reply, site);
      return page(reply, 'Resubscribe', `<h1>Resubscribe?</h1><p>Send releases again to ${listLine(found.membership)}.</p>
        ${form(`/resubscribe/${request.params.token}`, 'Resubscribe')}`);
    });

    scope.post<{ Params: { token: string } }>('/resubscribe/:token', async (request, reply) => {
      const found = await membershipFor(request.params.token, 'resubscribe');
      if (!found) return sendNotFound(reply, site);
      if (!(await resubscribe(ctx.db, found.subscriberId, found.listId))) {
        return page(reply, 'Resubscribe', `<h1>We cannot resubscribe this address</h1><p>Mail to it was refused or reported; please write to the press office.</p>`);
      }
      await recordAudit(ctx.db, { releaseId: null, actor: `subscriber:${found.subscriberId}`, action: 'resubscribe', details: { listId: found.listId } });
      return page(reply, 'Resubscribed', `<h1>Welcome back</h1><p>${listLine(found.membership)} will receive releases again.</p>`);
    });
  });
}
