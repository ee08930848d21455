// Patchwork's API versions and, per resource, which field appeared in which version (Meta.versioned_fields).

export const VERSIONS = ['1.0', '1.1', '1.2', '1.3'] as const;
export type ApiVersion = (typeof VERSIONS)[number];
/** `/api/` without a version serves the latest (Patchwork's has_version is true for a request without a version). */
export const LATEST: ApiVersion = '1.3';

export function hasVersion(v: ApiVersion, min: ApiVersion): boolean {
  return VERSIONS.indexOf(v) >= VERSIONS.indexOf(min);
}

/** Field name, or [name, version it appeared in]; in Patchwork's serializer order. */
type FieldSpec = string | readonly [string, ApiVersion];

const F = {
  embeddedProject: ['id', 'url', 'name', 'link_name', 'list_id', 'list_email', 'web_url', 'scm_url', 'webscm_url', ['list_archive_url', '1.2'], ['list_archive_url_format', '1.2'], ['commit_url_format', '1.2']],
  embeddedPerson: ['id', 'url', 'name', 'email'],
  embeddedUser: ['id', 'url', 'username', 'first_name', 'last_name', 'email'],
  embeddedPatch: ['id', 'url', ['web_url', '1.1'], 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'mbox'],
  embeddedCover: ['id', 'url', ['web_url', '1.1'], 'msgid', ['list_archive_url', '1.2'], 'date', 'name', ['mbox', '1.1']],
  embeddedSeries: ['id', 'url', ['web_url', '1.1'], 'date', 'name', 'version', 'mbox'],
  embeddedCheck: ['id', 'url', 'date', 'state', 'target_url', 'context'],
  embeddedComment: ['id', ['url', '1.3'], ['web_url', '1.1'], 'msgid', ['list_archive_url', '1.2'], 'date'],
  project: ['id', 'url', 'name', 'link_name', 'list_id', 'list_email', 'web_url', 'scm_url', 'webscm_url', 'maintainers', ['subject_match', '1.1'], ['list_archive_url', '1.2'], ['list_archive_url_format', '1.2'], ['commit_url_format', '1.2']],
  user: ['id', 'url', 'username', 'first_name', 'last_name', 'email'],
  userDetail: ['id', 'url', 'username', 'first_name', 'last_name', 'email', ['settings', '1.2']],
  person: ['id', 'url', 'name', 'email', 'user'],
  patch: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'commit_ref', 'pull_url', 'state', 'archived', 'hash', 'submitter', 'delegate', 'mbox', 'series', ['comments', '1.1'], 'check', 'checks', 'tags', ['related', '1.2']],
  patchDetail: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'commit_ref', 'pull_url', 'state', 'archived', 'hash', 'submitter', 'delegate', 'mbox', 'series', ['comments', '1.1'], 'check', 'checks', 'tags', ['related', '1.2'], 'headers', 'content', 'diff', 'prefixes'],
  cover: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'submitter', ['mbox', '1.1'], 'series', ['comments', '1.1']],
  coverDetail: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'submitter', ['mbox', '1.1'], 'series', ['comments', '1.1'], 'headers', 'content'],
  series: ['id', 'url', ['web_url', '1.1'], 'project', 'name', 'date', 'submitter', 'version', 'total', 'received_total', 'received_all', 'mbox', 'cover_letter', 'patches'],
  comment: ['id', ['url', '1.3'], ['web_url', '1.1'], 'msgid', ['list_archive_url', '1.2'], 'date', 'subject', 'submitter', 'content', 'headers', ['addressed', '1.3']],
  check: ['id', 'url', 'user', 'date', 'state', 'target_url', 'context', 'description'],
  event: ['id', 'category', 'project', 'date', ['actor', '1.2'], 'payload'],
  bundle: ['id', 'url', ['web_url', '1.1'], 'project', 'name', 'owner', 'patches', 'public', 'mbox'],
} as const satisfies Record<string, readonly FieldSpec[]>;

export type Shape = keyof typeof F;

/** The fields of a shape that a version shows, in order. */
export function fieldsOf(shape: Shape, v: ApiVersion): string[] {
  return (F[shape] as readonly FieldSpec[]).flatMap((f) => (typeof f === 'string' ? [f] : hasVersion(v, f[1]) ? [f[0]] : []));
}

const cache = new Map<string, string[]>();

/** Copies the fields the version shows, in Patchwork's order; a field the object lacks is left out. */
export function shape(kind: Shape, v: ApiVersion, full: Record<string, unknown>): Record<string, unknown> {
  const key = `${kind}@${v}`;
  let fields = cache.get(key);
  if (!fields) cache.set(key, (fields = fieldsOf(kind, v)));
  const out: Record<string, unknown> = {};
  for (const f of fields) if (f in full) out[f] = full[f];
  return out;
}
