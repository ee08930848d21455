// The static, ordered list of migrations. Migrations are frozen once landed: add a new file, never edit one.
import type { Migration } from 'kysely';
import * as m0001 from './0001-init.js';

export const migrations: Record<string, Migration> = {
  '0001-init': m0001,
};
