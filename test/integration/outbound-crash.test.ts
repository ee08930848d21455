// Outbound copies across a crash: a copy the smarthost acknowledged is never sent again, after a SIGKILL or when the
// database could not record it in time; copies the smarthost never acknowledged are sent after the restart, once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/db/database.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const SUBSCRIBERS = Array.from({ length: 8 }, (_, i) => `reader${i}@example.net`);
const POSTS = 5;
const TOTAL = POSTS * SUBSCRIBERS.length; // 40 copies

function post(n: number): string {
  return `From: Teacher <teacher@example.org>\r\nTo: ${DEMO.list}\r\nSubject: notice ${n}\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <notice-${n}@example.org>\r\n\r\nNotice number ${n}.\r\n`;
}

interface Staged {
  sink: Sink;
  data: string;
  args: string[];
  server: ServerProcess;
  /** The database's write lock, held by this process. */
  lock: Database.Database;
}

/**
 * The smarthost holds every copy unanswered while the posts are taken and processed. Then another process takes the
 * database's write lock (as a long processing transaction would) and the smarthost acknowledges one copy: the server
 * has the 250 but cannot record it. Resolves once the server wrote that copy down (outbound-journal.ts).
 */
async function stage(): Promise<Staged> {
  const sink = await startSink();
  const data = tempDir();
  const projects = projectsDir([DEMO]);
  await seedProject(data, projects, DEMO.slug, { subscribers: SUBSCRIBERS });
  const args = ['--data', data, '--projects', projects, '--outbound', sink.url];
  sink.hang();
  const server = await startServer(args);
  for (let n = 1; n <= POSTS; n++) {
    assert.match((await sendMessage(server.smtpPort, 'teacher@example.org', [DEMO.list], post(n))).final, /^250 /);
  }
  await withDb(data, (db) =>
    waitFor('the posts processed', async () => (await db.selectFrom('mails').select('state').where('state', '=', 'stored').execute()).length === 0),
  );
  await sink.held(4); // four copies at once, each waiting for its 250
  const lock = openDatabase(path.join(data, 'patchbay.sqlite')).sqlite;
  lock.exec('begin immediate');
  sink.release(1);
  const journal = path.join(data, 'outbound.journal');
  await waitFor('the server to take the 250', () => fs.existsSync(journal) && fs.readFileSync(journal, 'latin1').includes(' sent\n'), 10_000);
  return { sink, data, args, server, lock };
}

/** Waits until every copy is sent and the queue is empty, then says which copies the smarthost got more than once. */
async function sentTwice(s: Staged): Promise<string[]> {
  await s.sink.waitFor(TOTAL, 60_000);
  await withDb(s.data, (db) =>
    waitFor('the queue to empty', async () => (await db.selectFrom('outbound').select('id').where('state', '=', 'queued').execute()).length === 0),
  );
  await new Promise((r) => setTimeout(r, 1500)); // a poll of the queue: a copy sent twice would arrive now
  const copies = s.sink.mails.map((m) => `${/Message-ID: <([^>]+)>/i.exec(m.raw.toString('latin1'))?.[1]} → ${m.rcptTo.join()}`);
  assert.equal(new Set(copies).size, TOTAL, 'every copy sent');
  assert.deepEqual(await withDb(s.data, (db) => db.selectFrom('outbound').select('state').distinct().execute()), [{ state: 'sent' }]);
  return copies.filter((c, i) => copies.indexOf(c) !== i);
}

describe('outbound copies across a crash', () => {
  it('never sends a copy twice after a SIGKILL that came between the smarthost 250 and the database commit', async (t) => {
    const s = await stage();
    try {
      await s.server.kill();
      s.lock.exec('rollback');
      s.lock.close();
      const queued = await withDb(s.data, (db) => db.selectFrom('outbound').select('id').where('state', '=', 'queued').execute());
      t.diagnostic(`at the kill: the smarthost had acknowledged ${s.sink.mails.length} copy, ${queued.length} rows were still queued`);
      assert.equal(s.sink.mails.length, 1);
      assert.equal(queued.length, TOTAL, 'the acknowledged copy was still queued in the database');

      s.sink.resume(); // the copies held at the kill were never acknowledged: they are sent after the restart
      s.server = await startServer(s.args);
      assert.deepEqual(await sentTwice(s), [], 'no copy sent twice');
    } finally {
      await s.server.stop();
      await s.sink.close();
    }
  });

  it('never sends a copy twice when recording it failed because the database stayed locked', async () => {
    const s = await stage();
    try {
      // The server waits 5 s for the lock (busy_timeout), gives up on the update, and finds the row still queued.
      await new Promise((r) => setTimeout(r, 6000));
      s.lock.exec('rollback');
      s.lock.close();
      s.sink.release(Number.MAX_SAFE_INTEGER);
      s.sink.resume();
      assert.deepEqual(await sentTwice(s), [], 'no copy sent twice');
    } finally {
      await s.server.stop();
      await s.sink.close();
    }
  });
});
