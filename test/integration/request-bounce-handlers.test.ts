// The 'request' and 'bounces' route handlers on an in-memory database with stored mail rows: the cases a live server
// rarely meets (loops, bulk mail, odd senders, success DSNs, reports without VERP naming several recipients).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addressesFor } from '../../src/config/projects.js';
import { migrate, nowIso, openDatabase, type Db } from '../../src/db/database.js';
import { getMail, insertMails } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import type { MailRoute } from '../../src/db/schema.js';
import { findSubscriber, listBounces } from '../../src/db/subscriber.repository.js';
import { readMail } from '../../src/smtp/mail-reading.js';
import { createBounceHandler } from '../../src/smtp/bounce.service.js';
import type { RouteHandler } from '../../src/smtp/processing.service.js';
import { createRequestHandler, whyNotAnswer } from '../../src/smtp/request.service.js';
import { createSubscriptionService, type SubscriptionService } from '../../src/smtp/subscription.service.js';

const EML = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/eml');
const ADDR = addressesFor('proctree@lists.example.org');

describe('request and bounce handlers', () => {
  let db: Db;
  let projectId: number;
  let subs: SubscriptionService;
  let request: RouteHandler;
  let bounces: RouteHandler;
  let seq = 0;

  before(async () => {
    db = openDatabase(':memory:').db;
    await migrate(db);
    projectId = (await upsertProjects(db, [{ slug: 'proctree', name: 'Proctree', listAddress: ADDR.list, policy: 'open' }])).get('proctree')!;
    const projects = [{ id: projectId, slug: 'proctree', name: 'Proctree', addresses: ADDR }];
    subs = createSubscriptionService({ db, projects, urls: { base: 'https://p.example' }, hostname: 'p.example', kick: () => {} });
    request = createRequestHandler({ subscriptions: subs, projects });
    bounces = createBounceHandler({ bounceThreshold: 3 });
  });

  /** Stores the raw mail as intake would and runs the handler on it in a transaction, as processing does. */
  async function handle(handler: RouteHandler, route: MailRoute, raw: string, opts: { envelopeFrom?: string; recipient?: string; project?: number } = {}) {
    const [stored] = await insertMails(db, [
      {
        project_id: projectId,
        route,
        recipient: opts.recipient ?? (route === 'request' ? ADDR.request : ADDR.bounces),
        msgid: `h-${++seq}@example.com`,
        msgid_generated: 0,
        envelope_from: opts.envelopeFrom ?? 'sender@example.com',
        envelope_to: '[]',
        remote_addr: null,
        source: 'smtp',
        raw: Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'latin1'),
        size: raw.length,
        received_at: nowIso(),
      },
    ]);
    const mail = { ...(await getMail(db, stored!.id))!, project_id: opts.project ?? projectId };
    const parsed = await readMail({ raw: mail.raw, route: mail.route, projectSlug: 'proctree', msgid: mail.msgid, receivedAt: mail.received_at });
    return db.transaction().execute((tx) => handler.handle(tx, mail, parsed));
  }

  const mail = (from: string, subject: string, extra = '') => `From: ${from}\nTo: ${ADDR.request}\nSubject: ${subject}\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n${extra}\nbody\n`;
  const sentTo = async (rcpt: string) => (await listOutbound(db)).filter((o) => o.rcpt === rcpt).length;

  describe('whyNotAnswer (RFC 3834 §2)', () => {
    const cases: [string, string, string | null, string, string | null][] = [
      ['an ordinary mail', 'a@example.com', 'a@example.com', 'Subject: subscribe\n', null],
      ['Auto-Submitted: no', 'a@example.com', 'a@example.com', 'Auto-Submitted: no\n', null],
      ['the null reverse-path', '', 'a@example.com', '', 'null-sender'],
      ['"<>" as the reverse-path', '<>', 'a@example.com', '', 'null-sender'],
      ['a MAILER-DAEMON envelope sender', 'MAILER-DAEMON@mx.example', 'a@example.com', '', 'mailer-daemon'],
      ['a MAILER-DAEMON From', 'a@example.com', 'mailer-daemon@mx.example', '', 'mailer-daemon'],
      ['Auto-Submitted: auto-replied (vacation)', 'a@example.com', 'a@example.com', 'Auto-Submitted: auto-replied (vacation)\n', 'auto-submitted'],
      ['Auto-Submitted: auto-generated', 'a@example.com', 'a@example.com', 'auto-submitted: auto-generated\n', 'auto-submitted'],
      ['Precedence: bulk', 'a@example.com', 'a@example.com', 'Precedence: bulk\n', 'precedence-bulk'],
      ['Precedence: list', 'a@example.com', 'a@example.com', 'Precedence: list\n', 'precedence-list'],
      ['our own X-Loop', 'a@example.com', 'a@example.com', `X-Loop: ${ADDR.list}\n`, 'loop'],
      ['another list\'s X-Loop', 'a@example.com', 'a@example.com', 'X-Loop: other@lists.example.net\n', null],
    ];
    for (const [name, envelope, from, header, want] of cases) {
      it(`says ${want ?? 'go ahead'} for ${name}`, () => {
        assert.equal(whyNotAnswer(envelope, from, header, [ADDR.list, ADDR.request, ADDR.bounces]), want);
      });
    }
  });

  it('acts on nothing and answers nothing for bulk mail and our own mail coming back', async () => {
    assert.deepEqual(await handle(request, 'request', mail('loop@example.com', 'subscribe', `X-Loop: ${ADDR.request}\n`)), { state: 'processed', reason: 'ignored:loop' });
    assert.deepEqual(await handle(request, 'request', mail('loop@example.com', 'subscribe', 'Precedence: junk\n')), { state: 'processed', reason: 'ignored:precedence-junk' });
    assert.equal(await sentTo('loop@example.com'), 0);
    assert.equal(await findSubscriber(db, projectId, 'loop@example.com'), undefined);
  });

  it('does not answer a From that is no usable address', async () => {
    assert.deepEqual(await handle(request, 'request', mail('root@localhost', 'subscribe'), { envelopeFrom: 'root@localhost' }), {
      state: 'processed',
      reason: 'ignored:email_invalid',
    });
    assert.equal(await sentTo('root@localhost'), 0);
  });

  it('keeps mail of a project that is no longer configured without answering it', async () => {
    assert.deepEqual(await handle(request, 'request', mail('gone@example.com', 'help'), { project: projectId + 100 }), {
      state: 'processed',
      reason: 'ignored:unknown-project',
    });
  });

  it('does not answer a mail whose From could not be read', async () => {
    const [stored] = await insertMails(db, [
      { project_id: projectId, route: 'request', recipient: ADDR.request, msgid: 'nofrom@example.com', msgid_generated: 0, envelope_from: 'x@example.com', envelope_to: '[]', remote_addr: null, source: 'smtp', raw: Buffer.from('Subject: help\r\n\r\nx\r\n'), size: 20, received_at: nowIso() },
    ]);
    const row = (await getMail(db, stored!.id))!;
    const parsed = { ...(await readMail({ raw: row.raw, route: row.route, projectSlug: 'proctree', msgid: row.msgid, receivedAt: row.received_at })), from: null, fatal: false };
    assert.deepEqual(await db.transaction().execute((tx) => request.handle(tx, row, parsed)), { state: 'processed', reason: 'ignored:no-from' });
  });

  it('names the worst verdict of a success DSN as delivered, and scores nothing', async () => {
    await subs.adminAdd('proctree', 'ok@example.com', null);
    const raw = fs
      .readFileSync(path.join(EML, 'postfix-delayed.eml'), 'latin1')
      .replace('Action: delayed', 'Action: delivered')
      .replace('Status: 4.4.1', 'Status: 2.0.0');
    assert.deepEqual(await handle(bounces, 'bounces', raw, { envelopeFrom: '', recipient: 'proctree-bounces+ok=example.com@lists.example.org' }), {
      state: 'processed',
      reason: 'bounce:delivered',
    });
    const ok = (await findSubscriber(db, projectId, 'ok@example.com'))!;
    assert.equal(ok.bounce_score, 0);
    assert.equal((await listBounces(db, ok.id)).length, 0);
  });

  it('scores each subscriber a report without VERP names, by Final-Recipient or Original-Recipient', async () => {
    await subs.adminAdd('proctree', 'one@example.com', null);
    await subs.adminAdd('proctree', 'two@example.com', null);
    const raw = fs
      .readFileSync(path.join(EML, 'postfix-bounce-user-unknown.eml'), 'latin1')
      .replace(
        'Final-Recipient: rfc822; alice@example.com\nOriginal-Recipient: rfc822;alice@example.com',
        'Final-Recipient: rfc822; one@example.com\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; forwarded@elsewhere.example\nOriginal-Recipient: rfc822;two@example.com\nAction: failed\nStatus: 5.2.1\n\nFinal-Recipient: rfc822; stranger@example.com',
      );
    assert.deepEqual(await handle(bounces, 'bounces', raw, { envelopeFrom: '' }), { state: 'processed', reason: 'bounce:permanent' });
    assert.equal((await findSubscriber(db, projectId, 'one@example.com'))?.bounce_score, 1);
    assert.equal((await findSubscriber(db, projectId, 'two@example.com'))?.bounce_score, 1);
  });

  it('does not disable a subscriber who is not active', async () => {
    await subs.subscribe('proctree', 'pending@example.com', null, { kind: 'web' });
    const raw = fs.readFileSync(path.join(EML, 'exim-bounce-user-unknown.eml'), 'latin1');
    for (let i = 0; i < 3; i++) {
      const r = await handle(bounces, 'bounces', raw, { envelopeFrom: '', recipient: 'proctree-bounces+pending=example.com@lists.example.org' });
      assert.equal(r.reason, 'bounce:permanent');
    }
    const p = (await findSubscriber(db, projectId, 'pending@example.com'))!;
    assert.equal(p.bounce_score, 3);
    assert.equal(p.state, 'pending');
  });
});
