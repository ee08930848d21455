// End to end: Debian's `git send-email` posts a 3-patch series with a cover letter to the server as a process; every
// mail is stored, and a subscriber behind a sink smarthost gets all four with the list headers, subject and body intact.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getMail, listMails } from '../../src/db/mail.repository.js';
import { findSubscriber } from '../../src/db/subscriber.repository.js';
import { extractMsgid, headerText, headerValue, normalizeNewlines, splitHeader } from '../../src/mail/raw.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { seedProject, withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { waitFor } from '../helpers/wait.js';
import { runCommand } from '../helpers/run-command.js';

const LIST = DEMO.list;
const SUBSCRIBER = 'reviewer@example.net';
const AUTHOR = { name: 'Zoé Étudiante', email: 'zoe@students.example.org' };
const SEND_EMAIL_MISSING = spawnSync('git', ['send-email', '--dump-aliases'], { stdio: 'ignore' }).status !== 0;

/** git with a private HOME and no system config, so that the machine's settings cannot change what is sent. */
function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: AUTHOR.name,
    GIT_AUTHOR_EMAIL: AUTHOR.email,
    GIT_COMMITTER_NAME: AUTHOR.name,
    GIT_COMMITTER_EMAIL: AUTHOR.email,
  };
}

function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A repository with a base commit and three commits on top, one with a non-ASCII subject (RFC 2047, folded). */
function makeSeries(): { dir: string; patches: string[]; env: NodeJS.ProcessEnv } {
  const dir = tempDir('patchbay-git-');
  const env = gitEnv(dir);
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  git(repo, env, 'init', '-q', '-b', 'master');
  fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(void)\n{\n\treturn 0;\n}\n');
  git(repo, env, 'add', '.');
  git(repo, env, 'commit', '-qm', 'initial');
  fs.writeFileSync(path.join(repo, 'proctree.c'), 'int proctree(int pid)\n{\n\treturn pid;\n}\n');
  git(repo, env, 'commit', '-qas', '-m', 'proctree: take the pid', '-m', 'The syscall needs to know which process to walk.');
  fs.writeFileSync(path.join(repo, 'README'), 'proctree: décrit l’arbre des processus.\n.\n');
  git(repo, env, 'add', 'README');
  git(repo, env, 'commit', '-qs', '-m', 'doc: décrire l’appel système proctree et son comportement en détail', '-m', 'Écrit en français.');
  fs.writeFileSync(path.join(repo, 'test.sh'), '#!/bin/sh\nlava-test-case proctree --result pass\n');
  git(repo, env, 'add', 'test.sh');
  git(repo, env, 'commit', '-qs', '-m', 'tests: add the proctree test case');
  const out = path.join(dir, 'out');
  git(repo, env, 'format-patch', '-q', '--cover-letter', '-3', '-o', out);
  // send-email refuses a cover letter still holding the template's *** SUBJECT HERE ***, as a student would notice.
  const cover = path.join(out, '0000-cover-letter.patch');
  fs.writeFileSync(
    cover,
    fs.readFileSync(cover, 'utf8').replace('*** SUBJECT HERE ***', 'proctree: a syscall that walks the process tree').replace('*** BLURB HERE ***', 'Three steps, one test.'),
  );
  const patches = fs.readdirSync(out).sort().map((f) => path.join(out, f));
  return { dir: repo, patches, env };
}

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) => runCommand(cmd, args, { cwd, env });

const bodyOf = (raw: Buffer) => raw.subarray(splitHeader(raw).bodyStart);
const subjectLine = (raw: Buffer) =>
  /^Subject:[^\r\n]*(\r?\n[ \t][^\r\n]*)*/im.exec(raw.subarray(0, splitHeader(raw).headerEnd).toString('latin1'))![0];
const msgidOf = (raw: Buffer) => extractMsgid(headerValue(headerText(raw), 'message-id'))!;

describe('git send-email to the list', { skip: SEND_EMAIL_MISSING ? 'git send-email is not installed (Debian package git-email; .ci/setup installs it)' : false }, () => {
  let sink: Sink;
  let server: ServerProcess;
  let data: string;

  before(async () => {
    data = tempDir();
    const projects = projectsDir([DEMO]);
    await seedProject(data, projects, 'proctree', { subscribers: [SUBSCRIBER] });
    sink = await startSink();
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    await sink.close();
  });

  it('stores a 3-patch series with its cover letter, and relays all four to the subscriber untouched', async () => {
    const { dir, patches, env } = makeSeries();
    assert.equal(patches.length, 4);
    const sent = await run(
      'git',
      [
        '-c', `user.name=${AUTHOR.name}`,
        '-c', `user.email=${AUTHOR.email}`,
        'send-email',
        '--smtp-server=127.0.0.1',
        `--smtp-server-port=${server.smtpPort}`,
        '--smtp-domain=students.example.org',
        `--to=${LIST}`,
        '--confirm=never',
        '--no-chain-reply-to',
        '--suppress-cc=all',
        '--8bit-encoding=UTF-8',
        ...patches,
      ],
      dir,
      env,
    );
    assert.equal(sent.code, 0, sent.output);

    const stored = await waitFor('four mails processed', () =>
      withDb(data, async (db) => {
        const rows = (await listMails(db, { route: 'list' })).filter((m) => m.fromAddr === AUTHOR.email);
        return rows.length === 4 && rows.every((r) => r.state === 'processed') ? rows : null;
      }),
    );
    assert.deepEqual(stored.map((r) => r.reason), ['distributed', 'distributed', 'distributed', 'distributed']);

    const copies = await sink.waitFor(4, 60_000);
    assert.equal(copies.length, 4);
    const token = await withDb(data, async (db) => (await findSubscriber(db, 1, SUBSCRIBER))!.token);
    const files = patches.map((p) => fs.readFileSync(p));

    for (const row of stored) {
      const raw = (await withDb(data, (db) => getMail(db, row.id)))!.raw;
      const copy = copies.find((c) => msgidOf(c.raw) === row.msgid);
      assert.ok(copy, `a copy of ${row.msgid}`);
      assert.deepEqual(copy.rcptTo, [SUBSCRIBER]);
      assert.equal(copy.mailFrom, 'proctree-bounces+reviewer=example.net@lists.example.org');

      const header = headerText(copy.raw);
      assert.equal(headerValue(header, 'list-id'), 'Proctree Syscall <proctree.lists.example.org>');
      assert.equal(headerValue(header, 'list-post'), `<mailto:${LIST}>`);
      assert.equal(headerValue(header, 'list-help'), '<mailto:proctree-request@lists.example.org?subject=help>');
      assert.equal(headerValue(header, 'list-subscribe'), `<${server.baseUrl}/lists/proctree/subscribe>, <mailto:proctree-request@lists.example.org?subject=subscribe>`);
      assert.equal(headerValue(header, 'list-unsubscribe'), `<${server.baseUrl}/lists/proctree/unsubscribe/${token}>, <mailto:proctree-request@lists.example.org?subject=unsubscribe>`);
      assert.equal(headerValue(header, 'list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
      assert.equal(headerValue(header, 'list-archive'), `<${server.baseUrl}/proctree/>`);
      assert.equal(headerValue(header, 'precedence'), 'list');

      // Byte-identical to what git send-email delivered, and to what git format-patch wrote.
      assert.ok(bodyOf(copy.raw).equals(bodyOf(raw)), `${row.msgid}: body byte-identical to the stored mail`);
      assert.equal(subjectLine(copy.raw), subjectLine(raw), `${row.msgid}: Subject field byte-identical`);
      const subject = headerValue(header, 'subject');
      const file = files.find((f) => headerValue(headerText(f), 'subject') === subject);
      assert.ok(file, `a patch file with the subject ${subject}`);
      assert.ok(normalizeNewlines(bodyOf(copy.raw)).equals(bodyOf(file)), `${subject}: body as git format-patch wrote it`);
    }
    const subjects = stored.map((r) => r.subject);
    assert.ok(subjects.includes('[PATCH 0/3] proctree: a syscall that walks the process tree'), subjects.join('\n'));
    assert.ok(subjects.includes('[PATCH 2/3] doc: décrire l’appel système proctree et son comportement en détail'), subjects.join('\n'));
  });
});
