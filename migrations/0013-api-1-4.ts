// REST API 1.4 and its writes (issue 13): series dependencies (`Depends-on:`), patch relations, a comment's
// `addressed` as Patchwork keeps it (null until someone sets it), and what maintainers and users may edit through the
// API: a project's URLs and `show_dependencies`, a user's settings. Tables of their own: none rewrites a patch row.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Series.dependencies of Patchwork 3.2: series_id depends on depends_on_id (same project, never itself).
  await db.schema
    .createTable('series_dependencies')
    .addColumn('series_id', 'integer', (c) => c.notNull().references('series.id').onDelete('cascade'))
    .addColumn('depends_on_id', 'integer', (c) => c.notNull().references('series.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('series_dependencies_pk', ['series_id', 'depends_on_id'])
    .execute();
  // The dependents of a series (the reverse lookup).
  await db.schema.createIndex('series_dependencies_on').on('series_dependencies').columns(['depends_on_id', 'series_id']).execute();

  // Patchwork's PatchRelation: a set of patches; a patch is in at most one.
  await db.schema
    .createTable('patch_relations')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('patch_relation_members')
    .addColumn('patch_id', 'integer', (c) => c.primaryKey().references('patches.id').onDelete('cascade'))
    .addColumn('relation_id', 'integer', (c) => c.notNull().references('patch_relations.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('patch_relation_members_relation').on('patch_relation_members').columns(['relation_id', 'patch_id']).execute();

  // 0004 kept a row per addressed comment; Patchwork's flag is null, true or false. Existing rows were set true.
  await db.schema.alterTable('comment_addressed').addColumn('addressed', 'integer', (c) => c.notNull().defaultTo(1)).execute();

  // What a project's maintainers set through PATCH /api/projects/N/; null: the project file's value (or none).
  await db.schema
    .createTable('project_api_settings')
    .addColumn('project_id', 'integer', (c) => c.primaryKey().references('projects.id'))
    .addColumn('web_url', 'text')
    .addColumn('scm_url', 'text')
    .addColumn('webscm_url', 'text')
    .addColumn('list_archive_url', 'text')
    .addColumn('list_archive_url_format', 'text')
    .addColumn('commit_url_format', 'text')
    .addColumn('show_dependencies', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  // Patchwork's UserProfile settings (API 1.2+, shown and written only by the user); no row: Patchwork's defaults.
  await db.schema
    .createTable('user_settings')
    .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('send_email', 'integer', (c) => c.notNull())
    .addColumn('items_per_page', 'integer', (c) => c.notNull())
    .addColumn('show_ids', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}
