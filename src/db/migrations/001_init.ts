import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE settings (
      key text PRIMARY KEY,
      value jsonb NOT NULL
    );

    CREATE TABLE api_tokens (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL,
      -- Only a SHA-256 of the token is kept: a database dump does not hand out credentials.
      token_hash text NOT NULL UNIQUE,
      role text NOT NULL CHECK (role IN ('editor', 'operator', 'admin')),
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );

    CREATE TABLE lists (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL,
      slug text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE subscribers (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email text NOT NULL,
      -- Addresses compare case-insensitively; the typed spelling is kept for display.
      email_key text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE,
      name text,
      outlet text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE list_members (
      list_id bigint NOT NULL REFERENCES lists ON DELETE CASCADE,
      subscriber_id bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed')),
      subscribed_at timestamptz NOT NULL DEFAULT now(),
      unsubscribed_at timestamptz,
      PRIMARY KEY (list_id, subscriber_id)
    );
    -- Fan-out walks each list's active members in subscriber order (keyset pagination).
    CREATE INDEX list_members_active ON list_members (list_id, subscriber_id) WHERE status = 'active';

    CREATE TABLE suppressions (
      email_key text PRIMARY KEY,
      reason text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE releases (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      slug text NOT NULL UNIQUE,
      title text NOT NULL,
      summary text,
      body_md text NOT NULL,
      status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled')),
      -- Bumped by every edit: a lift job names the version it was made for, so a stale one is a no-op.
      version integer NOT NULL DEFAULT 1,
      embargo_at timestamptz NOT NULL,
      embargo_time_zone text NOT NULL,
      lifted_at timestamptz,
      fanout_done_at timestamptz,
      first_sent_at timestamptz,
      last_sent_at timestamptz,
      completed_at timestamptz,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX releases_status ON releases (status, embargo_at);

    CREATE TABLE release_lists (
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      list_id bigint NOT NULL REFERENCES lists,
      -- Someone on several lists is addressed through the first (lowest position) of them.
      position integer NOT NULL,
      PRIMARY KEY (release_id, list_id)
    );

    -- The email compiled from MJML once per release version; per-recipient slots are left open.
    CREATE TABLE release_renders (
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      version integer NOT NULL,
      subject text NOT NULL,
      html text NOT NULL,
      text text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (release_id, version)
    );

    CREATE TABLE deliveries (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      subscriber_id bigint NOT NULL REFERENCES subscribers,
      list_id bigint NOT NULL REFERENCES lists,
      state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled')),
      -- The send instant as PostgreSQL's clock must read it before the message may leave.
      not_before timestamptz NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      message_id text,
      lease_until timestamptz,
      sent_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      -- Invariant 2: one copy per (release, address); subscribers are unique by address.
      UNIQUE (release_id, subscriber_id)
    );
    CREATE INDEX deliveries_release_state ON deliveries (release_id, state, id);

    CREATE TABLE audit (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      release_id bigint REFERENCES releases ON DELETE CASCADE,
      actor text NOT NULL,
      action text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX audit_release ON audit (release_id, id);
  `.execute(db);
}
