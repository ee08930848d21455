// Posting policies and moderation, with the server and `patchbay held` as processes: members-only and roster lists
// hold the others' posts; an approved post is relayed like any other; a rejected one earns its sender a notice.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { listMails } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { extractMsgid, headerText, headerValue, headerValues, splitHeader } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const BASE = 'http://patchbay.test';
const MOD = { slug: 'modlist', name: 'Moderated List', list: 'modlist@lists.example.org', policy: 'members' as const, maintainers: ['teacher@example.org'] };
const COURSE = { slug: 'course', name: 'OS Course', list: 'course@lists.example.org', policy: 'roster' as const, maintainers: ['teacher@example.org'] };

const post = (from: string, to: string, id: string, subject: string, extra: string[] = []) =>
  [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, 'Date: Thu, 26 Nov 2026 10:00:00 +0000', `Message-ID: <${id}>`, ...extra, '', `body of ${id}`, ''].join('\r\n');

const msgidOf = (raw: Buffer) => extractMsgid(headerValue(headerText(raw), 'message-id'));

describe('posting policy and moderation', () => {
  let sink: Sink;
  let server: ServerProcess;
  let data: string;
  let projects: string;

  before(async () => {
    data = tempDir();
    projects = projectsDir([MOD, COURSE]);
    await seedProject(data, projects, 'modlist', { subscribers: ['member@example.net'] });
    await seedProject(data, projects, 'course', {
      subscribers: ['watcher@example.net'],
      students: [{ login: 'zoe', name: 'Zoé Student', emails: ['Zoe@Students.Example.org'] }],
    });
    sink = await startSink();
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url], { PATCHBAY_BASE_URL: BASE });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    await sink.close();
  });

  /** Runs `patchbay held …` against the same data; resolves with its exit code and output. */
  function held(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [BIN, 'held', ...args, '--data', data, '--projects', projects], {
      cwd: ROOT,
      env: { ...process.env, PATCHBAY_BASE_URL: BASE, PATCHBAY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function deliver(from: string, to: string, id: string, subject = `post ${id}`, extra: string[] = []) {
    assert.match((await sendMessage(server.smtpPort, from, [to], post(from, to, id, subject, extra))).final, /^250 /);
    return waitFor(`${id} processed`, () =>
      withDb(data, async (db) => (await listMails(db, {})).find((m) => m.msgid === id && m.state !== 'stored')),
    );
  }

  const outboundOf = (mailId: number) => withDb(data, (db) => listOutbound(db, { mailId }));

  it('holds a non-member post on a members-only list, and relays posts from members and maintainers', async () => {
    const stranger = await deliver('stranger@example.com', MOD.list, 'm-stranger@example.com');
    assert.equal(stranger.state, 'held');
    assert.equal(stranger.reason, 'non-member');
    assert.deepEqual(await outboundOf(stranger.id), []);

    for (const [from, id] of [['member@example.net', 'm-member@example.net'], ['Teacher@Example.org', 'm-teacher@example.org']] as const) {
      const row = await deliver(from, MOD.list, id);
      assert.deepEqual([row.state, row.reason], ['processed', 'distributed'], from);
      assert.deepEqual((await outboundOf(row.id)).map((o) => o.rcpt), ['member@example.net']);
    }
  });

  it('lists held posts, and relays an approved one exactly as an accepted post', async () => {
    const listed = await held('list', '--project', 'modlist');
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID +RECEIVED +FROM +HELD FOR +SUBJECT$/);
    const row = lines.find((l) => l.includes('stranger@example.com'));
    assert.ok(row, listed.stdout);
    assert.match(row, /^(\d+) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +stranger@example\.com +non-member +post m-stranger@example\.com$/);
    const id = /^(\d+)/.exec(row)![1]!;

    const approved = await held('approve', id, '--project', 'modlist');
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.stdout, `approved post ${id}: 1 copy queued\n`);

    // The running server's worker finds the copy the CLI queued.
    const copy = (await waitFor('the approved copy', () => sink.mails.find((m) => msgidOf(m.raw) === 'm-stranger@example.com')))!;
    assert.deepEqual(copy.rcptTo, ['member@example.net']);
    assert.equal(copy.mailFrom, 'modlist-bounces+member=example.net@lists.example.org');
    const header = headerText(copy.raw);
    assert.equal(headerValue(header, 'list-id'), 'Moderated List <modlist.lists.example.org>');
    assert.equal(headerValue(header, 'list-archive'), `<${BASE}/modlist/>`);
    assert.equal(headerValue(header, 'subject'), 'post m-stranger@example.com');
    assert.equal(copy.raw.subarray(splitHeader(copy.raw).bodyStart).toString(), 'body of m-stranger@example.com\r\n');

    const mail = await withDb(data, async (db) => (await listMails(db, {})).find((m) => m.msgid === 'm-stranger@example.com'));
    assert.deepEqual([mail?.state, mail?.reason], ['processed', 'approved']);

    const again = await held('approve', id, '--project', 'modlist');
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`post ${id} is not held \\(it is processed: approved\\)`));
  });

  it('rejects a held post and mails its sender a notice threaded under it', async () => {
    const parent = 'thread-root@example.com';
    const row = await deliver('outsider@example.com', MOD.list, 'm-outsider@example.com', 'Re: a question', [`In-Reply-To: <${parent}>`, `References: <${parent}>`]);
    assert.equal(row.state, 'held');

    const rejected = await held('reject', String(row.id), '--project', 'modlist', '--reason', 'Please subscribe before posting.');
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.equal(rejected.stdout, `rejected post ${row.id}: notice queued to outsider@example.com\n`);

    const notice = (await waitFor('the notice', () => sink.mails.find((m) => m.rcptTo[0] === 'outsider@example.com')))!;
    assert.equal(notice.mailFrom, 'modlist-bounces@lists.example.org');
    const header = headerText(notice.raw);
    assert.match(headerValue(header, 'from') ?? '', /<modlist-request@lists\.example\.org>$/);
    assert.equal(headerValue(header, 'in-reply-to'), '<m-outsider@example.com>');
    assert.deepEqual(headerValues(header, 'references')[0]!.split(/\s+/), [`<${parent}>`, '<m-outsider@example.com>']);
    assert.equal(headerValue(header, 'auto-submitted'), 'auto-replied');
    const text = (await simpleParser(notice.raw)).text ?? '';
    assert.match(text, /Subject: Re: a question/);
    assert.match(text, /Reason given: Please subscribe before posting\./);
    assert.match(text, /send a mail with the\nsubject "subscribe" to modlist-request@lists\.example\.org/);

    const mail = await withDb(data, async (db) => (await listMails(db, {})).find((m) => m.id === row.id));
    assert.equal(mail?.state, 'rejected');
    assert.deepEqual(await outboundOf(row.id), [], 'nothing relayed to the list');
    const listed = await held('list', '--project', 'modlist');
    assert.equal(listed.stdout, 'no held posts on the modlist list\n');
  });

  it('on a roster list, relays the students and maintainers and holds everyone else', async () => {
    const student = await deliver('zoe@students.example.org', COURSE.list, 'c-zoe@students.example.org');
    assert.deepEqual([student.state, student.reason], ['processed', 'distributed']);
    assert.deepEqual((await outboundOf(student.id)).map((o) => o.rcpt), ['watcher@example.net']);
    const teacher = await deliver('teacher@example.org', COURSE.list, 'c-teacher@example.org');
    assert.deepEqual([teacher.state, teacher.reason], ['processed', 'distributed']);
    // Subscribed, but not on the roster: held all the same.
    const watcher = await deliver('watcher@example.net', COURSE.list, 'c-watcher@example.net');
    assert.deepEqual([watcher.state, watcher.reason], ['held', 'not-on-roster']);

    const listed = await held('list', '--project', 'course');
    assert.match(listed.stdout, new RegExp(`^${watcher.id} .* watcher@example\\.net +not-on-roster +post c-watcher@example\\.net$`, 'm'));
  });

  it('refuses an unknown project, a malformed id and a post that is not there', async () => {
    const cases: [string[], RegExp][] = [
      [['list', '--project', 'nope'], /no project "nope"/],
      [['approve', 'abc', '--project', 'modlist'], /"abc" is not a mail id/],
      [['approve', '99999', '--project', 'modlist'], /no post 99999 on the modlist list/],
      [['reject', '99999', '--project', 'course'], /no post 99999 on the course list/],
    ];
    for (const [args, message] of cases) {
      const r = await held(...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
    }
  });
});
