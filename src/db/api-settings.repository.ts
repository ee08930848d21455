// SQL for what the REST API lets people edit beside patches (migration 0013): a project's URLs and
// `show_dependencies` (its maintainers), a user's profile settings (the user).
import type { ProjectApiSettingsRow, UserSettingsRow } from './api-schema.js';
import type { DbOrTx } from './database.js';

export type ProjectSettingsChange = Partial<Omit<ProjectApiSettingsRow, 'project_id' | 'updated_at'>>;

export async function allProjectApiSettings(db: DbOrTx): Promise<ProjectApiSettingsRow[]> {
  return db.selectFrom('project_api_settings').selectAll().execute();
}

export async function setProjectApiSettings(db: DbOrTx, projectId: number, change: ProjectSettingsChange, now: string): Promise<void> {
  if (!Object.keys(change).length) return;
  await db
    .insertInto('project_api_settings')
    .values({ project_id: projectId, ...change, updated_at: now })
    .onConflict((oc) => oc.column('project_id').doUpdateSet({ ...change, updated_at: now }))
    .execute();
}

export async function userSettingsOf(db: DbOrTx, userId: number): Promise<UserSettingsRow | undefined> {
  return db.selectFrom('user_settings').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

export async function setUserSettings(db: DbOrTx, userId: number, s: Pick<UserSettingsRow, 'send_email' | 'items_per_page' | 'show_ids'>, now: string): Promise<void> {
  await db
    .insertInto('user_settings')
    .values({ user_id: userId, ...s, updated_at: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ ...s, updated_at: now }))
    .execute();
}
