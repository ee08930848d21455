// Each patch's normalized title (issue 13): a standalone revision whose cover title changed ("… and 2 more" → "… and
// 3 more"), or that gained or lost a cover letter, is found by its patches' own titles shared with an earlier series
// of the same submitter. The column is indexed with the project; rows filed before this migration get it from their
// stored name, its leading bracket groups ("[RFC]", "[v2,4/5]") left out.
//
// Also series.revision_fixed: a maintainer linked or unlinked this series' earlier revision by hand; the parser,
// which now links on more occasions (a cover or the last patch arriving late), leaves that decision alone.
//
// Frozen: the normalization is copied here as it stands at this migration (src/series/subject.ts normalizeTitle).
// The backfill goes in windows of ids, one statement each, so a large table never needs one huge transaction.
import { sql, type Kysely } from 'kysely';

const WINDOW = 5_000;

function isSpace(c: string): boolean {
  return /\s/.test(c);
}

/** The name without its leading "[…]" groups, as the series core's title is the subject without its prefixes. */
function titleOf(name: string): string {
  let at = 0;
  for (;;) {
    while (at < name.length && isSpace(name[at]!)) at++;
    if (name[at] !== '[') break;
    const close = name.indexOf(']', at + 1);
    if (close < 0) break;
    at = close + 1;
  }
  return name.slice(at);
}

function normalizeTitle(title: string): string {
  const spaced = title.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ');
  let end = spaced.length;
  while (end > 0 && (spaced[end - 1] === '.' || isSpace(spaced[end - 1]!))) end--;
  return spaced.slice(0, end).trim();
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('patches').addColumn('title_norm', 'text').execute();
  await db.schema.alterTable('series').addColumn('revision_fixed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // Links a maintainer made before this migration are fixed too.
  await sql`update series set revision_fixed = 1 where id in (select series_id from revisions where source = 'maintainer')`.execute(db);
  await db.schema.createIndex('patches_title').on('patches').columns(['project_id', 'title_norm']).execute();
  for (let after = 0; ; ) {
    const rows = (await db.selectFrom('patches').select(['id', 'name']).where('id', '>', after).orderBy('id').limit(WINDOW).execute()) as { id: number; name: string }[];
    if (!rows.length) break;
    const values = JSON.stringify(rows.map((r) => [r.id, normalizeTitle(titleOf(r.name))]));
    await sql`update patches set title_norm = t.title from (select j.value ->> 0 as id, j.value ->> 1 as title from json_each(${values}) j) as t
      where patches.id = t.id`.execute(db);
    after = rows.at(-1)!.id;
  }
}
