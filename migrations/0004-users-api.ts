// REST API: users (roles, scrypt passwords), API tokens (sha256 only), checks, bundles, and the indexes the list queries need.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull().unique()) // lowercased; links the user to the person with that address
    .addColumn('first_name', 'text', (c) => c.notNull())
    .addColumn('last_name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull()) // admin | maintainer | student
    .addColumn('password_hash', 'text') // scrypt$N$r$p$salt$hash, or null: token only
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  // One token per user, as Patchwork's authtoken; only its sha256 is kept, so a copied database holds no credential.
  await db.schema
    .createTable('api_tokens')
    .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('checks')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('patch_id', 'integer', (c) => c.notNull().references('patches.id'))
    .addColumn('user_id', 'integer', (c) => c.references('users.id'))
    .addColumn('date', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull()) // pending | success | warning | fail
    .addColumn('target_url', 'text')
    .addColumn('context', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .execute();
  await db.schema.createIndex('checks_patch').on('checks').columns(['patch_id', 'id']).execute();

  await db.schema
    .createTable('bundles')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('owner_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  // Patchwork: unique (owner, name); the bundle mbox URL is /bundle/<owner>/<name>/mbox/.
  await db.schema.createIndex('bundles_owner_name').on('bundles').columns(['owner_id', 'name']).unique().execute();
  await db.schema.createIndex('bundles_public').on('bundles').columns(['public']).execute();

  await db.schema
    .createTable('bundle_patches')
    .addColumn('bundle_id', 'integer', (c) => c.notNull().references('bundles.id').onDelete('cascade'))
    .addColumn('patch_id', 'integer', (c) => c.notNull().references('patches.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('bundle_patches_pk', ['bundle_id', 'position'])
    .execute();
  await db.schema.createIndex('bundle_patches_patch').on('bundle_patches').columns(['patch_id']).execute();

  // Patchwork 1.3's writable `addressed` flag of a comment: a row here means addressed (comments stay as filed).
  await db.schema
    .createTable('comment_addressed')
    .addColumn('comment_id', 'integer', (c) => c.primaryKey().references('comments.id'))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  // List queries of the API. Each index ends, implicitly, in the rowid, so "equality columns, then ORDER BY id" is
  // read in index order and stops after one page; the `patches_list` index of 0003 serves git-pw's archived+date list.
  await db.schema.createIndex('patches_project_state').on('patches').columns(['project_id', 'state']).execute();
  await db.schema.createIndex('patches_project_date').on('patches').columns(['project_id', 'date']).execute();
  await db.schema.createIndex('patches_date').on('patches').columns(['date']).execute();
  await db.schema.createIndex('patches_submitter').on('patches').columns(['submitter_id']).execute();
  await db.schema.createIndex('patches_delegate').on('patches').columns(['delegate_id']).execute();
  await db.schema.createIndex('patches_msgid_any').on('patches').columns(['msgid']).execute();
  await db.schema.createIndex('series_project').on('series').columns(['project_id']).execute();
  await db.schema.createIndex('series_date').on('series').columns(['date']).execute();
  await db.schema.createIndex('series_submitter').on('series').columns(['submitter_id']).execute();
  await db.schema.createIndex('covers_series').on('covers').columns(['series_id']).execute();
  await db.schema.createIndex('covers_project').on('covers').columns(['project_id']).execute();
  await db.schema.createIndex('events_date').on('events').columns(['date']).execute();
  await db.schema.createIndex('events_patch').on('events').columns(['patch_id']).execute();
  await db.schema.createIndex('events_series').on('events').columns(['series_id']).execute();
}
