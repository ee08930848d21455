// What Patchwork's published OpenAPI documents (getpatchwork/patchwork docs/api/schemas/v1.0 … v1.4/patchwork.yaml,
// HEAD 644cef7) say of every field of every resource, written out here as our own table, and the places where the
// schema is wrong and Patchwork's server (its serializers, models, URL patterns) does what patchbay does. The five
// documents differ only by the fields and paths each version adds, so one table with the version of each field
// stands for all five.

export type Version = '1.0' | '1.1' | '1.2' | '1.3' | '1.4';
export const VERSIONS: Version[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
export const atLeast = (v: Version, min: Version) => VERSIONS.indexOf(v) >= VERSIONS.indexOf(min);

/** A schema type as the documents write it. */
export type T =
  | { t: 'integer' }
  | { t: 'boolean' }
  | { t: 'object'; props?: Record<string, T> }
  | { t: 'string'; format?: 'uri' | 'email' | 'iso8601' | 'url'; minLength?: number; maxLength?: number; pattern?: RegExp; enum?: readonly string[] }
  | { t: 'array'; items: T; unique?: boolean }
  | { t: 'ref'; to: Component }
  | { t: 'headers' }
  | { t: 'nullable'; of: T };

const int: T = { t: 'integer' };
const bool: T = { t: 'boolean' };
const str = (o: Omit<Extract<T, { t: 'string' }>, 't'> = {}): T => ({ t: 'string', ...o });
const uri = (maxLength?: number): T => str({ format: 'uri', ...(maxLength ? { maxLength } : {}) });
const date = str({ format: 'iso8601' });
const email = (o: { minLength?: number; maxLength?: number } = {}): T => str({ format: 'email', ...o });
const nul = (of: T): T => ({ t: 'nullable', of });
const ref = (to: Component): T => ({ t: 'ref', to });
const arr = (items: T, unique = false): T => ({ t: 'array', items, unique });
const obj = (props?: Record<string, T>): T => ({ t: 'object', ...(props ? { props } : {}) });
const headers: T = { t: 'headers' };
const CHECK_STATE = str({ enum: ['pending', 'success', 'warning', 'fail'] });
const CONTEXT = str({ pattern: /^[-a-zA-Z0-9_]+$/, minLength: 1, maxLength: 255 });

/** A field: its name, its type, and the version whose document first has it (1.0 when absent). */
export type Field = readonly [string, T] | readonly [string, T, Version];

export type Component =
  | 'Index'
  | 'ProjectEmbedded'
  | 'Project'
  | 'UserEmbedded'
  | 'User'
  | 'UserDetail'
  | 'PersonEmbedded'
  | 'Person'
  | 'PatchEmbedded'
  | 'PatchList'
  | 'PatchDetail'
  | 'CoverEmbedded'
  | 'CoverList'
  | 'CoverDetail'
  | 'SeriesEmbedded'
  | 'Series'
  | 'CheckEmbedded'
  | 'Check'
  | 'CommentEmbedded'
  | 'Comment'
  | 'Bundle'
  | 'EventBase'
  | 'Error';

const projectEmbedded: Field[] = [
  ['id', int],
  ['url', uri()],
  ['name', str({ minLength: 1 })],
  ['link_name', str({ minLength: 1, maxLength: 255 })],
  ['list_id', str({ minLength: 1, maxLength: 255 })],
  ['list_email', email({ minLength: 1, maxLength: 200 })],
  ['web_url', uri(2000)],
  ['scm_url', uri(2000)],
  ['webscm_url', uri(2000)],
  ['list_archive_url', nul(uri(2000)), '1.2'],
  ['list_archive_url_format', nul(uri(2000)), '1.2'],
  ['commit_url_format', str(), '1.2'],
];
const userFields: Field[] = [
  ['id', int],
  ['url', uri()],
  ['username', str({ minLength: 1, maxLength: 150 })],
  ['first_name', str({ maxLength: 30 })],
  ['last_name', str({ maxLength: 150 })],
  ['email', email({ minLength: 1 })],
];
/** A patch or cover letter embedded in another object: the same fields in both schemas. */
const submissionEmbedded: Field[] = [
  ['id', int],
  ['url', uri()],
  ['web_url', uri(), '1.1'],
  ['msgid', str({ minLength: 1 })],
  ['list_archive_url', nul(str()), '1.2'],
  ['date', date],
  ['name', str({ minLength: 1 })],
  ['mbox', uri()],
];

const patchList: Field[] = [
  ['id', int],
  ['url', uri()],
  ['web_url', uri(), '1.1'],
  ['project', ref('ProjectEmbedded')],
  ['msgid', str({ minLength: 1, maxLength: 255 })],
  ['list_archive_url', nul(uri(2000)), '1.2'],
  ['date', date],
  ['name', str({ minLength: 1, maxLength: 255 })],
  ['commit_ref', nul(str({ maxLength: 255 }))],
  ['pull_url', nul(str({ format: 'uri', maxLength: 255 }))],
  ['state', str()],
  ['archived', bool],
  ['hash', str({ minLength: 1 })],
  ['submitter', ref('PersonEmbedded')],
  ['delegate', nul(ref('UserEmbedded'))],
  ['mbox', uri()],
  ['series', arr(ref('SeriesEmbedded'))],
  ['comments', uri(), '1.1'],
  ['check', CHECK_STATE],
  ['checks', uri()],
  ['tags', obj()],
  ['related', arr(ref('PatchEmbedded')), '1.2'],
];
const coverList: Field[] = [
  ['id', int],
  ['url', uri()],
  ['web_url', uri(), '1.1'],
  ['project', ref('ProjectEmbedded')],
  ['msgid', str({ minLength: 1, maxLength: 255 })],
  ['list_archive_url', nul(uri(2000)), '1.2'],
  ['date', date],
  ['name', str({ minLength: 1, maxLength: 255 })],
  ['submitter', ref('PersonEmbedded')],
  ['mbox', uri(), '1.1'],
  ['series', arr(ref('SeriesEmbedded'))],
  ['comments', uri(), '1.1'],
];

/** components.schemas of the documents, field by field. */
export const SCHEMA: Record<Component, Field[]> = {
  Index: ['bundles', 'covers', 'events', 'patches', 'people', 'projects', 'users', 'series'].map((k) => [k, uri()] as const),
  ProjectEmbedded: projectEmbedded,
  Project: [
    ...projectEmbedded.slice(0, 2),
    ['name', str({ minLength: 1, maxLength: 255 })],
    ...projectEmbedded.slice(3, 9),
    ['maintainers', arr(ref('UserEmbedded'), true)],
    ['subject_match', str({ maxLength: 64 }), '1.1'],
    ...projectEmbedded.slice(9),
    ['show_dependencies', bool, '1.4'],
  ],
  UserEmbedded: userFields,
  User: userFields,
  UserDetail: [...userFields, ['settings', obj({ send_email: bool, items_per_page: int, show_ids: bool }), '1.2']],
  PersonEmbedded: [['id', int], ['url', uri()], ['name', str({ minLength: 1 })], ['email', email({ minLength: 1 })]],
  Person: [['id', int], ['url', uri()], ['name', str({ minLength: 1, maxLength: 255 })], ['email', email({ minLength: 1, maxLength: 255 })], ['user', nul(ref('UserEmbedded'))]],
  PatchEmbedded: submissionEmbedded,
  PatchList: patchList,
  PatchDetail: [...patchList, ['headers', headers], ['content', str({ minLength: 1 })], ['diff', str({ minLength: 1 })], ['prefixes', arr(str())]],
  CoverEmbedded: submissionEmbedded,
  CoverList: coverList,
  CoverDetail: [...coverList, ['headers', headers], ['content', str({ minLength: 1 })]],
  SeriesEmbedded: [['id', int], ['url', uri()], ['web_url', uri(), '1.1'], ['name', nul(str({ maxLength: 255 }))], ['date', date], ['version', int], ['mbox', uri()]],
  Series: [
    ['id', int],
    ['url', uri()],
    ['web_url', uri(), '1.1'],
    ['project', ref('ProjectEmbedded')],
    ['name', nul(str({ maxLength: 255 }))],
    ['date', date],
    ['submitter', ref('PersonEmbedded')],
    ['version', int],
    ['total', int],
    ['received_total', int],
    ['received_all', bool],
    ['mbox', uri()],
    ['cover_letter', ref('CoverEmbedded')],
    ['patches', arr(ref('PatchEmbedded'), true)],
    ['dependencies', arr(str({ format: 'url' }), true), '1.4'],
    ['dependents', arr(str({ format: 'url' }), true), '1.4'],
  ],
  CheckEmbedded: [['id', int], ['url', uri()], ['date', date], ['state', CHECK_STATE], ['target_url', nul(uri(200))], ['context', CONTEXT]],
  Check: [['id', int], ['url', uri()], ['user', ref('UserEmbedded')], ['date', date], ['state', CHECK_STATE], ['target_url', nul(uri(200))], ['context', CONTEXT], ['description', nul(str())]],
  CommentEmbedded: [
    ['id', int],
    ['url', uri(), '1.3'],
    ['web_url', uri(), '1.1'],
    ['msgid', str({ minLength: 1 })],
    ['list_archive_url', nul(str()), '1.2'],
    ['date', date],
    ['name', str({ minLength: 1 })],
  ],
  Comment: [
    ['id', int],
    ['url', uri(), '1.3'],
    ['web_url', uri(), '1.1'],
    ['msgid', str({ minLength: 1, maxLength: 255 })],
    ['list_archive_url', nul(uri(2000)), '1.2'],
    ['date', date],
    ['subject', str()],
    ['submitter', ref('PersonEmbedded')],
    ['content', str({ minLength: 1 })],
    ['headers', headers],
    ['addressed', nul(bool), '1.3'],
  ],
  Bundle: [
    ['id', int],
    ['url', uri()],
    ['web_url', uri(), '1.1'],
    ['project', ref('ProjectEmbedded')],
    ['name', str({ minLength: 1, maxLength: 50 })],
    ['owner', nul(ref('UserEmbedded'))],
    ['patches', arr(ref('PatchEmbedded'), true)],
    ['public', bool],
    ['mbox', uri()],
  ],
  EventBase: [['id', int], ['category', str()], ['project', ref('ProjectEmbedded')], ['date', date], ['actor', nul(ref('UserEmbedded')), '1.2'], ['payload', obj()]],
  Error: [['detail', str()]],
};

/** The components the documents build with allOf from another: a schema error of the base holds for them too. */
export const BASE_OF: Partial<Record<Component, Component>> = { PatchDetail: 'PatchList', CoverDetail: 'CoverList', UserDetail: 'User' };

/** The Event<Category> schemas: each category's `payload` properties (every document, 1.0 on). */
export const EVENT_PAYLOADS: Record<string, Record<string, T>> = {
  'cover-created': { cover: ref('CoverEmbedded') },
  'patch-created': { patch: ref('PatchEmbedded') },
  'patch-completed': { patch: ref('PatchEmbedded'), series: ref('SeriesEmbedded') },
  'patch-state-changed': { patch: ref('PatchEmbedded'), previous_state: str(), current_state: str() },
  'patch-relation-changed': { patch: ref('PatchEmbedded'), previous_relation: nul(str()), current_relation: nul(str()) },
  'patch-delegated': { patch: ref('PatchEmbedded'), previous_delegate: nul(ref('UserEmbedded')), current_delegate: nul(ref('UserEmbedded')) },
  'check-created': { patch: ref('PatchEmbedded'), check: ref('CheckEmbedded') },
  'series-created': { series: ref('SeriesEmbedded') },
  'series-completed': { series: ref('SeriesEmbedded') },
  'cover-comment-created': { cover: ref('CoverEmbedded'), comment: ref('CommentEmbedded') },
  'patch-comment-created': { patch: ref('PatchEmbedded'), comment: ref('CommentEmbedded') },
};

/** The `category` filter's enum of GET /events: the nine of 1.0–1.2, the two comment categories from 1.3. */
export const EVENT_FILTER_CATEGORIES = (v: Version): string[] => Object.keys(EVENT_PAYLOADS).filter((c) => atLeast(v, '1.3') || !c.includes('comment'));

/** The methods each path documents, and the version whose document first has them. */
export const PATHS: { path: string; methods: readonly (readonly [string, Version])[] }[] = [
  { path: '/', methods: [['GET', '1.0']] },
  { path: '/projects/', methods: [['GET', '1.0']] },
  { path: '/projects/{id}/', methods: [['GET', '1.0'], ['PATCH', '1.0'], ['PUT', '1.0']] },
  { path: '/users/', methods: [['GET', '1.0']] },
  { path: '/users/{id}/', methods: [['GET', '1.0'], ['PATCH', '1.0'], ['PUT', '1.0']] },
  { path: '/people/', methods: [['GET', '1.0']] },
  { path: '/people/{id}/', methods: [['GET', '1.0']] },
  { path: '/patches/', methods: [['GET', '1.0']] },
  { path: '/patches/{id}/', methods: [['GET', '1.0'], ['PATCH', '1.0'], ['PUT', '1.0']] },
  { path: '/patches/{id}/comments/', methods: [['GET', '1.0']] },
  { path: '/patches/{id}/comments/{comment_id}/', methods: [['GET', '1.3'], ['PATCH', '1.3']] },
  { path: '/patches/{id}/checks/', methods: [['GET', '1.0'], ['POST', '1.0']] },
  { path: '/patches/{id}/checks/{check_id}/', methods: [['GET', '1.0']] },
  { path: '/covers/', methods: [['GET', '1.0']] },
  { path: '/covers/{id}/', methods: [['GET', '1.0']] },
  { path: '/covers/{id}/comments/', methods: [['GET', '1.0']] },
  { path: '/covers/{id}/comments/{comment_id}/', methods: [['GET', '1.3'], ['PATCH', '1.3']] },
  { path: '/series/', methods: [['GET', '1.0']] },
  { path: '/series/{id}/', methods: [['GET', '1.0']] },
  { path: '/events/', methods: [['GET', '1.0']] },
  { path: '/bundles/', methods: [['GET', '1.0'], ['POST', '1.2']] },
  { path: '/bundles/{id}/', methods: [['GET', '1.0'], ['PATCH', '1.2'], ['PUT', '1.2']] },
];

/**
 * Where the published schema is wrong and Patchwork's server does what patchbay does: each entry names the field
 * (Component.field), what the schema says, what the server does and where its source shows it, and the rule the
 * contract test checks instead of the schema's (`type`), or that the field appears later (`since`) or never
 * (`absent`), or only under a condition (`onlyIf`).
 */
export interface SchemaError {
  at: string;
  schema: string;
  server: string;
  type?: T;
  since?: Version;
  absent?: true;
  onlyIf?: string;
}

const anyText = (maxLength: number): T => str({ maxLength });

export const SCHEMA_ERRORS: SchemaError[] = [
  {
    at: 'CoverEmbedded.mbox',
    schema: 'in every version',
    server: 'api/embedded.py CoverSerializer: versioned_fields {"1.1": ("web_url", "mbox")}, so 1.0 has no mbox',
    since: '1.1',
  },
  {
    at: 'CommentEmbedded.name',
    schema: 'a string, minLength 1',
    server: 'api/embedded.py PatchCommentSerializer/CoverCommentSerializer: Meta.fields has no name (comments have a subject)',
    absent: true,
  },
  {
    at: 'PatchList.hash',
    schema: 'a string, minLength 1',
    server: 'models.py Patch.hash is HashField(null=True), computed from the diff: null for a pull request without one',
    type: nul(str({ minLength: 1 })),
  },
  {
    at: 'PatchDetail.diff',
    schema: 'a string, minLength 1',
    server: 'models.py Patch.diff is TextField(null=True): null for a pull request without a diff',
    type: nul(str({ minLength: 1 })),
  },
  {
    at: 'PatchList.pull_url',
    schema: 'null or a URI of at most 255 characters',
    server: 'parser.py parse_pull_request stores "URL branch" (whitespace made one space); models.py pull_url is a CharField(max_length=255) without a URL validator',
    type: nul(anyText(255)),
  },
  {
    at: 'PersonEmbedded.name',
    schema: 'a string, minLength 1',
    server: 'models.py Person.name is CharField(null=True): null for a sender who gave only an address',
    type: nul(str({ minLength: 1 })),
  },
  {
    at: 'Person.name',
    schema: 'a string, minLength 1',
    server: 'models.py Person.name is CharField(null=True)',
    type: nul(str({ minLength: 1, maxLength: 255 })),
  },
  {
    at: 'Series.cover_letter',
    schema: 'a CoverEmbedded (not nullable)',
    server: 'models.py Series.cover_letter is OneToOneField(null=True); a series without a cover letter has null',
    type: nul(ref('CoverEmbedded')),
  },
  {
    at: 'Series.dependencies',
    schema: 'always in 1.4',
    server: 'api/series.py SeriesSerializer.to_representation deletes dependencies and dependents unless project.show_dependencies',
    onlyIf: 'show_dependencies',
  },
  {
    at: 'Series.dependents',
    schema: 'always in 1.4',
    server: 'api/series.py SeriesSerializer.to_representation (as dependencies)',
    onlyIf: 'show_dependencies',
  },
  ...(['ProjectEmbedded', 'Project'] as const).flatMap((c): SchemaError[] => [
    ...(['web_url', 'scm_url', 'webscm_url'] as const).map((f) => ({
      at: `${c}.${f}`,
      schema: 'a URI of at most 2000 characters',
      server: `models.py Project.${f} is CharField(max_length=2000, blank=True): "" when unset, any text (a local path for scm_url) when set`,
      type: anyText(2000),
    })),
    {
      at: `${c}.list_archive_url`,
      schema: 'null or a URI',
      server: 'models.py Project.list_archive_url is CharField(blank=True): never null, "" when unset',
      type: anyText(2000),
    },
    {
      at: `${c}.list_archive_url_format`,
      schema: 'null or a URI',
      server: 'models.py Project.list_archive_url_format is CharField(blank=True) holding "{}" where the Message-ID goes: not a URI',
      type: anyText(2000),
    },
  ]),
  ...(['PatchDetail', 'CoverDetail', 'Comment'] as const).map((c) => ({
    at: `${c}.headers`,
    schema: 'anyOf: every value a string, or every value a list of strings',
    server: 'api/patch.py get_headers (also cover.py, comment.py): a string for a header given once, a list for a repeated one, both in one object',
    type: { t: 'object', props: undefined } as T,
  })),
];

/** Schema errors about paths and events rather than fields (the contract test checks each). */
export const PATH_ERRORS = [
  {
    at: 'GET /patches/{id}/comments/, /covers/{id}/comments/ in 1.0',
    schema: 'documented in the 1.0 document',
    server: 'urls.py routes them in api_1_1_patterns only: 404 in 1.0',
  },
  {
    at: 'DELETE /bundles/{id}/',
    schema: 'absent from every document',
    server: 'api/bundle.py BundleDetail is a RetrieveUpdateDestroyAPIView (tests/unit/api/test_bundle.py deletes): the owner may delete from 1.2',
  },
  {
    at: 'GET /events/ before 1.3: EventCoverCommentCreated, EventPatchCommentCreated',
    schema: 'in the response of 1.0–1.2 (their category filter does not list them)',
    server: 'api/event.py EventList.get_queryset excludes both comment categories before 1.3',
  },
  {
    at: 'User.first_name, UserEmbedded.first_name',
    schema: 'maxLength 30',
    server: "Django's User.first_name has max_length 150 since Django 3.1 (Patchwork requires 4.2+): a write of up to 150 is taken",
  },
  {
    at: 'format "iso8601" (dates), format "url" (Series.dependencies)',
    schema: 'formats OpenAPI does not define',
    server: 'settings/base.py USE_TZ = False: DRF writes naive ISO 8601 dates; dependencies are absolute API URLs (checked as such here)',
  },
] as const;
