// `patchbay import` as a process: a git format-patch archive goes through the same storage and processing as SMTP.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/db/database.js';
import { splitMbox, openMbox } from '../../src/smtp/mbox.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { gitMailsplit, makePatchArchive, type PatchArchive } from '../helpers/patch-mbox.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;
const SUMMARY = /^imported (\d+), duplicates (\d+), malformed (\d+) in [\d.]+ s \(\d+ mails\/s\)$/m;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runImport(data: string, projects: string, file: string, extra: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'import', '--project', DEMO.slug, '--data', data, '--projects', projects, ...extra, file],
      { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function counts(run: Run): { imported: number; duplicates: number; malformed: number } {
  const m = SUMMARY.exec(run.stdout);
  assert.ok(m, `no summary line in ${JSON.stringify(run.stdout)} (stderr: ${run.stderr})`);
  return { imported: Number(m[1]), duplicates: Number(m[2]), malformed: Number(m[3]) };
}

async function mailRows(db: Db) {
  return db
    .selectFrom('mails')
    .select(['id', 'msgid', 'route', 'state', 'reason', 'source', 'subject', 'from_addr', 'envelope_from', 'defects'])
    .orderBy('id')
    .execute();
}

/** What the series engine made of the mails, keyed by Message-ID so that two databases compare. */
async function filed(db: Db) {
  const patches = await db
    .selectFrom('patches')
    .innerJoin('series', 'series.id', 'patches.series_id')
    .select(['patches.msgid', 'patches.name', 'patches.number', 'patches.state', 'patches.hash', 'series.version', 'series.total', 'series.completed'])
    .orderBy('patches.msgid')
    .execute();
  const covers = await db.selectFrom('covers').select(['msgid', 'name']).orderBy('msgid').execute();
  return { patches, covers };
}

/** Writes messages as an mboxrd file: separator, body lines matching ^>*From quoted with one more '>', blank line. */
function writeMboxrd(file: string, messages: Buffer[]): void {
  const out = fs.openSync(file, 'w');
  for (const m of messages) {
    fs.writeSync(out, 'From mboxrd@z Thu Jan  1 00:00:00 1970\n');
    fs.writeSync(out, Buffer.from(m.toString('latin1').replace(/^(>*From )/gm, '>$1'), 'latin1'));
    fs.writeSync(out, '\n');
  }
  fs.closeSync(out);
}

describe('patchbay import', () => {
  let archive: PatchArchive;
  let projects: string;
  const servers: ServerProcess[] = [];

  before(() => {
    archive = makePatchArchive();
    projects = projectsDir([DEMO]);
  });
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('splits the archive exactly as git mailsplit --mboxrd does, less the blank line that ends each message', async () => {
    const ours: Buffer[] = [];
    for await (const m of splitMbox(openMbox(archive.file).stream)) ours.push(m.raw);
    const theirs = gitMailsplit(archive.file);
    assert.equal(ours.length, archive.count);
    assert.equal(theirs.length, archive.count);
    ours.forEach((m, i) => assert.equal(Buffer.concat([m, Buffer.from('\n')]).toString('latin1'), theirs[i]!.toString('latin1'), `message ${i}`));
    assert.ok(ours.some((m) => m.includes('\nFrom now on step 1 is counted.\n>From a quoted line')), 'mboxrd quoting undone');
  });

  it('stores and processes every mail like an SMTP delivery, files patches and the cover, and relays nothing', async () => {
    const data = tempDir();
    await seedProject(data, projects, DEMO.slug, { subscribers: ['member@example.net'] });
    const run = await runImport(data, projects, archive.file);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(counts(run), { imported: 20, duplicates: 0, malformed: 0 });
    await withDb(data, async (db) => {
      const rows = await mailRows(db);
      assert.equal(rows.length, 20);
      for (const r of rows) {
        assert.deepEqual(
          { route: r.route, state: r.state, reason: r.reason, source: r.source, from: r.from_addr, envelope: r.envelope_from },
          { route: 'list', state: 'processed', reason: 'imported', source: 'import', from: 'zoe@students.example.org', envelope: 'zoe@students.example.org' },
          r.msgid,
        );
      }
      const { patches, covers } = await filed(db);
      assert.equal(patches.length, 19);
      assert.deepEqual(covers.map((c) => c.msgid), [rows[0]!.msgid]);
      const outbound = await db.selectFrom('outbound').select('id').execute();
      assert.equal(outbound.length, 0, 'an archive is not mailed to the subscribers again');
    });
  });

  it('is idempotent: importing the archive again, or its gzip, finds every mail stored, even one without Message-ID', async () => {
    const data = tempDir();
    const dir = tempDir();
    const noId = Buffer.from('From: Zoe <zoe@students.example.org>\nSubject: no id\nDate: Fri, 20 Nov 2026 10:00:00 +0000\n\nhello\n');
    const mixed = path.join(dir, 'mixed.mbox');
    fs.writeFileSync(mixed, Buffer.concat([fs.readFileSync(archive.file), Buffer.from('From zoe Fri Nov 20 10:00:00 2026\n'), noId, Buffer.from('\n')]));
    const gz = path.join(dir, 'mixed.mbox.gz');
    fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(mixed)));

    assert.deepEqual(counts(await runImport(data, projects, mixed)), { imported: 21, duplicates: 0, malformed: 0 });
    assert.deepEqual(counts(await runImport(data, projects, mixed)), { imported: 0, duplicates: 21, malformed: 0 });
    assert.deepEqual(counts(await runImport(data, projects, gz)), { imported: 0, duplicates: 21, malformed: 0 });
    await withDb(data, async (db) => {
      const rows = await mailRows(db);
      assert.equal(rows.length, 21);
      assert.equal(new Set(rows.map((r) => r.msgid)).size, 21);
      assert.equal((await filed(db)).patches.length, 19);
    });
  });

  it('gives the same stored rows and the same series as the same mails sent over SMTP', async () => {
    const viaSmtp = tempDir();
    const server = await startServer(['--data', viaSmtp, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
    servers.push(server);
    for (const raw of gitMailsplit(archive.file)) {
      const { final } = await sendMessage(server.smtpPort, 'zoe@students.example.org', [LIST], raw);
      assert.match(final, /^250 /);
    }
    await withDb(viaSmtp, (db) => waitFor('SMTP mail processed', async () => (await mailRows(db)).every((r) => r.state !== 'stored')));

    const viaImport = tempDir();
    assert.deepEqual(counts(await runImport(viaImport, projects, archive.file)), { imported: 20, duplicates: 0, malformed: 0 });

    const view = (rows: Awaited<ReturnType<typeof mailRows>>) =>
      rows
        .map((r) => ({ msgid: r.msgid, route: r.route, state: r.state, subject: r.subject, from: r.from_addr, defects: r.defects }))
        .sort((a, b) => a.msgid.localeCompare(b.msgid));
    const smtpRows = await withDb(viaSmtp, mailRows);
    const importRows = await withDb(viaImport, mailRows);
    assert.equal(smtpRows.length, 20);
    assert.deepEqual(view(importRows), view(smtpRows));
    assert.deepEqual(await withDb(viaImport, filed), await withDb(viaSmtp, filed));
  });

  it('runs while the server runs on the same database: both write, nothing is lost or left unprocessed', async () => {
    // 4,000 mails (the 20 of the archive, 200 times, each copy with its own Message-ID), so that the import is still
    // storing when 40 SMTP mails arrive over 4 connections at once.
    const base = gitMailsplit(archive.file);
    const big: Buffer[] = [];
    for (let copy = 0; copy < 200; copy++) {
      for (const m of base) big.push(Buffer.from(m.toString('latin1').replace(/^Message-Id: <([^>]+)>/im, `Message-Id: <copy${copy}.$1>`), 'latin1'));
    }
    const file = path.join(tempDir(), 'big.mbox');
    writeMboxrd(file, big);

    const data = tempDir();
    const server = await startServer(['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
    servers.push(server);
    const importing = runImport(data, projects, file);
    await withDb(data, (db) => waitFor('the import to start storing', async () => (await mailRows(db)).some((r) => r.source === 'import'), 60_000));
    const sender = async (first: number) => {
      for (let i = first; i < first + 10; i++) {
        const mail = `From: Bob <bob@example.net>\nTo: ${LIST}\nSubject: during import ${i}\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <during-${i}@example.net>\n\nhello ${i}\n`;
        assert.match((await sendMessage(server.smtpPort, 'bob@example.net', [LIST], mail)).final, /^250 /);
      }
    };
    await Promise.all([0, 10, 20, 30].map(sender));
    const run = await importing;
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(counts(run), { imported: 4000, duplicates: 0, malformed: 0 });

    const rows = await withDb(data, (db) =>
      waitFor('every mail processed', async () => {
        const all = await mailRows(db);
        return all.every((r) => r.state !== 'stored') && all;
      }, 120_000),
    );
    const smtp = rows.filter((r) => r.source === 'smtp');
    const imported = rows.filter((r) => r.source === 'import');
    assert.equal(smtp.length, 40);
    assert.equal(imported.length, 4000);
    assert.ok(smtp.every((r) => r.state === 'processed' && r.reason === 'distributed'));
    assert.ok(imported.every((r) => r.state === 'processed' && r.reason === 'imported'));
    const lastImported = Math.max(...imported.map((r) => r.id));
    assert.ok(smtp.some((r) => r.id < lastImported), 'SMTP mail was stored while the import was still storing');
  });

  it('finishes the work of an import killed part-way when it is run again: every mail stored once and processed', async (t) => {
    // 3,000 mails (enough that no machine imports them all between two looks); the first import is SIGKILLed once it has stored some.
    const base = gitMailsplit(archive.file);
    const COPIES = 150;
    const total = COPIES * base.length;
    const big: Buffer[] = [];
    for (let copy = 0; copy < COPIES; copy++) {
      for (const m of base) big.push(Buffer.from(m.toString('latin1').replace(/^Message-Id: <([^>]+)>/im, `Message-Id: <killed${copy}.$1>`), 'latin1'));
    }
    const file = path.join(tempDir(), 'big.mbox');
    writeMboxrd(file, big);
    const data = tempDir();
    await seedProject(data, projects, DEMO.slug, {});

    const child = spawn(process.execPath, [BIN, 'import', '--project', DEMO.slug, '--data', data, '--projects', projects, file], {
      cwd: ROOT,
      env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const atKill = await withDb(data, (db) =>
      waitFor('the first import to store some mail', async () => {
        const rows = await mailRows(db);
        return rows.length >= 100 && rows;
      }, 60_000),
    );
    child.kill('SIGKILL');
    await exited;
    const before = await withDb(data, mailRows);
    t.diagnostic(`killed with ${before.length} mails stored, ${before.filter((r) => r.state === 'stored').length} of them not processed (${atKill.length} seen)`);
    assert.ok(before.length < total, 'killed part-way');

    const run = await runImport(data, projects, file);
    assert.equal(run.code, 0, run.stderr);
    const c = counts(run);
    assert.equal(c.duplicates, before.length);
    assert.equal(c.imported + c.duplicates, total);
    const rows = await withDb(data, mailRows);
    assert.equal(rows.length, total);
    assert.equal(new Set(rows.map((r) => r.msgid)).size, total);
    assert.deepEqual(rows.filter((r) => r.state !== 'processed' || r.reason !== 'imported'), []);
  });

  it('shows a progress bar with the count, the rate and the ETA on a terminal', async (t) => {
    if (!fs.existsSync('/usr/bin/script')) return t.skip('script(1) from bsdutils is needed for a pseudo-terminal');
    const data = tempDir();
    const cmd = [process.execPath, BIN, 'import', '--project', DEMO.slug, '--data', data, '--projects', projects, archive.file].join(' ');
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))));
    });
    assert.match(out, /20\/20 mails \| \d+ mails\/s \| ETA \d+s/);
    assert.match(out, /imported 20, duplicates 0, malformed 0 in/);
  });

  it('refuses an unknown project and an unreadable file, with exit code 1', async () => {
    const data = tempDir();
    const unknown = await new Promise<Run>((resolve) =>
      execFile(process.execPath, [BIN, 'import', '--project', 'nope', '--data', data, '--projects', projects, archive.file], { cwd: ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no such project: nope/);
    const missing = await runImport(data, projects, path.join(data, 'missing.mbox'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*missing\.mbox: ENOENT/);
  });
});
