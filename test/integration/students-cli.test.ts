// `patchbay students import|list|remove` run as the real CLI on a temp data folder: what a re-import says it changed,
// the roster as listed, and what becomes of a removed student's series.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { runCommand } from '../helpers/run-command.js';
import { withDb } from '../helpers/seed.js';
import { BIN, ROOT } from '../helpers/server-process.js';

describe('patchbay students', () => {
  let data: string;
  let projects: string;
  let work: string;
  const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' };
  const cli = (...args: string[]) => runCommand(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env });
  const roster = (name: string, text: string) => {
    const file = path.join(work, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const listed = async () => {
    const r = await cli('students', 'list', '--project', DEMO.slug, '--json');
    assert.equal(r.code, 0, r.output);
    return JSON.parse(r.stdout) as { login: string; name: string; emails: string[]; series: number }[];
  };

  before(() => {
    data = tempDir();
    projects = projectsDir([{ ...DEMO, policy: 'roster' }]);
    work = tempDir('patchbay-roster-');
  });
  after(() => {
    for (const d of [data, projects, work]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('says what an import added, then "no changes" when the same file is imported again', async () => {
    const file = roster('v1.csv', 'login,name,email\nzoe,Zoé Étudiante,zoe@students.example.org\nbob,Bob,bob@example.org\n');
    const first = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.equal(first.code, 0, first.output);
    assert.match(first.stdout, /^added\s+zoe \(Zoé Étudiante\) zoe@students\.example\.org$/m);
    assert.match(first.stdout, /^added\s+bob \(Bob\) bob@example\.org$/m);
    assert.match(first.stdout, /^proctree: 2 added, 0 updated, 0 unchanged, 0 not in the file kept$/m);

    const again = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.equal(again.code, 0, again.output);
    assert.equal(again.stdout, 'no changes to proctree (2 students as in the file)\n');
  });

  it('lists each student with their addresses and how many series they sent', async () => {
    // zoe@students.example.org is the author of the fixture: filed after the import, it is her series.
    const imported = await cli('import', '--project', DEMO.slug, path.join(ROOT, 'test/fixtures/series/single.mbox'));
    assert.equal(imported.code, 0, imported.output);
    assert.deepEqual(await listed(), [
      { login: 'bob', name: 'Bob', emails: ['bob@example.org'], series: 0 },
      { login: 'zoe', name: 'Zoé Étudiante', emails: ['zoe@students.example.org'], series: 1 },
    ]);
    const table = await cli('students', 'list', '--project', DEMO.slug);
    assert.equal(table.code, 0, table.output);
    assert.match(table.stdout, /^LOGIN\s+NAME\s+SERIES\s+EMAILS$/m);
    assert.match(table.stdout, /^zoe\s+Zoé Étudiante\s+1\s+zoe@students\.example\.org$/m);
  });

  it('reports changed names and addresses and keeps a student the new file leaves out', async () => {
    const file = roster('v2.csv', 'login,name,email\nzoe,Zoé Étudiante-Martin,zoe@students.example.org,zoe@home.example\n');
    const r = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^updated\s+zoe: name "Zoé Étudiante" -> "Zoé Étudiante-Martin"; \+zoe@home\.example$/m);
    assert.match(r.stdout, /^kept\s+bob \(Bob\): not in the file; `patchbay students remove --project proctree bob` removes them$/m);
    assert.match(r.stdout, /^proctree: 0 added, 1 updated, 0 unchanged, 1 not in the file kept$/m);
    assert.deepEqual(
      (await listed()).map((s) => [s.login, s.name, s.emails]),
      [
        ['bob', 'Bob', ['bob@example.org']],
        ['zoe', 'Zoé Étudiante-Martin', ['zoe@home.example', 'zoe@students.example.org']],
      ],
    );
    const again = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.match(again.stdout, /^no changes to proctree \(1 student as in the file\)$/m);
  });

  it("refuses a file giving away the address of a student it leaves out, and changes nothing", async () => {
    const before = await listed();
    const file = roster('steal.csv', 'login,name,email\nzoe,Zoé,zoe@students.example.org\ncarl,Carl,bob@example.org\n');
    const r = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /steal\.csv: bob@example\.org \(given to "carl"\) belongs to "bob", who is not in the file/);
    assert.deepEqual(await listed(), before);
  });

  it('removes a student: gone from the roster, their series kept and still theirs', async () => {
    const r = await cli('students', 'remove', '--project', DEMO.slug, 'zoe');
    assert.equal(r.code, 0, r.output);
    assert.equal(r.stdout, 'removed zoe (Zoé Étudiante-Martin, zoe@home.example, zoe@students.example.org) from proctree; 1 series kept\n');
    assert.deepEqual((await listed()).map((s) => s.login), ['bob']);
    await withDb(data, async (db) => {
      const patches = await db.selectFrom('patches').select(['student_id']).execute();
      assert.equal(patches.length, 1, 'the series and its patch stay');
      assert.notEqual(patches[0]!.student_id, null, 'still attributed to the (removed) student, never to nobody');
      assert.equal(await db.selectFrom('student_emails').select('email').where('email', 'like', 'zoe@%').executeTakeFirst(), undefined);
    });
  });

  it('refuses to remove an unknown login or from an unknown project, with a non-zero exit', async () => {
    const unknown = await cli('students', 'remove', '--project', DEMO.slug, 'nobody');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no student with the login "nobody"/);
    const project = await cli('students', 'list', '--project', 'nope');
    assert.equal(project.code, 1);
    assert.match(project.stderr, /no such project: nope/);
  });
});

describe('patchbay students import on a private project', () => {
  const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn', PATCHBAY_BASE_URL: '' };
  let data: string;
  let projects: string;
  let file: string;
  before(() => {
    data = tempDir();
    projects = projectsDir([{ ...DEMO, visibility: 'private' }]);
    file = path.join(tempDir('patchbay-roster-'), 'roster.csv');
    fs.writeFileSync(file, 'login,name,email\nzoe,Zoé Étudiante,zoe@students.example.org\n');
  });
  after(() => {
    for (const d of [data, projects, path.dirname(file)]) fs.rmSync(d, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCommand(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env });

  it('makes no account without --base-url and says so; with it, makes each account once and queues its first-login link', async () => {
    const bare = await cli('students', 'import', '--project', DEMO.slug, file);
    assert.equal(bare.code, 0, bare.output);
    assert.match(bare.stdout, /^no accounts made: set --base-url/m);
    const made = await cli('students', 'import', '--project', DEMO.slug, '--base-url', 'https://pb.example.org', file);
    assert.equal(made.code, 0, made.output);
    assert.match(made.stdout, /^accounts made, first-login link queued: zoe$/m);
    const again = await cli('students', 'import', '--project', DEMO.slug, '--base-url', 'https://pb.example.org', file);
    assert.doesNotMatch(again.stdout, /accounts made/);
    await withDb(data, async (db) => {
      const mails = await db.selectFrom('outbound').select(['rcpt', 'kind']).execute();
      assert.deepEqual(mails, [{ rcpt: 'zoe@students.example.org', kind: 'password-first-login' }]);
    });
  });
});
