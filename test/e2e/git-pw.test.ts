// End to end: Debian's git-pw 2.0 against the server as a process. A 3-patch series and its v2 arrive by `git send-email`;
// git-pw lists, shows, downloads and applies them, updates patches with a token (and fails without one), and keeps bundles.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { runCommand } from '../helpers/run-command.js';

const AUTHOR = { name: 'Zoé Étudiante', email: 'zoe@students.example.org' };
const TEACHER = { name: 'Tea Cher', email: 'teacher@example.org', username: 'teacher' };
const HELPER = { name: 'Hel Per', email: 'helper@example.org', username: 'helper', password: 'correct horse battery' };
const PROJECT = { ...DEMO, maintainers: [TEACHER.email, HELPER.email] };
const MISSING = ['git-pw --help', 'git send-email --dump-aliases'].filter((c) => {
  const [cmd, ...args] = c.split(' ');
  return spawnSync(cmd!, args, { stdio: 'ignore' }).status !== 0;
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const run = (cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<Run> => runCommand(cmd, args, opts);

function must(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** CSV output of git-pw (`-f csv`): a header row, then one row per item; fields may be quoted. */
function csv(text: string): Record<string, string>[] {
  const rows = text
    .trim()
    .split('\n')
    .map((line) => [...line.matchAll(/("((?:[^"]|"")*)"|[^,]*)(,|$)/g)].filter((m) => m.index! < line.length || m[0] !== '').map((m) => (m[2] !== undefined ? m[2].replace(/""/g, '"') : m[1]!)));
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i] ?? ''])));
}

describe('git-pw 2.0 against patchbay', { skip: MISSING.length ? `not installed: ${MISSING.join(', ')} (.ci/setup installs git-pw and git-email)` : false }, () => {
  let server: ServerProcess;
  let data: string;
  let projects: string;
  let home: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let token: string;
  const api = (p: string, init?: RequestInit) => fetch(`${server.baseUrl}/api${p}`, init);
  const apiJson = async <T = any>(p: string): Promise<T> => (await (await api(p, { headers: { authorization: `Token ${token}` } })).json()) as T;
  const git = async (cwd: string, ...args: string[]) => must(await run('git', args, { cwd, env }), `git ${args.join(' ')}`);
  const pw = (cwd: string, ...args: string[]) => run('git', ['pw', ...args], { cwd, env });
  const cli = async (args: string[], input?: string) => must(await run(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env: process.env, input }), `patchbay ${args.join(' ')}`);

  /** A clone of the tree at the base commit, with git-pw configured as the brief says (API 1.2, project, token). */
  async function clone(name: string): Promise<string> {
    const dir = path.join(home, name);
    await git(home, 'clone', '-q', repo, dir);
    await git(dir, 'reset', '-q', '--hard', 'base');
    await git(dir, 'config', 'pw.server', `${server.baseUrl}/api/1.2`);
    await git(dir, 'config', 'pw.project', PROJECT.slug);
    await git(dir, 'config', 'pw.token', token);
    return dir;
  }

  async function send(files: string[]): Promise<void> {
    const sent = await run(
      'git',
      ['send-email', '--smtp-server=127.0.0.1', `--smtp-server-port=${server.smtpPort}`, '--smtp-domain=students.example.org', `--to=${PROJECT.list}`, '--confirm=never', '--no-chain-reply-to', '--suppress-cc=all', '--8bit-encoding=UTF-8', ...files],
      { cwd: repo, env },
    );
    must(sent, 'git send-email');
  }

  before(async () => {
    data = tempDir('patchbay-gitpw-');
    projects = projectsDir([PROJECT]);
    home = tempDir('patchbay-gitpw-home-');
    env = {
      ...process.env,
      HOME: home,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: AUTHOR.name,
      GIT_AUTHOR_EMAIL: AUTHOR.email,
      GIT_COMMITTER_NAME: AUTHOR.name,
      GIT_COMMITTER_EMAIL: AUTHOR.email,
      GIT_PAGER: 'cat',
      PAGER: 'cat',
      PW_SERVER: '',
      PW_PROJECT: '',
      PW_TOKEN: '',
      PW_USERNAME: '',
      PW_PASSWORD: '',
    };
    for (const k of ['PW_SERVER', 'PW_PROJECT', 'PW_TOKEN', 'PW_USERNAME', 'PW_PASSWORD']) delete env[k];

    await cli(['user', 'add', '--email', TEACHER.email, '--name', TEACHER.name, '--role', 'maintainer']);
    await cli(['user', 'add', '--email', HELPER.email, '--name', HELPER.name, '--role', 'maintainer', '--password-stdin'], `${HELPER.password}\n`);
    token = (await cli(['token', 'create', '--email', TEACHER.email])).trim();
    assert.match(token, /^[0-9a-f]{40}$/);
    server = await startServer(['--data', data, '--projects', projects]);

    // The tree: a base commit (tagged) and three commits on top; v1 is sent, then the third is reworked and v2 sent.
    repo = path.join(home, 'repo');
    fs.mkdirSync(repo);
    await git(repo, 'init', '-q', '-b', 'master');
    await git(repo, 'config', 'user.name', AUTHOR.name);
    await git(repo, 'config', 'user.email', AUTHOR.email);
    fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(void)\n{\n\treturn 0;\n}\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-qm', 'initial');
    await git(repo, 'tag', 'base');
    fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(int pid)\n{\n\treturn pid;\n}\n');
    await git(repo, 'commit', '-qas', '-m', 'proctree: take the pid', '-m', 'The syscall needs to know which process to walk.');
    fs.writeFileSync(path.join(repo, 'README'), 'proctree: décrit l’arbre des processus.\n');
    await git(repo, 'add', 'README');
    await git(repo, 'commit', '-qs', '-m', 'doc: décrire l’appel système proctree');
    fs.writeFileSync(path.join(repo, 'test.sh'), '#!/bin/sh\nlava-test-case proctree --result pass\n');
    await git(repo, 'add', 'test.sh');
    await git(repo, 'commit', '-qs', '-m', 'tests: add the proctree test case');

    const cover = (dir: string, blurb: string) => {
      const file = path.join(dir, fs.readdirSync(dir).find((f) => f.includes('0000-cover-letter'))!);
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('*** SUBJECT HERE ***', 'proctree: a syscall that walks the process tree').replace('*** BLURB HERE ***', blurb));
      return fs.readdirSync(dir).sort().map((f) => path.join(dir, f));
    };
    const v1 = path.join(home, 'v1');
    await git(repo, 'format-patch', '-q', '--cover-letter', '-3', '-o', v1);
    await send(cover(v1, 'Three steps, one test.'));
    await waitFor('v1 filed', async () => ((await apiJson<any[]>('/series/')).some((s) => s.received_all) ? true : null), 60_000);

    fs.writeFileSync(path.join(repo, 'test.sh'), '#!/bin/sh\nlava-test-case proctree --result pass\nlava-test-case proctree-children --result pass\n');
    await git(repo, 'commit', '-qa', '--amend', '--no-edit');
    const v2 = path.join(home, 'v2');
    await git(repo, 'format-patch', '-q', '-v2', '--cover-letter', '-3', '-o', v2);
    await send(cover(v2, 'v2: a second test case.'));
    await waitFor('v2 filed', async () => ((await apiJson<any[]>('/series/')).filter((s) => s.received_all).length === 2 ? true : null), 60_000);
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('lists and shows both revisions with series list / series show', async () => {
    const dir = await clone('lists');
    const list = csv(must(await pw(dir, 'series', 'list', '-f', 'csv'), 'series list'));
    assert.deepEqual(list.map((s) => s.Name).sort(), ['proctree: a syscall that walks the process tree', 'proctree: a syscall that walks the process tree'].sort());
    assert.deepEqual(list.map((s) => s.Version).sort(), ['1', '2']);
    assert.ok(list.every((s) => s.Submitter === `${AUTHOR.name} (${AUTHOR.email})`), JSON.stringify(list));

    const v2 = list.find((s) => s.Version === '2')!;
    const show = must(await pw(dir, 'series', 'show', v2.ID!, '-f', 'csv'), 'series show');
    const fields = Object.fromEntries(csv(show).map((r) => [r.Property, r.Value]));
    assert.equal(fields.Version, '2');
    assert.equal(fields.Received, '3 of 3');
    assert.equal(fields.Complete, 'True');
    // git-pw shows "ID  name": the cover's name as Patchwork stores it, position and version kept, PATCH dropped.
    assert.match(fields['Cover']!, /^\d+ +\[v2,0\/3\] proctree: a syscall that walks the process tree$/);
    assert.match(show, /tests: add the proctree test case/);
  });

  it('applies a series onto a clone of the tree (series apply) and downloads its mbox (series download)', async () => {
    const dir = await clone('series-apply');
    const v1 = (await apiJson<any[]>('/series/?order=id'))[0];
    must(await pw(dir, 'series', 'apply', String(v1.id)), 'series apply');
    const log = await git(dir, 'log', '--format=%s', 'base..HEAD');
    assert.deepEqual(log.trim().split('\n').reverse(), ['proctree: take the pid', 'doc: décrire l’appel système proctree', 'tests: add the proctree test case']);
    assert.equal(fs.readFileSync(path.join(dir, 'test.sh'), 'utf8'), '#!/bin/sh\nlava-test-case proctree --result pass\n');

    const out = path.join(dir, 'v1.mbox');
    must(await pw(dir, 'series', 'download', String(v1.id), out), 'series download');
    const mbox = fs.readFileSync(out, 'utf8');
    assert.equal(mbox.match(/^From patchwork /gm)?.length, 3);
    assert.match(mbox, /^X-Patchwork-Id: /m);
  });

  it('lists new patches, shows one, and applies one with its predecessors (patch list / show / apply)', async () => {
    const dir = await clone('patch-apply');
    const listed = csv(must(await pw(dir, 'patch', 'list', '--state', 'new', '-f', 'csv'), 'patch list'));
    // v2 superseded v1's patches once it was complete: only v2's three are new.
    assert.equal(listed.length, 3, JSON.stringify(listed));
    assert.ok(listed.every((p) => p.State === 'new'));
    const third = listed.find((p) => /tests: add the proctree test case/.test(p.Name!))!;
    assert.ok(third, JSON.stringify(listed));
    assert.equal(third.Name, '[v2,3/3] tests: add the proctree test case');

    const show = must(await pw(dir, 'patch', 'show', third.ID!, '-f', 'csv'), 'patch show');
    const fields = Object.fromEntries(csv(show).map((r) => [r.Property, r.Value]));
    assert.equal(fields.ID, third.ID);
    assert.equal(fields.State, 'new');
    assert.equal(fields.Project, PROJECT.name);
    assert.match(fields.Series!, /proctree: a syscall that walks the process tree/);
    assert.match(fields['Message ID']!, /^<.+@students\.example\.org>$/);

    // git-pw asks for <mbox>?series=*: the patches before it in its series come first, so it applies onto the base.
    must(await pw(dir, 'patch', 'apply', third.ID!), 'patch apply');
    const log = await git(dir, 'log', '--format=%s', 'base..HEAD');
    assert.equal(log.trim().split('\n').length, 3);
    assert.match(fs.readFileSync(path.join(dir, 'test.sh'), 'utf8'), /proctree-children/);
  });

  it('updates a patch with a token (state, delegate, archived) and refuses without one or with a wrong one', async () => {
    const dir = await clone('update');
    const [patch] = await apiJson<any[]>('/patches/?state=new&order=id');
    const id = String(patch.id);

    const accepted = csv(must(await pw(dir, 'patch', 'update', '--state', 'accepted', id, '-f', 'csv'), 'patch update --state'));
    assert.equal(Object.fromEntries(accepted.map((r) => [r.Property, r.Value])).State, 'accepted');
    assert.equal((await apiJson(`/patches/${id}/`)).state, 'accepted');

    // By email: git-pw looks the user up with /users/?q= and sends the id it finds.
    must(await pw(dir, 'patch', 'update', '--delegate', HELPER.email, id), 'patch update --delegate');
    assert.equal((await apiJson(`/patches/${id}/`)).delegate.username, HELPER.username);

    must(await pw(dir, 'patch', 'update', '--archived', 'yes', id), 'patch update --archived');
    assert.equal((await apiJson(`/patches/${id}/`)).archived, true);

    const events = await apiJson<any[]>(`/events/?patch=${id}&category=patch-state-changed`);
    assert.equal(events[0].actor.username, TEACHER.username);
    assert.deepEqual([events[0].payload.previous_state, events[0].payload.current_state], ['new', 'accepted']);

    // Without a token git-pw itself refuses; with a wrong one the server answers 403 and git-pw exits non-zero.
    await git(dir, 'config', '--unset', 'pw.token');
    const anonymous = await pw(dir, 'patch', 'update', '--state', 'rejected', id);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stdout + anonymous.stderr, /Authentication information missing/);
    await git(dir, 'config', 'pw.token', '0'.repeat(40));
    const wrong = await pw(dir, 'patch', 'update', '--state', 'rejected', id);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stdout + wrong.stderr, /Invalid token/);
    assert.equal((await apiJson(`/patches/${id}/`)).state, 'accepted');

    // HTTP basic with a password set by `patchbay user add --password-stdin` works as well.
    await git(dir, 'config', '--unset', 'pw.token');
    await git(dir, 'config', 'pw.username', HELPER.username);
    await git(dir, 'config', 'pw.password', HELPER.password);
    must(await pw(dir, 'patch', 'update', '--state', 'under-review', id), 'patch update with basic auth');
    assert.equal((await apiJson(`/patches/${id}/`)).state, 'under-review');
  });

  it('creates, lists, shows, changes and deletes a bundle (bundle create / list / show / add / remove / delete)', async () => {
    const dir = await clone('bundles');
    const series = (await apiJson<any[]>('/series/?order=id'))[1];
    const [a, b, c] = series.patches.map((p: { id: number }) => String(p.id));

    const created = must(await pw(dir, 'bundle', 'create', 'for-next', a, b, '-f', 'csv'), 'bundle create');
    assert.equal(Object.fromEntries(csv(created).map((r) => [r.Property, r.Value])).Name, 'for-next');

    const list = csv(must(await pw(dir, 'bundle', 'list', '-f', 'csv'), 'bundle list'));
    assert.deepEqual(list.map((r) => [r.Name, r.Owner, r.Public]), [['for-next', TEACHER.username, 'no']]);

    // By name: git-pw searches /bundles/?q= and uses the list item, which carries the patches and the mbox URL.
    const show = must(await pw(dir, 'bundle', 'show', 'for-next', '-f', 'csv'), 'bundle show');
    assert.match(show, new RegExp(`${a}.*\\n.*${b}`));
    // git-pw 2.0 PATCHes /bundles/<what it was given>/, so changes address the bundle by id (as with Patchwork).
    const id = list[0]!.ID!;
    must(await pw(dir, 'bundle', 'add', id, c), 'bundle add');
    // git-pw sends the new ids first, then the bundle's: the list is replaced in the order given.
    assert.deepEqual((await apiJson(`/bundles/${id}/`)).patches.map((p: { id: number }) => String(p.id)), [c, a, b]);
    must(await pw(dir, 'bundle', 'remove', id, a), 'bundle remove');
    assert.deepEqual((await apiJson(`/bundles/${id}/`)).patches.map((p: { id: number }) => String(p.id)), [c, b]);
    assert.equal((await api(`/bundles/${id}/`)).status, 404, 'private: hidden from others');
    must(await pw(dir, 'bundle', 'update', id, '--public'), 'bundle update --public');
    assert.equal((await (await api(`/bundles/${id}/`)).json()).public, true, 'public: visible anonymously');

    must(await pw(dir, 'bundle', 'delete', id), 'bundle delete');
    assert.equal((await api(`/bundles/${id}/`, { headers: { authorization: `Token ${token}` } })).status, 404);
  });
});
