import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A delivery the relay accepted can still bounce later (a DSN, or a provider's webhook).
    ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check,
      ADD CONSTRAINT deliveries_state_check
        CHECK (state IN ('queued', 'sending', 'sent', 'bounced', 'failed', 'skipped', 'cancelled'));
    -- Lists' bounce and complaint rates look back over the deliveries of the last 30 days.
    CREATE INDEX deliveries_list_created ON deliveries (list_id, created_at);

    -- Where a suppression came from (smtp, dsn, arf, ses, postmark, mailgun, staff) and its evidence.
    ALTER TABLE suppressions
      ADD COLUMN source text NOT NULL DEFAULT 'unrecorded',
      ADD COLUMN details jsonb NOT NULL DEFAULT '{}';
    ALTER TABLE suppressions ALTER COLUMN source DROP DEFAULT;

    -- What came back after sending: hard and soft bounces and complaints, each once. The dedupe key
    -- names the delivery (or the provider's event), so a report that arrives twice, or by two roads
    -- (a DSN and a webhook), counts once.
    CREATE TABLE mail_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('bounce', 'soft_bounce', 'complaint')),
      email_key text NOT NULL,
      delivery_id bigint REFERENCES deliveries ON DELETE SET NULL,
      release_id bigint REFERENCES releases ON DELETE CASCADE,
      list_id bigint REFERENCES lists ON DELETE CASCADE,
      source text NOT NULL,
      status text,
      diagnostic text,
      dedupe_key text NOT NULL UNIQUE,
      at timestamptz NOT NULL DEFAULT now()
    );
    -- Soft bounces of one address within a window; a release's and a list's counts.
    CREATE INDEX mail_events_address ON mail_events (email_key, kind, at);
    CREATE INDEX mail_events_release ON mail_events (release_id, kind);
    CREATE INDEX mail_events_list ON mail_events (list_id, at);
  `.execute(db);
}
