// Wires the REST API's services from the core: the read service, the write service (over SeriesAdminService), auth.
import type { Project } from '../config/projects.js';
import type { Db } from '../db/database.js';
import { SeriesAdminService } from '../series/series-admin.service.js';
import { ApiService } from './api.service.js';
import { ApiWriteService } from './api-write.service.js';
import { AuthService } from './auth.service.js';
import type { ProjectInfo } from './represent.js';

export function projectInfo(p: Project & { id: number }): ProjectInfo {
  return { id: p.id, slug: p.slug, name: p.name, list: p.addresses.list, scmUrl: p.tree?.url ?? null, maintainers: p.maintainers };
}

export function createApi(db: Db, projects: (Project & { id: number })[], baseUrl: string | null) {
  const api = new ApiService(db, projects.map(projectInfo));
  return { api, writes: new ApiWriteService(db, new SeriesAdminService(db), api), auth: new AuthService(db), baseUrl };
}
