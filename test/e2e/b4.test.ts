// End to end: Debian's b4 0.12 and git am against the server as a process. git send-email posts a 3-patch series
// with a cover letter; b4 am / b4 shazam fetch it from the public-inbox-style archive; git am applies Patchwork's
// /series/N/mbox/ and /patch/N/mbox/; a v2 in reply and a standalone v3 are found by b4 am -c.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listMails } from '../../src/db/mail.repository.js';
import { listPatches, listSeries } from '../../src/db/series.repository.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { runCommand } from '../helpers/run-command.js';

const LIST = DEMO.list;
const ZOE = { name: 'Zoé Étudiante', email: 'zoe@students.example.org' };
const TOM = { name: 'Tom Teacher', email: 'teacher@example.org' };
const CHANGE_ID = '20261127-proctree-syscall-0123456789ab';
const COVER_TITLE = 'proctree: a syscall that walks the process tree';
const B4_MISSING = spawnSync('b4', ['--version'], { stdio: 'ignore' }).status !== 0;
const SEND_EMAIL_MISSING = spawnSync('git', ['send-email', '--dump-aliases'], { stdio: 'ignore' }).status !== 0;

interface Run {
  code: number | null;
  output: string;
}

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> => runCommand(cmd, args, { cwd, env });

async function ok(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, cwd, env);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}:\n${r.output}`);
  return r.output;
}

const log = (repo: string, env: NodeJS.ProcessEnv, n: number) => ok('git', ['log', `-${n}`, '--reverse', '--format=%s%n%b%x00'], repo, env).then((o) => o.split('\0\n').filter(Boolean).map((c) => c.trim()));

describe('b4 and git am against the archive', { skip: B4_MISSING ? 'b4 is not installed (Debian package b4; .ci/setup installs it)' : SEND_EMAIL_MISSING ? 'git send-email is not installed' : false }, () => {
  let server: ServerProcess;
  let data: string;
  let home: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let projectId: number;
  const covers: Record<string, string> = {};

  /** A clone of the repository reset to the commit the series was made on. */
  async function cloneAtBase(name: string): Promise<string> {
    const dir = path.join(home, name);
    await ok('git', ['clone', '-q', repo, dir], home, env);
    await ok('git', ['checkout', '-q', '-B', 'work', 'base'], dir, env);
    return dir;
  }

  /** git format-patch with a cover letter whose subject and blurb a student fills in (with b4's change-id line). */
  async function formatSeries(out: string, extra: string[], blurb: string): Promise<string[]> {
    await ok('git', ['format-patch', '-q', '--cover-letter', '-o', out, ...extra, 'base..HEAD'], repo, env);
    const files = fs.readdirSync(out).sort().map((f) => path.join(out, f));
    const cover = files[0]!;
    fs.writeFileSync(cover, fs.readFileSync(cover, 'utf8').replace('*** SUBJECT HERE ***', COVER_TITLE).replace('*** BLURB HERE ***', `${blurb}\n\nchange-id: ${CHANGE_ID}`));
    return files;
  }

  async function send(files: string[], from: { name: string; email: string }, extra: string[] = []): Promise<void> {
    await ok(
      'git',
      ['send-email', '--quiet', '--smtp-server=127.0.0.1', `--smtp-server-port=${server.smtpPort}`, '--smtp-domain=students.example.org', `--from=${from.name} <${from.email}>`, `--to=${LIST}`, '--confirm=never', '--suppress-cc=all', '--8bit-encoding=UTF-8', ...extra, ...files],
      repo,
      env,
    );
  }

  /** Waits until n list posts are processed, then returns their Message-IDs by subject. */
  async function processed(n: number): Promise<Map<string, string>> {
    const rows = await waitFor(`${n} list posts processed`, () =>
      withDb(data, async (db) => {
        const all = await listMails(db, { route: 'list' });
        return all.length >= n && all.every((m) => m.state === 'processed') ? all : null;
      }),
    );
    return new Map(rows.map((r) => [r.subject ?? '', r.msgid]));
  }

  before(async () => {
    data = tempDir();
    const projects = projectsDir([DEMO]);
    await seedProject(data, projects, 'proctree', {});
    server = await startServer(['--data', data, '--projects', projects]);
    projectId = await withDb(data, async (db) => (await db.selectFrom('projects').select('id').where('slug', '=', 'proctree').executeTakeFirstOrThrow()).id);

    home = tempDir('patchbay-b4-');
    env = {
      ...process.env,
      HOME: home,
      XDG_CACHE_HOME: path.join(home, '.cache'),
      XDG_CONFIG_HOME: path.join(home, '.config'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: ZOE.name,
      GIT_AUTHOR_EMAIL: ZOE.email,
      GIT_COMMITTER_NAME: ZOE.name,
      GIT_COMMITTER_EMAIL: ZOE.email,
      LC_ALL: 'C.UTF-8',
    };
    const config = (k: string, v: string) => ok('git', ['config', '--global', k, v], home, env);
    await config('user.name', ZOE.name);
    await config('user.email', ZOE.email);
    await config('b4.midmask', `${server.baseUrl}/all/%s`);
    await config('b4.linkmask', `${server.baseUrl}/all/%s`);
    await config('b4.searchmask', `${server.baseUrl}/all/?x=m&t=1&q=%s`);
    // Nothing here is signed: b4 must not go looking for keys or DKIM records.
    await config('b4.attestation-policy', 'off');

    repo = path.join(home, 'proctree');
    fs.mkdirSync(repo);
    await ok('git', ['init', '-q', '-b', 'master'], repo, env);
    fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(void)\n{\n\treturn 0;\n}\n');
    await ok('git', ['add', '.'], repo, env);
    await ok('git', ['commit', '-qm', 'proctree: initial version'], repo, env);
    await ok('git', ['tag', 'base'], repo, env);
    fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(int pid)\n{\n\treturn pid;\n}\n');
    await ok('git', ['commit', '-qas', '-m', 'proctree: take the pid', '-m', 'The syscall needs to know which process to walk.\nFrom now on, the pid is its argument.'], repo, env);
    fs.writeFileSync(path.join(repo, 'README'), 'proctree: décrit l’arbre des processus.\n');
    await ok('git', ['add', 'README'], repo, env);
    await ok('git', ['commit', '-qs', '-m', 'doc: décrire l’appel système proctree', '-m', 'Écrit en français.'], repo, env);
    fs.writeFileSync(path.join(repo, 'test.sh'), '#!/bin/sh\nlava-test-case proctree --result pass\n');
    await ok('git', ['add', 'test.sh'], repo, env);
    await ok('git', ['commit', '-qs', '-m', 'tests: add the proctree test'], repo, env);

    await send(await formatSeries(path.join(home, 'v1'), [], 'Three steps, one test.'), ZOE);
    const v1 = await processed(4);
    covers.v1 = v1.get(`[PATCH 0/3] ${COVER_TITLE}`)!;
    assert.ok(covers.v1, [...v1.keys()].join('\n'));

    // Tom reviews 2/3 from his mail client: a reply with a Reviewed-by trailer.
    const reply = path.join(home, 'review.eml');
    const p2 = v1.get('[PATCH 2/3] doc: décrire l’appel système proctree')!;
    fs.writeFileSync(
      reply,
      `From: ${TOM.name} <${TOM.email}>\nSubject: Re: [PATCH 2/3] doc: décrire l’appel système proctree\nIn-Reply-To: <${p2}>\nReferences: <${covers.v1}> <${p2}>\nContent-Type: text/plain; charset=UTF-8\n\n> Écrit en français.\n\nClear enough.\n\nReviewed-by: ${TOM.name} <${TOM.email}>\n`,
    );
    await send([reply], TOM);
    await processed(5);
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it('b4 am fetches the thread by the cover letter\'s Message-ID and writes the series; git am applies it in a clone', async () => {
    const out = path.join(home, 'am');
    fs.mkdirSync(out);
    const said = await ok('b4', ['am', '-o', out, covers.v1!], repo, env);
    assert.match(said, /Total patches: 3/);
    const mbx = fs.readdirSync(out).filter((f) => f.endsWith('.mbx'));
    assert.equal(mbx.length, 1, said);
    assert.ok(fs.readdirSync(out).some((f) => f.endsWith('.cover')));
    const clone = await cloneAtBase('clone-b4-am');
    await ok('git', ['am', path.join(out, mbx[0]!)], clone, env);
    const commits = await log(clone, env, 3);
    assert.deepEqual(
      commits.map((c) => c.split('\n')[0]),
      ['proctree: take the pid', 'doc: décrire l’appel système proctree', 'tests: add the proctree test'],
    );
    // b4 collected Tom's trailer from the thread, and the commit message kept its "From " line.
    assert.match(commits[1]!, /^Reviewed-by: Tom Teacher <teacher@example.org>$/m);
    assert.match(commits[0]!, /^From now on, the pid is its argument\.$/m);
    assert.equal(fs.readFileSync(path.join(clone, 'README'), 'utf8'), 'proctree: décrit l’arbre des processus.\n');
  });

  it('b4 am finds the archive through the per-list midmask: HEAD, 301, then t.mbox.gz', async () => {
    const clone = await cloneAtBase('clone-midmask');
    await ok('git', ['config', 'b4.midmask', `${server.baseUrl}/proctree/%s`], clone, env);
    const out = path.join(home, 'am-list');
    fs.mkdirSync(out);
    const said = await ok('b4', ['am', '-C', '-o', out, covers.v1!], clone, env);
    assert.match(said, new RegExp(`Looking up ${server.baseUrl}/proctree/`));
    assert.match(said, new RegExp(`Grabbing thread from 127\\.0\\.0\\.1:${server.httpPort}/proctree/`));
    assert.match(said, /Total patches: 3/);
  });

  it('b4 shazam applies the series to the checked-out tree', async () => {
    const clone = await cloneAtBase('clone-shazam');
    const said = await ok('b4', ['shazam', covers.v1!], clone, env);
    assert.match(said, /Applying: tests: add the proctree test/);
    const commits = await log(clone, env, 3);
    assert.deepEqual(
      commits.map((c) => c.split('\n')[0]),
      ['proctree: take the pid', 'doc: décrire l’appel système proctree', 'tests: add the proctree test'],
    );
  });

  it('git am applies /series/N/mbox/ and /patch/N/mbox/?series=*, with the reviewer\'s tag from Patchwork\'s mbox', async () => {
    const { seriesId, patches } = await withDb(data, async (db) => {
      const s = (await listSeries(db, projectId)).find((x) => x.name === COVER_TITLE)!;
      return { seriesId: s.id, patches: (await listPatches(db, projectId)).filter((p) => p.series_id === s.id).sort((a, b) => a.number - b.number) };
    });
    assert.equal(patches.length, 3);

    const series = await fetch(`${server.baseUrl}/series/${seriesId}/mbox/`);
    assert.equal(series.status, 200);
    assert.match(series.headers.get('content-disposition')!, /^attachment; filename=proctree-a-syscall-that-walks-the-process-tree\.patch$/);
    const seriesFile = path.join(home, 'series.mbox');
    fs.writeFileSync(seriesFile, Buffer.from(await series.arrayBuffer()));
    const a = await cloneAtBase('clone-series-mbox');
    await ok('git', ['am', seriesFile], a, env);
    const commits = await log(a, env, 3);
    assert.deepEqual(
      commits.map((c) => c.split('\n')[0]),
      ['proctree: take the pid', 'doc: décrire l’appel système proctree', 'tests: add the proctree test'],
    );
    assert.match(commits[1]!, /Signed-off-by: Zoé Étudiante <zoe@students.example.org>\nReviewed-by: Tom Teacher <teacher@example.org>$/);
    const authors = (await ok('git', ['log', '-3', '--format=%an <%ae>'], a, env)).trim().split('\n');
    assert.deepEqual(authors, Array(3).fill(`${ZOE.name} <${ZOE.email}>`));

    // git-pw patch apply: the last patch with its dependencies (?series=*), then one patch alone.
    const b = await cloneAtBase('clone-patch-mbox');
    const withDeps = path.join(home, 'patch-deps.mbox');
    fs.writeFileSync(withDeps, Buffer.from(await (await fetch(`${server.baseUrl}/patch/${patches[2]!.id}/mbox/?series=*`)).arrayBuffer()));
    await ok('git', ['am', withDeps], b, env);
    assert.equal((await log(b, env, 3)).length, 3);
    const c = await cloneAtBase('clone-one-patch');
    const one = path.join(home, 'patch-one.mbox');
    fs.writeFileSync(one, Buffer.from(await (await fetch(`${server.baseUrl}/patch/${patches[0]!.id}/mbox/`)).arrayBuffer()));
    await ok('git', ['am', one], c, env);
    assert.deepEqual((await log(c, env, 1)).map((m) => m.split('\n')[0]), ['proctree: take the pid']);
  });

  it('b4 am -c on v1 reports the v2 sent in reply, then a standalone v3 that only the search finds', async () => {
    // v2: a better test name, sent in reply to the v1 cover letter.
    await ok('git', ['commit', '-q', '--amend', '-s', '-m', 'tests: add the proctree test case'], repo, env);
    await send(await formatSeries(path.join(home, 'v2'), ['-v2'], 'v2: a clearer test name.'), ZOE, [`--in-reply-to=<${covers.v1}>`]);
    await processed(9);
    const out2 = path.join(home, 'am-v2');
    fs.mkdirSync(out2);
    const said2 = await ok('b4', ['am', '-c', '-C', '-o', out2, covers.v1!], repo, env);
    assert.match(said2, /Checking for newer revisions/);
    assert.match(said2, /Will use the latest revision: v2/);
    assert.ok(fs.readdirSync(out2).some((f) => f.startsWith('v2_') && f.endsWith('.mbx')), said2);

    // v3 in a thread of its own: same cover title and change-id, so only POST /all/?x=m&q=… can find it.
    await send(await formatSeries(path.join(home, 'v3'), ['-v3'], 'v3: rebased.'), ZOE);
    await processed(13);
    const out3 = path.join(home, 'am-v3');
    fs.mkdirSync(out3);
    const said3 = await ok('b4', ['am', '-c', '-C', '-o', out3, covers.v1!], repo, env);
    assert.match(said3, /Added from v3: 4 patches/);
    assert.match(said3, /Will use the latest revision: v3/);
    const mbx = fs.readdirSync(out3).find((f) => f.startsWith('v3_') && f.endsWith('.mbx'));
    assert.ok(mbx, said3);
    const clone = await cloneAtBase('clone-v3');
    await ok('git', ['am', path.join(out3, mbx)], clone, env);
    assert.deepEqual((await log(clone, env, 1)).map((m) => m.split('\n')[0]), ['tests: add the proctree test case']);
  });
});
