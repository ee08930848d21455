// End to end in a browser (issue 7's "Must show"): the server runs as a process; a student sends a 3-patch series and
// its v2 with `git send-email` to a project whose pipeline runs the gates on the kernel tree; headless Chromium
// (Debian's package, through playwright-core) finds the series in the list, opens it, sees both revisions, the
// range-diff and each stage's check, logs in as a maintainer and accepts a patch, which the REST API then reports.
// A second series carries script payloads in its subjects and bodies: shown as text, nothing runs.
// Full-page screenshots land in test-output/screenshots/ (the path is printed).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { msgidSegment } from '../../src/mail/archive-layout.js';
import { CHROMIUM_SKIP, launchBrowser, SCREENSHOTS, type TestBrowser } from '../helpers/browser.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import {
  commit,
  edit,
  formatPatches,
  getJson,
  git,
  KERNEL_LAB,
  msgidsOf,
  PIPELINE_E2E_SKIP,
  runOf,
  send,
  sendEmail,
  SEND_EMAIL_SKIP,
  seriesOf,
  studentClone,
  studentRepo,
  type Run,
} from '../helpers/pipeline-e2e.js';
import { runCommand } from '../helpers/run-command.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const SKIP = CHROMIUM_SKIP || SEND_EMAIL_SKIP;
/** A plain list (no tree, so no pipeline) for the hostile series. */
const XSS_LAB = { slug: 'xss-lab', name: 'Hostile Lab', list: 'xss-lab@lists.example.org', maintainers: ['teacher@example.org'] };
const TEACHER = { email: 'teacher@example.org', name: 'Tea Cher', username: 'teacher', password: 'a long passphrase for the lab' };
const FILES = ['kernel/acct.c', 'kernel/async.c', 'kernel/dma.c'];

/** Navigates and checks the answer: a page of the web view, 200. */
async function open(page: Page, url: string): Promise<void> {
  const res = await page.goto(url);
  assert.equal(res?.status(), 200, `GET ${url}: ${res?.status()}`);
}

async function attr(page: Page, selector: string, name: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((els, n) => els.map((e) => e.getAttribute(n) ?? ''), name);
}

describe('the web view in Chromium', { skip: SKIP }, () => {
  let server: ServerProcess;
  let browser: TestBrowser;
  let data: string;
  const shots: string[] = [];

  before(async () => {
    const projects = projectsDir([KERNEL_LAB, XSS_LAB]);
    data = tempDir('patchbay-web-browser-');
    const core = ['--data', data, '--projects', projects];
    // The maintainer exists before the start, with a password read from standard input (`patchbay user add`).
    const added = await runCommand(
      process.execPath,
      [BIN, 'user', 'add', ...core, '--email', TEACHER.email, '--name', TEACHER.name, '--username', TEACHER.username, '--role', 'maintainer', '--password-stdin'],
      { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' }, input: `${TEACHER.password}\n` },
    );
    assert.equal(added.code, 0, added.output);
    server = await startServer([...core, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (data) fs.rmSync(data, { recursive: true, force: true });
    if (shots.length) process.stdout.write(`# screenshots in ${SCREENSHOTS}: ${shots.map((s) => path.basename(s)).join(', ')}\n`);
  });

  it('finds a series and its v2, shows revisions, range-diff and checks, and lets a maintainer accept a patch', { skip: PIPELINE_E2E_SKIP }, async () => {
    const { repo, env } = studentClone(FILES);
    const notes = (v: string) => {
      edit(repo, FILES[0]!, (t) => `${t}\n/* lab: accounting note */\n`);
      commit(repo, env, 'acct: add the lab note');
      edit(repo, FILES[1]!, (t) => `${t}\n/* lab: async note${v === 'v2' ? ', reworded for v2' : ''} */\n`);
      commit(repo, env, 'async: add the lab note');
      edit(repo, FILES[2]!, (t) => `${t}\n/* lab: dma note */\n`);
      commit(repo, env, 'dma: add the lab note');
    };
    notes('v1');
    const [v1cover] = await send(server, repo, env, 3, { title: 'lab: three notes' });
    const v1 = await seriesOf(server, v1cover!);
    const v1run = await runOf(server, v1, (r) => r.state === 'done', 'the v1 run to end');
    assert.equal(v1run.outcome, 'pass', JSON.stringify(v1run));
    git(repo, env, 'reset', '-q', '--hard', 'HEAD~3');
    notes('v2');
    // v2 arrives in two sends: the series page, open while 3/3 is missing, shows the run when it comes (SSE, live.js).
    const page = await browser.newPage();
    const base = server.baseUrl;
    const v2files = formatPatches(repo, env, 3, { prefix: 'PATCH v2', inReplyTo: v1cover!, title: 'lab: three notes' });
    const [v2cover, , v2p2] = msgidsOf(v2files);
    await sendEmail(server, repo, env, v2files.slice(0, 3));
    const v2 = await seriesOf(server, v2cover!);
    assert.notEqual(v2, v1);
    await open(page, `${base}/series/${v2}/`);
    assert.equal(await page.locator(`#pipeline[data-series="${v2}"]`).count(), 1, 'the live region #pipeline');
    const before = (await page.locator('#pipeline').textContent()) ?? '';
    await page.evaluate(() => Object.assign(window, { __samePage: true }));
    await sendEmail(server, repo, env, v2files.slice(3));
    const run = await runOf(server, v2, (r) => r.state === 'done', 'the v2 run to end');
    assert.equal(run.outcome, 'pass', JSON.stringify(run));
    assert.ok(run.steps.length >= 3, JSON.stringify(run.steps));
    const fragment = async () =>
      page.evaluate(async (id) => {
        const doc = new DOMParser().parseFromString(await (await fetch(`/series/${id}/pipeline/`)).text(), 'text/html');
        return doc.body.textContent ?? '';
      }, v2);
    const norm = (t: string) => t.replace(/\s+/g, ' ').trim();
    const live = await waitFor('the live region to show the finished run', async () => {
      const [now, served] = [norm((await page.locator('#pipeline').textContent()) ?? ''), norm(await fragment())];
      return now === served && served.includes('apply') ? now : undefined;
    });
    assert.notEqual(live, norm(before), 'the live region changed');
    assert.equal(await page.evaluate(() => (window as unknown as { __samePage?: boolean }).__samePage), true, 'the page was updated in place, not reloaded');

    // The projects page links the project's series list.
    await open(page, `${base}/project/`);
    assert.equal(await page.locator(`#projects tr[data-project="${KERNEL_LAB.slug}"] a[href="/project/${KERNEL_LAB.slug}/list/"]`).count(), 1, 'the projects table links /project/kernel-lab/list/');

    // The series list: the v2 row with its version, 3/3 received, and a badge per stage of its run.
    await open(page, `${base}/project/${KERNEL_LAB.slug}/list/`);
    const row = page.locator(`#series-list tr[data-series="${v2}"][data-nav]`);
    assert.equal(await row.count(), 1, `#series-list has a row data-series=${v2}`);
    const rowText = await row.innerText();
    assert.match(rowText, /lab: three notes/);
    assert.match(rowText, /\bv2\b/);
    assert.match(rowText, /3\s*\/\s*3/);
    for (const s of run.steps) {
      const badge = row.locator(`span.badge[data-stage="${s.step}"]`);
      assert.ok((await badge.count()) >= 1, `a badge for stage ${s.step} in the series row`);
      assert.match((await badge.first().getAttribute('class')) ?? '', new RegExp(`\\b${s.status}\\b`), `stage ${s.step} is ${s.status}`);
    }
    assert.equal(await page.locator('#series-filters').count(), 1, 'the filter form #series-filters');
    shots.push(await browser.screenshot(page, 'series-list'));
    // keys.js: j highlights the first row, Enter opens its first link.
    const firstLink = await page.locator('[data-nav]').first().locator('a[href]').first().getAttribute('href');
    await page.keyboard.press('j');
    await Promise.all([page.waitForURL(new URL(firstLink!, base).href), page.keyboard.press('Enter')]);
    await open(page, `${base}/project/${KERNEL_LAB.slug}/list/`);

    // Open it from the list.
    await Promise.all([page.waitForURL(`${base}/series/${v2}/`), row.locator(`a.series-link[href="/series/${v2}/"]`).click()]);
    assert.match(await page.locator('#series-title').innerText(), /lab: three notes/);
    assert.match(await page.locator('#cover pre').innerText(), /The lab series\./);
    assert.equal(await page.locator('#patches tr[data-patch][data-nav]').count(), 3);
    assert.equal(await page.locator('#patches tr[data-patch] span.badge[data-state="new"]').count(), 3, 'three patches, each with its state badge (new)');
    assert.equal(await page.locator(`#series-mbox[href="/series/${v2}/mbox/"]`).count(), 1);

    // Both revisions, oldest first, and why they were linked.
    assert.deepEqual(await attr(page, '#revisions li[data-version]', 'data-version'), ['1', '2']);
    assert.deepEqual(await attr(page, '#revisions li[data-series]', 'data-series'), [String(v1), String(v2)]);
    const reasons = (await page.locator('#revisions .reason').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
    assert.ok(reasons.length >= 1, 'a revision link states its reason');

    // The range-diff, v1 against v2 by default: patch 2 changed, 1 and 3 did not.
    assert.equal(await page.locator('#range-diff-form select[name="from"]').count(), 1);
    assert.equal(await page.locator('#range-diff-form select[name="to"]').count(), 1);
    // It may still be in the making: its link shows it (the page as a reader would follow it) once made.
    const rangeDiff = await waitFor(
      'the range-diff',
      async () => {
        const load = page.locator('#range-diff-load');
        if (await load.count()) await open(page, new URL((await load.getAttribute('href'))!, page.url()).href);
        const text = await page.locator('#range-diff').innerText();
        return /reworded/.test(text) ? text : undefined;
      },
      60_000,
    );
    assert.match(rangeDiff, /reworded for v2/);
    assert.match(rangeDiff, /async: add the lab note/);
    // git range-diff's pair lines: `1: abc = 1: def acct: …` (equal) and `2: … ! 2: … async: …` (changed).
    assert.match(rangeDiff, /^.*\s=\s.*acct: add the lab note$/m);
    assert.match(rangeDiff, /^.*\s!\s.*async: add the lab note$/m);

    // Each stage's check in the stage × build matrix, with its status and a link to its log page.
    for (const s of run.steps) {
      const cell = page.locator(`#checks td[data-stage="${s.step}"]`);
      assert.ok((await cell.count()) >= 1, `#checks has a cell for stage ${s.step}`);
      assert.match((await cell.first().locator('.badge').first().getAttribute('class')) ?? '', new RegExp(`\\b${s.status}\\b`), `the ${s.step} cell shows ${s.status}`);
      const log = `/runs/${run.id}/log/${s.job ? `${s.step}/${s.job}` : s.step}/`;
      assert.equal(await cell.first().locator(`a[href="${log}"]`).count(), 1, `the ${s.step} cell links ${log}`);
    }
    shots.push(await browser.screenshot(page, 'series'));

    // The log page of a step: the log as HTML.
    const applyStep = run.steps.find((s) => s.step === 'apply')!;
    await open(page, `${base}/runs/${run.id}/log/${applyStep.step}/`);
    assert.ok((await page.locator('pre.log#log').innerText()).length > 0, 'the apply log is shown in pre#log');

    // The patch page, anonymous: no maintainer form.
    const p2 = await getJson<{ id: number; state: string }[]>(server, `/api/patches/?msgid=${encodeURIComponent(v2p2!)}`);
    const patchId = p2[0]!.id;
    const patchUrl = `/project/${KERNEL_LAB.slug}/patch/${msgidSegment(v2p2!)}/`;
    await open(page, `${base}/series/${v2}/`);
    assert.equal(await page.locator(`#patches tr[data-patch="${patchId}"] a[href="${patchUrl}"]`).count(), 1, `patch 2/3's row links ${patchUrl}`);
    await open(page, `${base}${patchUrl}`);
    assert.match(await page.locator('#patch-title').innerText(), /async: add the lab note/);
    assert.match(await page.locator('#commit-message').innerText(), /The lab asks for this change/);
    assert.match(await page.locator('#files').innerText(), /kernel\/async\.c/);
    assert.match(await page.locator('#diff .add').allInnerTexts().then((t) => t.join('\n')), /reworded for v2/);
    assert.equal((await page.locator('#patch-state').innerText()).trim(), 'new');
    assert.equal(await page.locator('#patch-actions').count(), 0, 'no state form for an anonymous reader');

    // Log in as the maintainer, then accept the patch with the form.
    await open(page, `${base}/login/`);
    await page.locator('#login input[name="username"]').fill(TEACHER.username);
    await page.locator('#login input[name="password"]').fill(TEACHER.password);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login/')), page.locator('#login [type="submit"]').click()]);
    await open(page, `${base}${patchUrl}`);
    assert.equal(await page.locator('#patch-actions').count(), 1, 'the maintainer sees #patch-actions');
    await page.locator('#patch-actions select[name="state"]').selectOption('accepted');
    await Promise.all([page.waitForURL(`${base}${patchUrl}`, { waitUntil: 'load' }), page.locator('#patch-actions-submit').click()]);
    await page.locator('#patch-state', { hasText: 'accepted' }).waitFor();
    assert.match((await page.locator('#patch-state').getAttribute('class')) ?? '', /\baccepted\b/);
    assert.equal((await getJson<{ state: string }>(server, `/api/patches/${patchId}/`)).state, 'accepted');
    assert.match(await page.locator('#history').innerText(), /accepted/i, 'the history shows the state change');
    shots.push(await browser.screenshot(page, 'patch'));

    assert.deepEqual(browser.allProblems(), [], 'no console error, page error, CSP violation or dialog');
    await page.close();
  });

  it('shows script, onerror and javascript: payloads from a mail as text, and runs none of them', async () => {
    const script = '<script>window.__xss=1;alert(1)</script>';
    const img = '<img src=x onerror="window.__xss=2;alert(2)">';
    const link = '<a href="javascript:window.__xss=3">the notes</a>';
    const bare = 'javascript:window.__xss=4';
    const { repo, env } = studentRepo();
    for (const [i, file] of ['notes.txt', 'more.txt'].entries()) {
      addFile(repo, env, file, `${img} line ${i + 1}\n`);
      commit(repo, env, `lab: ${script} ${img} ${i + 1}`, true, `Read ${link} or ${bare} before ${script}.`);
    }
    const [cover, p1] = await send(server, repo, env, 2, { to: XSS_LAB.list, title: `lab: ${script} ${img}`, blurb: `Cover: ${link}, ${bare} and ${img}.` });
    // A review of 1/2 that quotes the payloads and adds its own: the comment thread, quotes folded.
    const reply = path.join(repo, '..', 'reply.txt');
    fs.writeFileSync(reply, `Subject: Re: [PATCH 1/2] lab: ${script}\n\n> Read ${link}\n> ${img}\n\nPlease do not ${script} or ${bare}; see ${link}.\n`);
    await sendEmail(server, repo, env, [reply], { from: TEACHER, to: XSS_LAB.list, inReplyTo: p1! });
    const series = await seriesOf(server, cover!);
    const p1Id = (await getJson<{ id: number }[]>(server, `/api/patches/?msgid=${encodeURIComponent(p1!)}`))[0]!.id;
    await waitFor('the review as a comment of 1/2', async () => (await getJson<unknown[]>(server, `/api/patches/${p1Id}/comments/`)).length === 1);
    const base = server.baseUrl;
    const page = await browser.newPage();
    const problemsBefore = browser.allProblems().length;

    const noScriptRan = async (where: string) => {
      assert.equal(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined, `${where}: window.__xss is set`);
      assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0, `${where}: a javascript: link`);
      assert.equal(await page.locator('[onerror], [onload], [onclick]').count(), 0, `${where}: an element with an event handler attribute`);
      assert.deepEqual((await attr(page, 'script[src]', 'src')).filter((s) => !s.startsWith('/static/')), [], `${where}: a script not from /static/`);
      assert.equal(await page.locator('script:not([src])').count(), 0, `${where}: an inline script element`);
    };

    await open(page, `${base}/project/${XSS_LAB.slug}/list/`);
    const row = page.locator(`#series-list tr[data-series="${series}"]`);
    assert.ok((await row.innerText()).includes(script), 'the series list shows the <script> title as text');
    assert.ok((await row.innerText()).includes(img), 'the series list shows the <img onerror> title as text');
    await noScriptRan('series list');

    await open(page, `${base}/series/${series}/`);
    const title = await page.locator('#series-title').innerText();
    assert.ok(title.includes(script) && title.includes(img), `the series title is shown as text: ${title}`);
    const coverText = await page.locator('#cover pre').innerText();
    assert.ok(coverText.includes(link) && coverText.includes(bare) && coverText.includes(img), `the cover letter is shown as text: ${coverText}`);
    await noScriptRan('series page');
    shots.push(await browser.screenshot(page, 'xss-series'));

    await open(page, `${base}/project/${XSS_LAB.slug}/cover/${msgidSegment(cover!)}/`);
    assert.ok((await page.locator('body').innerText()).includes(link), 'the cover page shows the javascript: link as text');
    await noScriptRan('cover page');

    await open(page, `${base}/project/${XSS_LAB.slug}/patch/${msgidSegment(p1!)}/`);
    const patchTitle = await page.locator('#patch-title').innerText();
    assert.ok(patchTitle.includes(script) && patchTitle.includes(img), `the patch title is shown as text: ${patchTitle}`);
    const message = await page.locator('#commit-message').innerText();
    assert.ok(message.includes(link) && message.includes(bare) && message.includes(script), `the commit message is shown as text: ${message}`);
    assert.ok((await page.locator('#diff').innerText()).includes(`+${img} line 1`), 'the diff shows the added <img onerror> line as text');
    assert.ok(await page.getByText(script).first().isVisible(), 'the <script> text is visible');
    const comment = page.locator('#comments article.comment');
    assert.equal(await comment.count(), 1);
    assert.ok((await comment.innerText()).includes(`Please do not ${script} or ${bare}; see ${link}.`), `the comment is shown as text: ${await comment.innerText()}`);
    assert.ok((await comment.locator('details.quote').textContent())?.includes(img), 'the quoted lines, folded, hold the <img onerror> as text');
    await noScriptRan('patch page');
    shots.push(await browser.screenshot(page, 'xss-patch'));

    assert.deepEqual(browser.allProblems().slice(problemsBefore), [], 'no console error, page error, CSP violation or dialog');
    await page.close();
  });
});

/** Writes a new file into the student's repository and stages it (commit -a then takes it). */
function addFile(repo: string, env: NodeJS.ProcessEnv, file: string, text: string): void {
  fs.writeFileSync(path.join(repo, file), text);
  git(repo, env, 'add', file);
}
