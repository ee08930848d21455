// postmaster@ (RFC 5321 §4.5.1): accepted for each of our domains and without a domain, forwarded to every admin
// through the outbound queue, kept when there is no admin, never forwarded in a loop.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertUser } from '../../src/db/user.repository.js';
import { projectsDir, tempDir, type TestProject } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const ALPHA: TestProject = { slug: 'alpha', list: 'alpha@lists.example.org' };
const GAMMA: TestProject = { slug: 'gamma', list: 'gamma@courses.example.edu' };

function letter(id: string, extra = ''): string {
  return `From: Remote Admin <hostmaster@remote.example>\r\nTo: postmaster@lists.example.org\r\nSubject: your server ${id}\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${id}@remote.example>\r\n${extra}\r\nYour server is sending us odd mail.\r\n`;
}

async function mailState(data: string, id: string) {
  return withDb(data, (db) =>
    waitFor(`${id} processed`, async () => {
      const r = await db.selectFrom('mails').select(['route', 'state', 'reason', 'recipient']).where('msgid', '=', `${id}@remote.example`).executeTakeFirst();
      return r && r.state !== 'stored' && r;
    }),
  );
}

describe('postmaster', () => {
  let sink: Sink;
  let server: ServerProcess;
  let data: string;
  before(async () => {
    sink = await startSink();
    data = tempDir();
    const projects = projectsDir([ALPHA, GAMMA]);
    await seedProject(data, projects, 'alpha', {});
    await withDb(data, async (db) => {
      for (const [username, email, role] of [
        ['root', 'root@admins.example', 'admin'],
        ['ops', 'OPS@admins.example', 'admin'],
        ['teacher', 'teacher@example.org', 'maintainer'],
      ] as const) {
        await insertUser(db, { username, email, firstName: username, lastName: 'x', role, passwordHash: null });
      }
    });
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    await sink.close();
  });

  it('accepts postmaster of each of our domains, in any case and without a domain, and forwards one copy to each admin', async () => {
    const cases: [string, string, string][] = [
      ['PostMaster@Lists.Example.org', 'pm-1', 'postmaster@lists.example.org'],
      ['postmaster@courses.example.edu', 'pm-2', 'postmaster@courses.example.edu'],
      ['Postmaster', 'pm-3', 'postmaster@lists.example.org'],
    ];
    for (const [rcpt, id] of cases) {
      const { replies, final } = await sendMessage(server.smtpPort, 'hostmaster@remote.example', [rcpt], letter(id));
      assert.match(replies[2]!, /^250 /, `RCPT TO:<${rcpt}> accepted`);
      assert.match(final, /^250 /);
    }
    const mails = await sink.waitFor(6);
    await new Promise((r) => setTimeout(r, 500)); // nothing more comes
    assert.equal(sink.mails.length, 6, 'two admins, three mails: six copies, the maintainer gets none');
    for (const [, id, recipient] of cases) {
      const copies = mails.filter((m) => m.raw.toString('latin1').includes(`<${id}@remote.example>`));
      assert.deepEqual(copies.map((m) => m.rcptTo.join()).sort(), ['ops@admins.example', 'root@admins.example']);
      for (const c of copies) {
        const text = c.raw.toString('latin1');
        assert.ok(text.startsWith(`Delivered-To: ${recipient}\r\n`), 'our Delivered-To line first');
        assert.ok(text.includes('\r\nSubject: your server'), 'the mail itself follows untouched');
        assert.match(c.mailFrom, /-bounces@/, 'sent from a -bounces address, never from postmaster');
      }
      assert.deepEqual(await mailState(data, id), { route: 'postmaster', state: 'processed', reason: 'postmaster:forwarded', recipient });
    }
  });

  it('keeps a postmaster mail that already went through our postmaster, without forwarding it again', async () => {
    const before = sink.mails.length;
    const { final } = await sendMessage(server.smtpPort, 'root@admins.example', ['postmaster@lists.example.org'], letter('pm-loop', 'Delivered-To: postmaster@lists.example.org\r\n'));
    assert.match(final, /^250 /);
    assert.deepEqual(await mailState(data, 'pm-loop'), { route: 'postmaster', state: 'processed', reason: 'postmaster:loop', recipient: 'postmaster@lists.example.org' });
    await new Promise((r) => setTimeout(r, 1500)); // a poll of the outbound queue
    assert.equal(sink.mails.length, before);
  });

  it('keeps postmaster mail, marked, when there is no admin', async () => {
    const bare = tempDir();
    const projects = projectsDir([ALPHA]);
    const alone = await startServer(['--data', bare, '--projects', projects]);
    try {
      const { final } = await sendMessage(alone.smtpPort, 'hostmaster@remote.example', ['postmaster@lists.example.org'], letter('pm-nobody'));
      assert.match(final, /^250 /);
      assert.deepEqual(await mailState(bare, 'pm-nobody'), { route: 'postmaster', state: 'processed', reason: 'postmaster:no-admin', recipient: 'postmaster@lists.example.org' });
      assert.deepEqual(await withDb(bare, (db) => db.selectFrom('outbound').select('id').execute()), []);
    } finally {
      assert.equal(await alone.stop(), 0);
    }
  });
});
