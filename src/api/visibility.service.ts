// The one visibility rule (issue 14), used by the web view, the REST API, XML-RPC, mbox, the archive and the runs:
// a public project is everyone's; a private one is its maintainers' (and admins'), and each roster student's for the
// series attributed to them. Whatever a reader may not see answers 404, as if it did not exist.
import type { UserRole } from '../db/api-schema.js';
import type { Db } from '../db/database.js';
import {
  archivedMailOwner,
  bundleByName,
  commentOwner,
  coverOwner,
  patchOwner,
  runOwner,
  seriesOwner,
  studentsByEmail,
  submissionOwnerByMsgid,
  type Owner,
  type RowScope,
} from '../db/visibility.repository.js';
import { notFound } from '../errors.js';

/** Who reads: a signed-in user (web session) or an API credential's user; null is anonymous. */
export interface Reader {
  id: number;
  email: string;
  role: UserRole;
}

export interface VisibilityProject {
  id: number;
  visibility?: 'public' | 'private';
  maintainers: readonly string[];
  roster?: string | undefined;
}

export type { Owner, RowScope };

const NOT_FOUND = 'Not found.';
const hidden = () => notFound('not_found', NOT_FOUND);

export class VisibilityService {
  private readonly byId: ReadonlyMap<number, VisibilityProject>;
  /** No private project on this server: everything is everyone's, and no check reads the database. */
  readonly anyPrivate: boolean;

  constructor(
    private readonly db: Db,
    projects: readonly VisibilityProject[],
  ) {
    this.byId = new Map(projects.map((p) => [p.id, p]));
    this.anyPrivate = projects.some((p) => p.visibility === 'private');
  }

  isPrivate(projectId: number): boolean {
    return this.byId.get(projectId)?.visibility === 'private';
  }

  /**
   * A course project: private, or with a roster. There students may not change states, archive, or post checks
   * (those are the grade), and only maintainers see other people's email addresses.
   */
  isCourse(projectId: number): boolean {
    const p = this.byId.get(projectId);
    return p !== undefined && (p.visibility === 'private' || p.roster !== undefined);
  }

  /** Any course project on this server (the users' and people's emails are then for maintainers only). */
  get anyCourse(): boolean {
    return [...this.byId.keys()].some((id) => this.isCourse(id));
  }

  maintains(reader: Reader | null, projectId: number): boolean {
    if (!reader) return false;
    if (reader.role === 'admin') return true;
    const p = this.byId.get(projectId);
    return p !== undefined && p.maintainers.some((m) => m.toLowerCase() === reader.email.toLowerCase());
  }

  /** Admins, and whoever maintains at least one project. */
  maintainsAny(reader: Reader | null): boolean {
    return reader !== null && (reader.role === 'admin' || [...this.byId.keys()].some((id) => this.maintains(reader, id)));
  }

  /** The reader's roster student in each project (by the reader's email in the roster). */
  async studentsOf(reader: Reader | null): Promise<Map<number, number>> {
    if (!reader) return new Map();
    return new Map((await studentsByEmail(this.db, reader.email)).map((s) => [s.project_id, s.id]));
  }

  /** Whether the reader sees anything of the project: public, or they maintain it, or they are on its roster. */
  async seesProject(reader: Reader | null, projectId: number): Promise<boolean> {
    if (!this.isPrivate(projectId) || this.maintains(reader, projectId)) return true;
    return (await this.studentsOf(reader)).has(projectId);
  }

  /** Whether the reader sees all of the project (its archive, lists, gradebook): public, or they maintain it. */
  seesAllOf(reader: Reader | null, projectId: number): boolean {
    return !this.isPrivate(projectId) || this.maintains(reader, projectId);
  }

  /** The projects the reader sees anything of, in the order given. */
  async visibleProjects<P extends { id: number }>(reader: Reader | null, projects: readonly P[]): Promise<P[]> {
    if (!this.anyPrivate) return [...projects];
    const students = await this.studentsOf(reader);
    return projects.filter((p) => this.seesAllOf(reader, p.id) || students.has(p.id));
  }

  /** Whether the reader sees a thing owned so (undefined: a thing that does not exist). */
  async sees(reader: Reader | null, owner: Owner | undefined): Promise<boolean> {
    if (!owner) return false;
    if (this.seesAllOf(reader, owner.projectId)) return true;
    if (owner.studentId === null) return false;
    return (await this.studentsOf(reader)).get(owner.projectId) === owner.studentId;
  }

  /** The roster login the reader is in a private project they do not maintain (null: they see all of it, or nothing). */
  async ownLogin(reader: Reader | null, projectId: number): Promise<string | null> {
    if (!reader || this.seesAllOf(reader, projectId)) return null;
    return (await studentsByEmail(this.db, reader.email)).find((s) => s.project_id === projectId)?.login ?? null;
  }

  /** For list queries: what the reader may list; undefined when that is everything. */
  async scope(reader: Reader | null): Promise<RowScope | undefined> {
    if (!this.anyPrivate) return undefined;
    const students = await this.studentsOf(reader);
    const hiddenIds: number[] = [];
    const restricted: number[] = [];
    for (const id of this.byId.keys()) {
      if (this.seesAllOf(reader, id)) continue;
      if (students.has(id)) restricted.push(id);
      else hiddenIds.push(id);
    }
    if (!hiddenIds.length && !restricted.length) return undefined;
    return { hidden: hiddenIds, restricted, students: restricted.map((id) => students.get(id)!) };
  }

  private async must(reader: Reader | null, projectId: number | undefined, owner: () => Promise<Owner | undefined>): Promise<void> {
    // A thing of a public project is read without looking up its owner.
    if (!this.anyPrivate || (projectId !== undefined && this.seesAllOf(reader, projectId))) return;
    if (!(await this.sees(reader, await owner()))) throw hidden();
  }

  async requireProject(reader: Reader | null, projectId: number): Promise<void> {
    if (!(await this.seesProject(reader, projectId))) throw hidden();
  }
  /** The project's whole-list pages (archive index, series list of everyone, gradebook of a private project). */
  requireAllOf(reader: Reader | null, projectId: number): void {
    if (!this.seesAllOf(reader, projectId)) throw hidden();
  }
  requireSeries(reader: Reader | null, id: number): Promise<void> {
    return this.must(reader, undefined, () => seriesOwner(this.db, id));
  }
  requirePatch(reader: Reader | null, id: number): Promise<void> {
    return this.must(reader, undefined, () => patchOwner(this.db, id));
  }
  requireCover(reader: Reader | null, id: number): Promise<void> {
    return this.must(reader, undefined, () => coverOwner(this.db, id));
  }
  requireComment(reader: Reader | null, id: number): Promise<void> {
    return this.must(reader, undefined, () => commentOwner(this.db, id));
  }
  requireRun(reader: Reader | null, id: number): Promise<void> {
    return this.must(reader, undefined, () => runOwner(this.db, id));
  }
  requireSubmission(reader: Reader | null, kind: 'patch' | 'cover', projectId: number, msgid: string): Promise<void> {
    return this.must(reader, projectId, () => submissionOwnerByMsgid(this.db, kind, projectId, msgid));
  }
  requireArchived(reader: Reader | null, projectId: number, msgid: string): Promise<void> {
    return this.must(reader, projectId, () => archivedMailOwner(this.db, projectId, msgid));
  }

  /**
   * A bundle of a private project: its owner's (who could bundle only what they see), and its maintainers'; a
   * `public` flag does not open it to the project's students or to anonymous.
   */
  seesBundle(reader: Reader | null, b: { project_id: number; owner_id: number }): boolean {
    return b.owner_id === reader?.id || this.seesAllOf(reader, b.project_id);
  }
  async requireBundle(reader: Reader | null, owner: string, name: string): Promise<void> {
    if (!this.anyPrivate) return;
    const b = await bundleByName(this.db, owner, name);
    if (b && !this.seesBundle(reader, b)) throw hidden();
  }

  /**
   * Whether the reader may see other people's email addresses (users, people): always on a server without course
   * projects (Patchwork's rule); else admins and maintainers only.
   */
  seesEmails(reader: Reader | null): boolean {
    return !this.anyCourse || this.maintainsAny(reader);
  }

  /** In a course project only its maintainers change states and archived flags and post checks. */
  mayGrade(reader: Reader | null, projectId: number): boolean {
    return !this.isCourse(projectId) || this.maintains(reader, projectId);
  }
}
