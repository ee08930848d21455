// Response header values made from mail or request data, bounded: a subject of 20 KB once made a 16 KB+
// Content-Disposition, which undici refuses outright and nginx answers with 502 ("upstream sent too big header").

/**
 * The longest download file name: well under the 255 bytes of common file systems (git-pw saves the file under this
 * name), and a small part of nginx's default 4 KB proxy buffer for the whole header block.
 */
export const MAX_FILENAME = 150;

/** The longest Location we build from a request (the rest of the answer's header block stays small). */
export const MAX_LOCATION = 2048;

/**
 * The site's public base URL: --base-url when set, else the request's scheme and Host (X-Forwarded-Proto/-Host count
 * only from a --trust-proxy peer: fastify's request.protocol and request.host).
 */
export function publicBase(configured: string | null | undefined, req: { protocol: string; host: string }): string {
  return configured ?? `${req.protocol}://${req.host}`;
}

/** The extensions our downloads end in; kept when the name is shortened. */
const EXTENSIONS = ['.mbox.gz', '.patch', '.diff', '.mbox', '.txt', '.csv'];

/**
 * A file name made safe and short: characters other than `-_.A-Za-z0-9` (RFC 9110 tchar minus a few, so the value is
 * a token and needs no quoting, RFC 6266 §4.1) become `-`; a name longer than MAX_FILENAME keeps its extension and
 * loses the end of its stem.
 */
export function boundedFilename(name: string, max = MAX_FILENAME): string {
  const ext = EXTENSIONS.find((e) => name.length > e.length && name.toLowerCase().endsWith(e)) ?? '';
  // Only what can be kept is cleaned (a subject may be megabytes long).
  const stem = name.slice(0, Math.min(name.length - ext.length, 2 * max)).replace(/[^-_A-Za-z0-9.]+/g, '-');
  let end = Math.min(stem.length, max - ext.length);
  while (end > 0 && (stem[end - 1] === '-' || stem[end - 1] === '.')) end--;
  // A name cut short loses its trailing dashes; one that fits is kept as it came (Patchwork's names).
  const kept = stem.length + ext.length <= max ? stem : stem.slice(0, end);
  return `${kept || 'download'}${ext}`;
}

/**
 * `attachment; filename=NAME` (or inline), RFC 6266 §4.1, unquoted as Patchwork writes it: git-pw takes the name
 * from `filename=(.+)` as is.
 */
export function contentDisposition(kind: 'attachment' | 'inline', filename: string): string {
  return `${kind}; filename=${boundedFilename(filename)}`;
}

/** A redirect target built from a request: the query string is dropped when keeping it would pass MAX_LOCATION. */
export function boundedLocation(base: string, path: string, query: string): string {
  const full = base + path + query;
  return full.length <= MAX_LOCATION ? full : base + path;
}

/**
 * The login form's URL that comes back to `url` (a path of this site) afterwards; the login form takes a `next` of
 * at most 2,000 characters (html-error.ts localPath), so a longer one goes back to the path without its query, or
 * nowhere in particular.
 */
export function loginLocation(url: string): string {
  for (const next of [url, url.split('?', 1)[0]!]) {
    if (next.length <= 2000) {
      const encoded = encodeURIComponent(next);
      if (encoded.length <= MAX_LOCATION) return `/login/?next=${encoded}`;
    }
  }
  return '/login/';
}
