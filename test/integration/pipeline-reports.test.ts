// What a run publishes about itself, through the server process on a small tree made from the kernel's files: a step
// that did not run (the project asks for no test description) gets no Patchwork check — not even the pending one it
// had when it started — and is said not to have run in the reply and on the series page; the reply names where the
// base tree is fetched from (tree.public_url), which the API serves as scm_url, and a project without one shows no
// path of the server's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { commitAll, editFile, git, kernelTreeAvailable, KERNEL_TREE, smallTree, studentClone } from '../helpers/small-tree.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const SKIP = kernelTreeAvailable() ? false : `no kernel repository at ${KERNEL_TREE} (scripts/kernel-tree.sh; .ci/setup runs it)`;
const LIST = 'lab@lists.example.org';
const STUDENT = 'zoe@students.example.org';
const PUBLIC = 'https://git.example.org/lab.git';

async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

describe('what a run publishes', { skip: SKIP }, () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('leaves a skipped step without a check, says it did not run, names the public tree; scm_url never shows a server path', async () => {
    const tree = smallTree();
    const projects = projectsDir([
      // No tests: the testdesc step is skipped ("the project asks for no test description").
      { slug: 'lab', list: LIST, maintainers: ['teacher@example.org'], tree: { url: tree.bare, branch: 'master', public_url: PUBLIC }, checkpatch: { ignore: ['FILE_PATH_CHANGES'] } },
      { slug: 'plain', list: 'plain@lists.example.org', tree: { url: tree.bare, branch: 'master' } },
    ]);
    const data = tempDir('patchbay-reports-');
    const server = await startServer(['--data', data, '--projects', projects]);
    servers.push(server);

    const repo = studentClone(tree);
    editFile(repo, 'kernel/dma.c', (t) => `${t}\n/* lab: the DMA note */\n`);
    commitAll(repo, 'dma: add the lab note', 'The lab asks for a note in the DMA code.');
    const out = tempDir('patchbay-series-');
    git(repo, 'format-patch', '-q', '--thread=shallow', '-o', out, '-1');
    const file = path.join(out, fs.readdirSync(out)[0]!);
    const raw = fs.readFileSync(file, 'utf8').replace(/^From [0-9a-f]{40} .*\n/, '').replace(/^Subject:/m, `To: ${LIST}\nSubject:`);
    assert.match((await sendMessage(server.smtpPort, STUDENT, [LIST], raw)).final, /^250 /);
    const msgid = extractMsgid(headerValue(raw, 'message-id'))!;

    const { patch, run } = await waitFor(
      'the run to end',
      async () => {
        const [p] = await getJson<{ id: number; series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
        if (!p?.series[0]) return undefined;
        const runs = await getJson<{ state: string; outcome: string; steps: { step: string; status: string }[] }[]>(server, `/series/${p.series[0].id}/runs/`);
        const r = runs.at(-1);
        return r?.state === 'done' ? { patch: p, run: r } : undefined;
      },
      120_000,
    );
    assert.equal(run.outcome, 'pass', JSON.stringify(run));
    assert.deepEqual(
      run.steps.map((s) => [s.step, s.status]),
      [
        ['signoff', 'pass'],
        ['testdesc', 'skip'],
        ['checkpatch', 'pass'],
        ['apply', 'pass'],
      ],
    );

    // Patchwork: a check for each step that ran, none for the one that did not (no success, no pending left behind).
    const checks = await getJson<{ id: number; context: string; state: string }[]>(server, `/api/patches/${patch.id}/checks/`);
    assert.deepEqual([...new Set(checks.map((c) => c.context))].sort(), ['apply', 'checkpatch', 'signoff']);
    for (const context of ['signoff', 'checkpatch', 'apply']) assert.equal(checks.filter((c) => c.context === context).at(-1)?.state, 'success', context);
    const full = await getJson<{ check: string }>(server, `/api/patches/${patch.id}/`);
    assert.equal(full.check, 'success', "the patch's combined state");
    // Every check-created event names a check that exists.
    const events = await getJson<{ category: string; payload: { check: { id: number } | null } }[]>(server, `/api/events/?category=check-created&patch=${patch.id}`);
    assert.equal(events.length, checks.length);
    for (const e of events) assert.ok(e.payload.check && checks.some((c) => c.id === e.payload.check!.id), JSON.stringify(e));

    // The series page shows the step as skipped.
    const page = await (await fetch(`${server.baseUrl}/series/${patch.series[0]!.id}/`)).text();
    assert.match(page, /<tr data-step="testdesc" data-job="">\s*<td>testdesc<\/td>\s*<td><span class="badge skip" data-status="skip">skip<\/span>/);

    // The reply: where the base is fetched from, what passed, what did not run.
    const reply = await waitFor('the reply', () => {
      const dir = path.join(data, 'outbox');
      const mails = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).map((f) => fs.readFileSync(path.join(dir, f))) : [];
      return mails.find((m) => extractMsgid(headerValue(headerText(m), 'in-reply-to')) === msgid);
    }).then(async (m) => (await simpleParser(m)).text ?? '');
    assert.ok(reply.includes(`\nBase: master at ${tree.head.slice(0, 12)} of ${PUBLIC}\n`), reply);
    assert.match(reply, /^Checks passed: signoff, checkpatch, apply\.$/m);
    assert.match(reply, /^Not run: testdesc \(the project asks for no test description\)\.$/m);

    // The API's scm_url: the public URL, and for a project without one nothing (Patchwork's blank), never the path.
    const list = await (await fetch(`${server.baseUrl}/api/projects/`)).text();
    assert.ok(!list.includes(tree.bare) && !list.includes(path.dirname(tree.bare)), list);
    assert.equal((await getJson<{ scm_url: string }>(server, '/api/projects/lab/')).scm_url, PUBLIC);
    assert.equal((await getJson<{ scm_url: string }>(server, '/api/projects/plain/')).scm_url, '');
  });
});
