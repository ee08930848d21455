// The list, with the server as a process: copies at a sink smarthost with the list headers and VERP, subject and body
// untouched; loops and auto-replies kept back; 5xx bounced and scored, 4xx retried; the outbox mode's .eml files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listMails } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { findSubscriber, listBounces } from '../../src/db/subscriber.repository.js';
import { listHeaders, REPLACED_HEADERS } from '../../src/mail/list-headers.js';
import { extractMsgid, headerText, headerValue, removeHeaders, splitHeader } from '../../src/mail/raw.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink, type SunkMail } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;
const ALICE = 'alice@example.net';
const BOB = 'bob@example.net';

/**
 * A patch as a student's mailer sends it, with what another list added on the way (its List-* and Precedence) and
 * what must come out byte for byte: an RFC 2047 subject folded over two lines, a body line starting with a dot,
 * trailing spaces, a "From " line.
 */
function patchMail(id: string, extra: string[] = []): Buffer {
  return Buffer.from(
    [
      'From: Zoe Student <zoe@students.example.org>',
      `To: ${LIST}`,
      'Subject: =?UTF-8?q?=5BPATCH=5D_proctree=3A_d=C3=A9crire_l=27appel_syst=C3=A8me?=',
      ' =?UTF-8?q?_dans_la_doc?=',
      'Date: Thu, 26 Nov 2026 10:00:00 +0000',
      `Message-ID: <${id}>`,
      'List-Id: Upstream <upstream.example.com>',
      'List-Unsubscribe: <mailto:leave@upstream.example.com>',
      'Precedence: list',
      'X-Loop: upstream@example.com',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      'Content-Transfer-Encoding: 8bit',
      ...extra,
      '',
      'Le compteur est décrit ici.  ',
      '',
      'Signed-off-by: Zoé Student <zoe@students.example.org>',
      '---',
      '.dotfile | 1 +',
      'From the start of a line',
      'diff --git a/.dotfile b/.dotfile',
      '',
    ].join('\r\n'),
    'utf8',
  );
}

const body = (raw: Buffer) => raw.subarray(splitHeader(raw).bodyStart);
/** The Subject field exactly as written, with its folded continuation lines. */
const subjectLine = (raw: Buffer) => /^Subject:[^\r\n]*(\r?\n[ \t][^\r\n]*)*/im.exec(headerTextRaw(raw))![0];
const headerTextRaw = (raw: Buffer) => raw.subarray(0, splitHeader(raw).headerEnd).toString('latin1');
const msgidOf = (raw: Buffer) => extractMsgid(headerValue(headerText(raw), 'message-id'));

function copiesOf(sink: Sink, msgid: string): SunkMail[] {
  return sink.mails.filter((m) => msgidOf(m.raw) === msgid);
}

async function mailRow(data: string, msgid: string) {
  return withDb(data, async (db) => (await listMails(db, {})).find((m) => m.msgid === msgid));
}

describe('list distribution through a smarthost', () => {
  let sink: Sink;
  let server: ServerProcess;
  let data: string;

  before(async () => {
    data = tempDir();
    const projects = projectsDir([{ ...DEMO, policy: 'open' }]);
    await seedProject(data, projects, 'proctree', { subscribers: [ALICE, BOB] });
    sink = await startSink();
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url], {
      PATCHBAY_OUTBOUND_RETRY_BASE: '2',
      PATCHBAY_BOUNCE_THRESHOLD: '2',
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'a SIGTERM stop exits 0');
    await sink.close();
  });

  it('relays a post to every subscriber with the list headers and a VERP sender, subject and body byte-identical', async () => {
    const sent = patchMail('relay-1@students.example.org');
    assert.match((await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], sent)).final, /^250 /);
    await waitFor('two copies', () => copiesOf(sink, 'relay-1@students.example.org').length === 2);

    const tokens: Record<string, string> = await withDb(data, async (db) => ({
      [ALICE]: (await findSubscriber(db, 1, ALICE))!.token,
      [BOB]: (await findSubscriber(db, 1, BOB))!.token,
    }));
    for (const rcpt of [ALICE, BOB]) {
      const copy = copiesOf(sink, 'relay-1@students.example.org').find((m) => m.rcptTo[0] === rcpt);
      assert.ok(copy, `a copy for ${rcpt}`);
      assert.deepEqual(copy.rcptTo, [rcpt]);
      assert.equal(copy.mailFrom, `proctree-bounces+${rcpt.replace('@', '=')}@lists.example.org`);

      const ours = listHeaders(
        { name: 'Proctree Syscall', slug: 'proctree', list: LIST, request: 'proctree-request@lists.example.org', baseUrl: server.baseUrl },
        tokens[rcpt]!,
      );
      assert.ok(ours.includes(`List-Unsubscribe: <${server.baseUrl}/lists/proctree/unsubscribe/${tokens[rcpt]}>, <mailto:proctree-request@lists.example.org?subject=unsubscribe>`));
      const expected = Buffer.concat([Buffer.from(ours.map((l) => `${l}\r\n`).join('')), removeHeaders(sent, REPLACED_HEADERS)]);
      assert.equal(copy.raw.toString('latin1'), expected.toString('latin1'), 'our headers, then the post without the upstream list fields');

      assert.ok(body(copy.raw).equals(body(sent)), 'body byte-identical');
      assert.equal(subjectLine(copy.raw), subjectLine(sent), 'Subject field byte-identical');
      const header = headerText(copy.raw);
      assert.equal(headerValue(header, 'list-id'), 'Proctree Syscall <proctree.lists.example.org>');
      assert.equal(headerValue(header, 'precedence'), 'list');
      assert.equal(headerValue(header, 'list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
      assert.match(header, /^X-Loop: upstream@example\.com$/m, "another list's X-Loop stays");
    }
    const row = await mailRow(data, 'relay-1@students.example.org');
    assert.equal(row?.state, 'processed');
    assert.equal(row?.reason, 'distributed');
  });

  it('stores a post that carries our X-Loop, or comes from an auto-responder, and relays neither', async () => {
    const loop = patchMail('loop-1@students.example.org', [`X-Loop: ${LIST}`]);
    const vacation = patchMail('ooo-1@students.example.org', ['Auto-Submitted: auto-replied']);
    assert.match((await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], loop)).final, /^250 /);
    assert.match((await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], vacation)).final, /^250 /);
    const [l, v] = await waitFor('both processed', async () => {
      const rows = [await mailRow(data, 'loop-1@students.example.org'), await mailRow(data, 'ooo-1@students.example.org')];
      return rows.every((r) => r?.state === 'processed') ? rows : null;
    });
    assert.equal(l!.reason, 'loop');
    assert.equal(v!.reason, 'auto-reply');
    await withDb(data, async (db) => {
      assert.deepEqual(await listOutbound(db, { mailId: l!.id }), []);
      assert.deepEqual(await listOutbound(db, { mailId: v!.id }), []);
    });
  });

  it('retries a copy the smarthost defers with 4xx, and delivers it later', async () => {
    sink.rejectRcpt(ALICE, 451, '4.3.0 Temporary lookup failure', 1);
    const sent = patchMail('retry-1@students.example.org');
    assert.match((await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], sent)).final, /^250 /);
    const mailId = (await waitFor('stored', () => mailRow(data, 'retry-1@students.example.org')))!.id;

    const deferred = await waitFor('deferred once', () =>
      withDb(data, async (db) => (await listOutbound(db, { mailId })).find((r) => r.rcpt === ALICE && r.attempts === 1 && r.state === 'queued')),
    );
    assert.match(deferred.last_error ?? '', /^451 /);
    assert.ok(deferred.next_attempt_at > deferred.created_at, 'the next attempt is later');
    const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as { outboundQueued: number };
    assert.ok(health.outboundQueued >= 1, 'the health check counts the queued copy');

    await waitFor('the retried copy', () => copiesOf(sink, 'retry-1@students.example.org').some((m) => m.rcptTo[0] === ALICE), 60_000);
    // The smarthost's 250 comes first; the copy is on record as sent right after (the sender's journal, then the row).
    const row = await waitFor('the copy on record as sent', () =>
      withDb(data, async (db) => (await listOutbound(db, { mailId })).find((r) => r.rcpt === ALICE && r.state !== 'queued')),
    );
    assert.equal(row.state, 'sent');
    assert.equal(row.attempts, 2);
  });

  it('marks a copy refused with 5xx bounced, raises the score, and disables the subscriber at the threshold', async () => {
    sink.rejectRcpt(BOB, 550, '5.1.1 <bob@example.net>: Recipient address rejected: User unknown in local recipient table');
    const bobRow = async (msgid: string) => {
      const mailId = (await waitFor('stored', () => mailRow(data, msgid)))!.id;
      return waitFor(`bob's copy of ${msgid} bounced`, () =>
        withDb(data, async (db) => (await listOutbound(db, { mailId })).find((r) => r.rcpt === BOB && r.state === 'bounced')),
      );
    };

    await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], patchMail('bounce-1@students.example.org'));
    const first = await bobRow('bounce-1@students.example.org');
    assert.match(first.last_error ?? '', /^550 5\.1\.1 /);
    await withDb(data, async (db) => {
      const bob = (await findSubscriber(db, 1, BOB))!;
      assert.equal(bob.bounce_score, 1);
      assert.equal(bob.state, 'active');
      const bounces = await listBounces(db, bob.id);
      assert.equal(bounces.length, 1);
      assert.equal(bounces[0]!.kind, 'smtp');
      assert.match(bounces[0]!.detail, /User unknown/);
    });

    await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], patchMail('bounce-2@students.example.org'));
    await bobRow('bounce-2@students.example.org');
    await withDb(data, async (db) => {
      const bob = (await findSubscriber(db, 1, BOB))!;
      assert.equal(bob.bounce_score, 2);
      assert.equal(bob.state, 'disabled', 'threshold 2 reached');
    });

    await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], patchMail('after-disable@students.example.org'));
    await waitFor('alice got it', () => copiesOf(sink, 'after-disable@students.example.org').length === 1);
    const mailId = (await mailRow(data, 'after-disable@students.example.org'))!.id;
    const rows = await withDb(data, (db) => listOutbound(db, { mailId }));
    assert.deepEqual(rows.map((r) => r.rcpt), [ALICE], 'a disabled subscriber gets no more copies');
  });
});

describe('list distribution in outbox mode', () => {
  let server: ServerProcess;
  let data: string;

  before(async () => {
    data = tempDir();
    const projects = projectsDir([DEMO]);
    await seedProject(data, projects, 'proctree', { subscribers: [ALICE] });
    server = await startServer(['--data', data, '--projects', projects]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it('keeps each copy and writes it as DATA/outbox/<id>.eml', async () => {
    const sent = patchMail('outbox-1@students.example.org');
    assert.match((await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], sent)).final, /^250 /);
    const row = await waitFor('kept', async () => {
      const mail = await mailRow(data, 'outbox-1@students.example.org');
      if (!mail) return null;
      return withDb(data, async (db) => (await listOutbound(db, { mailId: mail.id })).find((r) => r.state === 'kept'));
    });
    assert.equal(row.rcpt, ALICE);
    const file = path.join(data, 'outbox', `${row.id}.eml`);
    const eml = fs.readFileSync(file);
    assert.ok(body(eml).equals(body(sent)));
    assert.equal(subjectLine(eml), subjectLine(sent));
    assert.equal(headerValue(headerText(eml), 'list-post'), `<mailto:${LIST}>`);
    assert.deepEqual(fs.readdirSync(path.join(data, 'outbox')), [`${row.id}.eml`], 'no temporary file left');
  });
});
