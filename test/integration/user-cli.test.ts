// `patchbay user add|list` run as the real CLI on a temp data folder: an existing email refused unless --update,
// and a list that shows roles and token counts but never a password hash or a token.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { runCommand } from '../helpers/run-command.js';
import { withDb } from '../helpers/seed.js';
import { BIN, ROOT } from '../helpers/server-process.js';

describe('patchbay user', () => {
  let data: string;
  let projects: string;
  const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' };
  const cli = (args: string[], input?: string) =>
    runCommand(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env, ...(input === undefined ? {} : { input }) });

  before(() => {
    data = tempDir();
    // teacher@example.org maintains the demo project in its file.
    projects = projectsDir([DEMO]);
  });
  after(() => {
    for (const d of [data, projects]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('refuses to add an email that has a user, says so, exits non-zero and changes nothing', async () => {
    const added = await cli(['user', 'add', '--email', 'Teacher@example.org', '--name', 'Tim Teacher', '--role', 'maintainer', '--password-stdin'], 'correct horse\n');
    assert.equal(added.code, 0, added.output);
    assert.match(added.stdout, /^added user teacher \(id \d+, maintainer\)$/m);
    const again = await cli(['user', 'add', '--email', 'teacher@example.org', '--name', 'Someone Else', '--role', 'admin']);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /a user with the email teacher@example\.org exists already \(username teacher, role maintainer\); nothing changed; add --update to change their name, role or password/,
    );
    const row = await withDb(data, (db) => db.selectFrom('users').select(['first_name', 'last_name', 'role']).where('email', '=', 'teacher@example.org').executeTakeFirstOrThrow());
    assert.deepEqual(row, { first_name: 'Tim', last_name: 'Teacher', role: 'maintainer' });
  });

  it('changes name and role of an existing user with --update, and says when nothing changed', async () => {
    const r = await cli(['user', 'add', '--email', 'teacher@example.org', '--name', 'Tim T. Teacher', '--role', 'admin', '--update']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^updated user teacher \(id \d+, admin\)$/m);
    const same = await cli(['user', 'add', '--email', 'teacher@example.org', '--name', 'Tim T. Teacher', '--role', 'admin', '--update']);
    assert.match(same.stdout, /^no changes to user teacher /m);
    const renamed = await cli(['user', 'add', '--email', 'teacher@example.org', '--name', 'Tim', '--role', 'admin', '--update', '--username', 'tim']);
    assert.equal(renamed.code, 1);
    assert.match(renamed.stderr, /--update keeps the username: teacher@example\.org is "teacher", not "tim"/);
  });

  it('lists every user with roles, password set and token count, and never a hash or a token', async () => {
    assert.equal((await cli(['user', 'add', '--email', 'zoe@students.example.org', '--name', 'Zoé', '--role', 'student'])).code, 0);
    const token = await cli(['token', 'create', '--email', 'teacher@example.org']);
    assert.equal(token.code, 0, token.output);
    const secret = /[0-9a-f]{40}/.exec(token.stdout)?.[0];
    assert.ok(secret, token.stdout);

    const table = await cli(['user', 'list']);
    assert.equal(table.code, 0, table.output);
    assert.match(table.stdout, /^EMAIL\s+USERNAME\s+NAME\s+ROLES\s+PASSWORD\s+TOKENS$/m);
    assert.match(table.stdout, /^teacher@example\.org\s+teacher\s+Tim T\. Teacher\s+admin, maintainer of proctree\s+yes\s+1$/m);
    assert.match(table.stdout, /^zoe@students\.example\.org\s+zoe\s+Zoé\s+student\s+no\s+0$/m);
    const json = await cli(['user', 'list', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), [
      { email: 'teacher@example.org', username: 'teacher', name: 'Tim T. Teacher', roles: ['admin', 'maintainer of proctree'], password: true, tokens: 1 },
      { email: 'zoe@students.example.org', username: 'zoe', name: 'Zoé', roles: ['student'], password: false, tokens: 0 },
    ]);
    for (const out of [table.stdout, json.stdout]) {
      assert.ok(!out.includes(secret), 'the token is never printed again');
      assert.doesNotMatch(out, /argon2|\$[0-9a-z]+\$/, 'no password hash');
    }
  });
});
