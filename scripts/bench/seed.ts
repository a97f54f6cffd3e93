import { sql } from 'kysely';
import type { Db } from '../../src/db/index.js';
import { createList } from '../../src/db/lists.js';

/**
 * N subscribers on one list, written by PostgreSQL itself (generate_series), not through the API:
 * seeding 100,000 takes seconds. Every third name is Korean and every third has umlauts, so the
 * measured path encodes non-ASCII headers as real lists need.
 */
export async function seedAudience(
  db: Db,
  count: number,
  prefix = '',
  listName = 'Bench Correspondents',
): Promise<number> {
  const list = await createList(db, listName);
  await sql`
    WITH subs AS (
      INSERT INTO subscribers (email, name, outlet)
      SELECT ${prefix} || 'reader' || g || '@bench.example.org',
             CASE g % 3 WHEN 0 THEN '이정민 ' || g WHEN 1 THEN 'Zoë Müller ' || g ELSE 'Reader ' || g END,
             'Bench Outlet'
      FROM generate_series(1, ${count}::int) AS g
      RETURNING id
    )
    INSERT INTO list_members (list_id, subscriber_id) SELECT ${list.id}, id FROM subs`.execute(db);
  await sql`ANALYZE subscribers, list_members`.execute(db);
  return list.id;
}

/** About 30 KB of email once MJML, the text part and quoted-printable have had their say. */
export function benchBody(): string {
  const paragraph =
    'Researchers at the Institute reported on Thursday that the new sensor, built from layers of graphene ' +
    'and diamond, reads the activity of single neurons through the skull at room temperature — a result that ' +
    'could replace invasive electrodes in clinical studies within the decade.';
  const sections = Array.from(
    { length: 12 },
    (_, i) =>
      `## Finding ${i + 1}\n\n${paragraph}\n\n${paragraph}\n\n- measured at ${20 + i} °C\n- [details](https://news.example.org/findings/${i + 1})`,
  );
  return sections.join('\n\n');
}
