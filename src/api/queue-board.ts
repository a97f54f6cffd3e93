import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import { allows } from './auth.js';
import type { RoutesPlugin } from './plugin.js';

export const BOARD_PATH = '/admin/queues';
const READ_ONLY_PATH = `${BOARD_PATH}/view`;
const MANAGE_PATH = `${BOARD_PATH}/manage`;

/**
 * Bull Board for operators (read-only) and admins (retry, promote, clean…). bull-board fixes
 * read-only mode per queue adapter, so there are two boards over the same queues, each mounted
 * where the access table (src/api/access.ts) guards it by role; `/admin/queues` sends each person
 * to theirs. Job data is ids only (invariant "embargoed text stays home"), so neither board can show a release's text.
 */
export const queueBoardRoutes: RoutesPlugin = async (app, { ctx }) => {
  app.get(BOARD_PATH, async (request, reply) =>
    reply.redirect(allows(request.actor, 'admin') ? `${MANAGE_PATH}/` : `${READ_ONLY_PATH}/`),
  );
  mountBoard(app, ctx, READ_ONLY_PATH, true);
  mountBoard(app, ctx, MANAGE_PATH, false);
};

function mountBoard(app: FastifyInstance, ctx: Context, basePath: string, readOnlyMode: boolean) {
  const adapter = new FastifyAdapter().setBasePath(basePath);
  createBullBoard({
    queues: [ctx.queues.lift, ctx.queues.send].map((queue) => new BullMQAdapter(queue, { readOnlyMode })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Presslift (view)' : 'Presslift queues' } },
  });
  app.register(adapter.registerPlugin(), { prefix: basePath });
}
