import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A change to a release that people already hold a copy of (invariant 8): the embargo moved,
    -- lifted early, the release withdrawn, its text corrected under embargo, or corrected after the
    -- lift. One row per change, made in the lifecycle transaction that made the change; its notice
    -- email is compiled once, by the first worker that sends it, and kept here for every other.
    CREATE TABLE release_changes (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('moved', 'lifted', 'withdrawn', 'corrected', 'correction')),
      -- The release version the change made (the notice describes the release as it then stood).
      version integer NOT NULL,
      actor text NOT NULL,
      note text,
      previous_embargo_at timestamptz,
      embargo_at timestamptz NOT NULL,
      embargo_time_zone text NOT NULL,
      title text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      subject text,
      html text,
      text text,
      reply_to_name text,
      reply_to_address text
    );
    CREATE INDEX release_changes_release ON release_changes (release_id, id);

    -- Notices and corrections are deliveries of their own phase, sent by the same pipeline. One
    -- per (change, recipient): a retry, a crash or a repeated request can never make a second.
    -- holder_id is the delivery whose copy the person holds; a notice waits while it is in flight.
    ALTER TABLE deliveries DROP CONSTRAINT deliveries_phase_check,
      ADD CONSTRAINT deliveries_phase_check CHECK (phase IN ('advance', 'lift', 'notice', 'correction')),
      ADD COLUMN change_id bigint REFERENCES release_changes ON DELETE CASCADE,
      ADD COLUMN holder_id bigint REFERENCES deliveries ON DELETE SET NULL,
      ADD CONSTRAINT deliveries_change_phase CHECK ((change_id IS NULL) = (phase IN ('advance', 'lift')));
    -- Invariant 2 now reads: one copy of the release per (release, address), and one of each notice.
    ALTER TABLE deliveries DROP CONSTRAINT deliveries_release_id_subscriber_id_key;
    CREATE UNIQUE INDEX deliveries_one_copy ON deliveries (release_id, subscriber_id) WHERE phase IN ('advance', 'lift');
    CREATE UNIQUE INDEX deliveries_one_notice ON deliveries (change_id, subscriber_id) WHERE change_id IS NOT NULL;
    CREATE INDEX deliveries_holder ON deliveries (holder_id) WHERE holder_id IS NOT NULL;

    -- Per-recipient file keys: an advance copy's links carry a key signed for its delivery, so a
    -- leaked file names whose copy it came from. Withdrawing the release revokes every key.
    ALTER TABLE deliveries ADD COLUMN files_revoked_at timestamptz;

    -- Each use of a per-recipient key: which file, whose key, when, from where.
    CREATE TABLE file_access (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      attachment_id bigint NOT NULL REFERENCES release_attachments ON DELETE CASCADE,
      delivery_id bigint REFERENCES deliveries ON DELETE SET NULL,
      subscriber_id bigint NOT NULL REFERENCES subscribers,
      at timestamptz NOT NULL DEFAULT now(),
      ip text,
      user_agent text,
      -- Used before the lift (by PostgreSQL's clock): what a leak investigation looks at.
      before_lift boolean NOT NULL
    );
    CREATE INDEX file_access_release ON file_access (release_id, id);
  `.execute(db);
}
