// The student's way back to the teacher (issue 14), on the real server (in-process pipeline) with the hold tree
// (test/helpers/hold-tree.ts: a small tree that builds like a kernel, whose build a test can hold): a report's
// Reply-To and its copy to the maintainers, a reply-all to a report filed on the series and forwarded to the
// maintainers through the outbound queue (the sink stands for the outside world), and a maintainer's cancel and
// re-run of runs from the series page and the API, each an event of patchbay's own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addUser, createToken } from '../../src/api/user.service.js';
import { openCore } from '../../src/main.js';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { buildSkipReason, getJson, holdDir, holdProject, makeHoldTree, patchOf, sendSeries, step, sunkReplies, type RunView, type Student } from '../helpers/hold-tree.js';
import { formCsrf, HttpBrowser } from '../helpers/http-browser.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink, type SunkMail } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = 'back@lists.example.org';
const BOT = 'back-bot@lists.example.org';
const TEACHER = 'teacher@example.org';
const TEACHER_PW = 'teacher-secret-pw';
const OTHER_PW = 'other-secret-pw';
const student = (name: string): Student => ({ name: `${name} Student`, email: `${name.toLowerCase()}@students.example.org` });

/** How long a wait on the pipeline or the outbound queue may take on a loaded 2-core machine (a waiting limit, not a figure). */
const PIPELINE_MS = 180_000;
const header = (m: SunkMail, name: string) => headerValue(headerText(m.raw), name) ?? '';

describe('the way back: replies to reports, and runs cancelled and re-run by maintainers', { skip: buildSkipReason() }, () => {
  let server: ServerProcess;
  let sink: Sink;
  let bare: string;
  let teacherToken: string;
  let otherToken: string;
  const dirs: string[] = [];
  const holds: string[] = [];

  const api = (method: string, url: string, token?: string) => fetch(`${server.baseUrl}${url}`, { method, headers: token ? { authorization: `Token ${token}` } : {} });
  const runsOf = async (msgid: string) => getJson<RunView[]>(server, `/series/${(await patchOf(server, msgid)).series}/runs/`);
  const runWhere = (msgid: string, until: (runs: RunView[]) => RunView | undefined | false, what: string, timeoutMs = 120_000) =>
    waitFor(what, async () => until(await runsOf(msgid)), timeoutMs);
  /** The reports the student got for this series (the maintainers' Cc copies answer the same Message-ID). */
  const reportsTo = (who: Student, msgid: string) => sunkReplies(sink, msgid).filter((m) => m.rcptTo.includes(who.email));

  before(async () => {
    sink = await startSink();
    bare = makeHoldTree();
    dirs.push(path.dirname(bare));
    // Reports go to the student, with a copy to the maintainers.
    const projects = projectsDir([{ ...holdProject('back', LIST, bare), maintainers: [TEACHER], report: { to: 'student', cc: 'maintainers' } }]);
    const data = tempDir('patchbay-back-data-');
    dirs.push(projects, data);
    const core = await openCore({ data, projects, logLevel: 'warn' }, {});
    try {
      await addUser(core.db, { email: TEACHER, name: 'Tim Teacher', role: 'maintainer', username: 'teacher', password: TEACHER_PW });
      // A maintainer role, but of no project here: not this series' maintainer.
      await addUser(core.db, { email: 'other@example.org', name: 'Olga Other', role: 'maintainer', username: 'other', password: OTHER_PW });
      teacherToken = await createToken(core.db, TEACHER);
      otherToken = await createToken(core.db, 'other@example.org');
    } finally {
      await core.close();
    }
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url, '--hostname', 'patchbay-back.example.org', '--pipeline-runs', '1', '--gate-runs', '2', '--pipeline-cpus', '2']);
  });

  after(async () => {
    for (const h of holds) fs.writeFileSync(path.join(h, 'go'), '');
    await server?.stop();
    await sink?.close();
    for (const d of [...holds, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  let adaMsgid: string;

  it("answers a report to the maintainers: a student's reply-all reaches them through the bot and shows on the series page as a comment", { timeout: 300_000 }, async () => {
    const ADA = student('Ada');
    adaMsgid = await sendSeries(server, LIST, bare, ADA, 1);
    const [report] = await waitFor("Ada's report", () => reportsTo(ADA, adaMsgid).length > 0 && reportsTo(ADA, adaMsgid), PIPELINE_MS);
    // Reply-To: the bot and the maintainers; the maintainers also got their copy (report.cc: maintainers).
    const replyTo = header(report!, 'reply-to').toLowerCase();
    assert.match(replyTo, new RegExp(BOT.replace(/\./g, '\\.')));
    assert.match(replyTo, /teacher@example\.org/);
    assert.match(header(report!, 'cc'), /teacher@example\.org/);
    const copy = await waitFor("the teacher's copy of the report", () => sunkReplies(sink, adaMsgid).find((m) => m.rcptTo.includes(TEACHER)), PIPELINE_MS);
    assert.equal(header(copy, 'message-id'), header(report!, 'message-id'));
    const reportId = extractMsgid(header(report!, 'message-id'))!;

    // Ada's client answers to every address of Reply-To, To and Cc; her provider hands our server the bot's copy (a
    // teacher's copy straight from her provider never passes here). In-Reply-To only, as some clients write it: the
    // report's Message-ID is all that leads back to the series.
    const sent = sink.mails.length;
    const answer = [
      `From: ${ADA.name} <${ADA.email}>`,
      `To: ${BOT}, ${TEACHER}`,
      `Subject: Re: ${header(report!, 'subject')}`,
      `Message-ID: <ada-answer-1@students.example.org>`,
      `In-Reply-To: <${reportId}>`,
      'Date: Mon, 7 Dec 2026 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      '> Perfect! Your work will be examined.',
      '',
      'My hello returns 1 <b>on purpose</b>: the lab sheet asks for it.',
      '',
    ].join('\n');
    assert.match((await sendMessage(server.smtpPort, ADA.email, [BOT], answer)).final, /^250 /);
    const forwarded = await waitFor('the answer forwarded to the teacher', () =>
      sink.mails.slice(sent).find((m) => m.rcptTo.includes(TEACHER) && header(m, 'message-id').includes('ada-answer-1')), PIPELINE_MS,
    );
    assert.deepEqual(forwarded.rcptTo, [TEACHER]);
    assert.equal(forwarded.mailFrom, 'back-bounces@lists.example.org');
    assert.equal(header(forwarded, 'delivered-to'), BOT);
    const { series } = await patchOf(server, adaMsgid);
    assert.equal(header(forwarded, 'x-patchbay-series'), `${server.baseUrl}/series/${series}/`);
    assert.match(forwarded.raw.toString('utf8'), /the lab sheet asks for it/);

    // Filed as a comment of the series: on its page, escaped.
    const page = await waitFor('the comment on the series page', async () => {
      const html = await (await fetch(`${server.baseUrl}/series/${series}/`)).text();
      return html.includes('the lab sheet asks for it') && html;
    }, PIPELINE_MS);
    const comments = /<section id="comments">([\s\S]*?)<\/section>/.exec(page)?.[1] ?? '';
    assert.match(comments, /Ada Student/);
    assert.match(comments, /My hello returns 1 &lt;b&gt;on purpose&lt;\/b&gt;: the lab sheet asks for it\./);
    assert.ok(!page.includes('<b>on purpose</b>'), 'the comment was rendered as markup');
    // And in the API, as a comment of the patch.
    const { id: patchId } = await patchOf(server, adaMsgid);
    const apiComments = await getJson<{ msgid: string }[]>(server, `/api/patches/${patchId}/comments/`);
    assert.ok(apiComments.some((c) => c.msgid === '<ada-answer-1@students.example.org>'), JSON.stringify(apiComments));

    // An answer to the bot that names no series is forwarded all the same.
    const stray = ['From: Bob Student <bob@students.example.org>', `To: ${BOT}`, 'Subject: where do I send my lab?', 'Message-ID: <bob-stray@students.example.org>', '', 'Hello, is this the right address?', ''].join('\n');
    assert.match((await sendMessage(server.smtpPort, 'bob@students.example.org', [BOT], stray)).final, /^250 /);
    const strayCopy = await waitFor('the stray mail forwarded', () => sink.mails.find((m) => header(m, 'message-id').includes('bob-stray')), PIPELINE_MS);
    assert.deepEqual(strayCopy.rcptTo, [TEACHER]);
    assert.equal(header(strayCopy, 'x-patchbay-series'), '');
  });

  it("re-runs a series from its page: one new run and one new reply; the event is listed only when asked for", { timeout: 300_000 }, async () => {
    const ADA = student('Ada');
    const [first] = await runsOf(adaMsgid);
    assert.equal(first!.state, 'done');
    const { series } = await patchOf(server, adaMsgid);
    const teacher = await HttpBrowser.login(server.baseUrl, 'teacher', TEACHER_PW);
    const page = await teacher.get(`/series/${series}/`);
    assert.match(page.body, /<button type="submit" name="op" value="rerun" id="run-rerun">/);
    assert.doesNotMatch(page.body, /id="run-cancel"/);
    const posted = await teacher.post(`/actions/series/${series}/`, { csrf: formCsrf(page.body, `/actions/series/${series}/`), op: 'rerun', run: String(first!.id) });
    assert.equal(posted.status, 303, posted.body);

    const rerun = await runWhere(adaMsgid, (rs) => rs.length === 2 && rs[1]!.state === 'done' && rs[1], 'the re-run to end');
    assert.equal(rerun.outcome, 'pass', JSON.stringify(rerun.steps));
    const replies = await waitFor('the second report', () => reportsTo(ADA, adaMsgid).length >= 2 && reportsTo(ADA, adaMsgid), PIPELINE_MS);
    assert.equal(header(replies[1]!, 'x-patchbay-run'), String(rerun.id));

    // A second re-run of the first run: the series already has a newer run.
    const stale = await api('POST', `/api/patchbay/runs/${first!.id}/rerun/`, teacherToken);
    assert.equal(stale.status, 409);
    assert.equal(((await stale.json()) as { code: string }).code, 'already_retried');
    // Someone who does not maintain the project may not.
    const refused = await api('POST', `/api/patchbay/runs/${rerun.id}/rerun/`, otherToken);
    assert.equal(refused.status, 403);
    assert.equal((await runsOf(adaMsgid)).length, 2);
    assert.equal(reportsTo(ADA, adaMsgid).length, 2);

    const asked = await getJson<{ category: string; actor: { username: string } | null; payload: { run: number; previous_run: number } }[]>(server, '/api/events/?category=series-run-requested');
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.actor?.username, 'teacher');
    assert.deepEqual({ run: asked[0]!.payload.run, previous: asked[0]!.payload.previous_run }, { run: rerun.id, previous: first!.id });
    const unfiltered = await getJson<{ category: string }[]>(server, '/api/events/?per_page=250');
    assert.ok(!unfiltered.some((e) => e.category.startsWith('series-run-')), 'an unfiltered list shows patchbay categories');
  });

  it('cancels a running run through the API: its steps stop and nothing is sent; a re-run of it sends one reply', { timeout: 300_000 }, async () => {
    const CY = student('Cy');
    const dir = holdDir();
    holds.push(dir);
    const msgid = await sendSeries(server, LIST, bare, CY, 2, { hold: path.join(dir, 'go') });
    const building = await runWhere(msgid, (rs) => rs[0] && step(rs[0], 'build', 'x86_64').status === 'running' && rs[0], "Cy's build to start");
    const { series } = await patchOf(server, msgid);
    const teacher = await HttpBrowser.login(server.baseUrl, 'teacher', TEACHER_PW);
    assert.match((await teacher.get(`/series/${series}/`)).body, /id="run-cancel"/);
    // The run's page offers the maintainer the same button (posting to the series page's form).
    const runPage = await teacher.get(`/runs/${building.id}/`);
    assert.match(runPage.body, new RegExp(`<form class="inline" method="post" action="/actions/series/${series}/">`));
    assert.match(runPage.body, /value="cancel-run"/);

    const cancelled = await api('POST', `/api/patchbay/runs/${building.id}/cancel/`, teacherToken);
    assert.equal(cancelled.status, 200);
    assert.deepEqual(await cancelled.json(), { run: building.id, series, state: 'cancelled', reason: 'cancelled by maintainer teacher' });
    const run = await getJson<RunView & { reason: string }>(server, `/runs/${building.id}/`);
    assert.equal(run.state, 'cancelled');
    assert.deepEqual(run.steps.filter((s) => s.status === 'pending' || s.status === 'running'), [], JSON.stringify(run.steps));
    assert.equal(step(run, 'build', 'x86_64').status, 'cancelled');
    const again = await api('POST', `/api/patchbay/runs/${building.id}/cancel/`, teacherToken);
    assert.equal(again.status, 409);

    // The held build would now end if it still ran: released, it must still send nothing. The re-run (no hold left
    // to wait on: the file exists) then sends exactly one reply, so the count below also says the cancelled run sent none.
    fs.writeFileSync(path.join(dir, 'go'), '');
    const made = await api('POST', `/api/patchbay/runs/${building.id}/rerun/`, teacherToken);
    assert.equal(made.status, 201);
    const { run: rerunId } = (await made.json()) as { run: number };
    const done = await runWhere(msgid, (rs) => rs.length === 2 && rs[1]!.state === 'done' && rs[1], 'the re-run of the cancelled run to end');
    assert.equal(done.id, rerunId);
    const [reply] = await waitFor("Cy's report", () => reportsTo(CY, msgid).length > 0 && reportsTo(CY, msgid), PIPELINE_MS);
    assert.equal(header(reply!, 'x-patchbay-run'), String(rerunId));
    assert.equal(reportsTo(CY, msgid).length, 1);
    assert.ok(!sunkReplies(sink, msgid).some((m) => header(m, 'x-patchbay-run') === String(building.id)), 'the cancelled run sent a reply');

    const events = await getJson<{ payload: { run: number; reason: string } }[]>(server, '/api/events/?category=series-run-cancelled');
    assert.deepEqual(
      events.map((e) => [e.payload.run, e.payload.reason]),
      [[building.id, 'cancelled by maintainer teacher']],
    );
  });
});
