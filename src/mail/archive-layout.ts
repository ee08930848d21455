// The archive's URL layout (public-inbox's): which list names have their own root, and Message-IDs in URL paths.

/** The archive of every list together, as public-inbox-extindex serves it (b4 treats a midmask under /all/ specially). */
export const ALL_LISTS = 'all';

/**
 * First path segments the web app uses for other things. A list whose name is one of these keeps its mail under
 * /all/ only: /<list>/<msgid>/… is never an archive URL for them, so an archive can never shadow a page or the API.
 */
export const RESERVED_ROOTS: ReadonlySet<string> = new Set([
  ALL_LISTS,
  'api',
  'password',
  'lists',
  'healthz',
  'patch',
  'series',
  'cover',
  'project',
  'bundle',
  'comment',
  'user',
  'users',
  'admin',
  'about',
  'static',
  'help',
  'mbox',
  'login',
  'logout',
  'actions',
  'runs',
  'xmlrpc',
]);

/** The archive root that serves a list's mail: its name, or `all` when the name is reserved. */
export function archiveRoot(slug: string): string {
  return RESERVED_ROOTS.has(slug) ? ALL_LISTS : slug;
}

const SAFE_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$/;

/**
 * A Message-ID (without <>) as one URL path segment, as public-inbox's mid_escape writes it: RFC 3986 unreserved
 * characters and sub-delims, ':' and '@' stay (so `@` is readable), everything else is %-escaped, `/` as %2F.
 */
export function msgidSegment(msgid: string): string {
  // Nearly every Message-ID needs no escape at all (API lists write one per item): check before rewriting.
  if (SAFE_SEGMENT.test(msgid)) return msgid;
  return encodeURIComponent(msgid).replace(/%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
