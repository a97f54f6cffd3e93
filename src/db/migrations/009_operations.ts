import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- What the last reconcile sweep found and did, read by every process's /metrics (one row).
    CREATE TABLE reconcile_state (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      last_success_at timestamptz,
      last_failure_at timestamptz,
      last_error text,
      -- Due deliveries that no live send job pointed at when the last sweep looked.
      deliveries_without_job integer NOT NULL DEFAULT 0,
      restored_lift_jobs_total bigint NOT NULL DEFAULT 0,
      restored_send_jobs_total bigint NOT NULL DEFAULT 0,
      last_retention_at timestamptz
    );
    INSERT INTO reconcile_state DEFAULT VALUES;

    -- The relay as all workers see it. refusing_since is the first refusal after the last
    -- acceptance (null while the relay accepts); workers write it at most once a second each.
    CREATE TABLE relay_health (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      last_accepted_at timestamptz,
      last_refused_at timestamptz,
      refusing_since timestamptz,
      last_reply text
    );
    INSERT INTO relay_health DEFAULT VALUES;

    -- Staff alerts. The key names the event, so each event raises one alert however often it is
    -- seen. Texts carry ids, counts and links only (invariant 4).
    CREATE TABLE alerts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      key text NOT NULL UNIQUE,
      kind text NOT NULL,
      release_id bigint REFERENCES releases ON DELETE SET NULL,
      summary text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      raised_at timestamptz NOT NULL DEFAULT now(),
      -- pending: to be sent; held: over the hourly limit (a later digest counts it); sent; failed: gave up.
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'held', 'failed')),
      -- Each channel is sent once: a webhook that fails is retried without mailing again.
      email_sent_at timestamptz,
      webhook_sent_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz,
      last_error text,
      digested boolean NOT NULL DEFAULT false
    );
    CREATE INDEX alerts_pending ON alerts (id) WHERE state = 'pending';
    CREATE INDEX alerts_sent ON alerts (sent_at) WHERE sent_at IS NOT NULL;

    -- Outbound integration webhooks (a CMS, a wire service), signed with their own secret.
    CREATE TABLE webhook_endpoints (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      url text NOT NULL,
      secret text NOT NULL,
      events text[] NOT NULL,
      description text,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      disabled_at timestamptz,
      last_attempt_at timestamptz,
      last_status integer,
      last_response text
    );

    -- The outbox: an event is written by the same transaction as the change it reports (the
    -- triggers below), so none is lost when Redis is away; ids and instants only (invariant 4).
    CREATE TABLE events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      type text NOT NULL,
      release_id bigint REFERENCES releases ON DELETE CASCADE,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX events_created ON events (created_at);

    CREATE TABLE webhook_deliveries (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      event_id bigint NOT NULL REFERENCES events ON DELETE CASCADE,
      endpoint_id bigint NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
      -- When its BullMQ job was added; null rows are what the relay picks up next.
      queued_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      last_attempt_at timestamptz,
      last_status integer,
      last_response text,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (event_id, endpoint_id)
    );
    CREATE INDEX webhook_deliveries_unqueued ON webhook_deliveries (id) WHERE queued_at IS NULL;
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

    -- Whether any live endpoint wants an event: nobody subscribed, nothing is written.
    CREATE FUNCTION event_wanted(event_type text) RETURNS boolean LANGUAGE sql STABLE AS $$
      SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE disabled_at IS NULL AND event_type = ANY(events))
    $$;

    CREATE FUNCTION emit_event(event_type text, release bigint, body jsonb) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      event bigint;
    BEGIN
      INSERT INTO events (type, release_id, payload) VALUES (event_type, release, body) RETURNING id INTO event;
      INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT event, id FROM webhook_endpoints WHERE disabled_at IS NULL AND event_type = ANY(events);
    END $$;

    -- Release events, from the status change itself, whichever code makes it. A reschedule (the
    -- send instant moved while scheduled) is announced as release.scheduled again.
    CREATE FUNCTION release_events() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      event_type text;
      body jsonb := jsonb_build_object('releaseId', NEW.id, 'version', NEW.version);
    BEGIN
      IF NEW.status = 'scheduled' AND (OLD.status <> 'scheduled' OR OLD.send_at <> NEW.send_at) THEN
        event_type := 'release.scheduled';
        body := body || jsonb_build_object('sendAt', NEW.send_at, 'embargoAt', NEW.embargo_at);
      ELSIF NEW.status = 'sending' AND OLD.status = 'scheduled' THEN
        event_type := 'release.lifted';
        body := body || jsonb_build_object('sendAt', NEW.send_at, 'liftedAt', NEW.lifted_at);
      ELSIF NEW.status = 'sent' AND OLD.status = 'sending' THEN
        event_type := 'release.sent';
      ELSIF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
        event_type := 'release.cancelled';
        body := body || jsonb_build_object('cancelledAt', NEW.cancelled_at, 'lifted', NEW.lifted_at IS NOT NULL);
      ELSE
        RETURN NULL;
      END IF;
      IF NOT event_wanted(event_type) THEN RETURN NULL; END IF;
      IF event_type = 'release.sent' THEN
        body := body || jsonb_build_object('completedAt', NEW.completed_at, 'counts',
          (SELECT coalesce(jsonb_object_agg(state, n), '{}') FROM (SELECT state, count(*) AS n FROM deliveries WHERE release_id = NEW.id GROUP BY state) c));
      END IF;
      PERFORM emit_event(event_type, NEW.id, body);
      RETURN NULL;
    END $$;
    CREATE TRIGGER release_events AFTER UPDATE ON releases
      FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.send_at IS DISTINCT FROM NEW.send_at)
      EXECUTE FUNCTION release_events();

    -- delivery.failed, from the state change itself. The WHEN clause keeps the hot path (rows
    -- marked sent) free of any trigger call.
    CREATE FUNCTION delivery_failed_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF event_wanted('delivery.failed') THEN
        PERFORM emit_event('delivery.failed', NEW.release_id, jsonb_build_object(
          'deliveryId', NEW.id, 'releaseId', NEW.release_id, 'subscriberId', NEW.subscriber_id, 'listId', NEW.list_id,
          'phase', NEW.phase, 'attempts', NEW.attempts, 'reply', NEW.last_error));
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER delivery_failed_event AFTER UPDATE OF state ON deliveries
      FOR EACH ROW WHEN (NEW.state = 'failed' AND OLD.state <> 'failed')
      EXECUTE FUNCTION delivery_failed_event();

    -- Retention: once a release's deliveries are pruned, its counts by state stay here.
    ALTER TABLE releases
      ADD COLUMN delivery_counts jsonb,
      ADD COLUMN deliveries_pruned_at timestamptz;
    CREATE INDEX sessions_expires ON sessions (expires_at);
  `.execute(db);
}
