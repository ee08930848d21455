// bench/pipeline-overhead: the pipeline's own cost. For one-patch series that pass the gate stages (sign-off, test
// description, checkpatch, apply) on a real tree, the time from the patch's SMTP `250` to the reply file in the
// outbox, minus the time spent in child processes (git, checkpatch: run_steps.child_ms), median over N series.
// Usage: npm run bench:pipeline [-- --series N --tree PATH --keep]
//   --tree PATH   the project's tree (default ~/.cache/patchbay/linux.git, made by scripts/kernel-tree.sh)
//   --keep        keep the data folder (with its worktree slot) and print where it is
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { extractMsgid, headerText, headerValue } from '../src/mail/raw.js';
import { projectsDir, tempDir } from '../test/helpers/dirs.js';
import { startServer, type ServerProcess } from '../test/helpers/server-process.js';
import { dataPayload, SmtpSession } from '../test/helpers/smtp-client.js';
import { getJson, now, replyTime, treesQuiet } from './lib/outbox.js';
import { startBench } from './lib/run-info.js';

startBench('pipeline-overhead');

const DEFAULT_TREE = path.join(os.homedir(), '.cache/patchbay/linux.git');
const { values } = parseArgs({
  options: {
    series: { type: 'string', default: process.env.BENCH_SERIES ?? '20' },
    tree: { type: 'string', default: process.env.PATCHBAY_KERNEL_TREE ?? DEFAULT_TREE },
    keep: { type: 'boolean', default: false },
  },
});
const SERIES = Number(values.series);
const TREE = path.resolve(values.tree!);
if (!Number.isInteger(SERIES) || SERIES < 1) throw new Error(`--series: expected a positive integer, got ${values.series}`);

const LIST = 'kernel-lab@lists.example.org';
const STUDENT = { name: 'John Smith', email: 'john.smith@students.example.org' };
/** As the e2e test's project: only the gate stages (no builds, no tests). */
const PROJECT = {
  slug: 'kernel-lab',
  name: 'Kernel Lab',
  list: LIST,
  maintainers: ['teacher@example.org'],
  tree: { url: TREE, branch: 'master' },
  checkpatch: { ignore: ['FILE_PATH_CHANGES'] },
  report: { signature: 'LSE Team' },
};
const REPLY_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 5;

const ms = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Mail {
  msgid: string;
  subject: string;
  raw: Buffer;
}

/**
 * count one-patch series, each a different small clean change on the tree's master (a note appended to a C file),
 * made in a sparse `git clone --shared` and turned into mail by `git format-patch --thread` before anything is timed.
 */
function makeSeries(count: number): { mails: Mail[]; cleanup(): void } {
  const dir = tempDir('patchbay-bench-student-');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: STUDENT.name,
    GIT_AUTHOR_EMAIL: STUDENT.email,
    GIT_COMMITTER_NAME: STUDENT.name,
    GIT_COMMITTER_EMAIL: STUDENT.email,
  };
  const listing = git(TREE, env, 'ls-tree', '-r', '-l', 'master')
    .split('\n')
    .map((l) => /^\S+ blob \S+\s+(\d+)\t(.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ size: Number(m[1]), file: m[2]! }));
  // Small C files under kernel/ (the course's ground); any C files in a tree that has none.
  const pick = (re: RegExp) => listing.filter((f) => re.test(f.file) && f.size < 20_000).map((f) => f.file).sort();
  let files = pick(/^kernel\/[a-z_]+\.c$/);
  if (!files.length) files = pick(/\.c$/);
  if (!files.length) throw new Error(`no C file under 20 KB in ${TREE}`);
  files = files.slice(0, count);

  const repo = path.join(dir, 'linux');
  git(dir, env, 'clone', '-q', '--shared', '--no-checkout', TREE, repo);
  git(repo, env, 'config', 'gc.auto', '0');
  git(repo, env, 'sparse-checkout', 'set', '--no-cone', ...files.map((f) => `/${f}`));
  git(repo, env, 'checkout', '-q', 'master');
  const base = git(repo, env, 'rev-parse', 'HEAD').trim();
  const stamp = Date.now().toString(36);
  const mails: Mail[] = [];
  for (let i = 0; i < count; i++) {
    const file = files[i % files.length]!;
    const unit = path.basename(file, '.c');
    const p = path.join(repo, file);
    fs.appendFileSync(p, `\n/* Lab note ${i + 1} (${stamp}): read this file before the exercise. */\n`);
    // Distinct titles: the series engine must not take one for a revision of another.
    const subject = `${unit}: add lab note ${i + 1} (${stamp})`;
    git(repo, env, 'commit', '-qa', '-s', '-m', subject, '-m', 'The lab asks for this note; it changes no behaviour.');
    const mbox = git(repo, env, 'format-patch', '-1', '--thread', '--stdout', 'HEAD');
    git(repo, env, 'reset', '-q', '--hard', base);
    // An mbox's first line ("From <sha> Mon Sep 17 …") is not part of the mail; To: as git send-email adds it.
    const mail = `To: ${LIST}\n${mbox.replace(/^From [0-9a-f]{40} .*\n/, '')}`;
    const msgid = extractMsgid(headerValue(headerText(Buffer.from(mail)), 'message-id'));
    if (!msgid) throw new Error(`format-patch --thread gave no Message-ID:\n${mail.slice(0, 400)}`);
    mails.push({ msgid, subject, raw: Buffer.from(mail, 'utf8') });
  }
  return { mails, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}


/** The time of the tools a step ran itself, from its log's `[exit 0 after N ms]` lines (the worktree's preparation is logged elsewhere). */
function loggedMs(log: string): number {
  try {
    return [...fs.readFileSync(log, 'utf8').matchAll(/^\[exit [^\]]* after (\d+) ms/gm)].reduce((a, m) => a + Number(m[1]), 0);
  } catch {
    return 0;
  }
}

interface StepRow {
  step: string;
  status: string;
  summary: string | null;
  child_ms: number | null;
  started_at: string | null;
  finished_at: string | null;
}

interface Sample {
  n: number;
  subject: string;
  e2e: number;
  child: number;
  overhead: number;
  outcome: string;
  statuses: string;
  /** Where the overhead goes (ms). */
  parts: Record<Part, number>;
  /** Per step: wall time and time in children (ms). */
  steps: { step: string; wall: number; child: number; logged: number }[];
}

const PARTS = ['intake', 'toRun', 'toStart', 'toStep', 'inSteps', 'betweenSteps', 'toEnd', 'toFile'] as const;
type Part = (typeof PARTS)[number];
const PART_LABEL: Record<Part, string> = {
  intake: '250 → mail processed (parsed, filed in its series, committed)',
  toRun: 'processed → run created (engine kicked, scan, run row)',
  toStart: 'run created → run started',
  toStep: 'run started → first step started (job built)',
  inSteps: 'inside steps, outside children (worker round trip, parsing, DB)',
  betweenSteps: 'between steps (step row and check transactions)',
  toEnd: 'last step → run finished (branch resolved, report rendered and queued)',
  toFile: 'run finished → reply file in the outbox (outbound worker)',
};

function measure(db: Database.Database, data: string, n: number, mail: Mail, t250: number, reply: number, series: number, viaHttp: { outcome: string; steps: StepRow[] }): Sample {
  const received = db.prepare('select processed_at from mails where msgid = ? order by id desc limit 1').get(mail.msgid) as { processed_at: string | null } | undefined;
  const run = db.prepare('select id, created_at, started_at, finished_at, outcome from runs where series_id = ? order by id desc limit 1').get(series) as
    | { id: number; created_at: string; started_at: string | null; finished_at: string | null; outcome: string | null }
    | undefined;
  if (!run) throw new Error(`no run for series ${series}`);
  const steps = (db.prepare('select step, status, summary, child_ms, started_at, finished_at from run_steps where run_id = ? order by seq').all(run.id) as StepRow[]).filter((s) => s.started_at);
  const child = steps.reduce((a, s) => a + (s.child_ms ?? 0), 0);
  const e2e = reply - t250;
  const stepWall = steps.reduce((a, s) => a + (ms(s.finished_at) - ms(s.started_at)), 0);
  let between = 0;
  for (let i = 1; i < steps.length; i++) between += ms(steps[i]!.started_at) - ms(steps[i - 1]!.finished_at);
  const parts: Record<Part, number> = {
    intake: ms(received?.processed_at ?? null) - t250,
    toRun: ms(run.created_at) - ms(received?.processed_at ?? null),
    toStart: ms(run.started_at) - ms(run.created_at),
    toStep: ms(steps[0]?.started_at ?? null) - ms(run.started_at),
    inSteps: stepWall - child,
    betweenSteps: between,
    toEnd: ms(run.finished_at) - ms(steps.at(-1)?.finished_at ?? null),
    toFile: reply - ms(run.finished_at),
  };
  return {
    n,
    subject: mail.subject,
    e2e,
    child,
    overhead: e2e - child,
    outcome: viaHttp.outcome,
    statuses: viaHttp.steps.map((s) => `${s.step}=${s.status}`).join(' '),
    parts,
    steps: steps.map((x) => ({ step: x.step, wall: ms(x.finished_at) - ms(x.started_at), child: x.child_ms ?? 0, logged: loggedMs(path.join(data, 'logs', 'runs', String(run.id), `${x.step}.log`)) })),
  };
}


async function seriesOf(server: ServerProcess, msgid: string): Promise<number> {
  const [patch] = await getJson<{ series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
  const id = patch?.series[0]?.id;
  if (!id) throw new Error(`no series for <${msgid}>`);
  return id;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toString() : '?');

async function main(): Promise<void> {
  if (TREE === DEFAULT_TREE && !fs.existsSync(path.join(TREE, 'patchbay-source-version'))) {
    throw new Error(`no kernel tree at ${TREE}: run \`bash scripts/kernel-tree.sh\` first, or pass --tree PATH`);
  }
  if (!fs.existsSync(TREE)) throw new Error(`--tree ${TREE}: no such repository`);
  const rerun = `npm run bench:pipeline -- --series ${SERIES}${TREE === DEFAULT_TREE ? '' : ` --tree ${TREE}`}`;
  console.log(`pipeline overhead: ${SERIES} one-patch series (+1 warm-up) on ${TREE}; ${os.cpus().length} cores, Node ${process.version}`);

  const t0 = now();
  const { mails, cleanup } = makeSeries(SERIES + 1);
  console.log(`made ${mails.length} patches with git format-patch in ${f0(now() - t0)} ms`);

  const projects = projectsDir([PROJECT]);
  const data = tempDir('patchbay-bench-pipeline-');
  const outbox = path.join(data, 'outbox');
  // The server's default log level (info): its lines are part of the cost.
  const env: NodeJS.ProcessEnv = { PATCHBAY_LOG_LEVEL: 'info' };
  const seen = new Set<string>();
  let db: Database.Database | null = null;
  let server: ServerProcess | null = null;
  const samples: Sample[] = [];
  try {
    server = await startServer(['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'], env);
    for (const [i, mail] of mails.entries()) {
      const warm = i === 0;
      const session = await SmtpSession.open(server.smtpPort);
      const res = await session.send(STUDENT.email, [LIST], dataPayload(mail.raw));
      const t250 = now();
      if (res.code !== 250) throw new Error(`the server answered ${res.code} ${res.text}`);
      await session.quit();
      if (!fs.existsSync(outbox)) fs.mkdirSync(outbox, { recursive: true });
      const reply = await replyTime(outbox, mail.msgid, { timeoutMs: REPLY_TIMEOUT_MS, pollMs: POLL_MS, seen });
      const series = await seriesOf(server, mail.msgid);
      const runs = await getJson<{ outcome: string; steps: StepRow[] }[]>(server, `/series/${series}/runs/`);
      const run = runs.at(-1)!;
      db ??= new Database(path.join(data, 'patchbay.sqlite'), { readonly: true, fileMustExist: true });
      const s = measure(db, data, i, mail, t250, reply.at, series, run);
      if (warm) {
        console.log(
          `first run (worktree checkout): ${f0(s.e2e)} ms end to end, ${f0(s.child)} ms in children, overhead ${f0(s.overhead)} ms; outcome ${s.outcome} (${s.statuses})`,
        );
        console.log('\n  #  e2e ms  child ms  overhead ms | intake  →run  →start  →step  in-steps  between  →end  →file | outcome');
      } else {
        samples.push(s);
        const p = s.parts;
        console.log(
          `${String(i).padStart(3)} ${f0(s.e2e).padStart(7)} ${f0(s.child).padStart(9)} ${f0(s.overhead).padStart(12)} | ${[p.intake, p.toRun, p.toStart, p.toStep].map((x) => f0(x).padStart(6)).join('')} ${f0(p.inSteps).padStart(9)} ${f0(p.betweenSteps).padStart(8)} ${f0(p.toEnd).padStart(5)} ${f0(p.toFile).padStart(6)} | ${s.outcome}`,
        );
      }
      if (s.outcome !== 'pass') console.log(`    series ${series} did not pass: ${JSON.stringify(run.steps.map((x) => [x.step, x.status, x.summary]))}`);
      // The slot's reset after the run must not be charged to the next series.
      await treesQuiet(data);
      await sleep(200);
    }
  } finally {
    db?.close();
    await server?.stop();
    cleanup();
    fs.rmSync(projects, { recursive: true, force: true });
    if (values.keep) console.log(`\ndata kept in ${data}`);
    else fs.rmSync(data, { recursive: true, force: true });
  }

  const col = (f: (s: Sample) => number) => samples.map(f);
  const line = (label: string, xs: number[]) => console.log(`${label.padEnd(28)} median ${f0(median(xs)).padStart(6)} ms   p90 ${f0(quantile(xs, 0.9)).padStart(6)} ms`);
  console.log(`\nover ${samples.length} series (outcomes: ${[...new Set(samples.map((s) => s.outcome))].join(', ')}):`);
  line('end to end (250 → reply)', col((s) => s.e2e));
  line('in children (git, checkpatch)', col((s) => s.child));
  line('overhead (outside children)', col((s) => s.overhead));
  console.log('\nwhere the overhead goes (median, ms):');
  for (const part of PARTS) console.log(`  ${f0(median(col((s) => s.parts[part]))).padStart(6)}  ${PART_LABEL[part]}`);
  console.log('\nper step (median, ms):       wall   children   its tools   worktree reset');
  for (const step of [...new Set(samples.flatMap((s) => s.steps.map((x) => x.step)))]) {
    const of = (f: (x: Sample['steps'][number]) => number) => median(samples.map((s) => s.steps.find((x) => x.step === step)).filter((x) => x !== undefined).map(f));
    console.log(`  ${step.padEnd(24)} ${f0(of((x) => x.wall)).padStart(6)} ${f0(of((x) => x.child)).padStart(10)} ${f0(of((x) => x.logged)).padStart(11)} ${f0(of((x) => x.child - x.logged)).padStart(16)}`);
  }
  const over = median(col((s) => s.overhead));
  console.log(`\ntarget (issue 5): overhead ≤ 300 ms: ${over <= 300 ? 'met' : 'NOT met'} (median ${f0(over)} ms)`);
  console.log(`rerun: ${rerun}`);
}

await main();
