// Project files (projects/*.yaml): parsed with positions so that a bad file is refused with file, line and reason.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { invalid } from '../errors.js';

// The domain's first dot after its first character splits it: one way to match, linear time (`[^\s@<>]+\.[^\s@<>]+` was quadratic).
const email = z.string().regex(/^[^\s@<>]+@[^\s@<>][^\s@<>.]*\.[^\s@<>]+$/, 'must be an email address like name@example.org');

/** A URL others can fetch a tree from: http(s) or git, with no user or password in it (it is shown to everyone). */
const publicUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return ['http:', 'https:', 'git:'].includes(u.protocol) && !u.username && !u.password && !/\s/.test(v);
  } catch {
    return false;
  }
}, 'must be an http(s):// or git:// URL without a user or password, like https://git.example.org/linux.git');

/** "90s", "5m", "2h" or a number of seconds, as milliseconds. */
const duration = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h)$/, 'must be a duration like 30s, 5m or 2h')]).transform((v) => {
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(v)!;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
});

/**
 * A deadline: ISO 8601 with a date, a time and a zone (`2026-03-01T23:59:00+01:00`, `…Z`). Without a zone the same
 * text would mean a different instant on a server in another timezone, so it is refused.
 */
const deadline = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i, 'must be an ISO 8601 date and time with a timezone, like 2026-03-01T23:59:00+01:00')
  .refine(realDateTime, 'is not a real date and time')
  .transform((v) => new Date(Date.parse(v.replace(' ', 'T'))).toISOString());

/** Date.parse rolls 2026-02-30 over into March: the day must exist in its month, the time must parse. */
function realDateTime(v: string): boolean {
  const [y, m, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d && !Number.isNaN(Date.parse(v.replace(' ', 'T')));
}

/** One assignment of a course (issue 14): what a series is an attempt at, and when it is due. */
const assignmentSchema = z
  .object({
    // The id used in URLs, the CSV and the API.
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes'),
    title: z.string().min(1).max(200),
    deadline,
    // A series matches when its subject carries the tag, or when its diff touches a file the path glob matches.
    match: z
      .object({
        tag: z.string().regex(/^[^\s,[\]]{1,64}$/, "must be one word of a subject's [brackets], like proctree").optional(),
        path: z.string().min(1).max(500).optional(),
      })
      .strict()
      .refine((m) => m.tag !== undefined || m.path !== undefined, 'needs a tag, a path or both'),
  })
  .strict();

const projectSchema = z
  .object({
    name: z.string().min(1),
    slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes'),
    list: email,
    policy: z.enum(['open', 'members', 'roster']).default('open'),
    supersede: z.boolean().default(true),
    // Patchwork 3.2: series show the series they depend on (`Depends-on:` lines) in API 1.4. Off, as in Patchwork.
    show_dependencies: z.boolean().default(false),
    bot: email.optional(),
    maintainers: z.array(email).default([]),
    roster: z.string().optional(),
    // private: only its maintainers, and each roster student for their own series, see anything of it (issue 14).
    visibility: z.enum(['public', 'private']).default('public'),
    tree: z
      .object({
        url: z.string().min(1),
        branch: z.string().min(1).default('master'),
        // Fetch before a run when the mirror's last fetch is older than this.
        max_age: duration.prefault('5m'),
        // Where anyone can fetch the tree (the reply's "Base:" line, the API's scm_url): `url` may be a local path.
        public_url: publicUrl.optional(),
      })
      .strict()
      .optional(),
    builds: z
      .array(
        z
          .object({
            arch: z.string().min(1),
            // tinyconfig, defconfig, or a full config file (relative to this file).
            base: z.string().min(1).default('tinyconfig'),
            config: z.array(z.string()).default([]),
            lava: z.boolean().default(false),
            // Who boots this build (issue 15): the project's runner when not said.
            runner: z.enum(['qemu', 'lava']).optional(),
          })
          .strict(),
      )
      .default([]),
    // --- LAVA runner (issue 15): who boots the builds with `lava: true`; the server's URL and token are the
    // server's flags (--lava-url, --lava-token-file), never this file's.
    runner: z.enum(['qemu', 'lava']).default('qemu'),
    lava: z
      .object({
        // LAVA jobs of this project submitted at once; the next boot waits for one to end.
        max_jobs: z.number().int().min(1).max(1000).default(2),
      })
      .strict()
      .prefault({}),
    tests: z
      .object({
        path: z.string().min(1).optional(),
        // C sources of test programs (one per .c file), cross-built on the host for each guest.
        programs: z.string().min(1).optional(),
        student: z.object({ path: z.string().min(1), required: z.boolean().default(true) }).strict().optional(),
      })
      .strict()
      .optional(),
    checkpatch: z
      .object({
        enabled: z.boolean().default(true),
        ignore: z.array(z.string().regex(/^[A-Z0-9_]+$/, 'must be checkpatch types like FILE_PATH_CHANGES')).default([]),
        options: z.array(z.string().regex(/^--[a-z][a-z0-9-]*(=\S+)?$/, 'must be options like --strict')).default([]),
        warnings: z.enum(['warn', 'fail', 'ignore']).default('warn'),
      })
      .strict()
      .prefault({}),
    report: z
      .object({
        to: z.enum(['student', 'student+list']).default('student'),
        // Who gets a copy (Cc) of every report besides its recipients: nobody, or the project's maintainers.
        cc: z.enum(['none', 'maintainers']).default('none'),
        signature: z.string().min(1).default('patchbay CI'),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        signoff: duration.prefault('30s'),
        testdesc: duration.prefault('30s'),
        checkpatch: duration.prefault('5m'),
        apply: duration.prefault('10m'),
        build: duration.prefault('60m'),
        test: duration.prefault('10m'),
      })
      .strict()
      .prefault({}),
    // Assignments with deadlines (docs/assignments.md); a series is matched to the first one listed that fits.
    assignments: z
      .array(assignmentSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((a, i) => {
          if (seen.has(a.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${a.name}" is listed twice` });
          seen.add(a.name);
        });
      }),
  })
  .strict();

export type ProjectFile = z.infer<typeof projectSchema>;

export interface ProjectAddresses {
  list: string;
  request: string;
  bounces: string; // VERP: <local>-bounces+<user>=<domain>@<domain>
  bot: string;
}

export interface Project extends ProjectFile {
  file: string;
  addresses: ProjectAddresses;
}

export function addressesFor(list: string, bot?: string): ProjectAddresses {
  const at = list.lastIndexOf('@');
  const local = list.slice(0, at).toLowerCase();
  const domain = list.slice(at + 1).toLowerCase();
  return {
    list: `${local}@${domain}`,
    request: `${local}-request@${domain}`,
    bounces: `${local}-bounces@${domain}`,
    bot: (bot ?? `${local}-bot@${domain}`).toLowerCase(),
  };
}

function fail(file: string, line: number, reason: string): never {
  throw invalid('project_invalid', `${file}:${line}: ${reason}`, { file, line });
}

/** Parses one project file; throws AppError('invalid') naming the file, the line and the reason. */
export function parseProjectFile(file: string, text: string): Project {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : counter.linePos(offset).line);
  const firstError = doc.errors[0];
  if (firstError) fail(file, lineOf(firstError.pos[0]), `YAML syntax: ${firstError.message.split('\n')[0]}`);
  const result = projectSchema.safeParse(doc.toJS());
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // Point at the deepest node that exists on the issue's path (an unknown key points at itself).
    let keys = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
    if (issue.code === 'unrecognized_keys') keys = [...keys, issue.keys[0]!];
    let line = 1;
    for (let n = keys.length; n >= 0; n--) {
      const node = doc.getIn(keys.slice(0, n), true);
      if (isNode(node)) {
        line = lineOf(node.range?.[0]);
        if (issue.code === 'unrecognized_keys') line = lineOfKey(doc, keys, counter) ?? line;
        break;
      }
    }
    const where = keys.length ? `${keys.join('.')}: ` : '';
    const reason = issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys[0]}"` : issue.message;
    fail(file, line, `${where}${reason}`);
  }
  const data = result.data;
  const dir = path.dirname(file);
  if (data.tree) data.tree = { ...data.tree, url: treeLocation(data.tree.url, dir) };
  if (data.tests?.path) data.tests = { ...data.tests, path: localPath(data.tests.path, dir) };
  if (data.tests?.programs) data.tests = { ...data.tests, programs: localPath(data.tests.programs, dir) };
  data.builds = data.builds.map((b) => ({
    ...b,
    base: b.base === 'tinyconfig' || b.base === 'defconfig' ? b.base : localPath(b.base, dir),
    config: b.config.map((c) => localPath(c, dir)),
    runner: b.runner ?? data.runner,
  }));
  return { ...data, file, addresses: addressesFor(data.list, data.bot) };
}

/**
 * The URL to tell people to fetch the project's tree from: `tree.public_url`, else `tree.url` when that is itself a
 * public http(s) or git URL; null otherwise (a local path, an ssh address or a URL with credentials is never shown).
 */
export function publicTreeUrl(tree: Project['tree']): string | null {
  if (!tree) return null;
  if (tree.public_url) return tree.public_url;
  return publicUrl.safeParse(tree.url).success ? tree.url : null;
}

/** `~/x` is in the home directory, a relative path is relative to the project file; URLs stay as written. */
function localPath(p: string, dir: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(dir, p);
}

/** A tree is a git URL (scheme://… or user@host:path) or a local path. */
function treeLocation(url: string, dir: string): string {
  // user@host:path, read at the first @ and the first colon after it (one way to match: linear time).
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\s][^/\s@]*@[^/\s][^/\s:]*:/.test(url) ? url : localPath(url, dir);
}

function lineOfKey(doc: ReturnType<typeof parseDocument>, keys: (string | number)[], counter: LineCounter): number | undefined {
  const parent = doc.getIn(keys.slice(0, -1), true) ?? doc.contents;
  const last = keys[keys.length - 1];
  if (parent && typeof parent === 'object' && 'items' in parent && Array.isArray(parent.items)) {
    for (const pair of parent.items as { key?: { value?: unknown; range?: [number, number, number] } }[]) {
      const key = pair.key;
      if (key && key.value === last && key.range) return counter.linePos(key.range[0]).line;
    }
  }
  return undefined;
}

/** Loads every *.yaml in the directory; refuses duplicate slugs and list addresses. */
export function loadProjects(dir: string): Project[] {
  if (!fs.existsSync(dir)) return [];
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
  const projects: Project[] = [];
  const seen = new Map<string, string>();
  for (const name of files) {
    const file = path.join(dir, name);
    const project = parseProjectFile(file, fs.readFileSync(file, 'utf8'));
    for (const address of [project.slug, ...Object.values(project.addresses)]) {
      const other = seen.get(address);
      if (other) fail(file, 1, `"${address}" is already used by ${other}`);
      seen.set(address, file);
    }
    projects.push(project);
  }
  return projects;
}
