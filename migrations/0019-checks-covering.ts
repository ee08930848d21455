// Each list page's check states read from an index alone (issue 16). A 100-patch API page shows each patch's combined
// check, from every check's (user, context, state); read from the table, each check is a seek into a row that also
// holds its description and URL. This index holds what the combination reads, in the order it reads it (patch, id).
// It replaces checks_patch (patch_id, id), its prefix: every plan that used that one uses this one in the same order.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('checks_patch_state').on('checks').columns(['patch_id', 'id', 'user_id', 'context', 'state']).execute();
  await db.schema.dropIndex('checks_patch').execute();
}
