// What a write invalidates, on a real server with two projects: a write in one project leaves the other's kept
// answers (API and web pages) served as they were; a check refreshes what shows check state and nothing else; writes
// by other processes (mail through SMTP, the CLI, another database connection as a pipeline worker) are seen at once.
//
// "Served from the cache" is observed without timing: the test edits a row behind the caches' back (from another
// connection, then puts the generations back as they were), so an answer that still shows the old value can only
// have come from the cache, and one that shows the new value was computed again.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startApiApp } from '../helpers/api-app.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const TEACHER = 'teacher@example.org';
const ALPHA = { slug: 'alpha', name: 'Alpha', list: 'alpha@lists.example.org', maintainers: [TEACHER] };
const BETA = { slug: 'beta', name: 'Beta', list: 'beta@lists.example.org', maintainers: [TEACHER] };

let seq = 0;
/** A one-patch series for a list, as git send-email writes it. */
function patchMail(list: string, title: string): string {
  seq++;
  return [
    'From: Zoe Student <zoe@students.example.org>',
    `To: ${list}`,
    `Subject: [PATCH] ${title}`,
    `Message-ID: <cache-scope-${seq}-${Date.now()}@students.example.org>`,
    `Date: Mon, 7 Dec 2026 04:${String(10 + seq).padStart(2, '0')}:00 +0000`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `${title}.`,
    '',
    'Signed-off-by: Zoe Student <zoe@students.example.org>',
    '---',
    ` file${seq}.c | 1 +`,
    ' 1 file changed, 1 insertion(+)',
    '',
    `diff --git a/file${seq}.c b/file${seq}.c`,
    'new file mode 100644',
    'index 0000000..e69de29',
    '--- /dev/null',
    `+++ b/file${seq}.c`,
    '@@ -0,0 +1 @@',
    `+int x${seq};`,
    '-- ',
    '2.43.0',
    '',
  ].join('\n');
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('cache invalidation per project and per kind of row', () => {
  let data: string;
  let projects: string;
  let server: ServerProcess;
  let token = '';

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`${server.baseUrl}${path}`, { headers });
    return { status: r.status, etag: r.headers.get('etag'), body: await r.text() };
  };
  const json = async (path: string) => JSON.parse((await get(path)).body);
  const send = async (list: string, title: string) => {
    const r = await sendMessage(server.smtpPort, 'zoe@students.example.org', [list], patchMail(list, title));
    assert.match(r.final, /^250/, r.replies.join(' | '));
    await waitFor(`"${title}" filed`, async () => (await json(`/api/patches/?q=${encodeURIComponent(title)}`)).length === 1);
  };
  /**
   * Renames a row from another connection, then moves the generations back to what they were: no reader is told, so
   * a kept answer keeps the old name and a computed one shows the new (the test's window on what was served from where).
   */
  const renameBehindCaches = (table: 'patches' | 'series', id: number, name: string) =>
    withDb(data, (db) =>
      db.transaction().execute(async (tx) => {
        const before = (await sql<{ scope: string; gen: number }>`select scope, gen from cache_generations`.execute(tx)).rows;
        await sql`update ${sql.table(table)} set name = ${name} where id = ${id}`.execute(tx);
        for (const r of before) await sql`update cache_generations set gen = ${r.gen} where scope = ${r.scope}`.execute(tx);
      }),
    );

  before(async () => {
    data = tempDir('patchbay-cache-scopes-');
    projects = projectsDir([ALPHA, BETA]);
    server = await startServer(['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
    await send(ALPHA.list, 'alpha: first change');
    await send(BETA.list, 'beta: first change');
    // Writers that are not the server: the CLI adds the maintainer and their token.
    await cli(['user', 'add', '--data', data, '--projects', projects, '--email', TEACHER, '--name', 'Tom Teacher', '--role', 'maintainer']);
    token = (await cli(['token', 'create', '--data', data, '--projects', projects, '--email', TEACHER])).trim();
  });
  after(async () => {
    await server?.stop();
    for (const dir of [data, projects]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps project B’s answers and pages after a mail to project A, and shows A’s mail in A’s next read', async () => {
    const [betaPatch] = await json('/api/patches/?project=beta');
    const betaPages = ['/api/patches/?project=beta', '/api/series/?project=beta', `/api/patches/${betaPatch.id}/`, `/api/series/${betaPatch.series[0].id}/`, '/project/beta/list/'];
    const kept = new Map<string, Awaited<ReturnType<typeof get>>>();
    for (const p of betaPages) kept.set(p, await get(p));
    const alphaBefore = await get('/api/patches/?project=alpha');

    await renameBehindCaches('patches', betaPatch.id, 'beta: renamed behind the caches');
    await renameBehindCaches('series', betaPatch.series[0].id, 'beta: renamed behind the caches');
    await send(ALPHA.list, 'alpha: second change');

    for (const p of betaPages) {
      const now = await get(p);
      assert.equal(now.status, 200, p);
      assert.equal(now.etag, kept.get(p)!.etag, `${p}: the same ETag`);
      assert.equal(now.body, kept.get(p)!.body, `${p}: served from the cache (a recomputed answer would show the new name)`);
      assert.doesNotMatch(now.body, /renamed behind the caches/, p);
    }
    const alpha = await get('/api/patches/?project=alpha');
    assert.notEqual(alpha.etag, alphaBefore.etag);
    const alphaNames = JSON.parse(alpha.body).map((p: { name: string }) => p.name);
    assert.equal(alphaNames.length, 2);
    assert.ok(alphaNames.some((n: string) => n.includes('alpha: second change')), 'A’s next read shows A’s new mail');
    // Every project's list shows A's mail too, so it was computed again: with B's edit in it.
    const all = await json('/api/patches/');
    assert.ok(all.some((p: { name: string }) => p.name.includes('alpha: second change')));
    assert.ok(all.some((p: { name: string }) => p.name === 'beta: renamed behind the caches'), 'the list of every project is fresh');

    // A write in B itself makes B's next read fresh.
    await send(BETA.list, 'beta: second change');
    const beta = await json('/api/patches/?project=beta');
    assert.equal(beta.length, 2);
    assert.ok(beta.some((p: { name: string }) => p.name === 'beta: renamed behind the caches'));
    assert.match((await get('/project/beta/list/')).body, /beta: second change/);
  });

  it('refreshes, for a check posted on a patch of A, only what shows check state: its patch, its checks and A’s patch lists', async () => {
    const [patch] = await json('/api/patches/?project=alpha&order=id');
    const seriesId = patch.series[0].id;
    const checkedPaths = ['/api/patches/?project=alpha', `/api/patches/${patch.id}/`, `/api/patches/${patch.id}/checks/`, '/api/patches/'];
    const uncheckedPaths = ['/api/series/?project=alpha', `/api/series/${seriesId}/`, '/api/patches/?project=beta', '/api/series/?project=beta'];
    const before = new Map<string, Awaited<ReturnType<typeof get>>>();
    for (const p of [...checkedPaths, ...uncheckedPaths]) before.set(p, await get(p));
    const [betaPatch] = await json('/api/patches/?project=beta');
    await renameBehindCaches('series', seriesId, 'alpha: series renamed behind the caches');
    await renameBehindCaches('series', betaPatch.series[0].id, 'beta: series renamed again behind the caches');

    const posted = await fetch(`${server.baseUrl}/api/patches/${patch.id}/checks/`, {
      method: 'POST',
      headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'fail', context: 'build' }),
    });
    assert.equal(posted.status, 201, await posted.text());

    assert.equal((await json('/api/patches/?project=alpha')).find((p: { id: number }) => p.id === patch.id).check, 'fail');
    assert.equal((await json(`/api/patches/${patch.id}/`)).check, 'fail');
    assert.deepEqual((await json(`/api/patches/${patch.id}/checks/`)).map((c: { state: string }) => c.state), ['fail']);
    assert.equal((await json('/api/patches/')).find((p: { id: number }) => p.id === patch.id).check, 'fail');
    assert.equal((await json(`/api/events/?project=alpha&category=check-created`)).length, 1);
    for (const p of uncheckedPaths) {
      const now = await get(p);
      assert.equal(now.body, before.get(p)!.body, `${p}: shows no check state, still served from the cache`);
      assert.equal(now.etag, before.get(p)!.etag, p);
    }
  });

  it('sees a check written by another process (a pipeline worker’s connection) and a project edited through the CLI', async () => {
    const [patch] = await json('/api/patches/?project=beta&order=-id');
    assert.equal(patch.check, 'pending');
    await get(`/api/patches/${patch.id}/`);
    const page = await get('/project/beta/list/');
    await withDb(data, (db) =>
      db.insertInto('checks').values({ patch_id: patch.id, user_id: null, date: '2026-12-07T04:30:00.000Z', state: 'success', target_url: null, context: 'ci', description: null }).execute(),
    );
    assert.equal((await json('/api/patches/?project=beta&order=-id'))[0].check, 'success');
    assert.equal((await json(`/api/patches/${patch.id}/`)).check, 'success');
    assert.notEqual((await get('/project/beta/list/')).etag, page.etag, 'the web page of the project shows checks too');

    // A user's name is in every answer that embeds them: the CLI's update is seen by the project list's maintainers.
    const projectsBefore = await get('/api/projects/');
    assert.match(projectsBefore.body, /"first_name":"Tom","last_name":"Teacher"/);
    await cli(['user', 'add', '--data', data, '--projects', projects, '--email', TEACHER, '--name', 'Tom Renamed', '--role', 'maintainer', '--update']);
    assert.match((await get('/api/projects/')).body, /"first_name":"Tom","last_name":"Renamed"/);
  });
});

describe('cache markers without their triggers', () => {
  it('falls back to one marker for every answer when a table lost its triggers (a later migration rebuilt it): never stale', async () => {
    const a = await startApiApp(['cover-letter']);
    try {
      await sql`drop trigger cache_gen_patches_update`.execute(a.h.db);
      const url = '/api/patches/?order=id';
      const [p] = await a.get(url);
      assert.equal(p.state, 'new');
      await a.get(url);
      await a.h.db.updateTable('patches').set({ state: 'accepted' }).where('id', '=', p.id).execute();
      assert.equal((await a.get(url))[0].state, 'accepted');
    } finally {
      await a.close();
    }
  });
});
