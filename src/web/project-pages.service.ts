// The project pages' data: the projects with what needs action, a project's series list (filters, order, pages) with
// each series' patches, student and pipeline stages, and the roster's gradebook (as a page and as CSV).
import type { Project } from '../config/projects.js';
import { changeMarker } from '../db/api-list.repository.js';
import { assignmentsOfSeries, projectAttempts } from '../db/assignment.repository.js';
import type { Db } from '../db/database.js';
import { readCursor } from '../db/pipeline.repository.js';
import {
  completedEvents,
  latestRunSteps,
  patchesOfSeries,
  projectCounts,
  rosterLogins,
  rosterStudents,
  seriesPageIds,
  seriesRowsByIds,
  seriesWithFailingCheck,
  seriesWithoutRun,
  studentIdByLogin,
  testCounts,
  type ProjectCounts,
  type SeriesListFilter,
  type SeriesOrderField,
} from '../db/web-list.repository.js';
import { notFound } from '../errors.js';
import { archiveRoot } from '../mail/archive-layout.js';
import { describeAssignment, type AssignmentView } from '../series/assignment.js';
import { STATES } from '../series/states.js';

export const PAGE_SIZE = 50;
/** Series list pages kept until the database changes, the least recently read out first (about 60 KiB each). */
const CACHED_PAGES = 512;
/** Words of a title search beyond this many are ignored (each is a LIKE over the project's titles). */
const MAX_WORDS = 8;

export const ORDERS = ['-date', 'date', 'name', '-name', 'submitter', '-submitter'] as const;
export type SeriesOrder = (typeof ORDERS)[number];
export const ACTION_REQUIRED = 'action-required';
export const STATE_FILTERS: readonly string[] = [ACTION_REQUIRED, ...STATES.map((s) => s.slug)];
const ACTION_STATES = STATES.filter((s) => s.actionRequired).map((s) => s.slug);
const STATE_ORDER = new Map<string, number>(STATES.map((s) => [s.slug, s.ordering]));
const STATE_NAME = new Map<string, string>(STATES.map((s) => [s.slug, s.name]));

/** A badge of templates/web/partials/stage-badges.hbs: one pipeline stage and its status. */
export interface StageBadge {
  stage: string;
  status: string;
}

/** Worst first: a stage with builds shows the worst of them (a failed arm64 build beside a passing x86_64 is failed). */
const WORST = ['fail', 'error', 'warn', 'running', 'pending', 'cancelled', 'pass', 'skip'];
const rank = (status: string) => {
  const i = WORST.indexOf(status);
  return i === -1 ? WORST.length : i;
};

/**
 * One badge per step of a run, in the run's order (run_steps.seq): the gates once, build and test with the worst
 * status over the project's builds.
 */
export function stageBadges(steps: readonly { step: string; seq: number; status: string }[]): StageBadge[] {
  const byStage = new Map<string, { seq: number; status: string }>();
  for (const s of steps) {
    const seen = byStage.get(s.step);
    if (!seen) byStage.set(s.step, { seq: s.seq, status: s.status });
    else byStage.set(s.step, { seq: Math.min(seen.seq, s.seq), status: rank(s.status) < rank(seen.status) ? s.status : seen.status });
  }
  return [...byStage].sort((a, b) => a[1].seq - b[1].seq).map(([stage, v]) => ({ stage, status: v.status }));
}

/** Test cases passed and run, summed over the builds' test steps; null when no test step reported counts. */
export function testTotals(steps: readonly { passed: number | null; total: number | null }[]): { passed: number; total: number } | null {
  const tests = steps.filter((s) => typeof s.total === 'number');
  if (!tests.length) return null;
  return { passed: tests.reduce((n, s) => n + (Number(s.passed) || 0), 0), total: tests.reduce((n, s) => n + Number(s.total), 0) };
}

export interface StateCount {
  state: string;
  name: string;
  count: number;
}

/** How many of the series' patches are in each state, in Patchwork's state order. */
function stateSummary(states: readonly string[]): StateCount[] {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => (STATE_ORDER.get(a[0]) ?? 99) - (STATE_ORDER.get(b[0]) ?? 99))
    .map(([state, count]) => ({ state, name: STATE_NAME.get(state) ?? state, count }));
}

export interface SeriesItem {
  id: number;
  name: string;
  version: number;
  /** Patches present (distinct numbers) and the series' total. */
  received: number;
  total: number;
  submitter: { name: string | null; email: string };
  /** The roster login of the series' student, when its patches were matched to one. */
  student: string | null;
  date: string;
  stages: StageBadge[];
  tests: { passed: number; total: number } | null;
  /** A patch's latest check of some context failed (shown when no pipeline stage failed). */
  failingCheck: boolean;
  states: StateCount[];
  /** The project file's assignment this series is an attempt at (null: none matched), with its late flag. */
  assignment: AssignmentView | null;
}

export interface ProjectRef {
  slug: string;
  name: string;
  archive: string;
}

export interface SeriesListQuery {
  state?: string;
  submitter?: string;
  student?: string;
  failing?: string;
  q?: string;
  order?: string;
  page?: number;
  /** Set by the visibility gate for a private project's student, who sees only themself in the student filter (given in the URL, it only narrows that list). */
  onlyStudent?: string;
}

export interface SeriesListPage {
  project: ProjectRef;
  /** The filters as given (blank ones left out), for the form and the pager's links. */
  query: Record<string, string>;
  filters: { state: string; submitter: string; student: string; failing: boolean; q: string; order: SeriesOrder };
  /** The order each column heading's link asks for: the column's, reversed when it is the current one. */
  sort: { name: string; submitter: string; date: string };
  series: SeriesItem[];
  page: number;
  prev: number | null;
  next: number | null;
  /** Position of the first row (1-based) and of the last, for "series 51–100". */
  from: number;
  to: number;
  states: { slug: string; name: string }[];
  orders: { value: SeriesOrder; label: string }[];
  students: { login: string; name: string }[];
  /** The project file lists assignments: the list shows each series' and its late flag. */
  assignments: boolean;
}

export interface ProjectItem extends ProjectRef {
  list: string;
  actionSeries: number;
  actionPatches: number;
  latest: string | null;
}

/** What the run of an attempt came to: its worst stage (warnings pass); none: no run, and none is coming. */
export type AttemptResult = 'pass' | 'fail' | 'error' | 'pending' | 'cancelled' | 'none';

export interface Attempt {
  seriesId: number;
  /** 1 for the student's first attempt at this assignment, in the order the server received them. */
  number: number;
  name: string;
  version: number;
  /** When the server received the series' newest patch or cover (what lateness is read against). */
  receivedAt: string;
  received: number;
  total: number;
  result: AttemptResult;
  stages: StageBadge[];
  tests: { passed: number; total: number } | null;
  late: boolean;
}

export interface GradebookStudent {
  login: string;
  name: string;
  /** Every attempt, oldest first. */
  attempts: Attempt[];
}

export interface GradebookAssignment {
  /** null: the series that matched no assignment (or every series, when the project file lists none). */
  name: string | null;
  title: string;
  deadline: string | null;
  students: GradebookStudent[];
}

export interface StudentsPage {
  project: ProjectRef;
  /** The project file's assignments in order, then the attempts matched to none (left out when there are none). */
  assignments: GradebookAssignment[];
  roster: number;
}

/** An attempt's result from its latest run's badges (stageBadges, or the pending badge of a run to come). */
export function attemptResult(stages: readonly StageBadge[]): AttemptResult {
  const statuses = new Set(stages.map((s) => s.status));
  if (!stages.length) return 'none';
  for (const r of ['fail', 'error'] as const) if (statuses.has(r)) return r;
  if (statuses.has('running') || statuses.has('pending')) return 'pending';
  if (statuses.has('cancelled')) return 'cancelled';
  return 'pass';
}

const ORDER_LABELS: Record<SeriesOrder, string> = {
  '-date': 'Newest first',
  date: 'Oldest first',
  name: 'Title A–Z',
  '-name': 'Title Z–A',
  submitter: 'Submitter A–Z',
  '-submitter': 'Submitter Z–A',
};

const STATE_CHOICES = [{ slug: ACTION_REQUIRED, name: 'Action required' }, ...STATES.map((s) => ({ slug: s.slug, name: s.name }))];
const ORDER_CHOICES = ORDERS.map((value) => ({ value, label: ORDER_LABELS[value] }));

/** The badge of a complete series the pipeline has not reached yet (no run, so no stage has a status). */
const PENDING_STAGE = 'pipeline';

export interface ProjectPagesDeps {
  db: Db;
  projects: readonly (Project & { id: number })[];
  /** Whether the pipeline runs here: a complete series without a run then shows a pending badge. */
  pipelineOn: boolean;
}

export type ProjectPagesService = ReturnType<typeof createProjectPagesService>;

export function createProjectPagesService(deps: ProjectPagesDeps) {
  const { db } = deps;
  const bySlug = new Map(deps.projects.map((p) => [p.slug, p]));
  // Counting what needs action reads every such patch of every project (64 ms at a million patches): once per change.
  let counts: { marker: string; rows: Map<number, ProjectCounts> } | null = null;
  // A list page costs a few milliseconds to read; reviewers page back and forth between changes: kept per change.
  const pages = new Map<string, { marker: string; page: SeriesListPage }>();

  function projectOf(slug: string): Project & { id: number } {
    const p = bySlug.get(slug);
    if (!p) throw notFound('no_such_project', `no project ${slug}`);
    return p;
  }
  const refOf = (p: Project): ProjectRef => ({ slug: p.slug, name: p.name, archive: archiveRoot(p.slug) });

  /** What a row shows of each series, in the ids' order; with `tests`, the test cases passed (the gradebook). */
  async function items(project: Project, ids: number[], opts: { tests?: boolean } = {}): Promise<SeriesItem[]> {
    if (!ids.length) return [];
    const [rows, patches, steps, failingRows, assigned] = await Promise.all([
      seriesRowsByIds(db, ids),
      patchesOfSeries(db, ids),
      latestRunSteps(db, ids),
      seriesWithFailingCheck(db, ids),
      assignmentsOfSeries(db, ids),
    ]);
    const assignmentOf = new Map(assigned.map((a) => [a.series_id, a]));
    const failing = new Set(failingRows.map((r) => r.id));
    const patchesOf = group(patches, (p) => p.series_id);
    const stepsOf = group(steps, (s) => s.series_id);
    const countsOf = opts.tests ? group(await testCounts(db, [...new Set(steps.map((s) => s.run_id))]), (c) => c.run_id) : new Map<number, { passed: number | null; total: number | null }[]>();
    const pending = await pendingSeries(rows.filter((r) => r.completed === 1 && !stepsOf.has(r.id)).map((r) => r.id));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const s = byId.get(id);
      if (!s) return [];
      const ps = patchesOf.get(id) ?? [];
      const st = stepsOf.get(id) ?? [];
      const stages = st.length ? stageBadges(st) : pending.has(id) ? [{ stage: PENDING_STAGE, status: 'pending' }] : [];
      return [
        {
          id,
          name: s.name ?? `Untitled series #${id}`,
          version: s.version,
          received: new Set(ps.map((p) => p.number)).size,
          total: s.total,
          submitter: { name: s.submitter_name, email: s.submitter_email },
          student: ps.find((p) => p.student_login !== null)?.student_login ?? null,
          date: s.date,
          stages,
          tests: st.length ? testTotals(countsOf.get(st[0]!.run_id) ?? []) : null,
          failingCheck: failing.has(id) && !stages.some((b) => b.status === 'fail'),
          states: stateSummary(ps.map((p) => p.state)),
          assignment: describeAssignment(project.assignments, assignmentOf.get(id)),
        },
      ];
    });
  }

  /**
   * Complete series without a run that the pipeline has not reached yet: their series-completed event is after its
   * cursor. One it passed without a run (imported history, a superseded revision) shows nothing: no run will come.
   */
  async function pendingSeries(ids: number[]): Promise<Set<number>> {
    if (!deps.pipelineOn || !ids.length) return new Set();
    const [cursor, events, without] = await Promise.all([readCursor(db), completedEvents(db, ids), seriesWithoutRun(db, ids)]);
    return new Set(without.map((r) => r.id).filter((id) => (events.get(id) ?? 0) > cursor));
  }

  /** One page of the project's series list, read from the database. */
  async function listPage(project: Project & { id: number }, query: SeriesListQuery): Promise<SeriesListPage> {
    const state = query.state ?? '';
    const submitter = (query.submitter ?? '').trim();
    const student = (query.student ?? '').trim();
    const failing = query.failing === '1';
    const q = (query.q ?? '').trim();
    const order: SeriesOrder = (ORDERS as readonly string[]).includes(query.order ?? '') ? (query.order as SeriesOrder) : '-date';
    const page = Math.max(1, Math.floor(query.page ?? 1));

    const filter: SeriesListFilter = { projectId: project.id, words: q.split(/\s+/).filter(Boolean).slice(0, MAX_WORDS) };
    if (state === ACTION_REQUIRED) Object.assign(filter, { states: ACTION_STATES, unarchived: true });
    else if (state) filter.states = [state];
    if (submitter) filter.submitter = submitter;
    if (failing) filter.failing = true;
    let empty = false;
    if (student) {
      const id = await studentIdByLogin(db, project.id, student);
      if (id === undefined) empty = true;
      else filter.studentId = id;
    }
    const field: SeriesOrderField = order.endsWith('name') ? 'name' : order.endsWith('submitter') ? 'submitter' : 'date';
    const desc = order.startsWith('-');
    // One more than a page: whether there is a next one, without counting every match.
    const ids = empty ? [] : await seriesPageIds(db, filter, { field, desc }, { limit: PAGE_SIZE + 1, offset: (page - 1) * PAGE_SIZE });
    const more = ids.length > PAGE_SIZE;
    const [series, roster] = await Promise.all([items(project, ids.slice(0, PAGE_SIZE)), rosterLogins(db, project.id)]);
    const students = query.onlyStudent === undefined ? roster : roster.filter((s) => s.login === query.onlyStudent);

    const given: Record<string, string> = { state, submitter, student, failing: failing ? '1' : '', q, order: order === '-date' ? '' : order };
    const kept = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== ''));
    const from = (page - 1) * PAGE_SIZE + 1;
    return {
      project: refOf(project),
      query: kept,
      filters: { state, submitter, student, failing, q, order },
      sort: { name: order === 'name' ? '-name' : 'name', submitter: order === 'submitter' ? '-submitter' : 'submitter', date: order === '-date' ? 'date' : '' },
      series,
      page,
      prev: page > 1 ? page - 1 : null,
      next: more ? page + 1 : null,
      from: series.length ? from : 0,
      to: from + series.length - 1,
      states: STATE_CHOICES,
      orders: ORDER_CHOICES,
      students,
      assignments: project.assignments.length > 0,
    };
  }

  return {
    async projects(): Promise<ProjectItem[]> {
      const marker = await changeMarker(db);
      if (counts?.marker !== marker) {
        const rows = await projectCounts(
          db,
          deps.projects.map((p) => p.id),
          ACTION_STATES,
        );
        counts = { marker, rows: new Map(rows.map((r) => [r.project_id, r])) };
      }
      return [...deps.projects]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((p) => {
          const c = counts!.rows.get(p.id);
          return { ...refOf(p), list: p.list, actionSeries: c?.series ?? 0, actionPatches: c?.patches ?? 0, latest: c?.latest ?? null };
        });
    },

    /** Throws not_found for an unknown project. */
    project(slug: string): ProjectRef {
      return refOf(projectOf(slug));
    },

    async seriesList(slug: string, query: SeriesListQuery): Promise<SeriesListPage> {
      const project = projectOf(slug);
      const key = JSON.stringify([slug, query.state, query.submitter, query.student, query.failing, query.q, query.order, query.page]);
      const marker = await changeMarker(db);
      const kept = pages.get(key);
      if (kept) {
        pages.delete(key);
        if (kept.marker === marker) {
          pages.set(key, kept);
          return kept.page;
        }
      }
      const page = await listPage(project, query);
      pages.set(key, { marker, page });
      if (pages.size > CACHED_PAGES) pages.delete(pages.keys().next().value!);
      return page;
    },


    /** The gradebook: per assignment, every roster student with every attempt (series) they sent for it. */
    async students(slug: string): Promise<StudentsPage> {
      const project = projectOf(slug);
      const [roster, rows] = await Promise.all([rosterStudents(db, project.id), projectAttempts(db, project.id)]);
      const mine = rows.filter((r) => r.student_id !== null);
      const series = new Map((await items(project, mine.map((r) => r.series_id), { tests: true })).map((s) => [s.id, s]));
      const blocks: GradebookAssignment[] = project.assignments.map((a) => ({ name: a.name, title: a.title, deadline: a.deadline, students: [] }));
      const known = new Set(project.assignments.map((a) => a.name));
      const unmatched = mine.filter((r) => r.assignment === null || !known.has(r.assignment));
      if (unmatched.length || !blocks.length) {
        blocks.push({ name: null, title: blocks.length ? 'Not matched to an assignment' : 'All series', deadline: null, students: [] });
      }
      // Each attempt under its block (null: matched none) and student, in the order received.
      const byBlock = group(mine, (r) => `${r.assignment !== null && known.has(r.assignment) ? r.assignment : ''}\0${r.student_id}`);
      for (const block of blocks) {
        block.students = roster.map((st) => {
          const own = byBlock.get(`${block.name ?? ''}\0${st.id}`) ?? [];
          const attempts = own.flatMap((r, i) => {
            const s = series.get(r.series_id);
            if (!s) return [];
            return [
              {
                seriesId: s.id,
                number: i + 1,
                name: s.name,
                version: s.version,
                receivedAt: r.received_at,
                received: s.received,
                total: s.total,
                result: attemptResult(s.stages),
                stages: s.stages,
                tests: s.tests,
                late: s.assignment?.late ?? false,
              },
            ];
          });
          return { login: st.login, name: st.name, attempts };
        });
      }
      return { project: refOf(project), assignments: blocks, roster: roster.length };
    },

    /** The gradebook as CSV (RFC 4180), a header row first: one row per attempt, and one per student without any. */
    async studentsCsv(slug: string): Promise<{ filename: string; body: string }> {
      const page = await this.students(slug);
      const header = ['assignment', 'deadline', 'login', 'name', 'attempt', 'series_id', 'series', 'version', 'received_at', 'result', 'tests_passed', 'tests_total', 'late'];
      const rows = page.assignments.flatMap((a) =>
        a.students.flatMap((st) => {
          const lead = [a.name ?? '', a.deadline ?? '', st.login, st.name];
          if (!st.attempts.length) return [[...lead, '', '', '', '', '', '', '', '', '']];
          return st.attempts.map((t) => [
            ...lead,
            String(t.number),
            String(t.seriesId),
            t.name,
            String(t.version),
            t.receivedAt,
            t.result,
            t.tests ? String(t.tests.passed) : '',
            t.tests ? String(t.tests.total) : '',
            a.name === null ? '' : t.late ? 'yes' : 'no',
          ]);
        }),
      );
      return { filename: `${page.project.slug}-students.csv`, body: toCsv([header, ...rows]) };
    },
  };
}

function group<T, K>(items: readonly T[], key: (t: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const i of items) {
    const k = key(i);
    const list = out.get(k);
    if (list) list.push(i);
    else out.set(k, [i]);
  }
  return out;
}

/**
 * One CSV cell: a value a spreadsheet would run as a formula (= + - @, and tab or CR that some read past) gets a
 * leading ' (OWASP's CSV injection advice); a cell with a quote, comma or line break is quoted, quotes doubled
 * (RFC 4180 §2.6–2.7).
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Rows as RFC 4180 text: CRLF after every record, the last one included. */
export function toCsv(rows: readonly (readonly string[])[]): string {
  return rows.map((r) => `${r.map(csvCell).join(',')}\r\n`).join('');
}
