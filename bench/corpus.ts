// Builds a realistic list archive for benchmarks: a git history made with git fast-import, turned into patch mails
// by git format-patch, grouped into threaded series (cover + 3 patches), v2 in reply to v1, v3 standalone, and reviews.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CorpusOptions {
  mails: number;
  out: string;
  list: string;
}

const AUTHORS = Array.from({ length: 40 }, (_, i) => ({ name: `Student ${String.fromCharCode(65 + (i % 26))}${i}`, email: `student${i}@students.example.org` }));
const SUBSYSTEMS = ['sched', 'mm', 'fs/proc', 'kernel/fork', 'drivers/misc', 'net/core', 'lib', 'init'];

function cFile(n: number): string[] {
  const lines = [`// SPDX-License-Identifier: GPL-2.0`, `/* generated module ${n} */`, '#include <linux/kernel.h>', '#include <linux/module.h>', ''];
  for (let f = 0; f < 40; f++) {
    lines.push(`static int helper_${n}_${f}(int value)`, '{', `\tint result = value * ${f + 3};`, '', `\tif (result > ${1000 + f})`, `\t\treturn -EINVAL;`, `\treturn result + ${n};`, '}', '');
  }
  return lines;
}

/** One commit per entry: which file it edits and the title of its topic. */
function makeRepo(dir: string, commits: number): void {
  execFileSync('git', ['init', '-q', '-b', 'master', dir]);
  const files = Array.from({ length: 300 }, (_, i) => cFile(i));
  // The fast-import stream goes to a file first: for 100,000 mails it is far larger than one JS string may be.
  const streamFile = path.join(dir, '.git', 'fast-import-stream');
  const fd = fs.openSync(streamFile, 'w');
  const chunks = { push: (text: string) => fs.writeSync(fd, text) };
  let mark = 1;
  let when = Date.parse('2026-01-05T09:00:00Z') / 1000;
  const emit = (data: string) => chunks.push(`data ${Buffer.byteLength(data)}\n${data}\n`);
  // Initial tree.
  chunks.push(`commit refs/heads/master\nmark :${mark++}\ncommitter Maintainer <maint@example.org> ${when} +0000\n`);
  emit('initial import\n');
  files.forEach((lines, i) => {
    chunks.push(`M 100644 inline src/module_${i}.c\n`);
    emit(lines.join('\n') + '\n');
  });
  for (let c = 0; c < commits; c++) {
    const a = AUTHORS[Math.floor(c / 3) % AUTHORS.length]!;
    // 1 to 4 functions changed in one file, and a second file in a third of the commits: 2-8 KB mails.
    const touched = [(c * 7919) % files.length, ...(c % 3 === 0 ? [(c * 104729 + 13) % files.length] : [])];
    for (const fileNo of touched) {
      const lines = files[fileNo]!;
      for (let k = 0; k <= c % 4; k++) {
        const fn = (c * 31 + k * 11) % 40;
        const at = lines.findIndex((l) => l === `static int helper_${fileNo}_${fn}(int value)`) + 2;
        lines[at] = `\tint result = value * ${fn + 3} + ${(c + k) % 97};`;
        lines.splice(at + 1, 0, `\t/* commit ${c}: keep the result of helper_${fileNo}_${fn} in range */`);
      }
    }
    when += 600;
    chunks.push(`commit refs/heads/master\nmark :${mark++}\nauthor ${a.name} <${a.email}> ${when} +0000\ncommitter ${a.name} <${a.email}> ${when} +0000\n`);
    const sub = SUBSYSTEMS[c % SUBSYSTEMS.length]!;
    emit(
      `${sub}: adjust helpers of module ${touched[0]} for topic ${Math.floor(c / 3)} part ${(c % 3) + 1}\n\n` +
        `The helpers must stay in range when called from topic ${Math.floor(c / 3)}. Without the bound, a caller\n` +
        `that passes a large value overflows the result and the check below never fires; with it the callers stay\n` +
        `simple and the checks live in one place.\n\nSigned-off-by: ${a.name} <${a.email}>\n`,
    );
    for (const fileNo of touched) {
      chunks.push(`M 100644 inline src/module_${fileNo}.c\n`);
      emit(files[fileNo]!.join('\n') + '\n');
    }
  }
  fs.closeSync(fd);
  const input = fs.openSync(streamFile, 'r');
  const r = spawnSync('git', ['-C', dir, 'fast-import', '--quiet'], { stdio: [input, 'ignore', 'pipe'] });
  fs.closeSync(input);
  fs.rmSync(streamFile);
  if (r.status !== 0) throw new Error(`git fast-import failed: ${r.stderr.toString()}`);
}

interface PatchText {
  from: string;
  subject: string;
  body: string; // everything after the header block
  extraHeaders: string; // MIME headers git wrote
}

function formatPatches(dir: string, count: number): PatchText[] {
  const out = execFileSync('git', ['-C', dir, 'format-patch', '--stdout', '--no-numbered', '--no-signature', '--zero-commit', `master~${count}..master`], { maxBuffer: 1 << 30 }).toString('utf8');
  return out
    .split(/^From 0{40} Mon Sep 17 00:00:00 2001\n/m)
    .filter(Boolean)
    .map((m) => {
      const end = m.indexOf('\n\n');
      const head = m.slice(0, end);
      const get = (n: string) => new RegExp(`^${n}: (.*(?:\\n[ \\t].*)*)`, 'm').exec(head)?.[1] ?? '';
      const extra = head.split('\n').filter((l) => /^(MIME-Version|Content-Type|Content-Transfer-Encoding):/.test(l)).join('\n');
      return { from: get('From'), subject: get('Subject').replace(/^\[PATCH\] /, '').replace(/\n[ \t]+/g, ' '), body: m.slice(end + 2), extraHeaders: extra };
    });
}

function mboxEntry(headers: [string, string][], body: string): string {
  const head = headers.map(([k, v]) => `${k}: ${v}`).join('\n');
  // mboxrd: any "From " (after '>'s) at the start of a body line gets one more '>'.
  return `From bench@patchbay Thu Jan  1 00:00:00 2026\n${head}\n\n${body.replace(/^(>*From )/gm, '>$1')}\n`;
}

/** Writes an mbox of about `mails` messages; returns its path and the number of messages written. */
export function buildCorpus(opts: CorpusOptions): { file: string; messages: number } {
  const topics = Math.ceil(opts.mails / 6.6);
  const repo = fs.mkdtempSync(path.join(opts.out, 'repo-'));
  makeRepo(repo, topics * 3);
  const patches = formatPatches(repo, topics * 3);
  fs.rmSync(repo, { recursive: true, force: true });

  const file = path.join(opts.out, `corpus-${opts.mails}.mbox`);
  const fd = fs.openSync(file, 'w');
  let n = 0;
  let clock = Date.parse('2026-02-01T08:00:00Z');
  const date = () => new Date((clock += 1000)).toUTCString().replace('GMT', '+0000');
  const write = (h: [string, string][], body: string) => {
    fs.writeSync(fd, mboxEntry(h, body));
    n++;
  };
  for (let t = 0; t < topics && n < opts.mails; t++) {
    const parts = patches.slice(t * 3, t * 3 + 3);
    const from = parts[0]!.from;
    const title = `topic ${t}: keep helpers in range`;
    const versions = [1, ...(t % 10 < 3 ? [2] : []), ...(t % 10 === 0 ? [3] : [])];
    let v1Cover = '';
    for (const v of versions) {
      const tag = v === 1 ? 'PATCH' : `PATCH v${v}`;
      const cover = `<cover.${t}.v${v}.bench@students.example.org>`;
      if (v === 1) v1Cover = cover;
      // v2 answers the v1 cover (git send-email --in-reply-to); v3 is sent standalone.
      const parent = v === 2 ? v1Cover : null;
      const coverHeaders: [string, string][] = [
        ['From', from],
        ['To', opts.list],
        ['Date', date()],
        ['Subject', `[${tag} 0/3] ${title}`],
        ['Message-ID', cover],
        ...(parent ? ([['In-Reply-To', parent], ['References', parent]] as [string, string][]) : []),
      ];
      write(coverHeaders, `This series keeps the helpers of topic ${t} in range.\n\n${v > 1 ? `Changes in v${v}:\n- reworded commit messages\n\n` : ''}Student (3):\n${parts.map((p) => `  ${p.subject}`).join('\n')}\n`);
      parts.forEach((p, i) => {
        const refs = parent ? `${parent} ${cover}` : cover;
        write(
          [
            ['From', p.from],
            ['To', opts.list],
            ['Date', date()],
            ['Subject', `[${tag} ${i + 1}/3] ${p.subject}`],
            ['Message-ID', `<${t}.v${v}.${i + 1}.bench@students.example.org>`],
            ['In-Reply-To', cover],
            ['References', refs],
            ...p.extraHeaders.split('\n').filter(Boolean).map((l) => l.split(/: (.*)/).slice(0, 2) as [string, string]),
          ],
          p.body,
        );
      });
    }
    const reviewed = parts[1]!;
    const quoted = reviewed.body.split('\n').slice(0, 12).map((l) => `> ${l}`).join('\n');
    write(
      [
        ['From', 'Teacher <teacher@example.org>'],
        ['To', opts.list],
        ['Date', date()],
        ['Subject', `Re: [PATCH 2/3] ${reviewed.subject}`],
        ['Message-ID', `<review.${t}.bench@example.org>`],
        ['In-Reply-To', `<${t}.v1.2.bench@students.example.org>`],
        ['References', `<cover.${t}.v1.bench@students.example.org> <${t}.v1.2.bench@students.example.org>`],
      ],
      `On Mon, 1 Feb 2026, Student wrote:\n${quoted}\n\nLooks right to me.\n\nReviewed-by: Teacher <teacher@example.org>\n`,
    );
  }
  fs.closeSync(fd);
  return { file, messages: n };
}
