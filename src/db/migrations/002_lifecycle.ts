import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- "Lift now" keeps the planned embargo for the record and notes when the early lift was asked for.
    ALTER TABLE releases ADD COLUMN lift_requested_at timestamptz;
    -- The instant copies may leave: the embargo, or an earlier requested lift. LEAST ignores NULL.
    ALTER TABLE releases ADD COLUMN send_at timestamptz GENERATED ALWAYS AS (LEAST(embargo_at, lift_requested_at)) STORED;
    ALTER TABLE releases ADD COLUMN cancelled_at timestamptz;
  `.execute(db);
}
