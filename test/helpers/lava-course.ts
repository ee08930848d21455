// The demo course set up for the LAVA runner's tests and benchmark (issue 15): the shipped proctree project building
// x86_64 twice with the same config, one boot by the embedded QEMU runner (key x86_64), one through LAVA (x86_64-2);
// series sent with course-mail.ts, runs read from the server, the outbox read back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { extractMsgid, headerText, headerValue, splitHeader } from '../../src/mail/raw.js';
import type { StepFields } from '../../src/web/run-rows.js';
import { tempDir } from './dirs.js';
import { runOf as runUntil } from './pipeline-e2e.js';
import { ROOT, type ServerProcess } from './server-process.js';

export const TEACHER = 'teacher@lse.example.org';

/** A step of `GET /series/N/runs/`: the run page's fields and its outputs. */
export type Step = StepFields & { outputs: Record<string, unknown> };
export interface Run {
  id: number;
  state: string;
  outcome: string | null;
  reason: string | null;
  steps: Step[];
}
export interface Mail {
  to: string;
  inReplyTo: string | undefined;
  text: string;
}

/** The shipped course, building x86_64 twice: booted here (x86_64) and through LAVA (x86_64-2). */
export function lavaCourse(): string {
  const dir = tempDir('patchbay-lava-projects-');
  fs.cpSync(path.join(ROOT, 'projects/proctree'), path.join(dir, 'proctree'), { recursive: true });
  const yaml = fs.readFileSync(path.join(ROOT, 'projects/proctree.yaml'), 'utf8');
  const builds = [
    'builds:',
    '  - arch: x86_64',
    '    base: tinyconfig',
    '    config: [proctree/config/proctree_syscall]',
    '    lava: true',
    '  - arch: x86_64',
    '    base: tinyconfig',
    '    config: [proctree/config/proctree_syscall]',
    '    lava: true',
    '    runner: lava',
    '',
  ].join('\n');
  const out = yaml.replace(/^builds:\n(?:[ #].*\n|\n)*?(?=^\S)/m, builds);
  assert.notEqual(out, yaml, 'the builds of projects/proctree.yaml were replaced');
  fs.writeFileSync(path.join(dir, 'proctree.yaml'), out);
  return dir;
}

/** The series' last run once `ready` holds (by default: ended). A bound for a hang, not a timing check. */
export const runOf = (server: ServerProcess, series: number, ready: (r: Run) => boolean = (r) => r.state === 'done' || r.state === 'cancelled', what = 'the run to end'): Promise<Run> =>
  runUntil<Run>(server, series, ready, what, 45 * 60_000);

/** Every mail of the outbox: its recipients, what it answers, its text. */
export function outbox(data: string): Mail[] {
  const dir = path.join(data, 'outbox');
  return (fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.endsWith('.eml')) : []).map((f) => {
    const raw = fs.readFileSync(path.join(dir, f));
    const head = headerText(raw);
    const body = raw.subarray(splitHeader(raw).bodyStart).toString('latin1');
    const cte = (headerValue(head, 'content-transfer-encoding') ?? '').toLowerCase();
    const text =
      cte === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : cte === 'quoted-printable'
          ? Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')
          : Buffer.from(body, 'latin1').toString('utf8');
    return { to: headerValue(head, 'to') ?? '', inReplyTo: extractMsgid(headerValue(head, 'in-reply-to')) ?? undefined, text };
  });
}

