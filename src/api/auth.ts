import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db';
import type { Role } from '../db/schema';
import { findApiToken } from '../db/tokens';
import { HttpError } from './errors';

export interface Actor {
  /** How the audit log names who did it, e.g. "token:ci-bot". */
  label: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
}

const RANK: Record<Role, number> = { editor: 1, operator: 1, admin: 2 };

/** Admins may do everything; editors and operators only what their role names. */
export function allows(actor: Actor, role: Role): boolean {
  return actor.role === 'admin' || (actor.role === role && RANK[role] === 1);
}

/** A preHandler that requires a valid bearer token of (one of) the given roles. */
export function requireRole(db: Db, ...roles: Role[]) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) throw new HttpError(401, 'unauthorized', 'sign in, or send Authorization: Bearer <token>');
    const found = await findApiToken(db, token);
    if (!found) throw new HttpError(401, 'unauthorized', 'the API token is unknown or revoked');
    const actor: Actor = { label: `token:${found.name}`, role: found.role };
    if (!roles.some((role) => allows(actor, role))) {
      throw new HttpError(403, 'forbidden', `this needs the ${roles.join(' or ')} role`);
    }
    request.actor = actor;
  };
}
