import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The press contact a release names; empty fields fall back to the organisation's defaults.
    ALTER TABLE releases
      ADD COLUMN contact_name text,
      ADD COLUMN contact_email text,
      ADD COLUMN contact_phone text;

    -- Files a release carries. Emails link to them rather than attach them, so every copy of a
    -- release shares one small MIME body; they are served publicly only once the release is lifted.
    CREATE TABLE release_attachments (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      release_id bigint NOT NULL REFERENCES releases ON DELETE CASCADE,
      filename text NOT NULL,
      content_type text NOT NULL,
      size integer NOT NULL,
      data bytea NOT NULL,
      -- Lets advance-copy readers fetch the file before the lift; everyone else waits for the lift.
      access_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX release_attachments_release ON release_attachments (release_id, id);

    -- Replies to a release go to its press contact.
    ALTER TABLE release_renders
      ADD COLUMN reply_to_name text,
      ADD COLUMN reply_to_address text;

    -- Advance copies: vetted journalists' lists receive the release a fixed lead before the
    -- embargo (kept as a lead, so moving the embargo moves the advance send too), marked as
    -- embargoed. Each phase has its own compiled email and its own deliveries; a recipient has one
    -- delivery per release whatever the phase (invariant 2), the advance one when on both kinds of list.
    ALTER TABLE releases
      ADD COLUMN advance_lead_seconds integer CHECK (advance_lead_seconds > 0),
      ADD COLUMN advance_sent_at timestamptz;
    ALTER TABLE release_lists ADD COLUMN advance boolean NOT NULL DEFAULT false;
    ALTER TABLE deliveries ADD COLUMN phase text NOT NULL DEFAULT 'lift' CHECK (phase IN ('advance', 'lift'));
    ALTER TABLE release_renders ADD COLUMN phase text NOT NULL DEFAULT 'lift' CHECK (phase IN ('advance', 'lift'));
    ALTER TABLE release_renders DROP CONSTRAINT release_renders_pkey, ADD PRIMARY KEY (release_id, version, phase);
  `.execute(db);
}
