// Which worker ran a step (issue 12): with `serve --queue`, a step runs on a `patchbay worker` machine, and the run's
// page and GET /runs/R/ name it (a build that moved to another worker after the first one died names the second).
// Null for steps run inside the server.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('run_steps').addColumn('worker', 'text').execute();
}
