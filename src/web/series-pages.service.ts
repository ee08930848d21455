// The series pages' data: a series (cover, patches, revision timeline, range-diff, checks as a stage × build matrix,
// its latest pipeline run, test results), a patch (commit message, coloured diff, comments with folded quotes,
// checks, state history), a cover letter, and a step's log with the lines its findings name marked. Everything mail
// or a run wrote is handed to the templates as text, split into lines with a class each: the templates escape it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Project } from '../config/projects.js';
import type { Db } from '../db/database.js';
import { getRun, runSteps } from '../db/pipeline.repository.js';
import type { RunRow, RunStepRow } from '../db/pipeline-schema.js';
import {
  checksOfPatches,
  commentLocator,
  commentsOfParent,
  commentsOfSeries,
  countRunsOfSeries,
  coverLocator,
  delegateCandidates,
  latestRunOfSeries,
  patchHistory,
  patchLocator,
  rangeDiffPatches,
  revisionChain,
  seriesPatchIds,
  seriesVersions,
  usernames,
  webCover,
  webCoverByMsgid,
  webPatchByMsgid,
  webSeries,
  webSeriesPatches,
  type WebCheckRow,
  type WebCommentRow,
} from '../db/web-series.repository.js';
import { invalid, notFound } from '../errors.js';
import { archiveRoot, msgidSegment } from '../mail/archive-layout.js';
import { artifactsDir } from '../pipeline/artifacts.js';
import { lavaOfStep } from '../pipeline/lava/lava-state.js';
import type { RunViewService } from '../pipeline/run-view.service.js';
import type { Finding } from '../pipeline/types.js';
import { seriesAssignment } from '../db/assignment.repository.js';
import { describeAssignment } from '../series/assignment.js';
import { nameTitle } from '../series/patch-name.js';
import { STATES } from '../series/states.js';
import { trimStartChars } from '../text.js';
import { parseDiff, type RangeDiffPatch, type RangeDiffResult, type RangeDiffService } from './range-diff.service.js';
import { duration, logPageHref, runRow, stepRow } from './run-rows.js';
import type { PageFrame } from './views.js';
import { canMaintain, type Viewer } from './viewer.js';

type WebProject = Project & { id: number };

export interface SeriesPagesDeps {
  db: Db;
  projects: readonly WebProject[];
  runs: RunViewService | null;
  dataDir: string;
  rangeDiff: RangeDiffService;
}

export interface Page {
  frame: PageFrame;
  data: object;
  /** The page may change without a database write (a range-diff still being made): not for the page cache. */
  volatile?: boolean;
}

/** The pipeline's stages in run order: the gates once per series (column "all"), then build and test per build. */
const GATES = ['signoff', 'testdesc', 'checkpatch', 'apply'] as const;
const STAGES = [...GATES, 'build', 'test'] as const;
const STAGE_LABEL: Record<string, string> = { signoff: 'sign-off', testdesc: 'test description', checkpatch: 'checkpatch', apply: 'apply', build: 'build', test: 'test' };
const ALL = 'all';
/** Patchwork's check states as badge classes (the pipeline's own step statuses are badge classes already). */
const CHECK_BADGE: Record<string, string> = { success: 'pass', warning: 'warn', fail: 'fail', pending: 'pending' };
const CHECK_RANK: Record<string, number> = { fail: 3, warning: 2, pending: 1, success: 0 };

/** Lines of a diff shown on the patch page; the rest is behind the raw link. */
const MAX_DIFF_LINES = 20_000;
/** Logs up to this size are shown whole; bigger ones as their first and last LOG_PART bytes. */
const LOG_WHOLE = 1024 * 1024;
const LOG_PART = 256 * 1024;

const stateName = new Map<string, string>(STATES.map((s) => [s.slug, s.name]));

function person(name: string | null, email: string): string {
  return name ? `${name} <${email}>` : email;
}

function userName(username: string | null, first: string | null, last: string | null): string | null {
  if (!username) return null;
  const full = `${first ?? ''} ${last ?? ''}`.trim();
  return full ? `${full} (${username})` : username;
}

/** A link a check (posted through the API by anyone with a token) may carry: http(s) only, never javascript: and co. */
function safeHref(url: string | null): string | null {
  if (!url) return null;
  const own = /^(?:https?:\/\/[^/]+)?\/runs\/(\d+)\/logs\/([a-z0-9-]+)(?:\/([a-z0-9_-]+))?\/?$/.exec(url);
  if (own) return logPageHref(Number(own[1]), own[2]!, own[3] ?? '');
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

function rawLogHref(runId: number, step: string, job: string): string {
  return `/runs/${runId}/logs/${step}${job ? `/${job}` : ''}`;
}

/** The commit message (up to git am's `---` line) and what follows it (notes, diffstat). */
function splitMessage(content: string): { message: string; notes: string } {
  const lines = content.split('\n');
  const cut = lines.findIndex((l) => /^---\s*$/.test(l));
  if (cut === -1) return { message: content.trimEnd(), notes: '' };
  return { message: lines.slice(0, cut).join('\n').trimEnd(), notes: trimStartChars(lines.slice(cut + 1).join('\n'), '\n').trimEnd() };
}

export interface CommentBlock {
  quote: boolean;
  text: string;
  lines: number;
}

/** A mail's text as runs of written and quoted (`>`) lines: the page folds each quoted run. */
export function commentBlocks(content: string): CommentBlock[] {
  const blocks: CommentBlock[] = [];
  for (const line of content.trimEnd().split('\n')) {
    const quote = /^\s*>/.test(line);
    const last = blocks.at(-1);
    if (last && last.quote === quote) {
      last.text += `\n${line}`;
      last.lines++;
    } else {
      blocks.push({ quote, text: line, lines: 1 });
    }
  }
  // Blank lines around written text are the spacing of the mail, not its content.
  return blocks
    .map((b) => (b.quote ? b : { ...b, text: b.text.replace(/^(?:[ \t]*\n)+/, '').trimEnd() }))
    .filter((b) => b.quote || b.text)
    .map((b) => ({ ...b, lines: b.text.split('\n').length }));
}

function commentView(c: WebCommentRow) {
  return { id: c.id, anchor: `comment-${c.id}`, author: person(c.submitter_name, c.submitter_email), date: c.date, subject: c.subject ?? '', blocks: commentBlocks(c.content) };
}

// The stage × build matrix.

interface Cell {
  stage: string;
  build: string;
  status: string;
  summary: string;
  href: string | null;
}

interface Matrix {
  builds: string[];
  rows: { stage: string; label: string; cells: (Cell | { empty: true; build: string })[] }[];
}

/** Which stage and build a check's context names: `checkpatch`, `test-description`, `build-x86_64`, `test-arm64`. */
function stageOfContext(context: string): { stage: string; build: string } {
  if (context === 'test-description') return { stage: 'testdesc', build: ALL };
  if ((GATES as readonly string[]).includes(context)) return { stage: context, build: ALL };
  const m = /^(build|test)-(.+)$/.exec(context);
  if (m) return { stage: m[1]!, build: m[2]! };
  return { stage: context, build: ALL };
}

/** Every patch's latest check per context, then the worst of them: the series' state for that context. */
function checkCells(checks: WebCheckRow[]): Map<string, Cell & { context: string }> {
  const latest = new Map<string, WebCheckRow>();
  for (const c of checks) latest.set(`${c.patch_id} ${c.context}`, c); // rows come in id order: the last one wins
  const worst = new Map<string, Cell & { context: string }>();
  const rank = new Map<string, number>();
  for (const c of latest.values()) {
    const { stage, build } = stageOfContext(c.context);
    const key = `${stage} ${build}`;
    const r = CHECK_RANK[c.state] ?? 0;
    if ((rank.get(key) ?? -1) >= r) continue;
    rank.set(key, r);
    worst.set(key, { stage, build, context: c.context, status: CHECK_BADGE[c.state] ?? 'skip', summary: c.description ?? c.state, href: safeHref(c.target_url) });
  }
  return worst;
}

function buildMatrix(run: RunRow | undefined, steps: RunStepRow[], checks: WebCheckRow[]): Matrix {
  const cells = new Map<string, Cell>();
  const builds: string[] = [ALL];
  const addBuild = (b: string) => {
    if (!builds.includes(b)) builds.push(b);
  };
  if (run) {
    for (const s of steps) {
      const build = s.job || ALL;
      addBuild(build);
      cells.set(`${s.step} ${build}`, { stage: s.step, build, status: s.status, summary: s.summary ?? s.status, href: logPageHref(run.id, s.step, s.job) });
    }
  }
  const fromChecks = checkCells(checks);
  for (const [key, c] of fromChecks) {
    // The run's own steps are the checks it wrote; other contexts (another CI's) get rows of their own.
    if (run && (STAGES as readonly string[]).includes(c.stage)) continue;
    if (cells.has(key)) continue;
    addBuild(c.build);
    cells.set(key, c);
  }
  const extra = [...new Set([...cells.values()].map((c) => c.stage).filter((s) => !(STAGES as readonly string[]).includes(s)))].sort();
  const stages = [...STAGES.filter((s) => [...cells.values()].some((c) => c.stage === s)), ...extra];
  return {
    builds,
    rows: stages.map((stage) => ({
      stage,
      label: STAGE_LABEL[stage] ?? stage,
      cells: builds.map((build) => cells.get(`${stage} ${build}`) ?? { empty: true as const, build }),
    })),
  };
}

/** Badge order when one stage has several jobs: the worst shows. */
const STATUS_RANK = ['pass', 'skip', 'cancelled', 'pending', 'running', 'warn', 'fail', 'error'];

/** One badge per stage of a run (stage-badges partial): its worst job. */
function stageSummary(steps: RunStepRow[]): { stage: string; status: string }[] {
  const worst = new Map<string, string>();
  for (const s of steps) {
    const w = worst.get(s.step);
    if (w === undefined || STATUS_RANK.indexOf(s.status) > STATUS_RANK.indexOf(w)) worst.set(s.step, s.status);
  }
  return [...worst].map(([stage, status]) => ({ stage, status }));
}

// Test results.

interface TestRow {
  name: string;
  build: string;
  result: string;
  measurement: string;
}

/** The test step's results.csv (LAVA's columns), else the cases its outputs list (the artefacts may be gone). */
function testRows(dataDir: string, runId: number, steps: RunStepRow[]): TestRow[] {
  const rows: TestRow[] = [];
  for (const s of steps.filter((x) => x.step === 'test' && x.outputs)) {
    let outputs: Record<string, unknown>;
    try {
      outputs = JSON.parse(s.outputs!) as Record<string, unknown>;
    } catch {
      continue;
    }
    const fromCsv = readResultsCsv(dataDir, runId, outputs.results);
    if (fromCsv) {
      rows.push(...fromCsv.map((r) => ({ ...r, build: s.job })));
      continue;
    }
    try {
      const cases = JSON.parse(typeof outputs.cases === 'string' ? outputs.cases : '[]') as { suite?: string; name?: string; result?: string }[];
      for (const c of cases) rows.push({ name: `${c.suite ?? ''}/${c.name ?? ''}`, build: s.job, result: c.result ?? 'unknown', measurement: '' });
    } catch {
      // outputs.cases unreadable: nothing to show for this build
    }
  }
  return rows;
}

function readResultsCsv(dataDir: string, runId: number, file: unknown): Omit<TestRow, 'build'>[] | null {
  if (typeof file !== 'string') return null;
  const root = artifactsDir(dataDir, runId);
  const p = path.resolve(file);
  // Only a file inside the run's artefacts folder (the path came from the database).
  if (!p.startsWith(root + path.sep) || !fs.existsSync(p)) return null;
  try {
    const records = parseCsv(fs.readFileSync(p, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
    return records.map((r) => ({
      name: `${r.suite ?? ''}/${r.name ?? ''}`,
      result: r.result ?? 'unknown',
      measurement: r.measurement && r.measurement !== 'None' ? `${r.measurement}${r.unit ? ` ${r.unit}` : ''}` : '',
    }));
  } catch {
    return null;
  }
}

// The log page.

interface LogLine {
  n: number;
  id: string;
  cls: string;
  text: string;
}

/** Reads a log: whole when small, else its head and tail with the line numbers of the tail counted. */
function readLog(file: string): { lines: { n: number; text: string }[]; omitted: { lines: number; bytes: number } | null; bytes: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const read = (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      const n = fs.readSync(fd, buf, 0, len, pos);
      return buf.subarray(0, n);
    };
    const split = (text: string, first: number) => text.split('\n').map((t, i) => ({ n: first + i, text: t }));
    if (size <= LOG_WHOLE) {
      const text = read(0, size).toString('utf8').replace(/\n$/, '');
      return { lines: text ? split(text, 1) : [], omitted: null, bytes: size };
    }
    const head = read(0, LOG_PART);
    const headEnd = head.lastIndexOf(0x0a) + 1; // whole lines only
    const tailStart = size - LOG_PART;
    let tail = read(tailStart, LOG_PART);
    const cut = tail.indexOf(0x0a) + 1;
    tail = tail.subarray(cut);
    // Count the newlines between the head's last line and the tail's first.
    let middleLines = 0;
    const chunk = Buffer.alloc(1024 * 1024);
    for (let pos = headEnd; pos < tailStart + cut; ) {
      const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, tailStart + cut - pos), pos);
      if (n <= 0) break;
      const part = chunk.subarray(0, n);
      for (let i = part.indexOf(0x0a); i !== -1; i = part.indexOf(0x0a, i + 1)) middleLines++;
      pos += n;
    }
    const headLines = split(head.subarray(0, headEnd).toString('utf8').replace(/\n$/, ''), 1);
    const tailLines = split(tail.toString('utf8').replace(/\n$/, ''), headLines.length + middleLines + 1);
    return { lines: [...headLines, ...tailLines], omitted: { lines: middleLines, bytes: tailStart + cut - headEnd }, bytes: size };
  } finally {
    fs.closeSync(fd);
  }
}

/** How a finding names its line in the step's log: file:line, its message, the first line it quotes, a failed case. */
function findingMatchers(f: Finding): ((line: string) => boolean)[] {
  const out: ((line: string) => boolean)[] = [];
  if (f.file && f.line) {
    const at = `${f.file}:${f.line}:`;
    out.push((l) => l.includes(at));
  }
  if (f.message && f.message.length >= 10) out.push((l) => l.includes(f.message));
  const quoted = f.quote?.split('\n').map((q) => q.trim()).find((q) => q.length >= 10);
  if (quoted) out.push((l) => l.includes(quoted));
  // The test step logs each case as "suite/[set/]name: fail"; its finding says "suite/name failed…".
  const failed = f.type === 'TEST_FAILED' ? /^([^/\s]+)\/(.+?) failed(?::|$)/.exec(f.message) : null;
  if (failed) out.push((l) => l.startsWith(`${failed[1]}/`) && l.includes(`${failed[2]}: fail`));
  return out;
}

// The service.

export interface SeriesQuery {
  from?: number;
  to?: number;
}

export interface SeriesPagesService {
  seriesPage(id: number, viewer: Viewer, q: SeriesQuery): Promise<Page>;
  /** The live region's content alone (GET /series/ID/pipeline/). */
  pipeline(id: number): Promise<object>;
  patchPage(slug: string, msgid: string, viewer: Viewer): Promise<Page>;
  coverPage(slug: string, msgid: string, viewer: Viewer): Promise<Page>;
  patchUrl(id: number): Promise<string>;
  coverUrl(id: number): Promise<string>;
  commentUrl(id: number): Promise<string>;
  logPage(runId: number, step: string, job: string, viewer: Viewer): Promise<Page>;
}

export function createSeriesPagesService(deps: SeriesPagesDeps): SeriesPagesService {
  const { db } = deps;
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  const bySlug = new Map(deps.projects.map((p) => [p.slug, p]));

  const projectOf = (id: number): WebProject => {
    const p = byId.get(id);
    if (!p) throw notFound('project_not_found', `project ${id} is not configured`);
    return p;
  };
  const projectBySlug = (slug: string): WebProject => {
    const p = bySlug.get(slug);
    if (!p) throw notFound('project_not_found', `no project ${slug}`);
    return p;
  };
  const frame = (title: string, viewer: Viewer, p: WebProject, scripts?: string[]): PageFrame => ({
    title,
    viewer,
    project: { slug: p.slug, name: p.name, archive: archiveRoot(p.slug) },
    ...(scripts ? { scripts } : {}),
  });
  const patchHref = (slug: string, msgid: string) => `/project/${slug}/patch/${msgidSegment(msgid)}/`;
  const coverHref = (slug: string, msgid: string) => `/project/${slug}/cover/${msgidSegment(msgid)}/`;

  /** The range-diff's cache key: both series and the patches each holds now (a v5.1 replacement changes it). */
  async function rangeDiffKey(from: number, to: number): Promise<string> {
    const ids = await seriesPatchIds(db, [from, to]);
    const of = (s: number) => ids.filter((p) => p.series_id === s && p.replaced_by === null).map((p) => p.id).join(',');
    return `${from}:${to}:${of(from)}:${of(to)}`;
  }

  async function rangeDiffSides(from: number, to: number): Promise<[RangeDiffPatch[], RangeDiffPatch[]]> {
    const rows = (await rangeDiffPatches(db, [from, to])).filter((p) => p.replaced_by === null);
    const side = (s: number): RangeDiffPatch[] =>
      rows
        .filter((p) => p.series_id === s)
        .map((p) => ({ name: nameTitle(p.name), content: p.content, diff: p.diff ?? '', authorName: p.submitter_name, authorEmail: p.submitter_email, date: p.date }));
    return [side(from), side(to)];
  }

  async function pipelineData(seriesId: number) {
    const run = await latestRunOfSeries(db, seriesId);
    const steps = run ? await runSteps(db, run.id) : [];
    const runs = run ? await countRunsOfSeries(db, seriesId) : 0;
    return {
      run,
      steps,
      view: {
        series: seriesId,
        runs,
        stages: run ? stageSummary(steps) : [],
        runsJson: `/series/${seriesId}/runs/`,
        run: run
          ? {
              ...runRow(run),
              steps: steps.map((s) =>
                stepRow(run.id, { ...s, lava: lavaOfStep(artifactsDir(deps.dataDir, run.id), { step: s.step, job: s.job, status: s.status, outputs: s.outputs ? (JSON.parse(s.outputs) as Record<string, unknown>) : null }) }),
              ),
            }
          : null,
      },
    };
  }

  return {
    async seriesPage(id, viewer, q) {
      const s = await webSeries(db, id);
      if (!s) throw notFound('series_not_found', `no series ${id}`);
      const project = projectOf(s.project_id);
      const [cover, patches, chain, pipe, assigned, comments] = await Promise.all([
        s.cover_id === null ? undefined : webCover(db, s.cover_id),
        webSeriesPatches(db, id),
        revisionChain(db, id),
        pipelineData(id),
        seriesAssignment(db, id),
        commentsOfSeries(db, id),
      ]);
      const checks = await checksOfPatches(db, patches.map((p) => p.id));
      const current = patches.filter((p) => p.replaced_by === null);

      // Revisions, oldest first; each with the reason of its link to the one before.
      const revisions = chain.map((r) => ({
        id: r.id,
        version: r.version,
        name: r.name ?? '(no title)',
        href: `/series/${r.id}/`,
        date: r.date,
        current: r.id === id,
        reason: r.depth > chain[0]!.depth ? r.reason : null,
        source: r.source,
      }));
      const here = chain.findIndex((r) => r.id === id);
      const neighbour = here > 0 ? chain[here - 1]!.id : chain.length > 1 ? chain[here + 1]!.id : null;
      const defaults = neighbour === null ? null : here > 0 ? { from: neighbour, to: id } : { from: id, to: neighbour };

      // The range-diff: computed when asked (?from=&to=); the default pair is shown only when already kept, and else
      // made in the background so that the plain page never waits for git.
      let rangeDiff: { from: number; to: number; fromLabel: string; toLabel: string; result: RangeDiffResult | null; pending: boolean; href: string } | null = null;
      const asked = q.from !== undefined || q.to !== undefined;
      const pair = asked ? { from: q.from ?? defaults?.from ?? id, to: q.to ?? id } : defaults;
      if (pair) {
        if (pair.from === pair.to) throw invalid('range_diff_same', 'a range-diff needs two different series');
        const known = await seriesVersions(db, [pair.from, pair.to]);
        if (known.length !== 2 || known.some((k) => k.project_id !== s.project_id)) throw notFound('series_not_found', 'both series of a range-diff must exist in this project');
        const version = (sid: number) => known.find((k) => k.id === sid)!.version;
        const key = await rangeDiffKey(pair.from, pair.to);
        const load = () => rangeDiffSides(pair.from, pair.to);
        let result: RangeDiffResult | null = deps.rangeDiff.peek(key) ?? null;
        if (!result && asked) result = await deps.rangeDiff.get(key, load);
        if (!result) deps.rangeDiff.prefetch(key, load);
        rangeDiff = {
          from: pair.from,
          to: pair.to,
          fromLabel: `v${version(pair.from)} (series ${pair.from})`,
          toLabel: `v${version(pair.to)} (series ${pair.to})`,
          result,
          pending: !result,
          href: `/series/${id}/?from=${pair.from}&to=${pair.to}#range-diff`,
        };
      }
      const options = revisions.map((r) => ({ id: r.id, label: `v${r.version} (series ${r.id})`, isFrom: r.id === rangeDiff?.from, isTo: r.id === rangeDiff?.to }));
      // A pair asked for outside the chain is still offered, so the form shows what the page shows.
      for (const sid of rangeDiff ? [rangeDiff.from, rangeDiff.to] : []) {
        if (!options.some((o) => o.id === sid)) options.push({ id: sid, label: sid === rangeDiff!.from ? rangeDiff!.fromLabel : rangeDiff!.toLabel, isFrom: sid === rangeDiff!.from, isTo: sid === rangeDiff!.to });
      }

      const maintain = canMaintain(viewer, project);
      const title = s.name ?? cover?.name ?? current[0]?.name ?? `series ${id}`;
      return {
        frame: frame(title, viewer, project, ['live.js', 'keys.js']),
        volatile: rangeDiff?.pending === true,
        data: {
          series: {
            id,
            title,
            version: s.version,
            total: s.total,
            received: current.length,
            complete: s.completed === 1,
            date: s.date,
            submitter: person(s.submitter_name, s.submitter_email),
            mbox: `/series/${id}/mbox/`,
            runsJson: `/series/${id}/runs/`,
            // The assignment it is an attempt at and whether it came late (project file's assignments).
            assignment: describeAssignment(project.assignments, assigned),
            unassigned: project.assignments.length > 0 && !describeAssignment(project.assignments, assigned),
          },
          cover: cover
            ? { id: cover.id, name: cover.name, content: cover.content, href: coverHref(project.slug, cover.msgid), mbox: `/cover/${cover.id}/mbox/`, date: cover.date }
            : null,
          patches: patches.map((p) => ({
            id: p.id,
            number: p.number,
            name: p.name,
            href: patchHref(project.slug, p.msgid),
            mbox: `/patch/${p.id}/mbox/`,
            state: p.state,
            stateName: stateName.get(p.state) ?? p.state,
            archived: p.archived === 1,
            replaced: p.replaced_by !== null,
            submitter: person(p.submitter_name, p.submitter_email),
            date: p.date,
            tags: { a: p.acked, r: p.reviewed, t: p.tested },
          })),
          // Replies to the patches and the cover, and answers to the bot's reports (filed by src/smtp/bot.service.ts).
          comments: comments.map(commentView),
          revisions,
          rangeDiff,
          rangeOptions: options,
          hasRevisions: revisions.length > 1,
          matrix: buildMatrix(pipe.run, pipe.steps, checks),
          pipeline: pipe.view,
          tests: pipe.run ? testRows(deps.dataDir, pipe.run.id, pipe.steps) : [],
          maintain: maintain
            ? {
                csrf: viewer.csrf,
                action: `/actions/series/${id}/`,
                states: STATES.map((st) => ({ slug: st.slug, name: st.name })),
                previous: revisions.find((r, i) => i === here - 1)?.id ?? '',
                linked: here > 0,
                // The latest run's buttons: a live run is cancelled, an ended one run again (a project with a tree).
                run: pipe.run
                  ? {
                      id: pipe.run.id,
                      canCancel: pipe.run.state === 'queued' || pipe.run.state === 'running',
                      canRerun: (pipe.run.state === 'done' || pipe.run.state === 'cancelled') && project.tree !== undefined,
                    }
                  : null,
              }
            : null,
        },
      };
    },

    async pipeline(id) {
      const s = await webSeries(db, id);
      if (!s) throw notFound('series_not_found', `no series ${id}`);
      return { pipeline: (await pipelineData(id)).view };
    },

    async patchPage(slug, msgid, viewer) {
      const project = projectBySlug(slug);
      const p = await webPatchByMsgid(db, project.id, msgid);
      if (!p) throw notFound('patch_not_found', `no patch ${msgid} in ${slug}`);
      const [series, comments, checks, history] = await Promise.all([
        webSeries(db, p.series_id),
        commentsOfParent(db, { kind: 'patch', id: p.id }),
        checksOfPatches(db, [p.id]),
        patchHistory(db, p.id),
      ]);
      const maintain = canMaintain(viewer, project);
      const delegates = maintain ? await delegateCandidates(db, project.maintainers) : [];
      // Delegations name users by id: one lookup for every id the history mentions.
      const payloads = history.map((e) => {
        try {
          return e.payload ? (JSON.parse(e.payload) as Record<string, unknown>) : {};
        } catch {
          return {};
        }
      });
      const delegateIds = payloads.flatMap((x) => [x.previous_delegate, x.current_delegate]).filter((v): v is number => typeof v === 'number');
      const names = await usernames(db, delegateIds);
      const who = (v: unknown) => (typeof v === 'number' ? (names.get(v) ?? `user ${v}`) : 'nobody');
      const st = (v: unknown) => (typeof v === 'string' ? (stateName.get(v) ?? v) : '?');

      const parsed = p.diff ? parseDiff(p.diff) : { files: [], lines: [] };
      const { message, notes } = splitMessage(p.content);
      const delegate = userName(p.delegate_username, p.delegate_first, p.delegate_last);
      return {
        frame: frame(p.name, viewer, project, ['keys.js']),
        data: {
          patch: {
            id: p.id,
            name: p.name,
            msgid: p.msgid,
            number: p.number,
            state: p.state,
            stateName: stateName.get(p.state) ?? p.state,
            archived: p.archived === 1,
            date: p.date,
            submitter: person(p.submitter_name, p.submitter_email),
            delegate,
            commitRef: p.commit_ref,
            pullUrl: p.pull_url,
            replacedBy: p.replaced_by,
            tags: { a: p.acked, r: p.reviewed, t: p.tested },
            mbox: `/patch/${p.id}/mbox/`,
            raw: `/patch/${p.id}/raw/`,
            archive: `/${archiveRoot(project.slug)}/${msgidSegment(p.msgid)}/`,
          },
          series: series ? { id: series.id, href: `/series/${series.id}/`, name: series.name ?? `series ${series.id}`, version: series.version, total: series.total } : null,
          message,
          notes,
          files: parsed.files.map((f, i) => ({
            anchor: `file-${i}`,
            path: f.newPath ?? f.oldPath ?? '?',
            from: f.rename && f.oldPath !== f.newPath ? f.oldPath : null,
            kind: f.oldPath === null ? 'new' : f.newPath === null ? 'deleted' : f.rename ? 'renamed' : f.binary ? 'binary' : 'modified',
            added: f.added,
            removed: f.removed,
          })),
          diff: parsed.lines.slice(0, MAX_DIFF_LINES).map((l) => ({ cls: l.cls, text: l.text, id: l.file === undefined ? null : `file-${l.file}` })),
          diffTruncated: parsed.lines.length > MAX_DIFF_LINES ? parsed.lines.length : 0,
          hasDiff: parsed.lines.length > 0,
          comments: comments.map(commentView),
          // As Patchwork's patch page: the newest check of each context (rows come in id order: the last one wins).
          checks: [...new Map(checks.map((c) => [c.context, c])).values()].map((c) => ({
            context: c.context,
            state: c.state,
            badge: CHECK_BADGE[c.state] ?? 'skip',
            description: c.description ?? '',
            href: safeHref(c.target_url),
            date: c.date,
            user: c.username ?? '',
          })),
          history: history.map((e, i) => {
            const x = payloads[i]!;
            const text =
              e.category === 'patch-created'
                ? 'received'
                : e.category === 'patch-state-changed'
                  ? `state: ${st(x.previous_state)} → ${st(x.current_state)}`
                  : `delegate: ${who(x.previous_delegate)} → ${who(x.current_delegate)}`;
            return { date: e.date, category: e.category, text, actor: userName(e.actor_username, e.actor_first, e.actor_last) };
          }),
          maintain: maintain
            ? {
                csrf: viewer.csrf,
                action: `/actions/patch/${p.id}/`,
                states: STATES.map((x) => ({ slug: x.slug, name: x.name, selected: x.slug === p.state })),
                delegates: delegates.map((d) => ({ id: d.id, name: userName(d.username, d.first_name, d.last_name), selected: d.id === p.delegate_id })),
                undelegated: p.delegate_id === null,
                archived: p.archived === 1,
              }
            : null,
        },
      };
    },

    async coverPage(slug, msgid, viewer) {
      const project = projectBySlug(slug);
      const c = await webCoverByMsgid(db, project.id, msgid);
      if (!c) throw notFound('cover_not_found', `no cover letter ${msgid} in ${slug}`);
      const [series, comments] = await Promise.all([c.series_id === null ? undefined : webSeries(db, c.series_id), commentsOfParent(db, { kind: 'cover', id: c.id })]);
      return {
        frame: frame(c.name, viewer, project),
        data: {
          cover: {
            id: c.id,
            name: c.name,
            msgid: c.msgid,
            date: c.date,
            submitter: person(c.submitter_name, c.submitter_email),
            content: c.content,
            mbox: `/cover/${c.id}/mbox/`,
            archive: `/${archiveRoot(project.slug)}/${msgidSegment(c.msgid)}/`,
          },
          series: series ? { id: series.id, href: `/series/${series.id}/`, name: series.name ?? `series ${series.id}`, version: series.version, mbox: `/series/${series.id}/mbox/` } : null,
          comments: comments.map(commentView),
        },
      };
    },

    async patchUrl(id) {
      const p = await patchLocator(db, id);
      if (!p) throw notFound('patch_not_found', `no patch ${id}`);
      return patchHref(projectOf(p.project_id).slug, p.msgid);
    },

    async coverUrl(id) {
      const c = await coverLocator(db, id);
      if (!c) throw notFound('cover_not_found', `no cover letter ${id}`);
      return coverHref(projectOf(c.project_id).slug, c.msgid);
    },

    async commentUrl(id) {
      const c = await commentLocator(db, id);
      if (!c || (c.patch_msgid === null && c.cover_msgid === null)) throw notFound('comment_not_found', `no comment ${id}`);
      const slug = projectOf(c.project_id).slug;
      return `${c.patch_msgid !== null ? patchHref(slug, c.patch_msgid) : coverHref(slug, c.cover_msgid!)}#comment-${id}`;
    },

    async logPage(runId, step, job, viewer) {
      const step0 = (await runSteps(db, runId)).find((s) => s.step === step && s.job === job);
      if (!step0) throw notFound('no_such_step', `run ${runId} has no step ${step}${job ? ` (${job})` : ''}`);
      const file = deps.runs ? await deps.runs.logFile(runId, step, job) : step0.log_path;
      if (!file || !fs.existsSync(file)) throw notFound('no_such_log', `no log for step ${step}${job ? ` (${job})` : ''} of run ${runId}`);
      const run = (await getRun(db, runId))!;
      const project = projectOf(run.project_id);

      let findings: Finding[] = [];
      try {
        findings = step0.findings ? (JSON.parse(step0.findings) as Finding[]) : [];
      } catch {
        findings = [];
      }
      const log = readLog(file);
      const matchers = findings.map((f) => ({ f, cls: f.type === 'NEW_WARNING' ? 'new' : 'bad', tests: findingMatchers(f), first: null as number | null }));
      const lines: LogLine[] = log.lines.map(({ n, text }) => {
        let cls = '';
        for (const m of matchers) {
          if (m.tests.some((t) => t(text))) {
            m.first ??= n;
            if (cls !== 'bad') cls = m.cls;
          }
        }
        return { n, id: `L${n}`, cls, text };
      });
      const firstBad = lines.find((l) => l.cls === 'bad') ?? lines.find((l) => l.cls === 'new') ?? null;
      const omittedAt = log.omitted ? lines.findIndex((l, i) => i > 0 && l.n !== lines[i - 1]!.n + 1) : -1;
      return {
        frame: frame(`${step}${job ? ` ${job}` : ''} log, run ${runId}`, viewer, project),
        data: {
          run: { id: runId, series: run.series_id, seriesHref: `/series/${run.series_id}/` },
          step: { name: step, job, status: step0.status, summary: step0.summary, duration: duration(step0.started_at, step0.finished_at) },
          findings: matchers.map(({ f, cls, first }) => ({
            level: f.level ?? '',
            type: f.type ?? '',
            message: f.message,
            where: f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : f.patch ? `patch ${f.patch}` : '',
            cls,
            href: first === null ? null : `#L${first}`,
          })),
          firstBad: firstBad ? { href: `#${firstBad.id}`, n: firstBad.n } : null,
          head: omittedAt === -1 ? lines : lines.slice(0, omittedAt),
          tail: omittedAt === -1 ? [] : lines.slice(omittedAt),
          omitted: log.omitted,
          bytes: log.bytes,
          raw: rawLogHref(runId, step, job),
        },
      };
    },
  };
}

/** Where the throwaway repositories of range-diffs go: DATA/tmp, or the system's temp folder without a data dir. */
export function rangeDiffTmp(dataDir: string): string {
  return dataDir ? path.join(dataDir, 'tmp') : os.tmpdir();
}
