// Pure parsing of Patchwork's query parameters: repeated filter keys, booleans, ISO dates, `q`, `order`, `page`/`per_page`.
import { invalid, notFound } from '../errors.js';
import { STATES } from '../series/states.js';

export type RawQuery = Record<string, string | string[] | undefined>;

/** settings.REST_RESULTS_PER_PAGE and MAX_REST_RESULTS_PER_PAGE. */
export const DEFAULT_PER_PAGE = 30;
export const MAX_PER_PAGE = 250;

/** A filter value that names nothing: Patchwork's filter backend turns the ValidationError into an empty list. */
export class NoMatch extends Error {
  constructor(readonly param: string) {
    super(`no match for ${param}`);
  }
}

/** The non-empty values of a (possibly repeated) key; undefined when absent or only empty (`project=` is no filter). */
export function values(q: RawQuery, key: string): string[] | undefined {
  const raw = q[key];
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => v.trim()).filter((v) => v !== '');
  return list.length ? [...new Set(list)] : undefined;
}

export function single(q: RawQuery, key: string): string | undefined {
  return values(q, key)?.[0];
}

/** Django's BooleanField as the filters read it; git-pw writes Python's `True`/`False`. */
export function parseBool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes' || s === 'on') return true;
  if (s === 'false' || s === '0' || s === 'no' || s === 'off') return false;
  return undefined;
}

export function boolParam(q: RawQuery, key: string): boolean | undefined {
  const v = single(q, key);
  if (v === undefined) return undefined;
  const b = parseBool(v);
  if (b === undefined) throw new NoMatch(key);
  return b;
}

/** An ISO 8601 datetime as stored (UTC, `…Z`); a value without a zone is UTC, as Patchwork's naive datetimes. */
export function parseIsoDate(v: string): string | undefined {
  const s = v.trim();
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)) return undefined;
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(s) && s.length > 10;
  const d = new Date(hasZone ? s.replace(' ', 'T') : `${s.replace(' ', 'T')}${s.length === 10 ? 'T00:00:00' : ''}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function dateParam(q: RawQuery, key: string): string | undefined {
  const v = single(q, key);
  if (v === undefined) return undefined;
  const d = parseIsoDate(v);
  if (d === undefined) throw new NoMatch(key);
  return d;
}

/** Integer ids; a value that is not one matches nothing. */
export function idsParam(q: RawQuery, key: string): number[] | undefined {
  const list = values(q, key);
  if (!list) return undefined;
  if (!list.every((v) => /^\d{1,15}$/.test(v))) throw new NoMatch(key);
  return list.map(Number);
}

/** Patchwork's state filter: an id, or the name with `-` for spaces, case-insensitively (so the slug works too). */
export function statesParam(q: RawQuery, key = 'state'): string[] | undefined {
  const list = values(q, key);
  if (!list) return undefined;
  return list.map((v) => {
    const byId = /^\d+$/.test(v) ? STATES[Number(v) - 1] : undefined;
    const byName = STATES.find((s) => s.name.toLowerCase() === v.split('-').join(' ').toLowerCase());
    const found = byId ?? byName;
    if (!found) throw new NoMatch(key);
    return found.slug;
  });
}

/**
 * Terms `q` may hold: each becomes a condition over several columns, and 5,000 of them went past SQLite's expression
 * depth (1,000) as a 500.
 */
export const MAX_SEARCH_TERMS = 32;

/** DRF SearchFilter: `q` split on whitespace and commas; every term must match (a term given twice counts once). */
export function searchTerms(q: RawQuery): string[] {
  const v = q.q;
  const text = Array.isArray(v) ? v.join(' ') : (v ?? '');
  const terms = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  if (terms.length > MAX_SEARCH_TERMS) {
    throw invalid('search_too_long', `q: at most ${MAX_SEARCH_TERMS} search terms, got ${terms.length}`, {
      fields: { q: [`Ensure this field has no more than ${MAX_SEARCH_TERMS} terms.`] },
    });
  }
  return terms;
}

export interface SortKey {
  field: string;
  desc: boolean;
}

/**
 * Terms `order` may hold. Every list orders by at most a handful of fields (Patchwork's ordering_fields); more terms
 * than this are a mistake or an attack (5,000 of them made SQLite fail with "too many terms in ORDER BY").
 */
export const MAX_ORDER_TERMS = 16;

/**
 * DRF OrderingFilter: `order=a,-b`; fields outside the allowed ones are dropped; none left means the default. A
 * field named twice counts once (the first wins: a later key on the same field cannot change the order). More than
 * MAX_ORDER_TERMS terms is a 400.
 */
export function orderParam(q: RawQuery, allowed: readonly string[], dflt: SortKey[]): SortKey[] {
  const raw = values(q, 'order');
  if (!raw) return dflt;
  const terms = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (terms.length > MAX_ORDER_TERMS) {
    throw invalid('order_too_long', `order: at most ${MAX_ORDER_TERMS} terms, got ${terms.length}`, {
      fields: { order: [`Ensure this field has no more than ${MAX_ORDER_TERMS} terms.`] },
    });
  }
  const seen = new Set<string>();
  const keys: SortKey[] = [];
  for (const t of terms) {
    const field = t.startsWith('-') ? t.slice(1) : t;
    if (!allowed.includes(field) || seen.has(field)) continue;
    seen.add(field);
    keys.push({ field, desc: t.startsWith('-') });
  }
  return keys.length ? keys : dflt;
}

export interface PageRequest {
  page: number;
  perPage: number;
}

/** `per_page` falls back to the default when not a positive integer and is capped; a bad `page` is a 404 as in DRF. */
export function pageParam(q: RawQuery): PageRequest {
  const pp = single(q, 'per_page');
  const n = pp !== undefined && /^\d+$/.test(pp) ? Number(pp) : 0;
  const perPage = n > 0 ? Math.min(n, MAX_PER_PAGE) : DEFAULT_PER_PAGE;
  const p = single(q, 'page');
  if (p === undefined || p === 'last') return { page: p === 'last' ? -1 : 1, perPage };
  if (!/^\d{1,9}$/.test(p) || Number(p) < 1) throw invalidPage();
  return { page: Number(p), perPage };
}

export function invalidPage() {
  return notFound('invalid_page', 'Invalid page.');
}

/** The page to serve once the total is known: DRF's `page=last`, and 404 past the end (page 1 of nothing is fine). */
export function resolvePage(req: PageRequest, total: number): { page: number; lastPage: number; offset: number; limit: number } {
  const lastPage = Math.max(1, Math.ceil(total / req.perPage));
  const page = req.page === -1 ? lastPage : req.page;
  if (page > lastPage) throw invalidPage();
  return { page, lastPage, offset: (page - 1) * req.perPage, limit: req.perPage };
}

/**
 * The longest Link header sent: nginx's default proxy buffer (4 KB) holds the whole header block, undici refuses
 * more than 16 KB; a query string of 15 KB once made a 60 KB Link.
 */
export const MAX_LINK_HEADER = 2048;

/**
 * RFC 8288 (was RFC 5988) Link header as Patchwork's LinkHeaderPagination writes it: next, prev, then first and last,
 * each the request's URL with its page. When that passes MAX_LINK_HEADER: the URLs keep only the parameters the list
 * reads (`known`, each value once), then only next and prev are given (what a client walking the pages follows),
 * then none (undefined).
 */
export function linkHeader(url: string, page: number, lastPage: number, known?: readonly string[]): string | undefined {
  const u = new URL(url);
  const full = links(u, page, lastPage, true);
  if (full.length <= MAX_LINK_HEADER) return full;
  if (known) {
    const kept = new URLSearchParams();
    for (const [k, v] of u.searchParams) {
      if (known.includes(k) && v !== '' && !kept.getAll(k).includes(v)) kept.append(k, v);
    }
    u.search = kept.toString();
  }
  for (const all of [true, false]) {
    const h = links(u, page, lastPage, all);
    if (h.length <= MAX_LINK_HEADER) return h || undefined;
  }
  return undefined;
}

function links(u: URL, page: number, lastPage: number, all: boolean): string {
  // One URL rewritten page by page: set() replaces `page` where it stands, or appends it the first time. URL's
  // serialisation percent-encodes `<`, `>`, spaces and controls, so each target is a valid URI-Reference in <…>.
  const at = (n: number) => {
    u.searchParams.set('page', String(n));
    return u.toString();
  };
  const out: string[] = [];
  if (page < lastPage) out.push(`<${at(page + 1)}>; rel="next"`);
  if (page > 1) out.push(`<${at(page - 1)}>; rel="prev"`);
  if (all) out.push(`<${at(1)}>; rel="first"`, `<${at(lastPage)}>; rel="last"`);
  return out.join(', ');
}
