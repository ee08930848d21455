// Pure helpers of the XML-RPC interface: its value type, Patchwork's (Python's) argument checks and messages, and the
// conversion of a filter value to what a lookup compares (Django's field semantics).
import { invalid } from '../errors.js';
import type { LookupOp, LookupScalar } from '../db/xmlrpc.repository.js';

/**
 * What XML-RPC carries: `null` is <nil/> (None), a Uint8Array is <base64> (Python bytes, which Patchwork sends for
 * several string fields), a Date <dateTime.iso8601>.
 */
export type XmlRpcValue = string | number | boolean | null | undefined | Date | Uint8Array | XmlRpcValue[] | { [key: string]: XmlRpcValue };
export type XmlRpcStruct = { [key: string]: XmlRpcValue };

export const isStruct = (v: XmlRpcValue): v is XmlRpcStruct => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);

/** Python's type name, for the messages Python would write. */
export function pyType(v: XmlRpcValue): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Date) return 'datetime';
  if (v instanceof Uint8Array) return 'Binary';
  return 'dict';
}

/** Longest string an error message repeats: a fault never echoes a whole request back. */
const REPR_MAX = 200;

/** Python's repr() of a scalar, enough for error messages. */
export function pyRepr(v: XmlRpcValue): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') {
    const s = v.length > REPR_MAX ? `${v.slice(0, REPR_MAX)}…` : v;
    return s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  if (typeof v === 'number') return String(v);
  // One level, ten items: a request may nest lists thousands deep.
  if (Array.isArray(v)) return `[${v.slice(0, 10).map((x) => (Array.isArray(x) ? '[…]' : pyRepr(x))).join(', ')}${v.length > 10 ? ', …' : ''}]`;
  return `<${pyType(v)}>`;
}

// Faults with Python's exception classes (the XML-RPC edge writes `<class 'TypeError'>:…` from these codes).
export const typeError = (message: string) => invalid('xmlrpc_type_error', message);
export const valueError = (message: string) => invalid('xmlrpc_value_error', message);
export const validationError = (message: string) => invalid('xmlrpc_validation_error', message);
export const fieldError = (message: string) => invalid('xmlrpc_field_error', message);

function quoteNames(names: string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length === 1) return q[0]!;
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

/**
 * Python's TypeError for a call with the wrong number of positional arguments, or null. `params` are the
 * function's parameter names in order (Patchwork passes the authenticated user first to the methods that need one),
 * `required` how many have no default.
 */
export function arityError(name: string, params: readonly string[], required: number, given: number): string | null {
  if (given < required) {
    const missing = params.slice(given, required);
    return `${name}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${quoteNames(missing)}`;
  }
  if (given > params.length) {
    const n = params.length;
    const takes = required === n ? `${n} positional argument${n === 1 ? '' : 's'}` : `from ${required} to ${n} positional arguments`;
    return `${name}() takes ${takes} but ${given} ${given === 1 ? 'was' : 'were'} given`;
  }
  return null;
}

/**
 * An id as Django's `get(id=…)` takes it: an integer, a bool (Python's are ints), digits in a string; None finds
 * nothing (null). Anything else is Django's ValueError.
 */
export function idArg(v: XmlRpcValue, field = 'id'): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^\s*[-+]?\d{1,15}\s*$/.test(v)) return Number(v.trim());
  throw valueError(`Field '${field}' expected a number but got ${pyRepr(v)}.`);
}

/** max_count: compared with 0 by Patchwork (`max_count > 0`); None and digit strings are taken too. */
export function countArg(v: XmlRpcValue): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[-+]?\d{1,9}\s*$/.test(v)) return Number(v.trim());
  throw typeError(`'>' not supported between instances of '${pyType(v)}' and 'int'`);
}

/** Python's truth value of an argument. */
export function truthy(v: XmlRpcValue): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isStruct(v)) return Object.keys(v).length > 0;
  if (v instanceof Uint8Array) return v.length > 0;
  return true;
}

/** A search string as Django's icontains takes it (str() of the value). */
export function searchArg(v: XmlRpcValue): string | null {
  if (!truthy(v)) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  throw typeError(`search_str: expected a string, got ${pyType(v)}`);
}

/** The slice of a list Patchwork's _get_objects keeps: the first N, the last N, or all (0). */
export function applyWindow<T>(items: T[], n: number): T[] {
  if (n > 0) return items.slice(0, n);
  if (n < 0) return items.slice(Math.max(0, items.length + n));
  return items;
}

/** Values of one `in` lookup. */
export const MAX_IN = 1000;

/** Values a lookup compares: 'int' ids, 'text', 'bool' (stored 0|1), 'date' (stored as ISO strings in UTC). */
export type FieldKind = 'int' | 'text' | 'bool' | 'date';

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A date as Django's DateTimeField takes it ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM[:SS[.ffffff]]', a T and an offset
 * allowed; naive means UTC, as Patchwork stores dates), as patchbay stores them: an ISO string with milliseconds.
 */
export function dateArg(v: XmlRpcValue): string {
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v.toISOString();
  const m = typeof v === 'string' ? DATE.exec(v.trim()) : null;
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
    const ms = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
    const day = new Date(Date.UTC(y, mo - 1, d));
    // Date.UTC rolls 2026-02-30 over into March and 25:00 into the next day: Django refuses both.
    if (day.getUTCMonth() === mo - 1 && day.getUTCDate() === d && h < 24 && mi < 60 && s < 60) {
      const zone = m[8];
      const offset = zone && zone !== 'Z' ? (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) : 0;
      return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000).toISOString();
    }
  }
  throw validationError(`['“${typeof v === 'string' ? v : pyRepr(v)}” value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format.']`);
}

function boolArg(v: XmlRpcValue): 0 | 1 {
  if (v === true || v === 1) return 1;
  if (v === false || v === 0) return 0;
  if (typeof v === 'string') {
    if (['t', 'true', '1'].includes(v.toLowerCase())) return 1;
    if (['f', 'false', '0'].includes(v.toLowerCase())) return 0;
  }
  throw validationError(`['“${typeof v === 'string' ? v : pyRepr(v)}” value must be either True or False.']`);
}

function scalarArg(kind: FieldKind, v: XmlRpcValue, field: string): LookupScalar {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'int':
      return idArg(v, field);
    case 'bool':
      return boolArg(v);
    case 'date':
      return dateArg(v);
    case 'text':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return pyRepr(v);
      throw typeError(`${field}: expected a string, got ${pyType(v)}`);
  }
}

/**
 * A filter value in the terms of its lookup: a flag for isnull, two values for range, a list for in, an integer for
 * year/month/day (dates only, as in Django), else one value of the field's kind.
 */
export function lookupValue(kind: FieldKind, op: LookupOp, v: XmlRpcValue, field: string): LookupScalar | LookupScalar[] | boolean {
  if (op === 'isnull') return truthy(v);
  if (op === 'year' || op === 'month' || op === 'day') {
    if (kind !== 'date') throw fieldError(`Unsupported lookup '${op}' for ${field} or join on the field not permitted.`);
    return idArg(v, field);
  }
  if (op === 'in' || op === 'range') {
    if (!Array.isArray(v)) throw typeError(`'${pyType(v)}' object is not iterable`);
    // Each value is a bound SQL parameter: a list as long as a 1 MiB request allows would pass SQLite's limit.
    if (v.length > MAX_IN) throw valueError(`${field}__in: at most ${MAX_IN} values`);
    if (op === 'range' && v.length !== 2) throw valueError(`not enough values to unpack (expected 2, got ${v.length})`);
    return v.map((x) => scalarArg(kind, x, field));
  }
  // contains and the like compare text: a number is matched as its digits (Django casts the column).
  if (kind === 'int' && op !== 'exact' && op !== 'iexact' && op !== 'gt' && op !== 'gte' && op !== 'lt') return scalarArg('text', v, field);
  return scalarArg(kind, v, field);
}
