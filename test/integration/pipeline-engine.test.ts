// The pipeline engine in the server process, on a small tree made from the kernel's files: a required test
// description (missing, then present and valid), a report posted to the list as well as to the student, and our own
// failure (the tree is gone) mailed to the maintainers only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { commitAll, editFile, git, kernelTreeAvailable, KERNEL_TREE, smallTree, studentClone } from '../helpers/small-tree.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const SKIP = kernelTreeAvailable() ? false : `no kernel repository at ${KERNEL_TREE} (scripts/kernel-tree.sh; .ci/setup runs it)`;
const LIST = 'lab@lists.example.org';
const STUDENT = 'zoe@students.example.org';
const TEACHER = 'teacher@example.org';

const TESTDEF = `metadata:
  format: Lava-Test Test Definition 1.0
  name: dma-lab
  description: "The lab's DMA checks"
run:
  steps:
    - lava-test-case dma-present --shell test -e /proc/dma
`;

interface Run {
  state: string;
  outcome: string | null;
  steps: { step: string; status: string; summary: string | null }[];
}

async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

/** format-patch with Message-IDs (--thread), then each file over SMTP in order; returns the first mail's Message-ID. */
async function sendSeries(server: ServerProcess, repo: string, range: string): Promise<string> {
  const out = tempDir('patchbay-series-');
  git(repo, 'format-patch', '-q', '--thread=shallow', '-o', out, range);
  const files = fs.readdirSync(out).sort().map((f) => path.join(out, f));
  for (const f of files) {
    const raw = fs.readFileSync(f, 'latin1').replace(/^From [0-9a-f]{40} .*\n/, '').replace(/^Subject:/m, `To: ${LIST}\nSubject:`);
    assert.match((await sendMessage(server.smtpPort, STUDENT, [LIST], raw)).final, /^250 /);
  }
  return extractMsgid(headerValue(fs.readFileSync(files[0]!, 'latin1'), 'message-id'))!;
}

async function finishedRun(server: ServerProcess, msgid: string): Promise<{ run: Run; patchId: number }> {
  return waitFor(
    'the run to end',
    async () => {
      const [patch] = await getJson<{ id: number; series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
      if (!patch?.series[0]) return undefined;
      const runs = await getJson<Run[]>(server, `/series/${patch.series[0].id}/runs/`);
      const run = runs[runs.length - 1];
      return run?.state === 'done' ? { run, patchId: patch.id } : undefined;
    },
    120_000,
  );
}

function outbox(data: string): { to: string; inReplyTo: string | undefined; raw: string }[] {
  const dir = path.join(data, 'outbox');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => {
      const raw = fs.readFileSync(path.join(dir, f));
      const head = headerText(raw);
      return { to: headerValue(head, 'to') ?? '', inReplyTo: extractMsgid(headerValue(head, 'in-reply-to')), raw: raw.toString('utf8') };
    });
}

describe('the pipeline engine', { skip: SKIP }, () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('fails a series without the required test description, posts the report to the list too, and passes it once the file is there', async () => {
    const tree = smallTree();
    const projects = projectsDir([
      {
        slug: 'lab',
        list: LIST,
        maintainers: [TEACHER],
        tree: { url: tree.bare, branch: 'master' },
        tests: { student: { path: 'tests/*.yaml', required: true } },
        checkpatch: { ignore: ['FILE_PATH_CHANGES'] },
        report: { to: 'student+list', signature: 'LSE Team' },
      },
    ]);
    const data = tempDir('patchbay-engine-');
    const server = await startServer(['--data', data, '--projects', projects]);
    servers.push(server);

    const repo = studentClone(tree);
    editFile(repo, 'kernel/dma.c', (t) => `${t}\n/* lab: the DMA note */\n`);
    commitAll(repo, 'dma: add the lab note', 'The lab asks for a note in the DMA code.');
    const first = await sendSeries(server, repo, '-1');
    const failed = await finishedRun(server, first);
    assert.equal(failed.run.outcome, 'fail');
    const testdesc = failed.run.steps.find((s) => s.step === 'testdesc')!;
    assert.equal(testdesc.status, 'fail');
    assert.match(testdesc.summary ?? '', /tests\/\*\.yaml/);

    const reply = await waitFor('the reply to the student', () => outbox(data).find((m) => m.inReplyTo === first));
    assert.match(reply.to, new RegExp(STUDENT));
    assert.match(reply.raw, /^Cc: .*lab@lists\.example\.org/m);
    // The list's copy is a post: archived and filed as a comment on the patch.
    const replyId = extractMsgid(headerValue(headerText(Buffer.from(reply.raw)), 'message-id'))!;
    await waitFor('the report in the archive', async () => (await fetch(`${server.baseUrl}/lab/${encodeURIComponent(replyId)}/raw`)).status === 200);
    const comments = await getJson<{ msgid: string }[]>(server, `/api/patches/${failed.patchId}/comments/`);
    assert.ok(comments.some((c) => c.msgid === `<${replyId}>`), JSON.stringify(comments));

    fs.mkdirSync(path.join(repo, 'tests'));
    fs.writeFileSync(path.join(repo, 'tests/dma.yaml'), TESTDEF);
    commitAll(repo, 'tests: add the DMA lab test definition', 'The lab checks that /proc/dma exists.');
    const second = await sendSeries(server, repo, '-1');
    const passed = await finishedRun(server, second);
    assert.equal(passed.run.steps.find((s) => s.step === 'testdesc')?.status, 'pass', JSON.stringify(passed.run));
    assert.match(passed.run.steps.find((s) => s.step === 'testdesc')?.summary ?? '', /dma-present|1 test/);
  });

  it('mails the maintainers, not the student, when our side fails (the tree is gone)', async () => {
    const tree = smallTree();
    const projects = projectsDir([{ slug: 'lab', list: LIST, maintainers: [TEACHER], tree: { url: path.join(tempDir(), 'no-such-tree.git'), branch: 'master' } }]);
    const data = tempDir('patchbay-engine-');
    const server = await startServer(['--data', data, '--projects', projects]);
    servers.push(server);
    const repo = studentClone(tree);
    editFile(repo, 'kernel/dma.c', (t) => `${t}\n/* lab: another note */\n`);
    commitAll(repo, 'dma: add another lab note', 'The lab asks for a second note.');
    const msgid = await sendSeries(server, repo, '-1');
    const { run, patchId } = await finishedRun(server, msgid);
    assert.equal(run.outcome, 'error');
    assert.deepEqual(
      run.steps.map((s) => [s.step, s.status]),
      [
        ['signoff', 'pass'],
        ['testdesc', 'skip'],
        ['checkpatch', 'error'],
        ['apply', 'skip'],
      ],
    );
    const checks = await getJson<{ context: string; state: string }[]>(server, `/api/patches/${patchId}/checks/`);
    assert.equal(checks.filter((c) => c.context === 'checkpatch').pop()?.state, 'warning');
    const mail = await waitFor('the maintainers’ mail', () => outbox(data).find((m) => m.inReplyTo === msgid));
    assert.match(mail.to, new RegExp(TEACHER));
    assert.doesNotMatch(mail.to, new RegExp(STUDENT));
    assert.match(mail.raw, /tree/i);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(outbox(data).filter((m) => m.to.includes(STUDENT)).length, 0);
  });
});
