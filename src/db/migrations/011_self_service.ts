import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    -- Lists an editor opens to sign-up on the public newsroom, with a line saying what they carry.
    ALTER TABLE lists
      ADD COLUMN public boolean NOT NULL DEFAULT false,
      ADD COLUMN description text;

    -- A journalist's own settings, changed from the signed preference page.
    ALTER TABLE subscribers
      -- IANA zone the embargo line is also given in (null: the release's own zone).
      ADD COLUMN time_zone text,
      ADD COLUMN plain_text boolean NOT NULL DEFAULT false,
      -- Nothing is sent until then (copies due meanwhile are skipped, not held).
      ADD COLUMN paused_until timestamptz,
      -- A new address waiting to be confirmed from its own mailbox.
      ADD COLUMN pending_email text,
      -- The version of the embargo terms the person last accepted (null: never).
      ADD COLUMN terms_version text;

    -- Staff search by address, name or outlet: trigram indexes serve substring matches (ILIKE '%q%')
    -- at 100,000 subscribers, and the search pages by id (keyset), so no OFFSET scan grows with depth.
    CREATE INDEX subscribers_search ON subscribers
      USING gin ((email_key || ' ' || lower(coalesce(name, '')) || ' ' || lower(coalesce(outlet, ''))) gin_trgm_ops);

    -- What a person agreed to, as shown to them: the exact text and its version, the address it was
    -- given for, and when. Sign-up consents and acceptances of the embargo terms alike.
    CREATE TABLE consents (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscriber_id bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('signup', 'embargo-terms')),
      email text NOT NULL,
      version text NOT NULL,
      text text NOT NULL,
      list_ids bigint[] NOT NULL DEFAULT '{}',
      given_at timestamptz NOT NULL DEFAULT now(),
      confirmed_at timestamptz
    );
    CREATE INDEX consents_subscriber ON consents (subscriber_id);

    -- A sign-up waits here until its confirmation link is opened (double opt-in): no membership, so
    -- nothing is sent before it.
    CREATE TABLE signups (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscriber_id bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
      list_ids bigint[] NOT NULL,
      -- The consent shown and given with it; confirmed together.
      consent_id bigint NOT NULL REFERENCES consents,
      created_at timestamptz NOT NULL DEFAULT now(),
      confirmed_at timestamptz
    );
    CREATE INDEX signups_subscriber ON signups (subscriber_id);

    -- A journalist's application for advance copies, and staff's decision on it.
    CREATE TABLE access_requests (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscriber_id bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
      outlet text NOT NULL,
      role text NOT NULL,
      work_email text NOT NULL,
      links text[] NOT NULL,
      terms_version text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
      note text,
      list_ids bigint[] NOT NULL DEFAULT '{}',
      decided_by text,
      decided_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    -- The staff queue: pending requests, oldest first.
    CREATE INDEX access_requests_pending ON access_requests (id) WHERE status = 'pending';
    CREATE INDEX access_requests_subscriber ON access_requests (subscriber_id);

    -- Embargo breakers: a person, or a whole domain, kept off advance copies (lift copies still go).
    CREATE TABLE bars (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscriber_id bigint REFERENCES subscribers ON DELETE CASCADE,
      domain text,
      reason text NOT NULL,
      ends_at timestamptz,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      lifted_at timestamptz,
      CHECK ((subscriber_id IS NULL) <> (domain IS NULL))
    );
    CREATE INDEX bars_subscriber ON bars (subscriber_id) WHERE lifted_at IS NULL;
    CREATE INDEX bars_domain ON bars (domain) WHERE lifted_at IS NULL;

    -- An erased person: only a SHA-256 of the lowercased address, so a suppression stays in force
    -- if the address is ever added again, with nothing left that names them.
    CREATE TABLE tombstones (
      email_hash text PRIMARY KEY,
      suppressed boolean NOT NULL,
      erased_at timestamptz NOT NULL DEFAULT now()
    );

    -- Erasure keeps an erased person's deliveries as anonymous rows (they still count).
    ALTER TABLE deliveries ALTER COLUMN subscriber_id DROP NOT NULL;
  `.execute(db);
}
