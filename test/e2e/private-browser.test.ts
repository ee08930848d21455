// End to end in a browser (issue 14's "Must show"): a private course project on the server as a process; two roster
// students each send a patch with `git send-email` and the pipeline grades it; in headless Chromium, a student logs
// in and sees her own series and its grade, and gets 404 for her classmate's series, mbox, log and archive post; the
// teacher sees both; anonymous sees nothing of the project.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { msgidSegment } from '../../src/mail/archive-layout.js';
import { CHROMIUM_SKIP, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { commit, edit, KERNEL_LAB, PIPELINE_E2E_SKIP, send, studentClone, type Run, type Student } from '../helpers/pipeline-e2e.js';
import { runCommand } from '../helpers/run-command.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const SKIP = CHROMIUM_SKIP || PIPELINE_E2E_SKIP;
const LAB = { ...KERNEL_LAB, slug: 'private-lab', name: 'Private Lab', list: 'private-lab@lists.example.org', visibility: 'private' };
const TEACHER = { email: 'teacher@example.org', name: 'Tea Cher', username: 'teacher', password: 'a long passphrase for the lab' };
const ZOE: Student & { username: string; password: string } = { name: 'Zoe Student', email: 'zoe@students.example.org', username: 'zoe', password: 'zoe passphrase 1234' };
const OLGA: Student & { username: string; password: string } = { name: 'Olga Student', email: 'olga@students.example.org', username: 'olga', password: 'olga passphrase 1234' };

describe('a private project in Chromium', { skip: SKIP }, () => {
  let server: ServerProcess;
  let browser: TestBrowser;
  let data: string;
  let page: Page;
  let zoe: { series: number; msgid: string; run: Run };
  let olga: { series: number; msgid: string; run: Run };

  const basic = (u: { username: string; password: string }) => `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
  /** The API as the teacher: anonymous sees nothing of a private project. */
  async function asTeacher<T>(p: string): Promise<T> {
    const res = await fetch(`${server.baseUrl}${p}`, { headers: { authorization: basic(TEACHER) } });
    assert.equal(res.status, 200, `GET ${p}: ${res.status}`);
    return (await res.json()) as T;
  }
  async function submit(student: Student, file: string): Promise<{ series: number; msgid: string; run: Run }> {
    const { repo, env } = studentClone([file], student);
    edit(repo, file, (t) => `${t}\n/* lab: ${student.name}'s note */\n`);
    commit(repo, env, `${path.basename(file, '.c')}: add ${student.name}'s note`);
    const [msgid] = await send(server, repo, env, 1, { from: student, to: LAB.list });
    const series = await waitFor(`the series of <${msgid}>`, async () => (await asTeacher<{ series: { id: number }[] }[]>(`/api/patches/?msgid=${encodeURIComponent(msgid!)}`))[0]?.series[0]?.id);
    const run = await waitFor(
      'the run to end',
      async () => {
        const runs = await asTeacher<Run[]>(`/series/${series}/runs/`);
        const last = runs[runs.length - 1];
        return last?.state === 'done' ? last : undefined;
      },
      240_000,
    );
    return { series, msgid: msgid!, run };
  }
  /** A page's status as Chromium gets it; a download (mbox) fetched from the page, with the browser's cookies. */
  async function status(url: string): Promise<number | undefined> {
    if (url.includes('/mbox/')) return page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).status, url);
    return (await page.goto(`${server.baseUrl}${url}`))?.status();
  }
  async function login(u: { username: string; password: string }): Promise<void> {
    await browser.context.clearCookies();
    await page.goto(`${server.baseUrl}/login/`);
    await page.locator('#login input[name="username"]').fill(u.username);
    await page.locator('#login input[name="password"]').fill(u.password);
    await Promise.all([page.waitForURL((x) => !x.pathname.startsWith('/login/')), page.locator('#login [type="submit"]').click()]);
  }
  const logOf = (r: Run) => {
    const s = r.steps.find((x) => x.step === 'apply')!;
    return `/runs/${r.id}/log/${s.job ? `${s.step}/${s.job}` : s.step}/`;
  };
  const archived = (msgid: string) => `/${LAB.slug}/${msgidSegment(msgid)}/`;

  before(async () => {
    const projects = projectsDir([LAB]);
    data = tempDir('patchbay-private-browser-');
    const core = ['--data', data, '--projects', projects];
    const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' };
    const roster = path.join(data, 'roster.csv');
    fs.writeFileSync(roster, `login,name,email\nzoe,${ZOE.name},${ZOE.email}\nolga,${OLGA.name},${OLGA.email}\n`);
    const imported = await runCommand(process.execPath, [BIN, 'students', 'import', roster, ...core, '--project', LAB.slug], { cwd: ROOT, env });
    assert.equal(imported.code, 0, imported.output);
    for (const [u, role] of [
      [TEACHER, 'maintainer'],
      [ZOE, 'student'],
      [OLGA, 'student'],
    ] as const) {
      const added = await runCommand(process.execPath, [BIN, 'user', 'add', ...core, '--email', u.email, '--name', u.name, '--username', u.username, '--role', role, '--password-stdin'], {
        cwd: ROOT,
        env,
        input: `${u.password}\n`,
      });
      assert.equal(added.code, 0, added.output);
    }
    server = await startServer([...core, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
    browser = await launchBrowser();
    page = await browser.newPage();
    zoe = await submit(ZOE, 'kernel/acct.c');
    olga = await submit(OLGA, 'kernel/dma.c');
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (data) fs.rmSync(data, { recursive: true, force: true });
  });

  it('shows anonymous nothing of it', async () => {
    await browser.context.clearCookies();
    assert.equal(await status('/project/'), 200);
    assert.equal(await page.locator(`#projects tr[data-project="${LAB.slug}"]`).count(), 0, 'not on the projects page');
    for (const url of [`/project/${LAB.slug}/list/`, `/series/${zoe.series}/`, `/series/${zoe.series}/mbox/`, logOf(zoe.run), archived(zoe.msgid), `/${LAB.slug}/`, `/project/${LAB.slug}/students/`]) {
      assert.equal(await status(url), 404, url);
    }
  });

  it('shows a student her own series and its grade, and 404 for her classmate’s series, mbox, log and archive post', async () => {
    await login(ZOE);
    assert.equal(await status(`/project/${LAB.slug}/list/`), 200);
    assert.equal(await page.locator(`#series-list tr[data-series="${zoe.series}"][data-nav]`).count(), 1, 'her series is listed');
    assert.equal(await page.locator(`#series-list tr[data-series="${olga.series}"]`).count(), 0, 'her classmate’s is not');
    assert.equal(await status(`/series/${zoe.series}/`), 200);
    // The grade: each stage's check of her run, with its status.
    for (const s of zoe.run.steps) {
      const cell = page.locator(`#checks td[data-stage="${s.step}"]`);
      assert.ok((await cell.count()) >= 1, `the ${s.step} check`);
      assert.match((await cell.first().locator('.badge').first().getAttribute('class')) ?? '', new RegExp(`\\b${s.status}\\b`));
    }
    assert.equal(await status(`/series/${zoe.series}/mbox/`), 200);
    assert.equal(await status(logOf(zoe.run)), 200);
    assert.equal(await status(archived(zoe.msgid)), 200);
    for (const url of [`/series/${olga.series}/`, `/series/${olga.series}/mbox/`, logOf(olga.run), archived(olga.msgid), `/project/${LAB.slug}/students/`]) {
      assert.equal(await status(url), 404, url);
    }
  });

  it('shows the teacher both students’ series, logs, archive posts and the gradebook', async () => {
    await login(TEACHER);
    await page.goto(`${server.baseUrl}/project/${LAB.slug}/list/`);
    for (const s of [zoe, olga]) assert.equal(await page.locator(`#series-list tr[data-series="${s.series}"][data-nav]`).count(), 1);
    for (const s of [zoe, olga]) {
      for (const url of [`/series/${s.series}/`, `/series/${s.series}/mbox/`, logOf(s.run), archived(s.msgid)]) assert.equal(await status(url), 200, url);
    }
    assert.equal(await status(`/project/${LAB.slug}/students/`), 200);
    assert.match(await page.content(), /olga/);
  });
});
