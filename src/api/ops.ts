import { z } from 'zod';
import { recentAlerts } from '../db/alerts.js';
import { reconcileState } from '../db/reconcile.js';
import { relayHealth } from '../db/relay-health.js';
import { DELIVERY_STATES, RELEASE_STATUSES } from '../states.js';
import { QUEUE_STATES } from '../telemetry/metrics.js';
import { pauseSending, resumeSending } from '../controls/pause.js';
import { operatorStatus } from '../telemetry/status.js';
import type { ApiPlugin } from './plugin.js';

const pauseState = z.object({
  paused: z.boolean(),
  by: z.string().nullable().describe('who paused or resumed last'),
  at: z.string().nullable().describe('when (ISO)'),
});
const counts = z.partialRecord(z.enum(DELIVERY_STATES), z.number());
const status = z.object({
  sending: pauseState,
  queues: z.record(
    z.string(),
    z.object({
      ...(Object.fromEntries(QUEUE_STATES.map((state) => [state, z.number()])) as Record<
        (typeof QUEUE_STATES)[number],
        z.ZodNumber
      >),
      paused: z.boolean(),
      workers: z.array(z.string()),
    }),
  ),
  releases: z.array(
    z.object({
      id: z.number(),
      status: z.enum(RELEASE_STATUSES),
      sendAt: z.string(),
      liftLagMs: z.number().nullable(),
      counts,
    }),
  ),
});
const iso = z.string().nullable();
const alerts = z.object({
  sweep: z.object({
    lastSuccessAt: iso,
    lastFailureAt: iso,
    lastError: z.string().nullable(),
    deliveriesWithoutJob: z.number(),
    restoredLiftJobs: z.number(),
    restoredSendJobs: z.number(),
  }),
  relay: z.object({ refusingSince: iso, lastAcceptedAt: iso, lastRefusedAt: iso }),
  alerts: z.array(
    z.object({
      id: z.number(),
      kind: z.string(),
      releaseId: z.number().nullable(),
      summary: z.string(),
      details: z.record(z.string(), z.unknown()),
      state: z.string(),
      raisedAt: z.string(),
      sentAt: iso,
      attempts: z.number(),
      lastError: z.string().nullable(),
    }),
  ),
});

/** What the console's operations page calls, under /api/ops: the emergency stop and the status board. */
export const opsRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get('/status', { schema: { response: { 200: status } } }, async () => operatorStatus(ctx));
  const sending = z.object({ sending: pauseState });
  app.post('/pause', { schema: { response: { 200: sending } } }, async (request) => ({
    sending: await pauseSending(ctx, request.actor.label),
  }));
  app.post('/resume', { schema: { response: { 200: sending } } }, async (request) => ({
    sending: await resumeSending(ctx, request.actor.label),
  }));

  // What the standing sweep last did, how the relay answers, and the latest staff alerts (ids and counts only).
  app.get('/alerts', { schema: { response: { 200: alerts } } }, async () => {
    const [sweep, relay, alerts] = await Promise.all([
      reconcileState(ctx.db),
      relayHealth(ctx.db),
      recentAlerts(ctx.db),
    ]);
    return {
      sweep: {
        lastSuccessAt: sweep.last_success_at?.toISOString() ?? null,
        lastFailureAt: sweep.last_failure_at?.toISOString() ?? null,
        lastError: sweep.last_error,
        deliveriesWithoutJob: sweep.deliveries_without_job,
        restoredLiftJobs: sweep.restored_lift_jobs_total,
        restoredSendJobs: sweep.restored_send_jobs_total,
      },
      relay: {
        refusingSince: relay.refusing_since?.toISOString() ?? null,
        lastAcceptedAt: relay.last_accepted_at?.toISOString() ?? null,
        lastRefusedAt: relay.last_refused_at?.toISOString() ?? null,
      },
      alerts: alerts.map((a) => ({
        id: a.id,
        kind: a.kind,
        releaseId: a.release_id,
        summary: a.summary,
        details: a.details,
        state: a.state,
        raisedAt: a.raised_at.toISOString(),
        sentAt: a.sent_at?.toISOString() ?? null,
        attempts: a.attempts,
        lastError: a.last_error,
      })),
    };
  });
};
