// Patchwork's API versions and, per resource, which field appeared in which version (Meta.versioned_fields).

export const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4'] as const;
export type ApiVersion = (typeof VERSIONS)[number];
/** `/api/` without a version serves the latest (Patchwork's has_version is true for a request without a version). */
export const LATEST: ApiVersion = '1.4';

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
  project: ['id', 'url', 'name', 'link_name', 'list_id', 'list_email', 'web_url', 'scm_url', 'webscm_url', 'maintainers', ['subject_match', '1.1'], ['list_archive_url', '1.2'], ['list_archive_url_format', '1.2'], ['commit_url_format', '1.2'], ['show_dependencies', '1.4']],
  user: ['id', 'url', 'username', 'first_name', 'last_name', 'email'],
  userDetail: ['id', 'url', 'username', 'first_name', 'last_name', 'email', ['settings', '1.2']],
  person: ['id', 'url', 'name', 'email', 'user'],
  patch: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'commit_ref', 'pull_url', 'state', 'archived', 'hash', 'submitter', 'delegate', 'mbox', 'series', ['comments', '1.1'], 'check', 'checks', 'tags', ['related', '1.2']],
  patchDetail: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'commit_ref', 'pull_url', 'state', 'archived', 'hash', 'submitter', 'delegate', 'mbox', 'series', ['comments', '1.1'], 'check', 'checks', 'tags', ['related', '1.2'], 'headers', 'content', 'diff', 'prefixes'],
  cover: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'submitter', ['mbox', '1.1'], 'series', ['comments', '1.1']],
  coverDetail: ['id', 'url', ['web_url', '1.1'], 'project', 'msgid', ['list_archive_url', '1.2'], 'date', 'name', 'submitter', ['mbox', '1.1'], 'series', ['comments', '1.1'], 'headers', 'content'],
  // dependencies/dependents only for a project whose show_dependencies is set (Patchwork's SeriesSerializer).
  series: ['id', 'url', ['web_url', '1.1'], 'project', 'name', 'date', 'submitter', 'version', 'total', 'received_total', 'received_all', 'mbox', 'cover_letter', 'patches', ['dependencies', '1.4'], ['dependents', '1.4']],
  comment: ['id', ['url', '1.3'], ['web_url', '1.1'], 'msgid', ['list_archive_url', '1.2'], 'date', 'subject', 'submitter', 'content', 'headers', ['addressed', '1.3']],
  check: ['id', 'url', 'user', 'date', 'state', 'target_url', 'context', 'description'],
  event: ['id', 'category', 'project', 'date', ['actor', '1.2'], 'payload'],
  bundle: ['id', 'url', ['web_url', '1.1'], 'project', 'name', 'owner', 'patches', 'public', 'mbox'],
} as const satisfies Record<string, readonly FieldSpec[]>;

export type Shape = keyof typeof F;

type SpecOf<K extends Shape> = (typeof F)[K][number];
/** The fields of a shape that some version lacks (those a writer must ask about). */
export type VersionedField<K extends Shape> = Extract<SpecOf<K>, readonly [string, ApiVersion]>[0];

/** The fields of a shape that a version shows, in order. */
export function fieldsOf(shape: Shape, v: ApiVersion): string[] {
  return (F[shape] as readonly FieldSpec[]).flatMap((f) => (typeof f === 'string' ? [f] : hasVersion(v, f[1]) ? [f[0]] : []));
}

/** Per shape, whether the version shows each of its versioned fields. */
export type Shows = { readonly [K in Shape]: Readonly<Record<VersionedField<K>, boolean>> };

function compileShows(v: ApiVersion): Shows {
  const out: Record<string, Record<string, boolean>> = {};
  for (const [shape, specs] of Object.entries(F) as [Shape, readonly FieldSpec[]][]) {
    out[shape] = Object.freeze(Object.fromEntries(specs.flatMap((f) => (typeof f === 'string' ? [] : [[f[0], hasVersion(v, f[1])]]))));
  }
  return Object.freeze(out) as unknown as Shows;
}

/**
 * Compiled once per version: the writers in represent.ts build each object with its fields in Patchwork's order and
 * leave a field the version lacks undefined (JSON.stringify drops it), instead of copying every object per request.
 */
const SHOWS: Readonly<Record<ApiVersion, Shows>> = Object.fromEntries(VERSIONS.map((v) => [v, compileShows(v)])) as Record<ApiVersion, Shows>;

export function showsOf(v: ApiVersion): Shows {
  return SHOWS[v];
}
