// Names as Patchwork stores them (issue 13): every patch's and cover's name is computed again from its mail's stored
// Subject, "[PATCH v2 4/5] docs: x" → "[v2,4/5] docs: x" (until now the version and marker were dropped), and each
// series named after one of them follows. No schema change: the same columns, new values.
//
// Frozen: the naming rules are copied here as they stand at this migration (src/series/patch-name.ts may move on).
// The work goes in windows of ids, one transaction each, so the WAL stays bounded on a million patches (about a minute
// on the bench's database: docs/benchmarks.md); a run cut short is simply run again (each step reads the old name or
// the subject, and gives the same result twice).
import { sql, type Kysely } from 'kysely';

const NAME_MAX = 255;
const PY_SPACES = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;
const PY_SPACE = /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const REPLY_OR_FORWARD = /^(?:re|fwd?)[: ] */i;
const HG_MARKER = /^PATCH (\p{Nd}+ of \p{Nd}+)(.*)$/su;
const WINDOW = 50_000;

function normaliseSpace(s: string): string {
  const one = s.replace(PY_SPACES, ' ');
  const start = one.startsWith(' ') ? 1 : 0;
  const end = one.length > start && one.endsWith(' ') ? one.length - 1 : one.length;
  return one.slice(start, end);
}

function cleanName(subject: string, drop: Set<string>): string {
  let s = normaliseSpace(normaliseSpace(subject.replaceAll('\0', '')).replace(REPLY_OR_FORWARD, ' '));
  const prefixes: string[] = [];
  let at = 0;
  while (s[at] === '[') {
    const close = s.indexOf(']', at + 1);
    if (close < 0) break;
    let group = s.slice(at + 1, close);
    const tokens: string[] = [];
    const hg = HG_MARKER.exec(group);
    if (hg) {
      tokens.push('PATCH', hg[1]!);
      group = hg[2]!;
    }
    tokens.push(...group.split(/[, ]+/).filter((t) => t !== ''));
    for (const t of tokens) if (!drop.has(t.toLowerCase())) prefixes.push(t);
    at = close + 1;
    while (s[at] === ' ') at++;
  }
  s = normaliseSpace(s.slice(at));
  const name = prefixes.length ? `[${prefixes.join(',')}] ${s}` : s;
  if (name.length <= NAME_MAX) return name;
  let units = 0;
  for (let points = 0; units < name.length && points < NAME_MAX; points++) units += (name.codePointAt(units) ?? 0) > 0xffff ? 2 : 1;
  return name.slice(0, units);
}

/** A series named after its cover takes the cover's name without its one prefix group (Patchwork's _format_name). */
function coverTitle(name: string): string {
  const isSpace = (c: string | undefined) => c !== undefined && PY_SPACE.test(c);
  let start = 0;
  let end = name.length;
  const close = name.startsWith('[') ? name.indexOf(']') : -1;
  if (close > 0) start = close + 1;
  else while (end > 0 && isSpace(name[end - 1])) end--;
  while (start < end && isSpace(name[start])) start++;
  return name.slice(start, end);
}

type Table = 'patches' | 'covers' | 'series';

async function maxId(db: Kysely<any>, table: Table): Promise<number> {
  const r = await sql<{ n: number | null }>`select max(id) as n from ${sql.table(table)}`.execute(db);
  return r.rows[0]?.n ?? 0;
}

/** Writes [id, name] pairs in one statement: the pairs travel as one JSON parameter, whatever their number. */
async function setNames(db: Kysely<any>, table: Table, changes: [number, string][]): Promise<void> {
  if (!changes.length) return;
  await sql`update ${sql.table(table)} set name = json_extract(j.value, '$[1]') from json_each(${JSON.stringify(changes)}) as j
    where ${sql.ref(`${table}.id`)} = json_extract(j.value, '$[0]')`.execute(db);
}

/** Runs `step(lo, hi)` for windows of ids of `table` up to its largest id, each in its own transaction. */
async function inWindows(db: Kysely<any>, table: Table, step: (tx: Kysely<any>, lo: number, hi: number) => Promise<void>): Promise<void> {
  const last = await maxId(db, table);
  for (let lo = 0; lo < last; lo += WINDOW) await db.transaction().execute((tx) => step(tx, lo, lo + WINDOW));
}

export async function up(db: Kysely<any>): Promise<void> {
  // Each window's commit is not fsynced (synchronous=NORMAL; WAL mode): a crash loses at most windows that are simply
  // renamed again on the next start, and the commit that records this migration (at the caller's setting) syncs the
  // WAL, every window's frames with it.
  const mode = (await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows[0]?.synchronous ?? 2;
  await sql.raw('pragma synchronous = NORMAL').execute(db);
  try {
    await rename(db);
  } finally {
    await sql.raw(`pragma synchronous = ${Number(mode)}`).execute(db);
  }
}

async function rename(db: Kysely<any>): Promise<void> {
  const slugs = new Map<number, Set<string>>();
  for (const p of (await sql<{ id: number; slug: string }>`select id, slug from projects`.execute(db)).rows) slugs.set(p.id, new Set([p.slug.toLowerCase(), 'patch']));
  // A mail whose subject was never recorded keeps the name it has: there is nothing to recompute it from.
  const nameOf = (subject: string | null, projectId: number): string | null => (subject === null ? null : cleanName(subject, slugs.get(projectId) ?? new Set(['patch'])));

  // Series first, while their patches and covers still have the old names they were named after. A series without a
  // cover was named after one of its patches (1/N, or its only patch); with a cover, after the cover's title. A name
  // that matches neither (a series split off by a maintainer) is left alone.
  await inWindows(db, 'series', async (tx, lo, hi) => {
    const changes = new Map<number, string>();
    const byPatch = await sql<{ id: number; name: string; project_id: number; subject: string | null }>`
      select s.id, s.name, s.project_id, m.subject from series s
      join patches p on p.series_id = s.id and p.name = s.name
      join mails m on m.id = p.mail_id
      where s.id > ${lo} and s.id <= ${hi} and s.cover_id is null
      order by s.id, p.id`.execute(tx);
    // The last patch to name the series wins, as when it was filed.
    for (const r of byPatch.rows) {
      const name = nameOf(r.subject, r.project_id);
      if (name !== null) changes.set(r.id, name);
    }
    const byCover = await sql<{ id: number; name: string | null; old: string; project_id: number; subject: string | null }>`
      select s.id, s.name, c.name as old, s.project_id, m.subject from series s
      join covers c on c.id = s.cover_id
      join mails m on m.id = c.mail_id
      where s.id > ${lo} and s.id <= ${hi}`.execute(tx);
    for (const r of byCover.rows) {
      const name = nameOf(r.subject, r.project_id);
      if (name !== null && r.name === coverTitle(r.old)) changes.set(r.id, coverTitle(name));
    }
    const seriesNames = new Map([...byPatch.rows, ...byCover.rows].map((r) => [r.id, r.name]));
    await setNames(tx, 'series', [...changes].filter(([id, name]) => seriesNames.get(id) !== name));
  });

  for (const table of ['patches', 'covers'] as const) {
    await inWindows(db, table, async (tx, lo, hi) => {
      const rows = await sql<{ id: number; name: string; project_id: number; subject: string | null }>`
        select t.id, t.name, t.project_id, m.subject from ${sql.table(table)} t
        join mails m on m.id = t.mail_id
        where t.id > ${lo} and t.id <= ${hi}`.execute(tx);
      const changes: [number, string][] = [];
      for (const r of rows.rows) {
        const name = nameOf(r.subject, r.project_id);
        if (name !== null && name !== r.name) changes.push([r.id, name]);
      }
      await setNames(tx, table, changes);
    });
  }
}
