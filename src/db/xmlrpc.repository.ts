// SQL for the XML-RPC interface (pwclient): patches and checks filtered by Django-style field lookups, with the names
// Patchwork's dicts show (submitter, delegate, patch, check user) joined in.
import { sql, type RawBuilder } from 'kysely';
import { escapeLike } from './api-list.repository.js';
import type { DbOrTx } from './database.js';

/** Patchwork's LOOKUP_TYPES (views/xmlrpc.py), plus `exact` for a key without one. */
export const LOOKUP_OPS = ['exact', 'iexact', 'contains', 'icontains', 'gt', 'gte', 'lt', 'in', 'startswith', 'istartswith', 'endswith', 'iendswith', 'range', 'year', 'month', 'day', 'isnull'] as const;
export type LookupOp = (typeof LOOKUP_OPS)[number];

export type LookupScalar = string | number | null;

/**
 * One condition, its value already in the column's terms (booleans 0|1, times as stored ISO strings): a list for
 * `in` and `range` (two items), a flag for `isnull`, one scalar otherwise.
 */
export interface Lookup<F extends string> {
  field: F;
  op: LookupOp;
  value: LookupScalar | LookupScalar[] | boolean;
}

/** Which end of the default order to keep, as Patchwork's max_count: the first N, the last N, or all (0). */
export type Window = number;

const PATCH_COLUMNS = {
  id: sql.ref('patches.id'),
  name: sql.ref('patches.name'),
  project_id: sql.ref('patches.project_id'),
  submitter_id: sql.ref('patches.submitter_id'),
  delegate_id: sql.ref('patches.delegate_id'),
  series_id: sql.ref('patches.series_id'),
  state: sql.ref('patches.state'),
  archived: sql.ref('patches.archived'),
  date: sql.ref('patches.date'),
  commit_ref: sql.ref('patches.commit_ref'),
  hash: sql.ref('patches.hash'),
  /** Stored without its angle brackets: exact and `in` compare this, on its index. */
  msgid: sql.ref('patches.msgid'),
  /** As Patchwork stores it, `<…>`: what the other lookups see. */
  bracketed_msgid: sql`('<' || patches.msgid || '>')`,
} as const;
export type PatchField = keyof typeof PATCH_COLUMNS;

const CHECK_COLUMNS = {
  id: sql.ref('checks.id'),
  patch_id: sql.ref('checks.patch_id'),
  project_id: sql.ref('patches.project_id'),
  user_id: sql.ref('checks.user_id'),
  username: sql.ref('users.username'),
} as const;
export type CheckField = keyof typeof CHECK_COLUMNS;

export interface XmlRpcPatchRow {
  id: number;
  date: string;
  name: string;
  msgid: string;
  project_id: number;
  state: string;
  archived: 0 | 1;
  submitter_id: number;
  submitter_name: string | null;
  submitter_email: string | null;
  delegate_id: number | null;
  delegate_username: string | null;
  commit_ref: string | null;
  hash: string | null;
}

export interface XmlRpcCheckRow {
  id: number;
  date: string;
  patch_id: number;
  patch_name: string;
  user_id: number | null;
  username: string | null;
  state: string;
  target_url: string | null;
  description: string | null;
  context: string;
}


function text(v: LookupScalar): string {
  return v === null ? '' : String(v);
}

/**
 * The SQL of one lookup, with the value bound as a parameter. Case-sensitive ones (`contains`, `startswith`,
 * `endswith`) compare exactly, as on Patchwork's PostgreSQL and MySQL servers; the `i…` ones use LIKE, which
 * SQLite folds for ASCII letters.
 */
function condition(col: RawBuilder<unknown>, op: LookupOp, value: Lookup<string>['value']): RawBuilder<boolean> {
  const one = (Array.isArray(value) || typeof value === 'boolean' ? null : value) as LookupScalar;
  const asText = sql`cast(${col} as text)`;
  const like = (pattern: string) => sql<boolean>`${asText} like ${pattern} escape '\\'`;
  switch (op) {
    case 'exact':
      return one === null ? sql<boolean>`${col} is null` : sql<boolean>`${col} = ${one}`;
    case 'iexact':
      return one === null ? sql<boolean>`${col} is null` : sql<boolean>`lower(${asText}) = lower(${text(one)})`;
    case 'contains':
      return sql<boolean>`instr(${asText}, ${text(one)}) > 0`;
    case 'icontains':
      return like(`%${escapeLike(text(one))}%`);
    case 'startswith':
      return sql<boolean>`substr(${asText}, 1, length(${text(one)})) = ${text(one)}`;
    case 'istartswith':
      return like(`${escapeLike(text(one))}%`);
    case 'endswith':
      // substr(x, -0) is all of x: an empty suffix is tested apart.
      return sql<boolean>`(length(${text(one)}) = 0 or substr(${asText}, -length(${text(one)})) = ${text(one)})`;
    case 'iendswith':
      return like(`%${escapeLike(text(one))}`);
    case 'gt':
      return sql<boolean>`${col} > ${one}`;
    case 'gte':
      return sql<boolean>`${col} >= ${one}`;
    case 'lt':
      return sql<boolean>`${col} < ${one}`;
    case 'in': {
      const list = Array.isArray(value) ? value.filter((v) => v !== null) : [];
      return list.length ? sql<boolean>`${col} in (${sql.join(list)})` : sql<boolean>`0`;
    }
    case 'range': {
      const [lo, hi] = Array.isArray(value) ? value : [];
      return sql<boolean>`${col} between ${lo ?? null} and ${hi ?? null}`;
    }
    case 'year':
      return sql<boolean>`cast(strftime('%Y', ${col}) as integer) = ${one}`;
    case 'month':
      return sql<boolean>`cast(strftime('%m', ${col}) as integer) = ${one}`;
    case 'day':
      return sql<boolean>`cast(strftime('%d', ${col}) as integer) = ${one}`;
    case 'isnull':
      return value ? sql<boolean>`${col} is null` : sql<boolean>`${col} is not null`;
  }
}

/** Patches matching every lookup, in Patchwork's default order (date), joined with submitter and delegate. */
export async function xmlrpcPatchRows(db: DbOrTx, lookups: Lookup<PatchField>[], window: Window = 0): Promise<XmlRpcPatchRow[]> {
  let q = db
    .selectFrom('patches')
    .leftJoin('people', 'people.id', 'patches.submitter_id')
    .leftJoin('users', 'users.id', 'patches.delegate_id')
    .select([
      'patches.id',
      'patches.date',
      'patches.name',
      'patches.msgid',
      'patches.project_id',
      'patches.state',
      'patches.archived',
      'patches.submitter_id',
      'people.name as submitter_name',
      'people.email as submitter_email',
      'patches.delegate_id',
      'users.username as delegate_username',
      'patches.commit_ref',
      'patches.hash',
    ]);
  for (const l of lookups) q = q.where(condition(PATCH_COLUMNS[l.field], l.op, l.value));
  if (window < 0) {
    const rows = await q.orderBy('patches.date', 'desc').orderBy('patches.id', 'desc').limit(-window).execute();
    return rows.reverse();
  }
  q = q.orderBy('patches.date').orderBy('patches.id');
  return (window > 0 ? q.limit(window) : q).execute();
}

/** Checks matching every lookup, by id, with their patch's name and their user's username. */
export async function xmlrpcCheckRows(db: DbOrTx, lookups: Lookup<CheckField>[], window: Window = 0): Promise<XmlRpcCheckRow[]> {
  let q = db
    .selectFrom('checks')
    .innerJoin('patches', 'patches.id', 'checks.patch_id')
    .leftJoin('users', 'users.id', 'checks.user_id')
    .select([
      'checks.id',
      'checks.date',
      'checks.patch_id',
      'patches.name as patch_name',
      'checks.user_id',
      'users.username',
      'checks.state',
      'checks.target_url',
      'checks.description',
      'checks.context',
    ]);
  for (const l of lookups) q = q.where(condition(CHECK_COLUMNS[l.field], l.op, l.value));
  if (window < 0) return (await q.orderBy('checks.id', 'desc').limit(-window).execute()).reverse();
  q = q.orderBy('checks.id');
  return (window > 0 ? q.limit(window) : q).execute();
}
