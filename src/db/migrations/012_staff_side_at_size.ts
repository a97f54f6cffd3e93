import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Each list's active member count, kept by the statements that change list_members, so the
    -- lists page and GET /api/lists read one row a list instead of counting 100,000 members a request.
    CREATE TABLE list_member_counts (
      list_id bigint PRIMARY KEY REFERENCES lists ON DELETE CASCADE,
      active bigint NOT NULL DEFAULT 0
    );
    INSERT INTO list_member_counts (list_id, active)
      SELECT l.id, count(m.subscriber_id) FILTER (WHERE m.status = 'active')
      FROM lists l LEFT JOIN list_members m ON m.list_id = l.id GROUP BY l.id;

  `.execute(db);
  // GET /api/releases pages by (embargo_at, id), newest first: this index serves every page in order.
  await sql`CREATE INDEX releases_embargo_id ON releases (embargo_at DESC, id DESC)`.execute(db);
  // Statement-level triggers with transition tables: a 100,000-row import adjusts each list's
  // count once, not once a row. A trigger with transition tables takes one kind of event, hence
  // three. Each change is added to the count (an upsert locks the list's one row), so concurrent
  // statements on one list each add their own delta; rows of a list deleted in the same statement
  // (a cascade) are skipped, their count row having gone with the list.
  await sql`
    CREATE FUNCTION list_member_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO list_member_counts AS c (list_id, active)
        SELECT n.list_id, count(*) FROM new_rows n JOIN lists l ON l.id = n.list_id WHERE n.status = 'active'
        GROUP BY n.list_id ORDER BY n.list_id
      ON CONFLICT (list_id) DO UPDATE SET active = c.active + EXCLUDED.active;
      RETURN NULL;
    END $$;
    CREATE FUNCTION list_member_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE list_member_counts c SET active = c.active - o.n
      FROM (SELECT list_id, count(*) AS n FROM old_rows WHERE status = 'active' GROUP BY list_id) o
      WHERE c.list_id = o.list_id;
      RETURN NULL;
    END $$;
    CREATE FUNCTION list_member_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO list_member_counts AS c (list_id, active)
        SELECT d.list_id, d.n FROM (
          SELECT list_id, sum(n)::bigint AS n FROM (
            SELECT list_id, 1 AS n FROM new_rows WHERE status = 'active'
            UNION ALL
            SELECT list_id, -1 FROM old_rows WHERE status = 'active'
          ) changes GROUP BY list_id
        ) d JOIN lists l ON l.id = d.list_id WHERE d.n <> 0 ORDER BY d.list_id
      ON CONFLICT (list_id) DO UPDATE SET active = c.active + EXCLUDED.active;
      RETURN NULL;
    END $$;
    CREATE TRIGGER list_member_counts_insert AFTER INSERT ON list_members
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION list_member_counts_insert();
    CREATE TRIGGER list_member_counts_delete AFTER DELETE ON list_members
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION list_member_counts_delete();
    CREATE TRIGGER list_member_counts_update AFTER UPDATE ON list_members
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION list_member_counts_update();
  `.execute(db);
}
