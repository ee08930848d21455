// Subscriptions against the server as a process (outbox mode): by mail with confirmation, by web form, one-click
// unsubscribe (RFC 8058), DSNs to the VERP bounce address, and the subscribers / students CLI as real processes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { simpleParser, type ParsedMail } from 'mailparser';
import { listMails } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import type { OutboundRow, SubscriberRow } from '../../src/db/schema.js';
import { findSubscriber, listBounces } from '../../src/db/subscriber.repository.js';
import { projectsDir, tempDir, type TestProject } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const EML = path.join(ROOT, 'test/fixtures/eml');

// The name carries HTML metacharacters: every page must show it escaped.
const PROJECT: TestProject = { slug: 'proctree', name: 'Proctree <Syscall> & Friends', list: 'proctree@lists.example.org' };
const REQUEST = 'proctree-request@lists.example.org';
const BOUNCES = 'proctree-bounces@lists.example.org';
const verp = (email: string) => `proctree-bounces+${email.replace('@', '=')}@lists.example.org`;

let seq = 0;
function requestMail(from: string, subject: string, body = '', extra: string[] = []): { raw: string; msgid: string } {
  const msgid = `req-${Date.now()}-${++seq}@example.com`;
  const raw = [
    `From: ${from}`,
    `To: ${REQUEST}`,
    `Subject: ${subject}`,
    'Date: Thu, 26 Nov 2026 10:00:00 +0000',
    `Message-ID: <${msgid}>`,
    ...extra,
    '',
    body,
    '',
  ].join('\r\n');
  return { raw, msgid };
}

/** A fixture DSN with a fresh Message-ID, so that each delivery is a new mail and not a duplicate. */
function dsnFixture(file: string): string {
  return fs.readFileSync(path.join(EML, file), 'latin1').replace(/^Message-Id: <[^>]+>/im, `Message-Id: <dsn-${Date.now()}-${++seq}@mail.example.com>`);
}

describe('subscriptions (server as a process)', () => {
  let server: ServerProcess;
  let data: string;
  let projects: string;

  before(async () => {
    data = tempDir();
    projects = projectsDir([PROJECT]);
    server = await startServer(['--data', data, '--projects', projects], { PATCHBAY_BOUNCE_THRESHOLD: '2' });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  const subscriber = (email: string) =>
    withDb(data, async (db) => {
      const project = await db.selectFrom('projects').select('id').where('slug', '=', 'proctree').executeTakeFirstOrThrow();
      return findSubscriber(db, project.id, email);
    });

  const processed = (msgid: string) =>
    waitFor(`mail ${msgid} processed`, () =>
      withDb(data, async (db) => (await listMails(db, {})).find((m) => m.msgid === msgid && m.state !== 'stored')),
    );

  /** The outbound rows to one address, oldest first. */
  const outboundTo = (rcpt: string) => withDb(data, async (db) => (await listOutbound(db)).filter((o) => o.rcpt === rcpt));

  /** Waits for the n-th mail to rcpt to be queued and kept in the outbox as DATA/outbox/<id>.eml; returns it parsed. */
  async function nthMail(rcpt: string, n: number): Promise<{ row: OutboundRow; mail: ParsedMail; raw: Buffer }> {
    const row = await waitFor(`mail #${n} to ${rcpt}`, async () => (await outboundTo(rcpt))[n - 1]);
    const file = path.join(data, 'outbox', `${row.id}.eml`);
    const raw = await waitFor(`outbox file ${file}`, () => fs.existsSync(file) && fs.readFileSync(file));
    return { row, mail: await simpleParser(raw), raw };
  }

  const tokenOf = (subject: string | undefined) => /^confirm ([A-Za-z0-9_-]+)$/.exec(subject ?? '')?.[1];

  async function mailAndWait(from: string, subject: string, body = '', extra: string[] = [], envelopeFrom = from.replace(/^.*<|>.*$/g, '')) {
    const m = requestMail(from, subject, body, extra);
    const sent = await sendMessage(server.smtpPort, envelopeFrom, [REQUEST], m.raw);
    assert.match(sent.final, /^250 /);
    return { ...m, row: await processed(m.msgid) };
  }

  /** The whole by-mail round-trip: subscribe, then reply to the confirmation. Returns the welcome mail. */
  async function subscribeByMail(email: string, name: string, sent: number) {
    await mailAndWait(`${name} <${email}>`, 'subscribe');
    const confirm = await nthMail(email, sent + 1);
    assert.ok(tokenOf(confirm.mail.subject), 'the confirmation subject carries the token the reply sends back');
    await mailAndWait(email, `Re: ${confirm.mail.subject}`, `> ${confirm.mail.text?.split('\n')[0]}`, [`In-Reply-To: ${confirm.mail.messageId}`]);
    return nthMail(email, sent + 2);
  }

  it('answers "subscribe" with a threaded confirmation mail and confirms on "Re: confirm TOKEN"', async () => {
    const sub = await mailAndWait('Alice Liddell <alice@example.com>', 'subscribe');
    assert.equal(sub.row.state, 'processed');
    assert.equal(sub.row.reason, 'subscribe:confirmation-sent');

    const confirm = await nthMail('alice@example.com', 1);
    assert.equal(confirm.row.kind, 'confirm-subscribe');
    assert.equal(confirm.row.envelope_from, BOUNCES, 'RFC 3834 §3.3: sent from an address that never auto-replies');
    const token = tokenOf(confirm.mail.subject);
    assert.ok(token && token.length === 24, `subject "confirm TOKEN": ${confirm.mail.subject}`);
    assert.equal(confirm.mail.inReplyTo, `<${sub.msgid}>`);
    assert.equal(confirm.mail.headers.get('auto-submitted'), 'auto-replied');
    assert.equal(confirm.mail.replyTo?.value[0]?.address, REQUEST);
    assert.equal(confirm.mail.from?.value[0]?.address, REQUEST);
    assert.ok(confirm.mail.text?.includes(`${server.baseUrl}/lists/proctree/confirm/${token}`), confirm.mail.text);
    assert.equal((await subscriber('alice@example.com'))?.state, 'pending');

    // The reply as a mail client writes it: "Re: " before the subject, the original quoted.
    const reply = await mailAndWait('Alice Liddell <alice@example.com>', `Re: confirm ${token}`, `Yes please.\r\n\r\n> ${confirm.mail.text?.split('\n')[0]}`, [
      `In-Reply-To: ${confirm.mail.messageId}`,
      `References: <${sub.msgid}> ${confirm.mail.messageId}`,
    ]);
    assert.equal(reply.row.reason, 'confirm:active');
    const alice = await subscriber('alice@example.com');
    assert.equal(alice?.state, 'active');
    assert.equal(alice?.name, 'Alice Liddell');

    const welcome = await nthMail('alice@example.com', 2);
    assert.equal(welcome.row.kind, 'welcome');
    assert.equal(welcome.mail.inReplyTo, `<${reply.msgid}>`);
    assert.ok(welcome.mail.text?.includes(`${server.baseUrl}/lists/proctree/unsubscribe/${alice!.token}`), welcome.mail.text);
  });

  it('tells an active subscriber who asks again, and changes nothing', async () => {
    const again = await mailAndWait('alice@example.com', 'subscribe');
    assert.equal(again.row.reason, 'subscribe:already-subscribed');
    assert.equal((await nthMail('alice@example.com', 3)).row.kind, 'already-subscribed');
    assert.equal((await subscriber('alice@example.com'))?.state, 'active');
  });

  it('unsubscribes at once on an RFC 8058 one-click POST, without cookies or auth; GET only shows a button', async () => {
    const alice = (await subscriber('alice@example.com'))!;
    const url = `${server.baseUrl}/lists/proctree/unsubscribe/${alice.token}`;

    const page = await fetch(url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<form class="stacked" method="post" action="\/lists\/proctree\/unsubscribe\/[A-Za-z0-9_-]+">/);
    assert.match(html, /name="List-Unsubscribe" value="One-Click"/);
    assert.equal((await subscriber('alice@example.com'))?.state, 'active', 'a GET changes nothing');

    const post = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
      redirect: 'manual',
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get('set-cookie'), null);
    assert.equal((await subscriber('alice@example.com'))?.state, 'unsubscribed');

    const again = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(again.status, 200, 'a second POST (mail clients retry) still succeeds');
    assert.equal((await outboundTo('alice@example.com')).length, 3, 'no mail follows a one-click unsubscribe');
  });

  it('asks the subscriber to confirm an unsubscribe by mail, so a forged From cannot remove them', async () => {
    await subscribeByMail('bob@example.com', 'Bob', 0);
    assert.equal((await subscriber('bob@example.com'))?.state, 'active');

    // Anyone can write "From: bob@example.com"; the confirmation goes to Bob's mailbox, not to the sender.
    const forged = await mailAndWait('bob@example.com', 'unsubscribe', '', [], 'mallory@evil.example');
    assert.equal(forged.row.reason, 'unsubscribe:confirmation-sent');
    assert.equal((await subscriber('bob@example.com'))?.state, 'active', 'still subscribed until Bob confirms');
    const confirm = await nthMail('bob@example.com', 3);
    assert.equal(confirm.row.kind, 'confirm-unsubscribe');
    const token = tokenOf(confirm.mail.subject)!;
    assert.ok(token);

    const reply = await mailAndWait('bob@example.com', `RE: confirm ${token}`);
    assert.equal(reply.row.reason, 'confirm:unsubscribed');
    assert.equal((await subscriber('bob@example.com'))?.state, 'unsubscribed');
    assert.equal((await nthMail('bob@example.com', 4)).row.kind, 'goodbye');

    const stale = await mailAndWait('bob@example.com', `Re: confirm ${token}`);
    assert.equal(stale.row.reason, 'confirm:unknown-token', 'a used code is refused');
    assert.equal((await nthMail('bob@example.com', 5)).row.kind, 'confirm-failed');

    const notMember = await mailAndWait('bob@example.com', 'unsubscribe');
    assert.equal(notMember.row.reason, 'unsubscribe:not-subscribed');
    assert.equal((await nthMail('bob@example.com', 6)).row.kind, 'not-subscribed');
  });

  it('answers help and unknown commands, and never answers automatic mail (RFC 3834 §2)', async () => {
    assert.equal((await mailAndWait('erin@example.com', 'help')).row.reason, 'help');
    assert.equal((await nthMail('erin@example.com', 1)).row.kind, 'help');
    assert.equal((await mailAndWait('erin@example.com', 'what is this list?', 'hello')).row.reason, 'unknown-command');
    assert.equal((await nthMail('erin@example.com', 2)).row.kind, 'unknown-command');

    const vacation = await mailAndWait('erin@example.com', 'Re: confirm AAAAAAAAAAAAAAAAAAAAAAAA', '', ['Auto-Submitted: auto-replied (vacation)']);
    assert.equal(vacation.row.reason, 'ignored:auto-submitted');
    const daemon = await mailAndWait('MAILER-DAEMON@mail.example.com', 'subscribe', '', [], 'MAILER-DAEMON@mail.example.com');
    assert.equal(daemon.row.reason, 'ignored:mailer-daemon');
    const nullSender = await mailAndWait('erin@example.com', 'subscribe', '', [], '');
    assert.equal(nullSender.row.reason, 'ignored:null-sender');
    assert.equal((await outboundTo('erin@example.com')).length, 2, 'nothing sent for the three automatic mails');
    assert.equal((await subscriber('erin@example.com'))?.state, undefined);
  });

  it('subscribes from the web form and confirms only on POST (link scanners GET)', async () => {
    const base = `${server.baseUrl}/lists/proctree`;
    const form = await fetch(`${base}/subscribe`);
    assert.equal(form.status, 200);
    const formHtml = await form.text();
    assert.match(formHtml, /<form class="stacked" method="post" action="\/lists\/proctree\/subscribe">/);
    assert.ok(formHtml.includes('Proctree &lt;Syscall&gt; &amp; Friends'), 'the list name is escaped');
    assert.ok(!formHtml.includes('<Syscall>'));

    const posted = await fetch(`${base}/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ email: 'Carol@Example.net', name: 'Carol <b>C</b>' }).toString(),
    });
    assert.equal(posted.status, 202);
    assert.match(await posted.text(), /carol@example\.net/);

    const confirm = await nthMail('carol@example.net', 1);
    assert.equal(confirm.row.kind, 'confirm-subscribe');
    assert.equal(confirm.mail.inReplyTo, undefined, 'a web request is not a reply to any mail');
    assert.equal(confirm.mail.headers.get('auto-submitted'), 'auto-generated');
    const token = tokenOf(confirm.mail.subject)!;
    const link = `${base}/confirm/${token}`;
    assert.ok(confirm.mail.text?.includes(link));

    const page = await fetch(link);
    assert.equal(page.status, 200);
    const pageHtml = await page.text();
    assert.match(pageHtml, new RegExp(`<form class="stacked" method="post" action="/lists/proctree/confirm/${token}">`));
    assert.equal((await subscriber('carol@example.net'))?.state, 'pending', 'opening the link changes nothing');

    const done = await fetch(link, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(done.status, 200);
    assert.deepEqual(await done.json(), { status: 'subscribed', email: 'carol@example.net', state: 'active', list: 'proctree' });
    const carol = await subscriber('carol@example.net');
    assert.equal(carol?.state, 'active');
    assert.equal(carol?.name, 'Carol <b>C</b>');
    assert.equal((await nthMail('carol@example.net', 2)).row.kind, 'welcome');

    const replay = await fetch(link, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(replay.status, 404);
    assert.equal(((await replay.json()) as { code: string }).code, 'confirm_token_unknown');

    const json = await fetch(`${base}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'dan@example.org' }) });
    assert.equal(json.status, 202);
    assert.deepEqual(await json.json(), { status: 'confirmation-sent', email: 'dan@example.org', list: 'proctree' });
    const unknownList = await fetch(`${server.baseUrl}/lists/nolist/subscribe`);
    assert.equal(unknownList.status, 404);
    assert.equal(((await unknownList.json()) as { code: string }).code, 'list_unknown');
  });

  it('scores permanent DSNs to the VERP address, records transient ones unscored, and disables at the threshold', async () => {
    // carol@example.net is active (previous test); the threshold is 2 (PATCHBAY_BOUNCE_THRESHOLD).
    const deliver = async (file: string, rcpt: string) => {
      const raw = dsnFixture(file);
      const msgid = /^Message-Id: <([^>]+)>/im.exec(raw)![1]!;
      assert.match((await sendMessage(server.smtpPort, '', [rcpt], raw)).final, /^250 /);
      return processed(msgid);
    };
    const score = async () => (await subscriber('carol@example.net')) as SubscriberRow;

    assert.equal((await deliver('exim-delayed.eml', verp('carol@example.net'))).reason, 'bounce:transient');
    assert.equal((await score()).bounce_score, 0);
    assert.equal((await score()).state, 'active');

    assert.equal((await deliver('exim-bounce-user-unknown.eml', verp('carol@example.net'))).reason, 'bounce:permanent');
    assert.equal((await score()).bounce_score, 1);
    assert.equal((await score()).state, 'active');

    assert.equal((await deliver('exim-bounce-user-unknown.eml', verp('carol@example.net'))).reason, 'bounce:disabled');
    const carol = await score();
    assert.equal(carol.bounce_score, 2);
    assert.equal(carol.state, 'disabled');
    const bounces = await withDb(data, (db) => listBounces(db, carol.id));
    assert.equal(bounces.length, 3, 'the delay is on record too');
    assert.match(bounces[0]!.detail, /^delayed 4\.0\.0 carol@example\.net/);
    assert.match(bounces[2]!.detail, /^failed 5\.0\.0 carol@example\.net smtp; 550 5\.1\.1/);

    // A Postfix report to the plain bounce address (no VERP tag) is matched by its Final-Recipient.
    assert.equal((await deliver('postfix-bounce-user-unknown.eml', BOUNCES)).reason, 'bounce:permanent');
    assert.equal((await subscriber('alice@example.com'))?.bounce_score, 1);

    assert.equal((await deliver('vacation-reply.eml', verp('dave@example.com'))).reason, 'not-a-bounce');
    assert.equal((await deliver('postfix-delayed.eml', verp('nobody@example.com'))).reason, 'bounce:unknown-subscriber');
  });

  it('lets the re-subscribing owner of a disabled address start over with a clean score', async () => {
    const welcome = await subscribeByMail('carol@example.net', 'Carol', 2);
    assert.equal(welcome.row.kind, 'welcome');
    const carol = await subscriber('carol@example.net');
    assert.equal(carol?.state, 'active');
    assert.equal(carol?.bounce_score, 0);
  });
});

describe('subscribers and students CLI (real processes)', () => {
  let data: string;
  let projects: string;
  before(() => {
    data = tempDir();
    projects = projectsDir([PROJECT]);
  });

  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, [BIN, ...args, '--data', data, '--projects', projects], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' } });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('adds, lists and removes subscribers without a confirmation round-trip', async () => {
    const add = await cli('subscribers', 'add', '--project', 'proctree', 'Zed@Example.org', '--name', 'Zed Shaw');
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'subscribed zed@example.org to proctree\n');
    assert.equal((await cli('subscribers', 'add', '--project', 'proctree', 'amy@example.org')).code, 0);
    const twice = await cli('subscribers', 'add', '--project', 'proctree', 'amy@example.org');
    assert.equal(twice.stdout, 'amy@example.org is already subscribed to proctree\n');

    const list = await cli('subscribers', 'list', '--project', 'proctree');
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows, [
      ['EMAIL', 'STATE', 'BOUNCES', 'NAME'],
      ['amy@example.org', 'active', '0'],
      ['zed@example.org', 'active', '0', 'Zed Shaw'],
    ]);

    const remove = await cli('subscribers', 'remove', '--project', 'proctree', 'amy@example.org');
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(remove.stdout, 'unsubscribed amy@example.org from proctree\n');
    assert.match((await cli('subscribers', 'list', '--project', 'proctree')).stdout, /amy@example\.org\s+unsubscribed/);
    await withDb(data, async (db) => assert.equal((await listOutbound(db)).length, 0, 'admin changes send no mail'));

    const again = await cli('subscribers', 'remove', '--project', 'proctree', 'amy@example.org');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /amy@example\.org is not subscribed to proctree/);
    const badList = await cli('subscribers', 'list', '--project', 'nope');
    assert.equal(badList.code, 1);
    assert.match(badList.stderr, /no such list: nope/);
    const badEmail = await cli('subscribers', 'add', '--project', 'proctree', 'not-an-address');
    assert.equal(badEmail.code, 1);
    assert.match(badEmail.stderr, /not an email address/);
  });

  it('imports a roster CSV and refuses a bad one whole, naming each bad line', async () => {
    const dir = tempDir();
    const good = path.join(dir, 'roster.csv');
    fs.writeFileSync(good, 'login,name,email\nalice,"Liddell, Alice",alice@example.com,alice@home.example\nbob,Bob,bob@example.com\n');
    const ok = await cli('students', 'import', '--project', 'proctree', good);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      ok.stdout,
      'added    alice (Liddell, Alice) alice@example.com, alice@home.example\nadded    bob (Bob) bob@example.com\nproctree: 2 added, 0 updated, 0 unchanged, 0 not in the file kept\n',
    );
    const students = await withDb(data, (db) =>
      db.selectFrom('students').innerJoin('student_emails', 'student_emails.student_id', 'students.id').select(['login', 'name', 'email']).orderBy('email').execute(),
    );
    assert.deepEqual(students, [
      { login: 'alice', name: 'Liddell, Alice', email: 'alice@example.com' },
      { login: 'alice', name: 'Liddell, Alice', email: 'alice@home.example' },
      { login: 'bob', name: 'Bob', email: 'bob@example.com' },
    ]);

    const bad = path.join(dir, 'bad.csv');
    fs.writeFileSync(bad, 'carol,Carol,carol@example.com\ndan,Dan\neve,Eve,eve-at-example.com\n');
    const refused = await cli('students', 'import', '--project', 'proctree', bad);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.csv:2: no email address for login "dan"/);
    assert.match(refused.stderr, /bad\.csv:3: "eve-at-example\.com" is not an email address/);
    assert.equal(refused.stdout, '');
    const logins = await withDb(data, (db) => db.selectFrom('students').select('login').orderBy('login').execute());
    assert.deepEqual(logins.map((s) => s.login), ['alice', 'bob'], 'nothing of the bad file was imported');

    const missing = await cli('students', 'import', '--project', 'proctree', path.join(dir, 'nope.csv'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*nope\.csv: ENOENT/);
  });
});
