// Every poison shape of issue 11 (test/fixtures/fuzz/*.eml, one file each) against the real server as a process: the
// server keeps answering /healthz within 1 s and SMTP within 2 s, each poison mail is filed, marked or quarantined,
// and the good mail after it is filed. Then restarts: a mail whose attempts were all cut short by crashes is
// quarantined at start without being read, a restart with quarantined mail starts and serves, and an admin's
// `patchbay quarantine list|retry` sees and processes it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nowIso } from '../../src/db/database.js';
import { bumpAttempts } from '../../src/db/mail-attempts.repository.js';
import { insertMails } from '../../src/db/mail.repository.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { maxOf, startProbes } from '../helpers/probes.js';
import { runCommand } from '../helpers/run-command.js';
import { withDb } from '../helpers/seed.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { dataPayload, SmtpSession } from '../helpers/smtp-client.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;
const FUZZ = path.join(ROOT, 'test/fixtures/fuzz');
const POISON = fs.readdirSync(FUZZ).filter((f) => f.endsWith('.eml')).sort();
/** Shapes whose only fault is a regular expression that backtracks (issue 11, item 2): fast once those are linear. */
const REGEX_SHAPES = new Set(['signoff-3000-spaces.eml', 'signoff-6000-spaces.eml', 'from-2500-spaces.eml', 'mbox-100000-spaces.eml']);
/** What each other shape must leave: the defect it is marked with. */
const DEFECT: Record<string, string> = {
  'subject-index-huge.eml': 'subject-number-out-of-range',
  'subject-total-huge.eml': 'subject-number-out-of-range',
  'subject-version-huge.eml': 'subject-number-out-of-range',
  'empty-content-type.eml': 'bad-content-type',
  'date-year-275760.eml': 'date-out-of-range',
};
const SERVER_ARGS = ['--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0', '--mail-time-budget', '2', '--mail-attempts', '2'];

const msgidOf = (raw: Buffer) => /^Message-Id: <([^>]+)>/im.exec(raw.toString('latin1'))![1]!;

async function send(port: number, raw: Buffer): Promise<number> {
  const session = await SmtpSession.open(port);
  try {
    return (await session.send('zoe@students.example.org', [LIST], dataPayload(raw))).code;
  } finally {
    await session.quit();
  }
}

async function rows(data: string) {
  return withDb(data, (db) => db.selectFrom('mails').leftJoin('mail_attempts', 'mail_attempts.mail_id', 'mails.id').select(['mails.id', 'msgid', 'state', 'reason', 'defects', 'attempts']).orderBy('mails.id').execute());
}

describe('poison mail', () => {
  let data: string;
  let projects: string;
  let server: ServerProcess;
  before(async () => {
    data = tempDir();
    projects = projectsDir([DEMO]);
    server = await startServer(['--data', data, '--projects', projects, ...SERVER_ARGS]);
  });
  after(async () => {
    await server.stop();
  });

  it('files, marks or quarantines every poison shape while /healthz answers within 1 s and SMTP within 2 s, and files the good mail after each', async () => {
    const good = [...(await readMboxFile(path.join(ROOT, 'test/fixtures/series/cover-letter.mbox'))), ...(await readMboxFile(path.join(ROOT, 'test/fixtures/series/no-cover.mbox'))), ...(await readMboxFile(path.join(ROOT, 'test/fixtures/series/v2-standalone.mbox')))];
    assert.ok(good.length >= POISON.length, 'a good mail for each poison mail');
    const probes = startProbes(server, { healthzEveryMs: 200, smtpEveryMs: 500 });
    const sent: { file: string; msgid: string; good: string }[] = [];
    try {
      for (const [i, file] of POISON.entries()) {
        const raw = fs.readFileSync(path.join(FUZZ, file));
        assert.equal(await send(server.smtpPort, raw), 250, `${file} acknowledged`);
        assert.equal(await send(server.smtpPort, good[i]!), 250, `the good mail after ${file} acknowledged`);
        sent.push({ file, msgid: msgidOf(raw), good: msgidOf(good[i]!) });
      }
      await waitFor('every mail to be processed', async () => (await rows(data)).every((r) => r.state !== 'stored'), 180_000);
    } finally {
      const probed = await probes.stop();
      assert.deepEqual(probed.failures, [], 'every probe answered');
      assert.ok(maxOf(probed.healthz) < 1000, `/healthz answered within 1 s (slowest ${maxOf(probed.healthz).toFixed(0)} ms of ${probed.healthz.length})`);
      assert.ok(maxOf(probed.smtp) < 2000, `SMTP greeted and answered EHLO within 2 s (slowest ${maxOf(probed.smtp).toFixed(0)} ms of ${probed.smtp.length})`);
    }

    const byMsgid = new Map((await rows(data)).map((r) => [r.msgid, r]));
    for (const s of sent) {
      const poison = byMsgid.get(s.msgid);
      assert.ok(poison, `${s.file} stored`);
      const defects = JSON.parse(poison.defects ?? '[]') as string[];
      if (REGEX_SHAPES.has(s.file)) {
        assert.ok(['processed', 'quarantined'].includes(poison.state), `${s.file}: ${poison.state} (${poison.reason})`);
        if (poison.state === 'quarantined') assert.match(poison.reason ?? '', /time budget/, `${s.file} stopped by the time budget`);
      } else {
        assert.equal(poison.state, 'processed', `${s.file}: ${poison.reason}`);
        assert.ok(defects.includes(DEFECT[s.file]!), `${s.file} marked ${DEFECT[s.file]} (defects ${poison.defects})`);
      }
      assert.equal(byMsgid.get(s.good)?.state, 'processed', `the good mail after ${s.file} is filed`);
    }
    // No number from a subject made a giant series.
    const series = await withDb(data, (db) => db.selectFrom('series').select(['total', 'version']).execute());
    assert.ok(series.length > 0);
    assert.ok(series.every((x) => x.total <= 9_999 && x.version <= 999), JSON.stringify(series));
    const emptyType = await withDb(data, (db) => db.selectFrom('patches').select('diff').where('msgid', '=', 'poison-empty-content-type@students.example.org').executeTakeFirst());
    assert.match(emptyType?.diff ?? '', /^diff --git a\/parse\/step1\.c/, 'the patch in the part with an empty Content-Type is filed');
  });

  it('quarantines at start a mail whose every attempt was cut short, starts again with quarantined mail and serves, and retries it by hand', async () => {
    assert.equal(await server.stop(), 0);
    // As three starts that each died while filing this mail leave it: stored, every attempt counted, none finished.
    const raw = (await readMboxFile(path.join(ROOT, 'test/fixtures/series/single.mbox')))[0]!;
    const msgid = msgidOf(raw);
    const id = await withDb(data, async (db) => {
      const project = await db.selectFrom('projects').select('id').where('slug', '=', DEMO.slug).executeTakeFirstOrThrow();
      const [row] = await insertMails(db, [
        { project_id: project.id, route: 'list', recipient: LIST, msgid, msgid_generated: 0, envelope_from: 'zoe@students.example.org', envelope_to: JSON.stringify([LIST]), remote_addr: '127.0.0.1', source: 'smtp', raw, size: raw.length, received_at: nowIso() },
      ]);
      for (let i = 0; i < 2; i++) await bumpAttempts(db, [row!.id], nowIso());
      return row!.id;
    });
    const before = new Map((await rows(data)).map((r) => [r.id, r]));

    for (let start = 1; start <= 2; start++) {
      server = await startServer(['--data', data, '--projects', projects, ...SERVER_ARGS]);
      const probes = startProbes(server, { healthzEveryMs: 100, smtpEveryMs: 300 });
      const next = (await readMboxFile(path.join(ROOT, 'test/fixtures/series/rfc.mbox')))[start - 1]!;
      assert.equal(await send(server.smtpPort, next), 250);
      await waitFor('the mail sent after the start to be processed', async () => (await rows(data)).find((r) => r.msgid === msgidOf(next) && r.state === 'processed'));
      const probed = await probes.stop();
      assert.deepEqual(probed.failures, []);
      assert.ok(maxOf(probed.healthz) < 1000 && maxOf(probed.smtp) < 2000, `start ${start}: /healthz ${maxOf(probed.healthz).toFixed(0)} ms, SMTP ${maxOf(probed.smtp).toFixed(0)} ms`);

      const now = new Map((await rows(data)).map((r) => [r.id, r]));
      const cut = now.get(id)!;
      assert.equal(cut.state, 'quarantined', `start ${start}: the mail cut short twice is quarantined, not read again`);
      assert.equal(cut.attempts, 2);
      assert.match(cut.reason ?? '', /interrupted on each of its 2 attempts/);
      // Quarantined before this start: left as they were, not attempted again.
      for (const [rowId, was] of before) {
        if (was.state === 'quarantined') assert.deepEqual(now.get(rowId), was, `quarantined mail ${rowId} untouched by the restart`);
      }
      if (start === 1) assert.equal(await server.stop(), 0, 'the server stops cleanly with quarantined mail');
    }

    const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn', PATCHBAY_MAIL_ATTEMPTS: '2' };
    const list = await runCommand(process.execPath, [BIN, 'quarantine', 'list', '--data', data, '--projects', projects], { cwd: ROOT, env });
    assert.equal(list.code, 0, list.output);
    assert.match(list.stdout, new RegExp(`^${id}\\s+${DEMO.slug}\\s+list\\s.*interrupted on each of its 2 attempts`, 'm'));
    // The server is running: the CLI processes the mail itself, through the same handlers, with one more attempt.
    const retry = await runCommand(process.execPath, [BIN, 'quarantine', 'retry', String(id), '--data', data, '--projects', projects], { cwd: ROOT, env });
    assert.equal(retry.code, 0, retry.output);
    assert.match(retry.stdout, new RegExp(`^mail ${id} processed: processed$`, 'm'));
    const after = (await rows(data)).find((r) => r.id === id)!;
    assert.deepEqual([after.state, after.reason, after.attempts], ['processed', 'distributed', 2]);
  });
});
