// The run's one reply: rendered from templates/mail (src/pipeline/report.ts), threaded under the series' cover letter
// or first patch, queued in the transaction that ends the run. Students get results; our own failures go to the
// project's maintainers only.
import type { PublicUrls } from '../config/config.js';
import { publicTreeUrl } from '../config/projects.js';
import type { DbOrTx } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { insertMails } from '../db/mail.repository.js';
import { enqueueOutbound } from '../db/outbound.repository.js';
import { mailHeaderBlock, seriesForRun } from '../db/pipeline.repository.js';
import type { RunOutcome } from '../db/pipeline-schema.js';
import { composeMail, type Address, type ReplyTarget } from '../mail/compose.js';
import { extractMsgid, headerText, headerValue } from '../mail/raw.js';
import type { PipelineProject } from './job.js';
import { logUrl } from './checks.js';
import { renderInfraError, renderReport, type BuildDiagnostic, type BuildReport, type ReportBase, type TestSuiteReport } from './report.js';
import { STEP_NAMES, type BuildSpec, type Finding, type GateName, type Job, type StepName, type StepResult } from './types.js';

export interface ReportRequest {
  project: PipelineProject;
  job: Job;
  runId: number;
  outcome: RunOutcome;
  /** The gates' results, by name. */
  results: Partial<Record<GateName, StepResult>>;
  /** Each build's result, and each test run's (builds with `lava: true` whose build passed). */
  builds: { build: BuildSpec; result: StepResult }[];
  tests: { build: BuildSpec; result: StepResult }[];
  /** The first step that failed or errored, if any. */
  stoppedAt: { step: StepName; job: string } | null;
  urls: PublicUrls;
  hostname: string;
  /** The branch tip the run resolved, named when apply did not run. */
  base: string | null;
}

/** The mail the reply answers: the cover letter, else the first patch. */
async function replyTarget(tx: DbOrTx, seriesId: number): Promise<(ReplyTarget & { subject: string }) | null> {
  const data = await seriesForRun(tx, seriesId);
  const root = data?.cover ?? data?.patches[0];
  if (!root) return null;
  const head = await mailHeaderBlock(tx, root.mail_id);
  const references = head
    ? (headerValue(headerText(head), 'references') ?? '')
        .split(/\s+/)
        .map((r) => extractMsgid(r))
        .filter((r): r is string => Boolean(r))
    : [];
  return { messageId: root.msgid, references, subject: root.subject ?? '' };
}

export function seriesUrl(urls: PublicUrls, seriesId: number): string {
  return `${urls.base}/series/${seriesId}/`;
}

export async function queueReport(tx: DbOrTx, r: ReportRequest): Promise<{ msgid: string | null; mailIds: number[] }> {
  const { project, job } = r;
  const target = await replyTarget(tx, job.series.id);
  const subject = `Re: ${(target?.subject ?? job.series.name).replace(/^(\s*re:\s*)+/i, '')}`;
  const from: Address = { name: project.report.signature, address: project.addresses.bot };
  const webUrl = seriesUrl(r.urls, job.series.id);
  let to: Address[];
  let cc: Address[] = [];
  let replyTo: Address[] = [];
  let text: string;
  let status: string;
  const series = { name: job.series.name, version: job.series.version, total: job.series.total };
  const base = { ...reportBase(r.results.apply, r.base, job), url: publicTreeUrl(project.tree) };
  if (r.outcome === 'error') {
    // Never the student: the run could not judge their work.
    to = project.maintainers.map((address) => ({ address }));
    if (!to.length) return { msgid: null, mailIds: [] };
    const step = r.stoppedAt?.step ?? 'apply';
    const buildKey = r.stoppedAt?.job ?? '';
    const result = (buildKey ? [...r.builds, ...r.tests].find((b) => b.build.key === buildKey && b.result.status === 'error')?.result : r.results[step as GateName]) ?? {
      status: 'error' as const,
      summary: 'unknown error',
      findings: [],
      logPath: '',
      childMs: 0,
    };
    const rendered = renderInfraError({
      project: project.name,
      series,
      submitter: job.series.submitter,
      base,
      url: webUrl,
      step: { name: buildKey ? `${step} (${buildKey})` : step, result },
      log: logUrl(r.urls, r.runId, step, buildKey),
      runId: r.runId,
      signature: project.report.signature,
    });
    text = rendered.text;
    status = rendered.status;
  } else {
    to = [{ name: job.series.submitter.name ?? undefined, address: job.series.submitter.email }];
    if (project.report.to === 'student+list') cc = [{ address: project.addresses.list }];
    if (project.report.cc === 'maintainers') cc = [...cc, ...maintainerCopies(project, to)];
    replyTo = answerTo(project);
    const rendered = renderReport({
      student: job.series.submitter,
      project: project.name,
      series,
      base,
      url: webUrl,
      steps: [
        ...STEP_NAMES.filter((n) => r.results[n]).map((name) => ({ name, result: r.results[name]! })),
        // The report's kind comes from the first failing step: a failed build makes it "Build failed".
        ...r.builds.filter((b) => b.result.status === 'fail').map((b) => ({ name: 'build', result: b.result })),
        ...r.tests.filter((t) => t.result.status === 'fail').map((t) => ({ name: 'test', result: t.result })),
      ],
      builds: r.builds.map((b) => buildReport(b.build, b.result, r.urls, r.runId)),
      tests: r.tests.map((t) => testReport(t.build, t.result, r.urls, r.runId)),
      signature: project.report.signature,
    });
    text = rendered.text;
    status = rendered.status;
  }
  const mail = await composeMail({
    hostname: r.hostname,
    from,
    to,
    cc,
    replyTo,
    subject,
    text,
    inReplyTo: target ?? undefined,
    autoSubmitted: 'auto-generated',
    headers: { 'X-Patchbay-Run': String(r.runId), 'X-Patchbay-Status': status },
  });
  // The list's copy is not sent from here: it is a post like any other (below).
  const listed = cc.some((a) => a.address === project.addresses.list);
  const copies = [...to, ...cc.filter((a) => a.address !== project.addresses.list)];
  await enqueueOutbound(
    tx,
    copies.map((a) => ({ projectId: project.id, kind: 'report', envelopeFrom: project.addresses.bounces, rcpt: a.address, raw: mail.raw })),
  );
  // The list's copy is a post like any other: archived, filed as a comment, relayed to the subscribers.
  const mailIds = listed
    ? (
        await insertMails(tx, [
          {
            project_id: project.id,
            route: 'list',
            recipient: project.addresses.list,
            msgid: mail.messageId,
            msgid_generated: 0,
            envelope_from: project.addresses.bot,
            envelope_to: JSON.stringify([project.addresses.list]),
            remote_addr: null,
            source: 'smtp',
            raw: mail.raw,
            size: mail.raw.length,
            received_at: nowIso(),
          },
        ])
      ).map((m) => m.id)
    : [];
  return { msgid: mail.messageId, mailIds };
}

/**
 * Where a reply-all to a report goes (Reply-To, with the report's To and Cc beside it): the bot, which files the
 * answer on the series and forwards it to the maintainers (src/smtp/bot.service.ts), the maintainers themselves,
 * and the list when the report went there.
 */
function answerTo(project: PipelineProject): Address[] {
  const all = [project.addresses.bot, ...project.maintainers, ...(project.report.to === 'student+list' ? [project.addresses.list] : [])];
  return [...new Set(all.map((a) => a.toLowerCase()))].map((address) => ({ address }));
}

/** `report.cc: maintainers`: each maintainer not already a recipient (a maintainer's own series). */
function maintainerCopies(project: PipelineProject, to: Address[]): Address[] {
  const taken = new Set(to.map((a) => a.address.toLowerCase()));
  return [...new Set(project.maintainers.map((m) => m.toLowerCase()))].filter((m) => !taken.has(m)).map((address) => ({ address }));
}

/** The commit the series was applied on; before apply ran (a gate failed), the branch tip the run resolved. */
function reportBase(apply: StepResult | undefined, tip: string | null, job: Job): ReportBase {
  const o = apply?.outputs;
  if (typeof o?.base === 'string') return { branch: job.project.branch, commit: o.base, fromSeries: o.baseSource === 'base-commit' };
  if (job.series.baseCommit) return { branch: job.project.branch, commit: job.series.baseCommit, fromSeries: true };
  return { branch: job.project.branch, commit: tip, fromSeries: false };
}

/** A file name an artefact URL may end in (a step's outputs name it; nothing else reaches the URL). */
const ARTIFACT_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}$/;

/** Where a build's artefact is downloaded: `BASE/runs/R/artifacts/KEY/NAME` (the run's artefacts route). */
export function artifactUrl(urls: PublicUrls, runId: number, key: string, name: string): string {
  return `${urls.base}/runs/${runId}/artifacts/${encodeURIComponent(key)}/${encodeURIComponent(name)}`;
}

/**
 * How a student boots the guest of a test run on their own machine: each file the QEMU line needs downloaded by its
 * URL into the current folder (`curl -fO` names it as the URL ends), then the line naming those files. Null when the
 * step gave no such line (a run from before it did, or a file that was not among the artefacts).
 */
export function reproduceTest(urls: PublicUrls, runId: number, key: string, o: StepResult['outputs']): { downloads: string[]; command: string } | null {
  if (typeof o?.qemuDownloaded !== 'string' || typeof o.qemuFiles !== 'string') return null;
  let files: unknown;
  try {
    files = JSON.parse(o.qemuFiles);
  } catch {
    return null;
  }
  if (!Array.isArray(files) || !files.length || !files.every((f): f is string => typeof f === 'string' && ARTIFACT_NAME.test(f))) return null;
  return { downloads: files.map((f) => `curl -fO ${artifactUrl(urls, runId, key, f)}`), command: o.qemuDownloaded };
}

/** A build's result as the report shows it: the first errors, the warnings (new ones marked), how to redo it. */
function buildReport(build: BuildSpec, r: StepResult, urls: PublicUrls, runId: number): BuildReport {
  const diag = (f: Finding): BuildDiagnostic => {
    // The message runs to the end of its line (with `$`, a line break after it made every `:` a new, failing start).
    const m = /^(.+?):(\d+)(?::(\d+))?: (?:fatal )?(error|warning): (.*)/.exec(f.message);
    return {
      file: f.file ?? m?.[1] ?? '',
      line: f.line ?? Number(m?.[2] ?? 0),
      column: m?.[3] ? Number(m[3]) : null,
      level: f.level ?? 'error',
      message: m?.[5] ?? f.message,
      source: f.quote ?? null,
      isNew: f.type === 'NEW_WARNING',
    };
  };
  const o = r.outputs ?? {};
  return {
    arch: build.key,
    status: r.status,
    errors: r.findings.filter((f) => f.level === 'error').map(diag),
    warnings: r.findings.filter((f) => f.level === 'warning').map(diag),
    // The line for the student's own tree (the server's has its object folder and ccache in it).
    makeCommand: typeof o.makeCommandHere === 'string' ? o.makeCommandHere : null,
    // The build's .config, kept with the artefacts once the build passed.
    configUrl: typeof o.config === 'string' ? artifactUrl(urls, runId, build.key, 'config') : null,
    toolchain: typeof o.toolchain === 'string' ? o.toolchain : null,
  };
}

/**
 * "suite/name failed" or "suite/name failed: note" → "suite/name": what `/ failed(:.*)?$/` removed, found with
 * indexOf (that regex rescanned the rest of the message from each " failed").
 */
function failedCase(message: string): string {
  const lastLine = Math.max(...['\n', '\r', '\u2028', '\u2029'].map((c) => message.lastIndexOf(c))) + 1;
  const noted = message.indexOf(' failed:', lastLine);
  if (noted !== -1) return message.slice(0, noted);
  return message.endsWith(' failed') ? message.slice(0, -' failed'.length) : message;
}

/** A test run as the report shows it: every case (from the step's case list), failing ones with their output. */
function testReport(build: BuildSpec, r: StepResult, urls: PublicUrls, runId: number): TestSuiteReport {
  const o = r.outputs ?? {};
  let cases: { suite: string; name: string; result: string }[] = [];
  try {
    cases = typeof o.cases === 'string' ? (JSON.parse(o.cases) as typeof cases) : [];
  } catch {
    cases = [];
  }
  const tails = new Map(r.findings.filter((f) => f.type === 'TEST_FAILED').map((f) => [failedCase(f.message), f.quote]));
  const crash = r.findings.find((f) => f.type === 'KERNEL_CRASH' || f.type === 'GUEST_HUNG' || f.type === 'NO_BOOT');
  // After a crash every unfinished case would quote the same panic: it is shown once, as the crash.
  if (crash) tails.clear();
  return {
    suite: [...new Set(cases.map((c) => c.suite))].join(', ') || 'tests',
    arch: build.key,
    cases: cases.map((c) => ({
      name: c.name,
      result: c.result === 'pass' || c.result === 'fail' || c.result === 'skip' ? c.result : 'unknown',
      ...(tails.get(`${c.suite}/${c.name}`) ? { logTail: tails.get(`${c.suite}/${c.name}`)! } : {}),
    })),
    summary: r.summary,
    crash: crash ? `${crash.message}${crash.quote ? `\n${crash.quote}` : ''}` : null,
    reproduce: reproduceTest(urls, runId, build.key, o),
  };
}
