// The static, ordered list of migrations. Migrations are frozen once landed: add a new file, never edit one.
import type { Migration } from 'kysely';
import * as m0001 from './0001-init.js';
import * as m0002 from './0002-outbound-strip-headers.js';
import * as m0003 from './0003-series.js';
import * as m0004 from './0004-users-api.js';
import * as m0005 from './0005-archive.js';
import * as m0006 from './0006-pipeline.js';
import * as m0007 from './0007-web-indexes.js';
import * as m0008 from './0008-web-sessions.js';
import * as m0009 from './0009-mail-attempts.js';
import * as m0010 from './0010-worker-tokens.js';
import * as m0011 from './0011-step-worker.js';
import * as m0012 from './0012-patchwork-names.js';
import * as m0013 from './0013-api-1-4.js';
import * as m0014 from './0014-patch-titles.js';
import * as m0015assignments from './0015-assignments.js';
import * as m0016 from './0016-reports.js';
import * as m0017private from './0017-private.js';
import * as m0018cache from './0018-cache.js';
import * as m0018listCovering from './0018-list-covering.js';
import * as m0019checksCovering from './0019-checks-covering.js';

export const migrations: Record<string, Migration> = {
  '0001-init': m0001,
  '0002-outbound-strip-headers': m0002,
  '0003-series': m0003,
  '0004-users-api': m0004,
  '0005-archive': m0005,
  '0006-pipeline': m0006,
  '0007-web-indexes': m0007,
  '0008-web-sessions': m0008,
  '0009-mail-attempts': m0009,
  '0010-worker-tokens': m0010,
  '0011-step-worker': m0011,
  '0012-patchwork-names': m0012,
  '0013-api-1-4': m0013,
  '0014-patch-titles': m0014,
  '0015-assignments': m0015assignments,
  '0016-reports': m0016,
  '0017-private': m0017private,
  '0018-cache': m0018cache,
  '0018-list-covering': m0018listCovering,
  '0019-checks-covering': m0019checksCovering,
};
