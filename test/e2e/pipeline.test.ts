// End to end: students send series with `git send-email` to the server as a process; the pipeline runs sign-off,
// checkpatch and apply on a real kernel tree (Debian's linux-source, made by scripts/kernel-tree.sh) and the reply
// is read from the outbox. Also: a v2 cancels v1's run, and a run cut by SIGKILL completes after a restart with one reply.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractMsgid, headerText, headerValue, splitHeader } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { commit, edit, getJson, git, KERNEL_LAB as PROJECT, PIPELINE_E2E_SKIP as SKIP, runOf, send, seriesOf, studentClone, type Run } from '../helpers/pipeline-e2e.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

/** Mails in the outbox that answer this Message-ID. */
function repliesTo(data: string, msgid: string): { raw: string; text: string; to: string }[] {
  const dir = path.join(data, 'outbox');
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.eml'))) {
    const raw = fs.readFileSync(path.join(dir, f));
    const head = headerText(raw);
    if (extractMsgid(headerValue(head, 'in-reply-to')) !== msgid) continue;
    out.push({ raw: raw.toString('utf8'), text: decodeBody(raw), to: headerValue(head, 'to') ?? '' });
  }
  return out;
}

function decodeBody(raw: Buffer): string {
  const head = headerText(raw);
  const body = raw.subarray(splitHeader(raw).bodyStart).toString('latin1');
  const cte = (headerValue(head, 'content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(body, 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    return Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  }
  return Buffer.from(body, 'latin1').toString('utf8');
}

const checksOf = async (server: ServerProcess, msgid: string) => {
  const [patch] = await getJson<{ id: number }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
  const checks = await getJson<{ context: string; state: string; description: string; target_url: string }[]>(server, `/api/patches/${patch!.id}/checks/`);
  // The newest check per context counts (Patchwork).
  return new Map(checks.map((c) => [c.context, c]));
};

const EIGHT = ['kernel/acct.c', 'kernel/async.c', 'kernel/capability.c', 'kernel/compat.c', 'kernel/cred.c', 'kernel/dma.c', 'kernel/groups.c', 'kernel/kcmp.c'];

/**
 * Eight one-line patches, one per file, then a ninth that adds a 6,000-line table: checkpatch spends several seconds
 * on it (about 6 s on 2 cores), long enough to act on a running run whatever the machine's speed.
 */
function ninePatches(repo: string, env: NodeJS.ProcessEnv, tag: string): void {
  for (const [i, f] of EIGHT.entries()) {
    edit(repo, f, (t) => `${t}\n/* ${tag}: lab note ${i + 1} */\n`);
    commit(repo, env, `${path.basename(f, '.c')}: add ${tag} lab note ${i + 1}`);
  }
  const table = `kernel/lab_table_${tag}.c`;
  const lines = ['// SPDX-License-Identifier: GPL-2.0', '#include <linux/kernel.h>', ''];
  for (let i = 1; i <= 6000; i++) lines.push(`int lab_${tag}_value_${i} = ${i};`);
  fs.writeFileSync(path.join(repo, table), `${lines.join('\n')}\n`);
  git(repo, env, 'add', '--sparse', table);
  commit(repo, env, `kernel: add the ${tag} lab table`);
}

describe('the pipeline on a real kernel tree', { skip: SKIP }, () => {
  let server: ServerProcess;
  let data: string;
  let projects: string;

  before(async () => {
    projects = projectsDir([PROJECT]);
    data = tempDir('patchbay-pipeline-');
    server = await startServer(['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
  });
  after(async () => {
    await server?.stop();
    // The kernel tree's mirror and worktrees are gigabytes: gone with the test.
    if (data) fs.rmSync(data, { recursive: true, force: true, maxRetries: 5 });
  });

  it('passes a clean patch: sign-off, checkpatch and apply succeed and the student gets one reply', async () => {
    const { repo, env } = studentClone(['kernel/up.c']);
    edit(repo, 'kernel/up.c', (t) => t.replace('#include <linux/hypervisor.h>\n', '#include <linux/hypervisor.h>\n\n/* Uniprocessor kernels call these instead of the SMP ones. */\n'));
    commit(repo, env, 'up: say who calls the uniprocessor helpers');
    const [msgid] = await send(server, repo, env, 1);
    const series = await seriesOf(server, msgid!);
    const run = await runOf(server, series, (r) => r.state === 'done', 'the clean run to end');
    assert.equal(run.outcome, 'pass', JSON.stringify(run));
    const checks = await checksOf(server, msgid!);
    for (const ctx of ['signoff', 'checkpatch', 'apply']) assert.equal(checks.get(ctx)?.state, 'success', `${ctx}: ${JSON.stringify(checks.get(ctx))}`);
    const log = await fetch(checks.get('apply')!.target_url);
    assert.equal(log.status, 200);
    assert.match(await log.text(), /git/);
    const replies = await waitFor('the reply', () => repliesTo(data, msgid!).length === 1 && repliesTo(data, msgid!));
    assert.match(replies[0]!.to, /john\.smith@students\.example\.org/);
    assert.match(replies[0]!.raw, /^Auto-Submitted: auto-generated/im);
    assert.match(replies[0]!.raw, /^Subject: Re: \[PATCH\] up: say who calls/im);
    assert.match(replies[0]!.text, /Hi John Smith/);
    assert.match(replies[0]!.text, /false positive/);
  });

  it('answers a style error with "Wrong coding style" and quotes checkpatch\'s line', async () => {
    const { repo, env } = studentClone(['kernel/up.c']);
    edit(repo, 'kernel/up.c', (t) => t.replace('EXPORT_SYMBOL(smp_call_function_single);\n', 'EXPORT_SYMBOL(smp_call_function_single);\n\nint up_lab(int x)\n{\n\tif(x)\n\t\treturn 1;\n\treturn 0;\n}\n'));
    commit(repo, env, 'up: add the lab helper');
    const [msgid] = await send(server, repo, env, 1);
    const series = await seriesOf(server, msgid!);
    const run = await runOf(server, series, (r) => r.state === 'done', 'the style run to end');
    assert.equal(run.outcome, 'fail');
    assert.equal(run.steps.find((s) => s.step === 'checkpatch')?.status, 'fail');
    assert.equal(run.steps.find((s) => s.step === 'apply')?.status, 'skip');
    assert.equal((await checksOf(server, msgid!)).get('checkpatch')?.state, 'fail');
    const [reply] = await waitFor('the reply', () => repliesTo(data, msgid!).length === 1 && repliesTo(data, msgid!));
    assert.match(reply!.text, /Wrong coding style/i);
    assert.match(reply!.text, /space required before the open parenthesis/);
    assert.match(reply!.text, /kernel\/up\.c:\d+/);
    assert.match(reply!.text, /if\(x\)/);
  });

  it('answers a patch without Signed-off-by with "Sign off missing", and runs nothing else', async () => {
    const { repo, env } = studentClone(['kernel/up.c']);
    edit(repo, 'kernel/up.c', (t) => t.replace(' * Uniprocessor-only support functions.', ' * Uniprocessor-only support functions (lab).'));
    commit(repo, env, 'up: mark the lab', false);
    const [msgid] = await send(server, repo, env, 1);
    const series = await seriesOf(server, msgid!);
    const run = await runOf(server, series, (r) => r.state === 'done', 'the sign-off run to end');
    assert.equal(run.outcome, 'fail');
    assert.deepEqual(
      run.steps.map((s) => [s.step, s.status]),
      [
        ['signoff', 'fail'],
        ['testdesc', 'skip'],
        ['checkpatch', 'skip'],
        ['apply', 'skip'],
      ],
    );
    const checks = await checksOf(server, msgid!);
    assert.equal(checks.get('signoff')?.state, 'fail');
    assert.equal(checks.has('checkpatch'), false);
    const [reply] = await waitFor('the reply', () => repliesTo(data, msgid!).length === 1 && repliesTo(data, msgid!));
    assert.match(reply!.text, /Sign.?off missing/i);
  });

  it('answers a series that conflicts with the tree with "Apply failed", naming patch 2/3 and its hunk', async () => {
    const { repo, env } = studentClone(['kernel/up.c', 'kernel/acct.c', 'kernel/async.c']);
    // A change the tree does not have, under patch 2/3: the student's series is based on their own work.
    edit(repo, 'kernel/up.c', (t) => t.replace('\tif (cpu != 0)\n\t\treturn -ENXIO;\n', '\tif (cpu > 0)\n\t\treturn -ENXIO;\n'));
    commit(repo, env, 'up: local change never sent');
    edit(repo, 'kernel/acct.c', (t) => `${t}\n/* lab: accounting note */\n`);
    commit(repo, env, 'acct: add the lab note');
    edit(repo, 'kernel/up.c', (t) => t.replace('\tif (cpu > 0)\n\t\treturn -ENXIO;\n', '\tif (cpu > 0)\n\t\treturn -EINVAL;\n'));
    commit(repo, env, 'up: return EINVAL for other CPUs');
    edit(repo, 'kernel/async.c', (t) => `${t}\n/* lab: async note */\n`);
    commit(repo, env, 'async: add the lab note');
    const [cover] = await send(server, repo, env, 3, { title: 'lab: three changes' });
    const series = await seriesOf(server, cover!);
    const run = await runOf(server, series, (r) => r.state === 'done', 'the conflicting run to end');
    assert.equal(run.outcome, 'fail');
    assert.equal(run.steps.find((s) => s.step === 'apply')?.status, 'fail');
    const [reply] = await waitFor('the reply', () => repliesTo(data, cover!).length === 1 && repliesTo(data, cover!));
    assert.match(reply!.text, /Apply failed/i);
    assert.match(reply!.text, /2\/3/);
    assert.match(reply!.text, /kernel\/up\.c/);
    assert.match(reply!.text, /-EINVAL|cpu > 0/);
    assert.match(reply!.text, /3\/3/);
  });

  it('cancels the run of v1 when v2 completes while it runs, and reports v2 only', async () => {
    const { repo, env } = studentClone(EIGHT);
    ninePatches(repo, env, 'v1');
    const [v1cover] = await send(server, repo, env, 9, { title: 'lab: eight notes' });
    const v1 = await seriesOf(server, v1cover!);
    await runOf(server, v1, (r) => r.state === 'running' && r.steps.some((s) => s.step === 'checkpatch' && s.status === 'running'), 'v1 to run checkpatch');
    git(repo, env, 'reset', '-q', '--hard', 'HEAD~7');
    const [v2cover] = await send(server, repo, env, 2, { prefix: 'PATCH v2', inReplyTo: v1cover!, title: 'lab: eight notes' });
    const v2 = await seriesOf(server, v2cover!);
    const v2run = await runOf(server, v2, (r) => r.state === 'done', 'v2 to end');
    assert.equal(v2run.outcome, 'pass', JSON.stringify(v2run));
    const [v1run] = await getJson<Run[]>(server, `/series/${v1}/runs/`);
    assert.equal(v1run!.state, 'cancelled');
    assert.match(v1run!.reason ?? '', /v2/);
    assert.equal((await waitFor('the v2 reply', () => repliesTo(data, v2cover!).length === 1 && repliesTo(data, v2cover!))).length, 1);
    assert.equal(repliesTo(data, v1cover!).length, 0);
  });
});

describe('the pipeline across a crash', { skip: SKIP }, () => {
  it('completes a run cut by SIGKILL after the restart, and sends exactly one reply', async () => {
    const projects = projectsDir([PROJECT]);
    const data = tempDir('patchbay-pipeline-crash-');
    const args = ['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'];
    let server = await startServer(args);
    try {
      const { repo, env } = studentClone(EIGHT);
      ninePatches(repo, env, 'crash');
      const [cover] = await send(server, repo, env, 9, { title: 'lab: eight notes before a crash' });
      const series = await seriesOf(server, cover!);
      await runOf(server, series, (r) => r.state === 'running' && r.steps.some((s) => s.status === 'running' && (s.step === 'checkpatch' || s.step === 'apply')), 'the run to be under way');
      await server.kill();
      server = await startServer(args);
      const run = await runOf(server, series, (r) => r.state === 'done', 'the resumed run to end');
      assert.equal(run.outcome, 'pass', JSON.stringify(run));
      await waitFor('the reply', () => repliesTo(data, cover!).length >= 1);
      // The outbound worker has nothing else queued: one reply, and no second one comes.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(repliesTo(data, cover!).length, 1);
    } finally {
      await server.stop();
      fs.rmSync(data, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
