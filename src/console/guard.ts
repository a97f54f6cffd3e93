import type { FastifyReply, FastifyRequest } from 'fastify';
import { allows, identify } from '../api/auth';
import type { Db } from '../db';
import type { Role } from '../db/schema';
import { html } from './html';
import { bare } from './layout';

/**
 * A preHandler for console pages: someone not signed in is sent to sign in and brought back;
 * someone signed in without the role gets a plain 403 page. Pages are for people, so only a
 * session (not an API token) opens them.
 */
export function pageFor(db: Db, ...roles: Role[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const actor = await identify(db, request);
    if (!actor || actor.via !== 'session') {
      return reply.redirect(`/console/login?next=${encodeURIComponent(request.url)}`);
    }
    if (!roles.some((role) => allows(actor, role))) {
      return reply.status(403).type('text/html').send(bare('Not allowed', html`
<h1>Not allowed</h1>
<p class="alert alert-error" role="alert">This page needs the ${roles.join(' or ')} role; you are signed in as ${actor.role}.</p>
<p><a href="/console/releases">Back to releases</a></p>`));
    }
    request.actor = actor;
  };
}
