// The filter structs of patch_list and check_list (Patchwork's ok_fields and LOOKUP_TYPES) made into lookups for
// xmlrpc.repository.ts. Pure but for the objects a filter names, which the caller resolves.
import { LOOKUP_OPS, type CheckField, type Lookup, type LookupOp, type PatchField } from '../db/xmlrpc.repository.js';
import { countArg, idArg, isStruct, lookupValue, pyType, typeError, type FieldKind, type XmlRpcStruct, type XmlRpcValue } from './xmlrpc-args.js';

/** patch_list's fields, with the kind their lookups compare; `series` is pwclient's -S (Patchwork ignores it). */
const PATCH_FILTER: Record<string, FieldKind | 'object' | 'count'> = {
  id: 'int',
  name: 'text',
  project_id: 'object',
  submitter_id: 'object',
  delegate_id: 'object',
  archived: 'bool',
  state_id: 'object',
  date: 'date',
  commit_ref: 'text',
  hash: 'text',
  msgid: 'text',
  max_count: 'count',
  series: 'object',
};

const CHECK_FILTER: Record<string, FieldKind | 'object' | 'count' | 'user'> = { id: 'int', user: 'user', project_id: 'object', patch_id: 'object', max_count: 'count' };

/** A filter: every lookup ANDed, and max_count (first N, last -N, 0 all); null when Patchwork answers []. */
export type Filter<F extends string> = { lookups: Lookup<F>[]; max: number } | null;

/** The object fields of patch_list (project_id, submitter_id, delegate_id, state_id, series) to a lookup, if it names one. */
export type ObjectLookup = (field: string, id: number | null) => Promise<Lookup<PatchField> | undefined>;

/** A filter key `field` or `field__lookup`; undefined for what Patchwork answers with an empty list. */
function splitKey(key: string, fields: Record<string, unknown>): { field: string; op: LookupOp } | undefined {
  const parts = key.split('__');
  if (parts.length > 2 || !Object.prototype.hasOwnProperty.call(fields, parts[0]!)) return undefined;
  const op = (parts[1] ?? 'exact') as LookupOp;
  return parts.length === 1 || (LOOKUP_OPS as readonly string[]).includes(op) ? { field: parts[0]!, op } : undefined;
}

/** The filter argument of patch_list and check_list: a struct, or None for no filter. */
export function filterArg(v: XmlRpcValue, method: string): XmlRpcStruct {
  if (v === null || v === undefined) return {};
  if (!isStruct(v)) throw typeError(`${method}() filter must be a struct, got ${pyType(v)}`);
  return v;
}

export function idLookup(field: PatchField, id: number | null): Lookup<PatchField> {
  return { field, op: 'exact', value: id };
}

/** Hashes are stored in lowercase hex: a hash in capitals finds its patch too. */
function lower(v: ReturnType<typeof lookupValue>): ReturnType<typeof lookupValue> {
  if (typeof v === 'string') return v.trim().toLowerCase();
  return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x.trim().toLowerCase() : x)) : v;
}

export function hashLookup(v: XmlRpcValue): Lookup<PatchField> {
  return { field: 'hash', op: 'exact', value: lower(lookupValue('text', 'exact', v, 'hash')) };
}

/**
 * Patchwork keeps `<…>` in msgid; patchbay stores the id bare. exact, iexact and in take either form and compare
 * the bare column (its index); the other lookups see the bracketed form, as on Patchwork.
 */
function msgidLookup(op: LookupOp, v: XmlRpcValue): Lookup<PatchField> {
  const bare = (x: unknown) => (typeof x === 'string' ? x.trim().replace(/^<|>$/g, '') : x);
  const value = lookupValue('text', op, v, 'msgid');
  if (op === 'exact' || op === 'iexact') return { field: 'msgid', op, value: bare(value) as string | null };
  if (op === 'in') return { field: 'msgid', op, value: (value as (string | null)[]).map((x) => bare(x) as string | null) };
  return { field: 'bracketed_msgid', op, value };
}

/** patch_list: Patchwork answers [] for an unknown field or lookup, and for an id that names nothing. */
export async function patchFilter(filt: XmlRpcStruct, objects: ObjectLookup): Promise<Filter<PatchField>> {
  const lookups: Lookup<PatchField>[] = [];
  let max = 0;
  for (const key of Object.keys(filt)) {
    const k = splitKey(key, PATCH_FILTER);
    if (!k) return null;
    const value = filt[key]!;
    const kind = PATCH_FILTER[k.field]!;
    if (kind === 'count') max = countArg(value);
    else if (kind === 'object') {
      // Compared by id, whatever the lookup: Patchwork fetches the object with get(id=value).
      const l = await objects(k.field, idArg(value));
      if (!l) return null;
      lookups.push(l);
    } else if (k.field === 'msgid') lookups.push(msgidLookup(k.op, value));
    else if (k.field === 'hash' && (k.op === 'exact' || k.op === 'in')) lookups.push({ field: 'hash', op: k.op, value: lower(lookupValue('text', k.op, value, 'hash')) });
    else lookups.push({ field: k.field as PatchField, op: k.op, value: lookupValue(kind, k.op, value, k.field) });
  }
  return { lookups, max };
}

/** check_list: id (any lookup), user (an id or a username), project_id and patch_id (by id), max_count. */
export function checkFilter(filt: XmlRpcStruct): Filter<CheckField> {
  const lookups: Lookup<CheckField>[] = [];
  let max = 0;
  for (const key of Object.keys(filt)) {
    const k = splitKey(key, CHECK_FILTER);
    if (!k) return null;
    const value = filt[key]!;
    const kind = CHECK_FILTER[k.field]!;
    if (kind === 'count') max = countArg(value);
    else if (kind === 'object') {
      const id = idArg(value);
      if (id === null) return null;
      lookups.push({ field: k.field as CheckField, op: 'exact', value: id });
    } else if (kind === 'user') {
      // Patchwork compares the value with the user's id only; a username is taken too.
      const byId = typeof value === 'number' || (typeof value === 'string' && /^\d{1,15}$/.test(value));
      lookups.push(byId ? { field: 'user_id', op: k.op, value: lookupValue('int', k.op, value, 'user') } : { field: 'username', op: k.op, value: lookupValue('text', k.op, value, 'user') });
    } else lookups.push({ field: k.field as CheckField, op: k.op, value: lookupValue(kind, k.op, value, k.field) });
  }
  return { lookups, max };
}
