// Outbound: header fields to remove from a relayed mail's stored bytes (the sender's List-* and Precedence) before sending.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('outbound').addColumn('strip_headers', 'text').execute(); // JSON array of lowercase names
}
