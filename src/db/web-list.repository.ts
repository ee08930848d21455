// SQL for the web view's project pages: the projects with their counts, a project's series list (filters, order,
// pages), what a page of series shows (patches, students, latest runs), and the roster's gradebook. The page
// queries read indexes only (migration 0008: series_project_date, series_project_name, patches_project_state_series,
// patches_student); what a page shows is read by the page's ids, each query built and compiled once (byIds).
import { sql, type SqlBool } from 'kysely';
import { byIds, likePattern } from './api-list.repository.js';
import type { DbOrTx } from './database.js';

/** Every field is an AND; undefined means "not filtered". */
export interface SeriesListFilter {
  projectId: number;
  /** Series with a patch in one of these states… */
  states?: readonly string[];
  /** …that is not archived (Patchwork's "action required" list hides archived patches). */
  unarchived?: boolean;
  /** A substring of the submitter's name or email. */
  submitter?: string;
  /** Series with a patch of this roster student (patches.student_id). */
  studentId?: number;
  /** The latest run has a failed step, or a patch's latest check of some context is `fail`. */
  failing?: boolean;
  /** Words that must all be in the title. */
  words: readonly string[];
}

export type SeriesOrderField = 'date' | 'name' | 'submitter';

/**
 * A check counts when it is the latest of its (patch, context, user), as Patchwork's combined check state reads
 * them: a build that failed and then passed is not failing. A run step counts in the series' latest run only.
 */
const FAILING_CHECK = sql<SqlBool>`exists (select 1 from patches fp join checks fc on fc.patch_id = fp.id
    where fp.series_id = series.id and fc.state = 'fail'
      and not exists (select 1 from checks nc where nc.patch_id = fc.patch_id and nc.context = fc.context and nc.user_id is fc.user_id and nc.id > fc.id))`;
const FAILING = sql<SqlBool>`(${FAILING_CHECK}
  or exists (select 1 from run_steps fs where fs.run_id = (select max(fr.id) from runs fr where fr.series_id = series.id) and fs.status = 'fail'))`;

/**
 * The ids of one page of the project's series, in order. Date order walks series_project_date (which also holds
 * the submitter and the title for their filters), name order series_project_name; a state filter is one range of
 * patches_project_state_series, a student one of patches_student. Submitter order sorts the filtered series.
 */
export async function seriesPageIds(db: DbOrTx, f: SeriesListFilter, order: { field: SeriesOrderField; desc: boolean }, page: { limit: number; offset: number }): Promise<number[]> {
  let q = db.selectFrom('series').select('series.id').where('series.project_id', '=', f.projectId);
  if (f.states) {
    const states = [...f.states];
    q = q.where((eb) => {
      let sub = eb.selectFrom('patches').select('patches.series_id').where('patches.project_id', '=', f.projectId).where('patches.state', 'in', states);
      if (f.unarchived) sub = sub.where('patches.archived', '=', 0);
      return eb('series.id', 'in', sub);
    });
  }
  if (f.submitter !== undefined) {
    const like = likePattern(f.submitter);
    q = q.where((eb) =>
      eb(
        'series.submitter_id',
        'in',
        eb
          .selectFrom('people')
          .select('people.id')
          .where((p) => p.or([p(sql`people.name`, 'like', sql`${like} escape '\\'`), p(sql`people.email`, 'like', sql`${like} escape '\\'`)])),
      ),
    );
  }
  if (f.studentId !== undefined) {
    const id = f.studentId;
    q = q.where((eb) => eb('series.id', 'in', eb.selectFrom('patches').select('patches.series_id').where('patches.student_id', '=', id)));
  }
  for (const w of f.words) q = q.where(sql<SqlBool>`series.name like ${likePattern(w)} escape '\\'`);
  if (f.failing) q = q.where(FAILING);
  const dir = order.desc ? 'desc' : 'asc';
  if (order.field === 'submitter') {
    q = q
      .innerJoin('people as sub', 'sub.id', 'series.submitter_id')
      .orderBy(sql`lower(coalesce(nullif(sub.name, ''), sub.email))`, dir)
      .orderBy('series.date', 'desc')
      .orderBy('series.id', 'desc');
  } else {
    q = q.orderBy(order.field === 'name' ? 'series.name' : 'series.date', dir).orderBy('series.id', dir);
  }
  return (await q.limit(page.limit).offset(page.offset).execute()).map((r) => r.id);
}

export interface WebListSeriesRow {
  id: number;
  name: string | null;
  version: number;
  total: number;
  date: string;
  completed: 0 | 1;
  submitter_name: string | null;
  submitter_email: string;
}

export const seriesRowsByIds: (db: DbOrTx, ids: readonly number[]) => Promise<WebListSeriesRow[]> = byIds((db, ids) =>
  db
    .selectFrom('series')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .select(['series.id', 'series.name', 'series.version', 'series.total', 'series.date', 'series.completed', 'people.name as submitter_name', 'people.email as submitter_email'])
    .where('series.id', 'in', ids),
);

export interface SeriesPatchRow {
  series_id: number;
  number: number;
  state: string;
  archived: 0 | 1;
  student_login: string | null;
}

/** The patches of these series (patches_series_summary, covering), with the roster login of each patch's student. */
export const patchesOfSeries: (db: DbOrTx, ids: readonly number[]) => Promise<SeriesPatchRow[]> = byIds((db, ids) =>
  db
    .selectFrom('patches')
    .leftJoin('students', 'students.id', 'patches.student_id')
    .select(['patches.series_id', 'patches.number', 'patches.state', 'patches.archived', 'students.login as student_login'])
    .where('patches.series_id', 'in', ids),
);

export interface LatestRunStep {
  series_id: number;
  run_id: number;
  step: string;
  job: string;
  seq: number;
  status: string;
}

/** The steps of each series' latest run (runs_series, then run_steps by its key); a series without a run has none. */
export const latestRunSteps: (db: DbOrTx, ids: readonly number[]) => Promise<LatestRunStep[]> = byIds((db, ids) =>
  db
    .with('latest', (qb) => qb.selectFrom('runs').select(['runs.series_id', (eb) => eb.fn.max('runs.id').as('run_id')]).where('runs.series_id', 'in', ids).groupBy('runs.series_id'))
    .selectFrom('latest')
    .innerJoin('run_steps', 'run_steps.run_id', 'latest.run_id')
    .select(['latest.series_id', 'latest.run_id', 'run_steps.step', 'run_steps.job', 'run_steps.seq', 'run_steps.status']),
);

/** The passed and total case counts of the test steps of these runs (their outputs; null before a step ends). */
export const testCounts: (db: DbOrTx, runIds: readonly number[]) => Promise<{ run_id: number; job: string; passed: number | null; total: number | null }[]> = byIds((db, ids) =>
  db
    .selectFrom('run_steps')
    .select(['run_steps.run_id', 'run_steps.job'])
    .select([sql<number | null>`json_extract(run_steps.outputs, '$.passed')`.as('passed'), sql<number | null>`json_extract(run_steps.outputs, '$.total')`.as('total')])
    .where('run_steps.run_id', 'in', ids)
    .where(sql<SqlBool>`run_steps.step = 'test'`),
);

/** Which of these series have no run at all (runs_series). */
export const seriesWithoutRun: (db: DbOrTx, ids: readonly number[]) => Promise<{ id: number }[]> = byIds((db, ids) =>
  db
    .selectFrom('series')
    .select('series.id')
    .where('series.id', 'in', ids)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('runs').select('runs.id').whereRef('runs.series_id', '=', 'series.id')))),
);

/**
 * The id of each series' series-completed event, for those that have one. All the series' events are read by
 * events_series and filtered here: with the category in the query SQLite walks events_category instead, every
 * series-completed event of the database (90 ms at 200,000 series).
 */
const seriesEvents = byIds((db, ids) => db.selectFrom('events').select(['events.series_id', 'events.id', 'events.category']).where('events.series_id', 'in', ids));

export async function completedEvents(db: DbOrTx, ids: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const r of await seriesEvents(db, ids)) if (r.category === 'series-completed' && r.series_id !== null && r.id > (out.get(r.series_id) ?? 0)) out.set(r.series_id, r.id);
  return out;
}

/** The series of these that are failing (FAILING above): a marker on the row when a check is the reason. */
/** The series of these with a failing check (FAILING_CHECK): a row's marker, where its stages do not show it. */
export const seriesWithFailingCheck: (db: DbOrTx, ids: readonly number[]) => Promise<{ id: number }[]> = byIds((db, ids) =>
  db.selectFrom('series').select('series.id').where('series.id', 'in', ids).where(FAILING_CHECK),
);

export interface ProjectCounts {
  project_id: number;
  /** Series with at least one patch needing action (an action-required state, not archived). */
  series: number;
  patches: number;
  /** The newest series' date, null when the project has none. */
  latest: string | null;
}

/** Per project: what needs action (patches_project_state_series ranges) and the newest series (series_project_date). */
export async function projectCounts(db: DbOrTx, projectIds: readonly number[], actionStates: readonly string[]): Promise<ProjectCounts[]> {
  if (!projectIds.length) return [];
  const states = [...actionStates];
  return db
    .selectFrom('projects')
    .select('projects.id as project_id')
    .select((eb) => [
      eb
        .selectFrom('patches')
        .select((x) => x.fn.count<number>(sql`distinct patches.series_id`).as('n'))
        .whereRef('patches.project_id', '=', 'projects.id')
        .where('patches.state', 'in', states)
        .where('patches.archived', '=', 0)
        .as('series'),
      eb
        .selectFrom('patches')
        .select((x) => x.fn.countAll<number>().as('n'))
        .whereRef('patches.project_id', '=', 'projects.id')
        .where('patches.state', 'in', states)
        .where('patches.archived', '=', 0)
        .as('patches'),
      eb.selectFrom('series').select((x) => x.fn.max('series.date').as('d')).whereRef('series.project_id', '=', 'projects.id').as('latest'),
    ])
    .where('projects.id', 'in', [...projectIds])
    .execute()
    .then((rows) => rows.map((r) => ({ project_id: r.project_id, series: Number(r.series ?? 0), patches: Number(r.patches ?? 0), latest: r.latest ?? null })));
}

export async function studentIdByLogin(db: DbOrTx, projectId: number, login: string): Promise<number | undefined> {
  const row = await db.selectFrom('students').select('id').where('project_id', '=', projectId).where('login', '=', login).executeTakeFirst();
  return row?.id;
}

/** The project's roster by login, with each student's id (patches.student_id). */
export async function rosterStudents(db: DbOrTx, projectId: number): Promise<{ id: number; login: string; name: string }[]> {
  return db.selectFrom('students').select(['id', 'login', 'name']).where('project_id', '=', projectId).orderBy('login').execute();
}

export async function rosterLogins(db: DbOrTx, projectId: number): Promise<{ login: string; name: string }[]> {
  return db.selectFrom('students').select(['login', 'name']).where('project_id', '=', projectId).orderBy('login').execute();
}
