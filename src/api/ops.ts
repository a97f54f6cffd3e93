import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { recentAlerts } from '../db/alerts';
import { reconcileState } from '../db/reconcile';
import { relayHealth } from '../db/relay-health';
import { idParam } from '../fields';
import { pauseSending, resumeSending } from '../controls/pause';
import { operatorStatus } from '../telemetry/status';
import { retryFailed } from '../releases/lifecycle';
import { parse } from './errors';

const releaseParams = z.object({ id: idParam });

/** What the console's operations page calls: the emergency stop, the status board, retries. */
export function opsRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/api/ops/status', async () => operatorStatus(ctx));
  app.post('/api/ops/pause', async (request) => ({ sending: await pauseSending(ctx, request.actor.label) }));
  app.post('/api/ops/resume', async (request) => ({ sending: await resumeSending(ctx, request.actor.label) }));

  // What the standing sweep last did, how the relay answers, and the latest staff alerts (ids and counts only).
  app.get('/api/ops/alerts', async () => {
    const [sweep, relay, alerts] = await Promise.all([reconcileState(ctx.db), relayHealth(ctx.db), recentAlerts(ctx.db)]);
    return {
      sweep: {
        lastSuccessAt: sweep.last_success_at?.toISOString() ?? null, lastFailureAt: sweep.last_failure_at?.toISOString() ?? null, lastError: sweep.last_error,
        deliveriesWithoutJob: sweep.deliveries_without_job, restoredLiftJobs: sweep.restored_lift_jobs_total, restoredSendJobs: sweep.restored_send_jobs_total,
      },
      relay: { refusingSince: relay.refusing_since?.toISOString() ?? null, lastAcceptedAt: relay.last_accepted_at?.toISOString() ?? null, lastRefusedAt: relay.last_refused_at?.toISOString() ?? null },
      alerts: alerts.map((a) => ({
        id: a.id, kind: a.kind, releaseId: a.release_id, summary: a.summary, details: a.details, state: a.state, raisedAt: a.raised_at.toISOString(),
        sentAt: a.sent_at?.toISOString() ?? null, attempts: a.attempts, lastError: a.last_error,
      })),
    };
  });
  app.post('/api/releases/:id/retry', async (request) => {
    const { id } = parse(releaseParams, request.params, 'id');
    return retryFailed(ctx, id, request.actor.label);
  });
}
