import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { idParam } from '../fields';
import { pauseSending, resumeSending } from '../ops/pause';
import { retryFailedDeliveries } from '../ops/retry';
import { operatorStatus } from '../ops/status';
import { parse } from './errors';

const releaseParams = z.object({ id: idParam });

/** What the console's operations page calls: the emergency stop, the status board, retries. */
export function opsRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/api/ops/status', async () => operatorStatus(ctx));
  app.post('/api/ops/pause', async (request) => ({ sending: await pauseSending(ctx, request.actor!.label) }));
  app.post('/api/ops/resume', async (request) => ({ sending: await resumeSending(ctx, request.actor!.label) }));

  app.post('/api/releases/:id/retry', async (request) => {
    const { id } = parse(releaseParams, request.params, 'id');
    return retryFailedDeliveries(ctx, id, request.actor!.label);
  });
}
