// Layer rules from STYLE.md rule 2: the series core is pure, SQL stays in src/db, edges call services, no cycles.
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'series-core-is-pure',
      comment: 'src/series pure modules import no I/O and no database (services are *.service.ts)',
      severity: 'error',
      from: { path: '^src/series/', pathNot: '\\.service\\.ts$' },
      to: { path: '^(src/db/|node_modules/(kysely|better-sqlite3)/)|^(fs|net|child_process|node:fs|node:net|node:child_process)$' },
    },
    {
      name: 'sql-only-in-db',
      comment: 'kysely and better-sqlite3 are used only in src/db',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: 'node_modules/(kysely|better-sqlite3)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'edges-call-services',
      comment: 'routes and the SMTP server do not touch the database',
      severity: 'error',
      from: { path: '^src/web/routes/|^src/smtp/server\\.ts$' },
      to: { path: '^src/db/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'heavy-unit-runs-anywhere',
      comment: 'a heavy unit runs on whichever host takes it (this process, later a worker): it never opens the database',
      severity: 'error',
      from: { path: '^src/pipeline/(heavy-runner|heavy-unit|gate-runner|remote|run-step|lane)\\.ts$' },
      to: { path: '^src/db/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'pipeline-steps-return-data',
      severity: 'error',
      from: { path: '^src/pipeline/steps/' },
      to: { path: '^src/db/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
