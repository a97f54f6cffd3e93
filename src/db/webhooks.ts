import { sql, type Selectable } from 'kysely';
import type { Db } from './index.js';
import type { EventType, EventsTable, WebhookEndpointsTable } from './schema.js';

export type WebhookEndpoint = Selectable<WebhookEndpointsTable>;

export async function createWebhookEndpoint(
  db: Db,
  endpoint: { url: string; secret: string; events: EventType[]; description: string | null; createdBy: string },
): Promise<WebhookEndpoint> {
  return db
    .insertInto('webhook_endpoints')
    .values({
      url: endpoint.url,
      secret: endpoint.secret,
      events: endpoint.events,
      description: endpoint.description,
      created_by: endpoint.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function webhookEndpoints(db: Db): Promise<WebhookEndpoint[]> {
  return db.selectFrom('webhook_endpoints').selectAll().where('disabled_at', 'is', null).orderBy('id').execute();
}

export async function findWebhookEndpoint(db: Db, id: number): Promise<WebhookEndpoint | null> {
  return (
    (await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('disabled_at', 'is', null)
      .executeTakeFirst()) ?? null
  );
}

/**
 * Disables an endpoint: no event is written for it any more, and its pending deliveries are dropped by the worker. Its
 * history stays.
 */
export async function disableWebhookEndpoint(db: Db, id: number): Promise<boolean> {
  const result = await db
    .updateTable('webhook_endpoints')
    .set({ disabled_at: sql`now()` })
    .where('id', '=', id)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export interface WebhookAttempt {
  id: number;
  eventId: number;
  type: EventType;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastResponse: string | null;
  lastAttemptAt: Date | null;
}

/** An endpoint's latest deliveries, newest first (served by webhook_deliveries_endpoint). */
export async function endpointDeliveries(db: Db, endpointId: number, limit = 20): Promise<WebhookAttempt[]> {
  const rows = await db
    .selectFrom('webhook_deliveries as w')
    .innerJoin('events as e', 'e.id', 'w.event_id')
    .select([
      'w.id',
      'w.event_id',
      'e.type',
      'w.state',
      'w.attempts',
      'w.last_status',
      'w.last_response',
      'w.last_attempt_at',
    ])
    .where('w.endpoint_id', '=', endpointId)
    .orderBy('w.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    type: r.type,
    state: r.state,
    attempts: r.attempts,
    lastStatus: r.last_status,
    lastResponse: r.last_response,
    lastAttemptAt: r.last_attempt_at,
  }));
}

/**
 * Marks up to `limit` deliveries no job was added for yet as queued and returns them, inside the
 * caller's transaction: the caller adds their jobs before it commits, so a Redis refusal rolls the
 * mark back and the next pass tries again. SKIP LOCKED lets every worker relay at once without
 * taking the same rows (served by webhook_deliveries_unqueued).
 */
export async function takeUnqueuedWebhookDeliveries(db: Db, limit: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    UPDATE webhook_deliveries SET queued_at = now()
    WHERE id IN (SELECT id FROM webhook_deliveries WHERE queued_at IS NULL ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING id`.execute(db);
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

/** Pending deliveries whose job was added more than `seconds` ago: reconcile checks that each still has one. */
export async function pendingWebhookDeliveries(db: Db, queuedBeforeSecondsAgo: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    SELECT id FROM webhook_deliveries
    WHERE state = 'pending' AND queued_at < now() - make_interval(secs => ${queuedBeforeSecondsAgo})
    ORDER BY id LIMIT 10000`.execute(db);
  return rows.map((r) => r.id);
}

export interface WebhookToSend {
  id: number;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  url: string;
  secret: string;
  endpointId: number;
  endpointLive: boolean;
  event: Pick<Selectable<EventsTable>, 'id' | 'type' | 'release_id' | 'payload' | 'created_at'>;
}

export async function webhookToSend(db: Db, id: number): Promise<WebhookToSend | null> {
  const row = await db
    .selectFrom('webhook_deliveries as w')
    .innerJoin('webhook_endpoints as p', 'p.id', 'w.endpoint_id')
    .innerJoin('events as e', 'e.id', 'w.event_id')
    .select([
      'w.id',
      'w.state',
      'w.attempts',
      'p.url',
      'p.secret',
      'p.id as endpoint_id',
      'p.disabled_at',
      'e.id as event_id',
      'e.type',
      'e.release_id',
      'e.payload',
      'e.created_at',
    ])
    .where('w.id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    state: row.state,
    attempts: row.attempts,
    url: row.url,
    secret: row.secret,
    endpointId: row.endpoint_id,
    endpointLive: row.disabled_at === null,
    event: {
      id: row.event_id,
      type: row.type,
      release_id: row.release_id,
      payload: row.payload,
      created_at: row.created_at,
    },
  };
}

/** Records one attempt on the delivery and, as the endpoint's last response, on the endpoint. */
export async function recordWebhookAttempt(
  db: Db,
  id: number,
  endpointId: number,
  attempt: { status: number | null; response: string; outcome: 'delivered' | 'failed' | 'pending' },
): Promise<void> {
  await sql`
    WITH attempt AS (
      UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), last_status = ${attempt.status},
        last_response = ${attempt.response}, state = ${attempt.outcome},
        delivered_at = CASE WHEN ${attempt.outcome} = 'delivered' THEN now() END
      WHERE id = ${id} AND state = 'pending'
    )
    UPDATE webhook_endpoints SET last_attempt_at = now(), last_status = ${attempt.status}, last_response = ${attempt.response}
    WHERE id = ${endpointId}`.execute(db);
}

/** Ends a delivery whose endpoint was disabled, without sending it. */
export async function dropWebhookDelivery(db: Db, id: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ state: 'failed', last_response: 'endpoint disabled' })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .execute();
}

/** Webhook deliveries by state, for /metrics. */
export async function webhookDeliveryCounts(db: Db): Promise<Array<{ key: string; n: number }>> {
  return db
    .selectFrom('webhook_deliveries')
    .select(['state as key', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
}
