import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../context';
import type { Role } from '../db/schema';
import { allows, requireRole } from './auth';
import { errorHandler } from './errors';

export const BOARD_PATH = '/admin/queues';
const READ_ONLY_PATH = `${BOARD_PATH}/view`;
const MANAGE_PATH = `${BOARD_PATH}/manage`;

/**
 * Bull Board for operators (read-only) and admins (retry, promote, clean…). bull-board fixes
 * read-only mode per queue adapter, so there are two boards over the same queues, each behind its
 * role; `/admin/queues` sends each person to theirs. Job data is ids only (invariant 4), so neither
 * board can show a release's text.
 */
export function queueBoardRoutes(app: FastifyInstance, ctx: Context) {
  app.get(BOARD_PATH, { preHandler: requireRole(ctx.db, 'operator') }, async (request, reply) =>
    reply.redirect(allows(request.actor!, 'admin') ? `${MANAGE_PATH}/` : `${READ_ONLY_PATH}/`),
  );
  mountBoard(app, ctx, READ_ONLY_PATH, 'operator', true);
  mountBoard(app, ctx, MANAGE_PATH, 'admin', false);
}

function mountBoard(app: FastifyInstance, ctx: Context, basePath: string, role: Role, readOnlyMode: boolean) {
  const adapter = new FastifyAdapter().setBasePath(basePath);
  createBullBoard({
    queues: [ctx.queues.lift, ctx.queues.send].map((queue) => new BullMQAdapter(queue, { readOnlyMode })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Presslift (view)' : 'Presslift queues' } },
  });
  const guard = requireRole(ctx.db, role);
  app.register(async (scope) => {
    // The board's routes use bull-board's own error handler, so a refusal is answered here, in ours.
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        await guard(request, reply);
      } catch (error) {
        return errorHandler(error as Error, request, reply);
      }
    });
    await scope.register(adapter.registerPlugin(), { prefix: basePath });
  });
}
