// JSON schemas of the Patchwork-compatible API: what each route takes and returns (they also make /api/docs).
// A response schema lists the latest version's fields; an older version's reply leaves the newer ones out.

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const url = { type: 'string', format: 'uri' } as const;

function obj(properties: Record<string, unknown>, description?: string) {
  return { type: 'object', ...(description ? { description } : {}), properties } as const;
}
function nullable<T extends { properties: Record<string, unknown> }>(o: T) {
  return { ...o, type: ['object', 'null'] };
}
const arrayOf = (items: unknown) => ({ type: 'array', items }) as const;

export const embeddedProject = obj({
  id: int,
  url,
  name: str,
  link_name: str,
  list_id: str,
  list_email: str,
  web_url: str,
  scm_url: str,
  webscm_url: str,
  list_archive_url: str,
  list_archive_url_format: str,
  commit_url_format: str,
});
export const embeddedPerson = obj({ id: int, url, name: strOrNull, email: str });
export const embeddedUser = obj({ id: int, url, username: str, first_name: str, last_name: str, email: str });
export const embeddedPatch = obj({ id: int, url, web_url: url, msgid: str, list_archive_url: strOrNull, date: str, name: str, mbox: url });
export const embeddedCover = embeddedPatch;
export const embeddedSeries = obj({ id: int, url, web_url: url, date: str, name: strOrNull, version: int, mbox: url });
export const embeddedCheck = obj({ id: int, url, date: str, state: str, target_url: strOrNull, context: str });
export const embeddedComment = obj({ id: int, url, web_url: url, msgid: str, list_archive_url: strOrNull, date: str });

const headers = {
  type: 'object',
  description: 'the mail header: each field once, a list when it repeats',
  additionalProperties: { anyOf: [str, arrayOf(str)] },
} as const;

// fast-json-stringify writes properties in schema order: each schema lists them in Patchwork's serializer order.
const { list_archive_url: _lau, list_archive_url_format: _lauf, commit_url_format: _cuf, ...projectHead } = embeddedProject.properties;
export const project = obj({
  ...projectHead,
  maintainers: arrayOf(embeddedUser),
  subject_match: str,
  list_archive_url: str,
  list_archive_url_format: str,
  commit_url_format: str,
  show_dependencies: { ...bool, description: 'from 1.4: series show dependencies and dependents' },
});

export const user = obj({
  ...embeddedUser.properties,
  settings: obj({ send_email: bool, items_per_page: int, show_ids: bool }, 'only on your own user, from 1.2'),
});

export const person = obj({ ...embeddedPerson.properties, user: nullable(embeddedUser) });

const patchList = {
  id: int,
  url,
  web_url: url,
  project: embeddedProject,
  msgid: str,
  list_archive_url: strOrNull,
  date: str,
  name: str,
  commit_ref: strOrNull,
  pull_url: strOrNull,
  state: { type: 'string', description: 'state slug: new, under-review, accepted, …' },
  archived: bool,
  hash: strOrNull,
  submitter: embeddedPerson,
  delegate: nullable(embeddedUser),
  mbox: url,
  series: arrayOf(embeddedSeries),
  comments: url,
  check: { type: 'string', enum: ['pending', 'success', 'warning', 'fail'] },
  checks: url,
  tags: { type: 'object', additionalProperties: true },
  related: arrayOf(embeddedPatch),
} as const;

export const patch = obj(patchList);
export const patchDetail = obj({ ...patchList, headers, content: str, diff: strOrNull, prefixes: arrayOf(str) });

const coverList = {
  id: int,
  url,
  web_url: url,
  project: embeddedProject,
  msgid: str,
  list_archive_url: strOrNull,
  date: str,
  name: str,
  submitter: embeddedPerson,
  mbox: url,
  series: arrayOf(embeddedSeries),
  comments: url,
} as const;
export const cover = obj(coverList);
export const coverDetail = obj({ ...coverList, headers, content: str });

export const series = obj({
  id: int,
  url,
  web_url: url,
  project: embeddedProject,
  name: strOrNull,
  date: str,
  submitter: embeddedPerson,
  version: int,
  total: int,
  received_total: int,
  received_all: bool,
  mbox: url,
  cover_letter: nullable(embeddedCover),
  patches: arrayOf(embeddedPatch),
  dependencies: { ...arrayOf(url), description: 'from 1.4, when the project shows dependencies: the series this one depends on (`Depends-on:`)' },
  dependents: { ...arrayOf(url), description: 'from 1.4, when the project shows dependencies: the series that depend on this one' },
});

export const comment = obj({
  ...embeddedComment.properties,
  subject: str,
  submitter: embeddedPerson,
  content: str,
  headers,
  addressed: { type: ['boolean', 'null'], description: 'from 1.3; null until someone sets it' },
});

export const check = obj({
  id: int,
  url,
  user: nullable(embeddedUser),
  date: str,
  state: { type: 'string', enum: ['pending', 'success', 'warning', 'fail'] },
  target_url: strOrNull,
  context: str,
  description: strOrNull,
});

export const event = obj({
  id: int,
  category: str,
  project: embeddedProject,
  date: str,
  actor: nullable(embeddedUser),
  payload: { type: 'object', additionalProperties: true, description: 'embedded objects of the category (Patchwork docs, "Events")' },
});

export const bundle = obj({
  id: int,
  url,
  web_url: url,
  project: embeddedProject,
  name: str,
  owner: embeddedUser,
  patches: arrayOf(embeddedPatch),
  public: bool,
  mbox: url,
});

export const index = obj(Object.fromEntries(['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles'].map((k) => [k, url])));

export const error = {
  ...obj({ detail: str, code: str }, 'Patchwork\'s error shape, plus a stable code; a bad field also as { "<field>": ["message"] }'),
  additionalProperties: arrayOf(str),
};

export const seriesAssignment = obj({
  series: int,
  assignment: { type: ['object', 'null'], properties: { name: str, title: str, deadline: str } },
  received_at: { type: ['string', 'null'] },
  late: { type: 'boolean' },
});
export const revision = obj({ series: int, previous: int, reason: str, source: { type: 'string', enum: ['parser', 'maintainer'] } });
export const seriesRef = obj({ series: int });
export const runCancelled = obj({ run: int, series: int, state: { type: 'string', enum: ['cancelled'] }, reason: str });
export const runRequested = obj({ run: int, previous: int, series: int, state: { type: 'string', enum: ['queued'] } });
/** A POST that takes no fields: anything sent (a form's CSRF field, an empty JSON object) is ignored. */
export const noFields = { description: 'no fields' } as const;

// Query strings: values stay strings (Patchwork answers a value it cannot use with an empty list, not a 400).
const many = { anyOf: [str, arrayOf(str)] } as const;
const paging = {
  page: { type: 'string', description: 'page number from 1, or "last"' },
  per_page: { type: 'string', description: 'items per page: default 30, at most 250' },
  order: { type: 'string', description: 'field or -field; comma-separated for several' },
  q: { type: 'string', description: 'search: every whitespace-separated term must match' },
} as const;
const when = { since: { type: 'string', description: 'ISO 8601: on or after' }, before: { type: 'string', description: 'ISO 8601: before' } } as const;

function query(properties: Record<string, unknown>) {
  return { type: 'object', properties } as const;
}

export const queries = {
  plain: query({ ...paging, project: { type: 'string', description: 'ignored (git-pw sends it everywhere)' } }),
  patches: query({
    ...paging,
    ...when,
    project: { ...many, description: 'project id or link name (repeatable)' },
    series: { ...many, description: 'series id (repeatable)' },
    submitter: { ...many, description: 'person id or email (repeatable)' },
    delegate: { ...many, description: 'user id or username (repeatable)' },
    state: { ...many, description: 'state slug, name or id (repeatable)' },
    archived: { type: 'string', description: 'true or false' },
    hash: { type: 'string', description: 'patch hash (1.2+)' },
    msgid: { type: 'string', description: 'Message-ID without <> (1.2+)' },
  }),
  covers: query({ ...paging, ...when, project: many, series: many, submitter: many, msgid: str }),
  series: query({ ...paging, ...when, project: many, submitter: many }),
  checks: query({ ...paging, ...when, user: many, state: many, context: many }),
  events: query({ ...paging, ...when, project: many, category: many, series: many, patch: many, cover: many, actor: { ...many, description: 'user id or username (1.2+)' } }),
  bundles: query({ ...paging, project: many, owner: many, public: str }),
};

// Request bodies use anyOf for alternatives (ajv's strict mode refuses union `type` arrays).
const formValue = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }] } as const;
const boolOrString = { anyOf: [{ type: 'boolean' }, { type: 'string' }] } as const;
const intOrString = { anyOf: [{ type: 'integer' }, { type: 'string' }] } as const;
const stringOrNull = { anyOf: [{ type: 'string' }, { type: 'null' }] } as const;
/** No type: ajv would coerce null to "" (or "" to null); the service checks the value as DRF would. */
const text = { description: 'a string (null is refused with 400)' } as const;

export const bodies = {
  patch: {
    type: 'object',
    properties: {
      state: { type: 'string', description: 'state slug' },
      delegate: { ...formValue, description: 'user id (or username/email); empty or null clears it' },
      archived: boolOrString,
      commit_ref: stringOrNull,
      pull_url: stringOrNull,
      related: { anyOf: [formValue, arrayOf({ anyOf: [formValue, obj({ id: int })] })], description: 'from 1.2: ids of patches to relate this one to; [] takes it out of its relation (maintainers of every patch)' },
    },
  },
  check: {
    type: 'object',
    properties: {
      state: { type: 'string', enum: ['pending', 'success', 'warning', 'fail'] },
      context: { type: 'string', description: 'slug; default "default"' },
      target_url: stringOrNull,
      description: stringOrNull,
    },
  },
  // null first: ajv would coerce a JSON null to false for the boolean branch.
  comment: { type: 'object', properties: { addressed: { anyOf: [{ type: 'null' }, { type: 'boolean' }, { type: 'string' }] } } },
  project: {
    type: 'object',
    description: 'fields a maintainer may change; read-only fields are ignored',
    properties: {
      web_url: text,
      scm_url: text,
      webscm_url: text,
      list_archive_url: text,
      list_archive_url_format: text,
      commit_url_format: text,
      show_dependencies: boolOrString,
    },
  },
  user: {
    type: 'object',
    description: 'your own user: names, and (1.2+) settings; username and email are read-only',
    properties: {
      first_name: text,
      last_name: text,
      settings: obj({ send_email: boolOrString, items_per_page: intOrString, show_ids: boolOrString }),
    },
  },
  bundle: {
    type: 'object',
    properties: {
      name: str,
      public: boolOrString,
      patches: { anyOf: [formValue, arrayOf({ anyOf: [formValue, obj({ id: int })] })], description: 'patch ids; replaces the whole list, in order' },
    },
  },
  revision: { type: 'object', required: ['previous'], properties: { previous: { ...intOrString, description: 'id of the earlier revision' } } },
  split: { type: 'object', required: ['patches'], properties: { patches: { anyOf: [formValue, arrayOf(formValue)], description: 'ids of the patches that move to a new series' } } },
  merge: { type: 'object', required: ['series'], properties: { series: { ...intOrString, description: 'id of the series merged into this one' } } },
};

export const idParam = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;
export const projectParam = { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'id or link name' } } } as const;
export const childParam = {
  type: 'object',
  required: ['id', 'child'],
  properties: { id: { type: 'integer', minimum: 1 }, child: { type: 'integer', minimum: 1 } },
} as const;
