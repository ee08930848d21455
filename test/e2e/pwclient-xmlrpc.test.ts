// End to end: Python 3's standard xmlrpc.client, connected as pwclient connects, against `patchbay serve` as a
// process. It makes the calls pwclient's commands make (projects, states, list with its filters, info, get/git-am,
// update, check-create/list/info): reads anonymously, writes with the user's password, refused without it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { runCommand } from '../helpers/run-command.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';

// Debian's interpreter when there is one (a pyenv shim on PATH costs a second a start); its standard library only.
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const CALLS = path.join(ROOT, 'test/helpers/xmlrpc-calls.py');
const FIXTURES = path.join(ROOT, 'test/fixtures/series');
const TEACHER = { email: 'teacher@example.org', name: 'Tom Teacher', username: 'teacher', password: 'teacher-password-1' };
const ZOE = { email: 'zoe@students.example.org', name: 'Zoé Étudiante', username: 'zoe', password: 'zoe-password-12' };
const OLGA = { email: 'olga@students.example.org', name: 'Olga Other', username: 'olga', password: 'olga-password-1' };
const MISSING = [`${PYTHON} --version`, 'git --version'].filter((c) => {
  const [cmd, ...args] = c.split(' ');
  return spawnSync(cmd!, args, { stdio: 'ignore' }).status !== 0;
});

interface Call {
  method: string;
  params?: unknown[];
  as?: { username: string; password: string };
}
type Answer = { result: any } | { fault: { code: number; string: string } } | { error: string };

/** Patchwork's bytes fields, as the Python helper reports them. */
const bytes = (s: string) => ({ bytes: s });

describe('pwclient’s XML-RPC calls (Python xmlrpc.client) against patchbay serve', { skip: MISSING.length ? `not installed: ${MISSING.join(', ')}` : false }, () => {
  let server: ServerProcess;
  let data: string;
  let projects: string;
  let home: string;

  const cli = async (args: string[], input?: string) => {
    const r = await runCommand(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env: process.env, input });
    assert.equal(r.code, 0, `patchbay ${args.join(' ')}: ${r.output}`);
    return r.stdout;
  };

  /** Runs the calls in one Python process, in order. */
  async function rpc(calls: Call[]): Promise<Answer[]> {
    const input = JSON.stringify({
      url: `${server.baseUrl}/xmlrpc/`,
      calls: calls.map((c) => ({ method: c.method, params: c.params ?? [], ...(c.as ? { username: c.as.username, password: c.as.password } : {}) })),
    });
    const r = await runCommand(PYTHON, [CALLS], { cwd: home, env: { ...process.env, PYTHONIOENCODING: 'utf-8' }, input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `xmlrpc-calls.py failed: ${r.output}`);
    return JSON.parse(r.stdout) as Answer[];
  }
  const result = (a: Answer | undefined): any => {
    assert.ok(a && 'result' in a, `expected a result, got ${JSON.stringify(a)}`);
    return a.result;
  };
  const one = async (method: string, params: unknown[] = [], as?: Call['as']) => (await rpc([{ method, params, as }]))[0]!;
  const api = async (p: string) => (await (await fetch(`${server.baseUrl}/api${p}`)).json()) as any;

  before(async () => {
    data = tempDir('patchbay-xmlrpc-');
    home = tempDir('patchbay-xmlrpc-home-');
    projects = projectsDir([{ ...DEMO, maintainers: [TEACHER.email] }]);
    await cli(['user', 'add', '--email', TEACHER.email, '--name', TEACHER.name, '--role', 'maintainer', '--password-stdin'], `${TEACHER.password}\n`);
    await cli(['user', 'add', '--email', ZOE.email, '--name', ZOE.name, '--role', 'student', '--password-stdin'], `${ZOE.password}\n`);
    await cli(['user', 'add', '--email', OLGA.email, '--name', OLGA.name, '--role', 'student', '--password-stdin'], `${OLGA.password}\n`);
    // A 3-patch series with a cover letter, and 3 patches without one, both by Zoé.
    for (const f of ['cover-letter', 'no-cover']) assert.match(await cli(['import', '--project', DEMO.slug, path.join(FIXTURES, `${f}.mbox`)]), /imported \d+/);
    server = await startServer(['--data', data, '--projects', projects]);
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('answers `pwclient projects` and `pwclient states` (project_list, state_list) and the interface version', async () => {
    const [version, projectList, states] = await rpc([{ method: 'pw_rpc_version' }, { method: 'project_list', params: ['', 0] }, { method: 'state_list', params: ['', 0] }]);
    assert.deepEqual(result(version), [1, 3, 0]);
    assert.deepEqual(result(projectList), [{ id: 1, linkname: DEMO.slug, name: DEMO.name }]);
    assert.deepEqual(
      result(states).map((s: any) => `${s.id} ${s.name}`),
      ['1 New', '2 Under Review', '3 Accepted', '4 Rejected', '5 RFC', '6 Not Applicable', '7 Changes Requested', '8 Awaiting Upstream', '9 Superseded', '10 Deferred'],
    );
  });

  it('lists a project’s new patches as `pwclient list -p proctree -s New -n 4` does, with Patchwork’s fields and types', async () => {
    // pwclient looks the state and the project up by name, then lists with their ids.
    const [states, projectList] = await rpc([{ method: 'state_list', params: ['New', 0] }, { method: 'project_list', params: [DEMO.slug, 0] }]);
    const stateId = result(states).find((s: any) => s.name.toLowerCase().startsWith('new')).id;
    const projectId = result(projectList).find((p: any) => p.linkname === DEMO.slug).id;
    const patches = result(await one('patch_list', [{ max_count: 4, state_id: stateId, project_id: projectId }]));
    assert.equal(patches.length, 4);
    const p = patches[0];
    assert.deepEqual(Object.keys(p), ['id', 'date', 'filename', 'msgid', 'name', 'project', 'project_id', 'state', 'state_id', 'archived', 'submitter', 'submitter_id', 'delegate', 'delegate_id', 'commit_ref', 'hash']);
    assert.equal(p.name, '[1/3] proctree: read the children file');
    assert.equal(p.filename, '1-3-proctree-read-the-children-file');
    assert.equal(p.msgid, '<20261120100000.21562-2-zoe@students.example.org>');
    assert.deepEqual([p.project, p.state, p.submitter, p.delegate], [bytes(DEMO.name!), bytes('New'), bytes(`${ZOE.name} <${ZOE.email}>`), bytes('None')]);
    assert.deepEqual(p.date, bytes('2026-11-20 09:59:59'));
    assert.deepEqual([p.project_id, p.state_id, p.archived, p.delegate_id, p.commit_ref], [projectId, 1, false, 0, '']);
    assert.match(p.hash, /^[0-9a-f]{40}$/);
    // The last two (-N 2), and a name search (pwclient's name__icontains).
    const [all, last] = await rpc([
      { method: 'patch_list', params: [{ project_id: projectId }] },
      { method: 'patch_list', params: [{ max_count: -2, project_id: projectId }] },
    ]);
    assert.equal(result(all).length, 6);
    assert.deepEqual(result(last), result(all).slice(-2));
    const named = result(await one('patch_list', [{ name__icontains: 'COUNT THE', project_id: projectId }]));
    assert.deepEqual(named.map((x: any) => x.name), ['[2/3] proctree: count the children']);
  });

  it('finds patches by submitter as `pwclient list -w zoe` does (person_list, then patch_list per person)', async () => {
    const people = result(await one('person_list', ['zoe', 0]));
    const id: number = people[0].id;
    assert.deepEqual(people, [{ id, email: ZOE.email, name: ZOE.name, user: bytes(ZOE.username) }]);
    const patches = result(await one('patch_list', [{ submitter_id: id }]));
    assert.equal(patches.length, 6);
    assert.ok(patches.every((p: any) => p.submitter.bytes === `${ZOE.name} <${ZOE.email}>`));
    assert.deepEqual(result(await one('person_list', ['nobody-here', 0])), []);
  });

  it('shows a patch and downloads its mbox and diff (`pwclient info`, `get`, `git-am`): git am applies the mbox', async () => {
    const [info, mbox, diff, byHash, missing, missingMbox] = await rpc([
      { method: 'patch_get', params: [1] },
      { method: 'patch_get_mbox', params: [1] },
      { method: 'patch_get_diff', params: [1] },
      { method: 'patch_get_by_project_hash', params: [DEMO.slug, (await api('/patches/1/')).hash] },
      { method: 'patch_get', params: [9999] },
      { method: 'patch_get_mbox', params: [9999] },
    ]);
    assert.equal(result(info).id, 1);
    assert.deepEqual(result(byHash), result(info));
    assert.deepEqual(result(missing), {});
    assert.equal(result(missingMbox), '');
    // The same mbox as the web download.
    assert.equal(result(mbox), await (await fetch(`${server.baseUrl}/patch/1/mbox/`)).text());
    assert.equal(result(diff), (await api('/patches/1/')).diff);

    const repo = path.join(home, 'repo');
    fs.mkdirSync(repo);
    const env = { ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.org' };
    const git = async (...args: string[]) => {
      const r = await runCommand('git', args, { cwd: repo, env });
      assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.output}`);
      return r.stdout;
    };
    await git('init', '-q', '-b', 'main');
    await git('commit', '-q', '--allow-empty', '-m', 'base');
    fs.writeFileSync(path.join(home, `${result(info).filename}.patch`), result(mbox));
    await git('am', '-q', path.join(home, `${result(info).filename}.patch`));
    assert.equal((await git('log', '-1', '--format=%s%n%an <%ae>')).trim(), `proctree: read the children file\n${ZOE.name} <${ZOE.email}>`);
    assert.ok(fs.existsSync(path.join(repo, 'count/step1.c')));
  });

  it('updates state, archived and commit ref with the maintainer’s password (`pwclient update -s Accepted -c REF -a yes`)', async () => {
    const [states] = await rpc([{ method: 'state_list', params: ['Accepted', 0] }]);
    const accepted = result(states)[0].id;
    const [set, after] = await rpc([
      { method: 'patch_set', params: [2, { state: accepted, commit_ref: '1234abcd', archived: true }], as: TEACHER },
      { method: 'patch_get', params: [2] },
    ]);
    assert.equal(result(set), true);
    const p = result(after);
    assert.deepEqual([p.state, p.state_id, p.commit_ref, p.archived], [bytes('Accepted'), 3, '1234abcd', true]);
    // The REST API sees the same patch, and the change as an event by the maintainer.
    const rest = await api('/patches/2/');
    assert.deepEqual([rest.state, rest.commit_ref, rest.archived], ['accepted', '1234abcd', true]);
    const events = await api('/events/?category=patch-state-changed&patch=2');
    assert.equal(events.length, 1);
    assert.equal(events[0].actor.username, TEACHER.username);
    assert.deepEqual([events[0].payload.previous_state, events[0].payload.current_state], ['new', 'accepted']);
  });

  it('refuses patch_set without credentials, with a wrong password, and to a user who may not change the patch; nothing changes', async () => {
    const answers = await rpc([
      { method: 'patch_set', params: [3, { state: 4 }] },
      { method: 'patch_set', params: [3, { state: 4 }], as: { username: TEACHER.username, password: 'not-the-password' } },
      { method: 'patch_set', params: [3, { state: 4 }], as: OLGA },
      { method: 'patch_set', params: [9999, { state: 4 }], as: TEACHER },
      { method: 'patch_set', params: [3, { state: 99 }], as: TEACHER },
    ]);
    assert.deepEqual(
      answers.map((a) => ('fault' in a ? a.fault.string : JSON.stringify(a))),
      [
        "<class 'Exception'>:No authentication credentials given",
        "<class 'Exception'>:Invalid username/password",
        "<class 'Exception'>:No permissions to edit this patch",
        "<class 'patchwork.models.Patch.DoesNotExist'>:Patch matching query does not exist.",
        "<class 'patchwork.models.State.DoesNotExist'>:State matching query does not exist.",
      ],
    );
    assert.ok(answers.every((a) => 'fault' in a && a.fault.code === 1));
    assert.equal((await api('/patches/3/')).state, 'new');
    // The submitter may change her own patch (Patchwork's is_editable).
    assert.equal(result(await one('patch_set', [3, { state: 2 }], ZOE)), true);
    assert.equal((await api('/patches/3/')).state, 'under-review');
  });

  it('creates a check and reads it back (`pwclient check-create`, `check-list`, `check-info`); refuses a bad state', async () => {
    const [created, bad, anonymous] = await rpc([
      { method: 'check_create', params: [1, 'ci-build', 'success', 'https://ci.example.org/1', 'builds'], as: TEACHER },
      { method: 'check_create', params: [1, 'ci-build', 'passed', '', ''], as: TEACHER },
      { method: 'check_create', params: [1, 'ci-build', 'success', '', ''] },
    ]);
    assert.equal(result(created), true);
    assert.equal('fault' in bad! && bad.fault.string, "<class 'Exception'>:Invalid check state: passed");
    assert.equal('fault' in anonymous! && anonymous.fault.string, "<class 'Exception'>:No authentication credentials given");
    const [list, byUser, combined] = await rpc([
      { method: 'check_list', params: [{ patch_id: 1 }] },
      { method: 'check_list', params: [{ user: TEACHER.username }] },
      { method: 'patch_check_get', params: [1] },
    ]);
    const checks = result(list);
    assert.equal(checks.length, 1);
    assert.deepEqual(
      { ...checks[0], id: 0, date: null },
      { id: 0, date: null, patch: bytes('[1/3] proctree: read the children file'), patch_id: 1, user: bytes(TEACHER.username), user_id: 1, state: 'success', target_url: 'https://ci.example.org/1', description: 'builds', context: 'ci-build' },
    );
    assert.match(checks[0].date.bytes, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$/);
    assert.deepEqual(result(byUser), checks);
    assert.deepEqual(result(await one('check_get', [checks[0].id])), checks[0]);
    assert.deepEqual(result(combined), { state: 'success', total: 1, checks });
    // The REST API shows the same check.
    const rest = await api('/patches/1/checks/');
    assert.deepEqual([rest.length, rest[0].context, rest[0].state, rest[0].user.username], [1, 'ci-build', 'success', TEACHER.username]);
  });

  it('serves /project/proctree/pwclientrc/ that configparser reads, naming the signed-in user', async () => {
    // Sign in through the web form (its CSRF cookie and field), then download the file with the session.
    const form = await fetch(`${server.baseUrl}/login/`);
    const csrfCookie = form.headers.getSetCookie().find((c) => c.startsWith('patchbay_csrf='))!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]*)"/.exec(await form.text())![1]!;
    const login = await fetch(`${server.baseUrl}/login/`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: TEACHER.username, password: TEACHER.password, csrf, next: '/' }),
    });
    assert.equal(login.status, 303);
    const session = login.headers.getSetCookie().find((c) => c.startsWith('patchbay_session='))!.split(';')[0]!;

    const read = async (cookie?: string) => {
      const r = await fetch(`${server.baseUrl}/project/${DEMO.slug}/pwclientrc/`, { headers: cookie ? { cookie } : {} });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-disposition'), 'attachment; filename=.pwclientrc');
      const file = path.join(home, `pwclientrc-${cookie ? 'user' : 'anonymous'}`);
      fs.writeFileSync(file, await r.text());
      const py = spawnSync(PYTHON, ['-c', 'import configparser, json, sys; c = configparser.ConfigParser(); c.read(sys.argv[1]); print(json.dumps({s: dict(c[s]) for s in c.sections()}))', file], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      return JSON.parse(py.stdout) as Record<string, Record<string, string>>;
    };
    assert.deepEqual(await read(), { [DEMO.slug]: { backend: 'xmlrpc', url: `${server.baseUrl}/xmlrpc/` } });
    assert.deepEqual(await read(session), { [DEMO.slug]: { backend: 'xmlrpc', url: `${server.baseUrl}/xmlrpc/`, username: TEACHER.username, password: '<your patchbay password>' } });
    assert.equal((await fetch(`${server.baseUrl}/project/no-such-project/pwclientrc/`)).status, 404);
  });
});
