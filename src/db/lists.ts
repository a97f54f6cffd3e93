import { sql } from 'kysely';
import type { Db } from './index.js';

/** Words of a name for an address: ASCII letters and digits joined by dashes, at most 60 characters. */
export function slugify(text: string, fallback = 'list'): string {
  const base = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return base || fallback;
}

/** Creates a list with a unique slug (a numeric suffix settles clashes). */
export async function createList(db: Db, name: string) {
  const base = slugify(name);
  for (let n = 1; ; n++) {
    const slug = n === 1 ? base : `${base}-${n}`;
    const row = await sql<{ id: number; name: string; slug: string }>`
      INSERT INTO lists (name, slug) VALUES (${name}, ${slug})
      ON CONFLICT (slug) DO NOTHING
      RETURNING id, name, slug`.execute(db);
    if (row.rows[0]) return row.rows[0];
  }
}

export async function listLists(db: Db) {
  // The counts are kept by triggers on list_members (migration 012), not counted here: a list of
  // 100,000 members would otherwise cost a scan of them on every page view.
  const rows = await sql<{ id: number; name: string; slug: string; active: number }>`
    SELECT l.id, l.name, l.slug, coalesce(c.active, 0)::int AS active
    FROM lists l LEFT JOIN list_member_counts c ON c.list_id = l.id
    ORDER BY l.name`.execute(db);
  return rows.rows.map((r) => ({ id: r.id, name: r.name, slug: r.slug, activeSubscribers: r.active }));
}

export async function findList(db: Db, id: number) {
  return (await db.selectFrom('lists').select(['id', 'name', 'slug']).where('id', '=', id).executeTakeFirst()) ?? null;
}

/** The ids among `ids` that name no list. */
export async function missingLists(db: Db, ids: number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const found = await db.selectFrom('lists').select('id').where('id', 'in', ids).execute();
  const present = new Set(found.map((r) => r.id));
  return ids.filter((id) => !present.has(id));
}

/** Opens a list to sign-up on the public newsroom (or closes it), with the line the form shows. */
export async function updateListOffer(db: Db, id: number, change: { public?: boolean; description?: string | null }) {
  const row = await db
    .updateTable('lists')
    .set(change)
    .where('id', '=', id)
    .returning(['id', 'name', 'slug', 'public', 'description'])
    .executeTakeFirst();
  return row ?? null;
}

/** The names of the given lists (a release's report names its lists). */
export function listNames(db: Db, listIds: number[]): Promise<Array<{ id: number; name: string }>> {
  if (listIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('lists').select(['id', 'name']).where('id', 'in', listIds).execute();
}
