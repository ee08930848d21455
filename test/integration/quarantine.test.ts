// Processing under hostile mail: attempts are counted before they start, a mail past the time budget or whose
// filing throws is quarantined after its attempts while the mails of its batch are filed, a restart never loops on
// one mail, and an admin's retry gives a quarantined mail one more attempt.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { migrate, nowIso, openDatabase, type Db } from '../../src/db/database.js';
import { bumpAttempts } from '../../src/db/mail-attempts.repository.js';
import { getMail } from '../../src/db/mail.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import { createLogger } from '../../src/log.js';
import { SeriesIngestService } from '../../src/series/ingest.service.js';
import { fileWithArchive } from '../../src/smtp/archive.service.js';
import { IntakeService } from '../../src/smtp/intake.service.js';
import { createMailReader, type MailReader } from '../../src/smtp/mail-reader.js';
import { readMail, type ReadMails } from '../../src/smtp/mail-reading.js';
import { createBackfillHandler, ProcessingService, type RouteHandler } from '../../src/smtp/processing.service.js';
import { QuarantineService } from '../../src/smtp/quarantine.service.js';
import { tempDir } from '../helpers/dirs.js';

const LIST = 'proctree@lists.example.org';

/** One patch of a three-patch series, as git send-email sends it (threaded under patch 1). */
function patch(n: number, tag: string): Buffer {
  return Buffer.from(
    [
      'From: Zoe Student <zoe@students.example.org>',
      `To: ${LIST}`,
      `Subject: [PATCH ${n}/3] proctree: step ${n} of ${tag}`,
      'Date: Fri, 20 Nov 2026 10:00:00 +0000',
      `Message-ID: <20261120100000.4242-${n}-${tag}@students.example.org>`,
      ...(n > 1 ? [`In-Reply-To: <20261120100000.4242-1-${tag}@students.example.org>`] : []),
      '',
      `Step ${n}.`,
      '',
      'Signed-off-by: Zoe Student <zoe@students.example.org>',
      '---',
      `diff --git a/step${n}.c b/step${n}.c`,
      '--- a/step' + n + '.c',
      '+++ b/step' + n + '.c',
      '@@ -1 +1 @@',
      `-int step${n} = 0;`,
      `+int step${n} = 1;`,
      '',
    ].join('\n'),
  );
}

/** A mail whose 15 MB base64 body takes mailparser about two seconds to decode: past a budget of a few hundred ms. */
function slowMail(tag: string): Buffer {
  const body = Buffer.alloc(11e6, 7).toString('base64').replace(/.{76}/g, '$&\n');
  const header = `From: Big <big@example.org>\nTo: ${LIST}\nSubject: a big one\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <big-${tag}@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n`;
  return Buffer.from(`${header}\n${body}`);
}

/** A third of the time this thread takes to read `raw` (the faster of two reads after a warm-up), in ms. */
async function budgetFor(raw: Buffer): Promise<number> {
  const job = { raw, route: 'list' as const, projectSlug: 'proctree', msgid: 'calibrate@example.org', receivedAt: nowIso() };
  await readMail(job);
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    await readMail(job);
    best = Math.min(best, performance.now() - t);
  }
  return Math.max(20, Math.floor(best / 3));
}

interface Setup {
  db: Db;
  store(raws: Buffer[]): Promise<number[]>;
  processing(o?: { read?: ReadMails; fail?: (msgid: string) => boolean; maxAttempts?: number }): ProcessingService;
  state(id: number): Promise<{ state: string; reason: string | null; attempts: number }>;
  patches(): Promise<string[]>;
}

const readers: MailReader[] = [];
after(async () => {
  for (const r of readers) await r.destroy();
});

async function setup(): Promise<Setup> {
  const { db } = openDatabase(path.join(tempDir('patchbay-quarantine-'), 'patchbay.sqlite'));
  await migrate(db);
  const projectId = (await upsertProjects(db, [{ slug: 'proctree', name: 'Proctree', listAddress: LIST, policy: 'open' }])).get('proctree')!;
  const log = createLogger('silent');
  const ingest = new SeriesIngestService(new Map([[projectId, { id: projectId, slug: 'proctree', supersede: true }]]), log);
  const file = fileWithArchive(ingest.ingest.bind(ingest));
  const intake = new IntakeService(db, 'lists.example.org', log, () => {});
  const box = { mailbox: { projectId, slug: 'proctree', route: 'list' as const }, address: LIST };
  return {
    db,
    async store(raws) {
      const stored = await Promise.all(raws.map((raw) => intake.accept({ raw, mailFrom: 'zoe@students.example.org', recipients: [box], envelopeTo: [LIST], remoteAddr: null, source: 'import' })));
      return stored.map((s) => s.mails[0]!.id);
    },
    processing(o = {}) {
      const filing = createBackfillHandler(file);
      const handler: RouteHandler = {
        async handle(tx, mail, read) {
          if (o.fail?.(mail.msgid)) throw new Error(`filing ${mail.msgid} fails`);
          return filing.handle(tx, mail, read);
        },
      };
      return new ProcessingService(db, { list: handler, request: handler, bounces: handler, bot: handler, postmaster: handler }, log, () => {}, {
        backfill: handler,
        slugs: new Map([[projectId, 'proctree']]),
        read: o.read,
        maxAttempts: o.maxAttempts,
        retryDelayMs: 10,
      });
    },
    async state(id) {
      const m = (await getMail(db, id))!;
      const a = await db.selectFrom('mail_attempts').select('attempts').where('mail_id', '=', id).executeTakeFirst();
      return { state: m.state, reason: m.reason, attempts: a?.attempts ?? 0 };
    },
    async patches() {
      return (await db.selectFrom('patches').select('msgid').orderBy('msgid').execute()).map((r) => r.msgid);
    },
  };
}

describe('quarantine', () => {
  it('quarantines a mail whose reading runs past the time budget after its three attempts, and files its batch neighbours', async () => {
    const s = await setup();
    // The budget is a third of what reading the slow mail takes here (timed in this thread, after one warm-up
    // read), so the slow mail overruns it threefold and the small patches stay far inside it on any machine.
    const budgetMs = await budgetFor(slowMail('calibrate'));
    const reader = createMailReader({ threads: 1, budgetMs });
    readers.push(reader);
    const [p1, slow, p2, p3] = await s.store([patch(1, 'a'), slowMail('a'), patch(2, 'a'), patch(3, 'a')]);
    const processing = s.processing({ read: reader.read });
    processing.enqueue([p1!, slow!, p2!, p3!]);
    await processing.drain();

    for (const id of [p1!, p2!, p3!]) assert.deepEqual(await s.state(id), { state: 'processed', reason: 'imported', attempts: 1 });
    assert.equal((await s.patches()).length, 3, 'the three patches are filed');
    const q = await s.state(slow!);
    assert.equal(q.state, 'quarantined');
    assert.equal(q.attempts, 3);
    assert.ok(q.reason?.includes(`time budget (${budgetMs / 1000} s)`), q.reason ?? '');
  });

  it('quarantines a mail whose filing throws on every attempt; the mails of its batch are filed once', async () => {
    const s = await setup();
    const ids = await s.store([patch(1, 'b'), patch(2, 'b'), patch(3, 'b')]);
    const processing = s.processing({ fail: (msgid) => msgid.includes('-2-b@') });
    processing.enqueue(ids);
    await processing.drain();
    assert.deepEqual(
      await Promise.all(ids.map((id) => s.state(id).then((x) => [x.state, x.attempts]))),
      [
        ['processed', 1],
        ['quarantined', 3],
        ['processed', 1],
      ],
    );
    assert.match((await s.state(ids[1]!)).reason ?? '', /Error: filing .*-2-b@students\.example\.org fails/);
  });

  it('counts an attempt before it starts, so a mail interrupted on every attempt is quarantined at the next start without being read', async () => {
    const s = await setup();
    const [p1, killer, p3] = await s.store([patch(1, 'c'), patch(2, 'c'), patch(3, 'c')]);
    // Three starts of the server died while the batch of these mails was being filed: each attempt counted first.
    for (let i = 0; i < 3; i++) await bumpAttempts(s.db, i === 0 ? [p1!, killer!, p3!] : [killer!], nowIso());
    let reads = 0;
    const processing = s.processing({
      read: async (jobs) => {
        reads += jobs.length;
        if (jobs.some((j) => j.msgid.includes('-2-c@'))) throw new Error('must not be read again');
        const { readInThread } = await import('../../src/smtp/mail-reading.js');
        return readInThread(jobs);
      },
    });
    assert.equal(await processing.resume(), 3);
    await processing.drain();
    assert.equal(reads, 2, 'only the two neighbours were read');
    assert.deepEqual(await s.state(p1!), { state: 'processed', reason: 'imported', attempts: 2 });
    assert.deepEqual(await s.state(p3!), { state: 'processed', reason: 'imported', attempts: 2 });
    const q = await s.state(killer!);
    assert.equal(q.state, 'quarantined');
    assert.equal(q.attempts, 3);
    assert.match(q.reason ?? '', /interrupted on each of its 3 attempts/);
    // Another start: nothing left to resume, nothing read.
    assert.equal(await s.processing().resume(), 0);
  });

  it('gives a quarantined mail one more attempt on an admin retry: filed when it now goes through, quarantined again when not', async () => {
    const s = await setup();
    const ids = await s.store([patch(1, 'd'), patch(2, 'd'), patch(3, 'd')]);
    let broken = true;
    const processing = s.processing({ fail: (msgid) => broken && msgid.includes('-1-d@') });
    processing.enqueue(ids);
    await processing.drain();
    assert.equal((await s.state(ids[0]!)).state, 'quarantined');
    const quarantine = new QuarantineService(s.db, [{ id: 1, slug: 'proctree' }], 3, (id) => processing.processOne(id));
    const listed = await quarantine.list({ limit: 10, offset: 0 });
    assert.deepEqual(
      listed.mails.map((m) => [m.id, m.project, m.attempts, m.subject]),
      [[ids[0]!, 'proctree', 3, '[PATCH 1/3] proctree: step 1 of d']],
    );

    assert.equal(await quarantine.retry(ids[0]!), 'quarantined', 'still failing: back in quarantine after one attempt');
    assert.equal((await s.state(ids[0]!)).attempts, 3);
    broken = false;
    assert.equal(await quarantine.retry(ids[0]!), 'processed');
    assert.deepEqual(await s.patches(), ids.map((_, i) => `20261120100000.4242-${i + 1}-d@students.example.org`).sort());
    await assert.rejects(quarantine.retry(ids[0]!), { code: 'not_quarantined' });
    await assert.rejects(quarantine.retry(999_999), { code: 'mail_unknown' });
  });
});
