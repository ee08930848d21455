// Mail to the bot address (route 'bot', src/smtp/bot.service.ts) through the real intake, processing and series
// engine: an answer to a patch is a comment on it even when it carries a diff, and it goes to the maintainers through
// the outbound queue; a copy that comes back is kept, and with nobody to read it the mail is kept and marked.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Project } from '../../src/config/projects.js';
import { addressesFor } from '../../src/config/projects.js';
import { getMail } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { listComments, listSeries } from '../../src/db/series.repository.js';
import { createLogger } from '../../src/log.js';
import { SeriesIngestService } from '../../src/series/ingest.service.js';
import { createBotHandler } from '../../src/smtp/bot.service.js';
import { IntakeService } from '../../src/smtp/intake.service.js';
import type { ListProject } from '../../src/smtp/list.service.js';
import { ProcessingService, type RouteHandler } from '../../src/smtp/processing.service.js';
import { FIXTURES } from '../helpers/api-app.js';
import { LIST, readMboxFile, startIngestHarness, type Harness } from '../helpers/ingest-harness.js';

const BOT = 'proctree-bot@lists.example.org';

describe('mail to the bot address', () => {
  let h: Harness;
  let patchMsgid: string;
  const maintainers: string[] = ['teacher@example.org', 'Assistant@Example.org'];

  /** Delivers a mail to the bot and processes it as the server does; returns its state and reason. */
  async function toBot(raw: string): Promise<{ id: number; state: string; reason: string | null }> {
    const log = createLogger('silent');
    const project = { id: h.projectId, slug: 'proctree', name: 'Proctree', maintainers, addresses: addressesFor(LIST) } as unknown as ListProject & Project;
    const ingest = new SeriesIngestService(new Map([[h.projectId, { id: h.projectId, slug: 'proctree', supersede: true }]]), log);
    const bot = createBotHandler({ projects: [project], urls: { base: 'https://patchbay.example.org' }, file: ingest.ingest.bind(ingest), log });
    const none: RouteHandler = { handle: async () => ({ state: 'processed', reason: null }) };
    const processing = new ProcessingService(h.db, { list: none, request: none, bounces: none, bot, postmaster: none }, log, () => {}, {
      backfill: none,
      slugs: new Map([[h.projectId, 'proctree']]),
      maxAttempts: 1,
    });
    const intake = new IntakeService(h.db, 'lists.example.org', log, (ids) => processing.enqueue(ids));
    const stored = await intake.accept({
      raw: Buffer.from(raw.replace(/\n/g, '\r\n'), 'utf8'),
      mailFrom: 'zoe@students.example.org',
      recipients: [{ mailbox: { projectId: h.projectId, slug: 'proctree', route: 'bot' }, address: BOT }],
      envelopeTo: [BOT],
      remoteAddr: '127.0.0.1',
      source: 'smtp',
    });
    await processing.drain();
    const id = stored.mails[0]!.id;
    const row = (await getMail(h.db, id))!;
    return { id, state: row.state, reason: row.reason };
  }

  before(async () => {
    h = await startIngestHarness({ source: 'smtp' });
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    patchMsgid = (await h.deliver(single!)).msgid;
  });
  after(() => h.close());

  it('files an answer that quotes a diff as a comment on the patch it answers, never a new series, and forwards it to each maintainer', async () => {
    const seriesBefore = (await listSeries(h.db, h.projectId)).length;
    const sent = await toBot(
      [
        'From: Zoe <zoe@students.example.org>',
        `To: ${BOT}`,
        'Subject: Re: [PATCH] proctree: return 1 when the pid is not found',
        'Message-ID: <zoe-answer@students.example.org>',
        `In-Reply-To: <${patchMsgid}>`,
        `References: <${patchMsgid}>`,
        'Date: Mon, 7 Dec 2026 09:00:00 +0000',
        '',
        'I think checkpatch is wrong here, this is what I meant:',
        '',
        'diff --git a/hello.c b/hello.c',
        '--- a/hello.c',
        '+++ b/hello.c',
        '@@ -1 +1 @@',
        '-int hello(void) { return 0; }',
        '+int hello(void) { return 1; }',
        '',
      ].join('\n'),
    );
    assert.deepEqual([sent.state, sent.reason], ['processed', 'bot:comment:forwarded']);
    assert.equal((await listSeries(h.db, h.projectId)).length, seriesBefore);
    const comment = (await listComments(h.db, h.projectId)).find((c) => c.msgid === 'zoe-answer@students.example.org');
    assert.ok(comment?.patch_id, 'no comment on the patch');
    const copies = await listOutbound(h.db, { mailId: sent.id });
    assert.deepEqual(copies.map((c) => c.rcpt).sort(), ['assistant@example.org', 'teacher@example.org']);
    for (const c of copies) {
      assert.equal(c.kind, 'bot');
      assert.equal(c.envelope_from, 'proctree-bounces@lists.example.org');
      assert.match(c.prefix ?? '', /^Delivered-To: proctree-bot@lists\.example\.org\r\nX-Patchbay-Series: https:\/\/patchbay\.example\.org\/series\/\d+\/\r\n$/);
    }
  });

  it('keeps a forwarded copy that comes back to the bot without sending it again', async () => {
    const back = await toBot(['Delivered-To: proctree-bot@lists.example.org', 'From: Teacher <teacher@example.org>', `To: ${BOT}`, 'Subject: Fwd: answer', 'Message-ID: <loop-1@example.org>', '', 'forwarded', ''].join('\n'));
    assert.deepEqual([back.state, back.reason], ['processed', 'bot:loop']);
    assert.deepEqual(await listOutbound(h.db, { mailId: back.id }), []);
  });

  it('keeps and marks a mail nobody can read (no maintainer, no admin), filed or not', async () => {
    maintainers.length = 0;
    const kept = await toBot(['From: Bob <bob@students.example.org>', `To: ${BOT}`, 'Subject: hello?', 'Message-ID: <stray-1@students.example.org>', '', 'Anyone there?', ''].join('\n'));
    assert.deepEqual([kept.state, kept.reason], ['processed', 'bot:not-filed:no-maintainer']);
    assert.deepEqual(await listOutbound(h.db, { mailId: kept.id }), []);
  });
});
