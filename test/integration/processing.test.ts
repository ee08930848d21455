// ProcessingService: mail enqueued while a batch is being filed is processed too, in order, and nothing is stranded.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { migrate, openDatabase } from '../../src/db/database.js';
import { getMail } from '../../src/db/mail.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import type { MailRow } from '../../src/db/schema.js';
import { createLogger } from '../../src/log.js';
import { BUSY_BATCH_SIZE, IntakeFirst } from '../../src/smtp/intake-first.js';
import { IntakeService } from '../../src/smtp/intake.service.js';
import { BATCH_SIZE, ProcessingService, type RouteHandler } from '../../src/smtp/processing.service.js';
import { tempDir } from '../helpers/dirs.js';

const mail = (n: number) => Buffer.from(`From: a@example.org\r\nSubject: mail ${n}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${n}@example.org>\r\n\r\nbody ${n}\r\n`);

describe('ProcessingService', () => {
  it('processes mail that arrives while an earlier batch is being filed', async () => {
    const { db } = openDatabase(path.join(tempDir(), 'patchbay.sqlite'));
    await migrate(db);
    const projectId = (await upsertProjects(db, [{ slug: 'p', name: 'P', listAddress: 'p@lists.example.org', policy: 'open' }])).get('p')!;
    const log = createLogger('silent');
    const order: string[] = [];
    const stored: number[] = [];
    let processing!: ProcessingService;
    const handler: RouteHandler = {
      async handle(_tx, m: MailRow) {
        order.push(m.msgid);
        // While the first mail's batch is being filed, the second is enqueued (as intake does when it commits).
        if (m.msgid === '1@example.org') processing.enqueue([stored[1]!]);
        return { state: 'processed', reason: 'test' };
      },
    };
    processing = new ProcessingService(db, { list: handler, request: handler, bounces: handler, bot: handler, postmaster: handler }, log, () => {}, { backfill: handler, slugs: new Map([[projectId, 'p']]) });
    const intake = new IntakeService(db, 'test.example.org', log, (ids) => stored.push(...ids));
    const box = { mailbox: { projectId, slug: 'p', route: 'list' as const }, address: 'p@lists.example.org' };
    for (const n of [1, 2]) await intake.accept({ raw: mail(n), mailFrom: 'a@example.org', recipients: [box], envelopeTo: [box.address], remoteAddr: null, source: 'smtp' });
    processing.enqueue([stored[0]!]);
    await processing.drain();
    assert.deepEqual(order, ['1@example.org', '2@example.org']);
    for (const id of stored) assert.equal((await getMail(db, id))!.state, 'processed');
    await db.destroy();
  });

  it('while SMTP intake is busy, files every mail in smaller batches (a 250 waits behind less), and full batches once it is quiet', async () => {
    const { db } = openDatabase(path.join(tempDir(), 'patchbay.sqlite'));
    await migrate(db);
    const projectId = (await upsertProjects(db, [{ slug: 'p', name: 'P', listAddress: 'p@lists.example.org', policy: 'open' }])).get('p')!;
    const log = createLogger('silent');
    // Mails per filing transaction, in order: the handler sees each batch's transaction.
    const batches: number[] = [];
    let lastTx: unknown = null;
    const handler: RouteHandler = {
      async handle(tx) {
        if (tx !== lastTx) batches.push(0);
        lastTx = tx;
        batches[batches.length - 1]!++;
        return { state: 'processed', reason: 'test' };
      },
    };
    // Busy from the first arrival on (no end to the window), processing's share a half: never starved, only paced.
    const first = new IntakeFirst(Number.POSITIVE_INFINITY, 0.5);
    const processing = new ProcessingService(db, { list: handler, request: handler, bounces: handler, bot: handler, postmaster: handler }, log, () => {}, { backfill: handler, slugs: new Map([[projectId, 'p']]), intakeFirst: first });
    const stored: number[] = [];
    const intake = new IntakeService(db, 'test.example.org', log, (ids) => stored.push(...ids));
    const box = { mailbox: { projectId, slug: 'p', route: 'list' as const }, address: 'p@lists.example.org' };
    await Promise.all(Array.from({ length: 2 * BATCH_SIZE }, (_, n) => intake.accept({ raw: mail(n), mailFrom: 'a@example.org', recipients: [box], envelopeTo: [box.address], remoteAddr: null, source: 'smtp' })));

    processing.enqueue(stored.slice(0, BATCH_SIZE));
    await processing.drain();
    assert.deepEqual(batches, [BATCH_SIZE], 'nothing arrived yet: one full batch');

    batches.length = 0;
    first.arrived();
    processing.enqueue(stored.slice(BATCH_SIZE));
    await processing.drain();
    assert.equal(batches.reduce((a, b) => a + b, 0), BATCH_SIZE, 'every mail processed while intake is busy');
    assert.ok(batches.length > 1 && batches.every((n) => n <= BUSY_BATCH_SIZE), `smaller batches while busy: ${batches.join(',')}`);
    for (const id of stored) assert.equal((await getMail(db, id))!.state, 'processed');
    await db.destroy();
  });
});
