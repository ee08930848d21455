// A seeded, structure-aware fuzzer of hostile mail: real fixture mails (test/fixtures) taken apart into header
// fields and body, then mutated the ways hostile mail goes wrong — numbers past every bound in subject markers, MIME
// nested deep, empty or garbage Content-Types, NULs, 8-bit headers, long lines and runs of spaces where regular
// expressions look, bad charsets, broken base64 and quoted-printable, missing and repeated fields, and byte noise.
// The same seed gives the same mails (bench/fuzz.ts and test/integration/hostile-fuzz.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { splitMbox } from '../../src/smtp/mbox.js';
import { prng } from './prng.js';
import { ROOT } from './server-process.js';

export interface FuzzCase {
  n: number;
  /** Names of the mutations applied, in order. */
  mutations: string[];
  raw: Buffer;
}

/** Every mail of test/fixtures/series/*.mbox and test/fixtures/eml/*.eml: the fuzzer's starting points. */
export async function fixtureMails(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const series = path.join(ROOT, 'test/fixtures/series');
  for (const f of fs.readdirSync(series).filter((x) => x.endsWith('.mbox')).sort()) {
    for await (const m of splitMbox(fs.createReadStream(path.join(series, f)))) out.push(m.raw);
  }
  const eml = path.join(ROOT, 'test/fixtures/eml');
  for (const f of fs.readdirSync(eml).filter((x) => x.endsWith('.eml')).sort()) out.push(fs.readFileSync(path.join(eml, f)));
  return out;
}

/** A mail as the mutations see it: header fields (each with its folded lines, no newline) and the body, as latin1. */
interface Mail {
  fields: string[];
  body: string;
  /** Set by a mutation that works on the whole byte string (truncation, byte flips): applied last. */
  post: ((raw: string) => string)[];
}

function parse(raw: Buffer): Mail {
  const text = raw.toString('latin1').replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 2);
  const fields: string[] = [];
  for (const line of head.split('\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length) fields[fields.length - 1] += '\n' + line;
    else if (line) fields.push(line);
  }
  return { fields, body, post: [] };
}

function render(m: Mail): Buffer {
  let raw = `${m.fields.join('\n')}\n\n${m.body}`;
  for (const p of m.post) raw = p(raw);
  return Buffer.from(raw, 'latin1');
}

const nameOf = (field: string) => field.slice(0, Math.max(0, field.indexOf(':'))).toLowerCase();

function setField(m: Mail, name: string, value: string): void {
  const i = m.fields.findIndex((f) => nameOf(f) === name.toLowerCase());
  const field = `${name}: ${value}`;
  if (i >= 0) m.fields[i] = field;
  else m.fields.push(field);
}

function dropField(m: Mail, name: string): void {
  m.fields = m.fields.filter((f) => nameOf(f) !== name.toLowerCase());
}

function fieldValue(m: Mail, name: string): string {
  const f = m.fields.find((x) => nameOf(x) === name.toLowerCase());
  return f ? f.slice(f.indexOf(':') + 1).trim() : '';
}

/** Numbers a subject marker may carry, from plausible to absurd. */
const BIG = ['99999999999999999999', '1000000000', '4294967296', '9007199254740993', '0', '10000', '9999', '1' + '0'.repeat(400), '0000000000000000000000001', '2147483648'];
const CHARSETS = ['x-unknown', 'utf-7', 'ucs-2', '', '"', 'iso-8859-99', 'utf-8\u0000', 'a'.repeat(300), 'windows-99999', '=?utf-8?'];
const BAD_TYPES = ['', ' ', ';', 'text/', '/', 'garbage', '\u0000', 'text/plain; charset=', 'multipart/mixed', 'multipart/mixed; boundary=""', 'text/x-patch; name="' + 'a'.repeat(2000) + '"'];
const DATES = ['Sat, 13 Sep 275760 00:00:00 +0000', '-1', 'Thu, 01 Jan 1970 00:00:00 +9999', '', 'Mon, 32 Foo 99999 99:99:99', '0000-00-00', 'Fri, 20 Nov 2026 10:00:00 -2400', '9'.repeat(50)];

type Rand = () => number;
type Mutation = (m: Mail, r: Rand) => void;

const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** Mostly small, sometimes large: a run length for spaces and the like. */
const run = (r: Rand, max: number) => (r() < 0.75 ? int(r, 1, Math.min(200, max)) : int(r, 200, max));

function subjectTitle(m: Mail): string {
  return fieldValue(m, 'subject').replace(/^(\s*\[[^\]]*\]\s*)+/, '') || 'a title';
}

function asMultipart(m: Mail, boundary: string, parts: string[]): void {
  const textType = fieldValue(m, 'content-type') || 'text/plain';
  const cte = fieldValue(m, 'content-transfer-encoding');
  dropField(m, 'content-transfer-encoding');
  setField(m, 'MIME-Version', '1.0');
  setField(m, 'Content-Type', `multipart/mixed; boundary="${boundary}"`);
  const first = `Content-Type: ${textType}\n${cte ? `Content-Transfer-Encoding: ${cte}\n` : ''}\n${m.body}`;
  m.body = [first, ...parts].map((p) => `--${boundary}\n${p}\n`).join('') + `--${boundary}--\n`;
}

const MUTATIONS: Record<string, Mutation> = {
  'marker-huge': (m, r) => setField(m, 'Subject', `[PATCH ${pick(r, BIG)}/${pick(r, BIG)}] ${subjectTitle(m)}`),
  'version-huge': (m, r) => setField(m, 'Subject', r() < 0.5 ? `[PATCH v${pick(r, BIG)} ${int(r, 0, 3)}/3] ${subjectTitle(m)}` : `[PATCH] ${subjectTitle(m)} (v${pick(r, BIG)})`),
  'deep-mime': (m, r) => {
    const depth = r() < 0.5 ? int(r, 2, 49) : int(r, 50, 300);
    let inner = `Content-Type: text/plain\n\n${m.body}`;
    for (let level = depth; level >= 1; level--) inner = `Content-Type: multipart/mixed; boundary="d${level}"\n\n--d${level}\n${inner}\n--d${level}--\n`;
    const i = inner.indexOf('\n\n');
    dropField(m, 'content-transfer-encoding');
    setField(m, 'MIME-Version', '1.0');
    setField(m, 'Content-Type', inner.slice('Content-Type: '.length, i));
    m.body = inner.slice(i + 2);
  },
  'empty-content-type': (m, r) => {
    const parts = Array.from({ length: int(r, 1, 4) }, () => `Content-Type: ${pick(r, BAD_TYPES)}\n\ndiff --git a/x b/x\n+hello\n`);
    asMultipart(m, `bad${int(r, 0, 1e6)}`, parts);
  },
  nul: (m, r) => {
    for (let k = int(r, 1, 5); k > 0; k--) {
      const at = int(r, 0, m.body.length);
      m.body = m.body.slice(0, at) + '\u0000' + m.body.slice(at);
    }
    if (r() < 0.3) setField(m, 'X-Nul', 'a\u0000b');
  },
  'eight-bit-header': (m, r) => {
    const bytes = () => Array.from({ length: int(r, 1, 40) }, () => String.fromCharCode(int(r, 0x80, 0xff))).join('');
    setField(m, pick(r, ['Subject', 'From', 'To', 'X-Garbage']), r() < 0.5 ? `${bytes()} ${fieldValue(m, 'subject')}` : `${bytes()} <${bytes()}@example.org>`);
  },
  'long-line': (m, r) => {
    const line = pick(r, ['a', ' ', '=', '-', '>', '+', '\t']).repeat(int(r, 10_000, 400_000));
    const at = m.body.indexOf('\n', int(r, 0, m.body.length));
    m.body = at < 0 ? `${m.body}\n${line}\n` : `${m.body.slice(0, at + 1)}${line}\n${m.body.slice(at + 1)}`;
  },
  'signoff-spaces': (m, r) => {
    const line = `${pick(r, ['Signed-off-by:', 'Reviewed-by:', 'Acked-by:', 'change-id:', 'Supersedes:', 'base-commit:'])}${' '.repeat(run(r, 3000))}${pick(r, ['x', '', '<', '<a@b', 'Zoe <'])}`;
    const at = m.body.indexOf('\n---\n');
    m.body = at < 0 ? `${m.body}\n${line}\n` : `${m.body.slice(0, at)}\n${line}${m.body.slice(at)}`;
  },
  'from-spaces': (m, r) => {
    m.body = `From:${' '.repeat(run(r, 2500))}${pick(r, ['x', '', 'Zoe <', 'Zoe <zoe@example.org'])}\n${m.body}`;
  },
  'spaces-run': (m, r) => {
    m.body = `${m.body}\nx${' '.repeat(run(r, 100_000))}${pick(r, ['x', ''])}\n`;
  },
  'bad-charset': (m, r) => setField(m, 'Content-Type', `text/plain; charset="${pick(r, CHARSETS)}"`),
  'broken-base64': (m, r) => {
    setField(m, 'Content-Transfer-Encoding', 'base64');
    const b64 = Buffer.from(m.body, 'latin1').toString('base64');
    const noise = pick(r, ['!!!', '===', '\u0000', '@@@@', ' ', '====a=']);
    const cut = int(r, 0, b64.length);
    m.body = (b64.slice(0, cut) + noise + b64.slice(cut)).replace(/.{76}/g, '$&\n');
  },
  'broken-qp': (m, r) => {
    setField(m, 'Content-Transfer-Encoding', 'quoted-printable');
    const junk = pick(r, ['=ZZ', '=\n', '=', '=0', '==', '=\n'.repeat(int(r, 10, 5000))]);
    const at = int(r, 0, m.body.length);
    m.body = m.body.slice(0, at) + junk + m.body.slice(at);
  },
  'drop-field': (m, r) => dropField(m, pick(r, ['From', 'Date', 'Message-ID', 'Subject', 'Content-Type', 'MIME-Version'])),
  'repeat-field': (m, r) => {
    const name = pick(r, ['Subject', 'Content-Type', 'From', 'Content-Transfer-Encoding', 'In-Reply-To']);
    m.fields.push(`${name}: ${pick(r, ['[PATCH 2/2] again', 'text/html', 'Mallory <m@example.net>', 'base64', '<nowhere@example.net>'])}`);
  },
  'folding-garbage': (m, r) => {
    const i = int(r, 0, Math.max(0, m.fields.length - 1));
    m.fields[i] = `${m.fields[i] ?? 'X-Fold: x'}${'\n '.repeat(int(r, 1, 2000))}${pick(r, ['', 'x', '\t'])}`;
  },
  'many-references': (m, r) => {
    const count = run(r, 20_000);
    setField(m, 'References', Array.from({ length: count }, (_, i) => `<ref${i}.${int(r, 0, 1e9)}@example.org>`).join('\n '));
    if (r() < 0.5) setField(m, 'In-Reply-To', `<ref${count - 1}@example.org>`);
  },
  'date-garbage': (m, r) => setField(m, 'Date', pick(r, DATES)),
  'encoded-word-garbage': (m, r) =>
    setField(m, pick(r, ['Subject', 'From']), pick(r, ['=?utf-8?B?!!!?=', '=?x-unknown?q?=ZZ=?=', '=?utf-8?q?' + '=E2'.repeat(500) + '?=', '=?', '=?utf-8*en?B?' + 'QQ=='.repeat(300) + '?= <a@example.org>'])),
  'many-parts': (m, r) => {
    const parts = Array.from({ length: int(r, 100, 3000) }, (_, i) => `Content-Type: text/x-patch\nContent-Disposition: attachment; filename="p${i}.patch"\n\ndiff --git a/f${i} b/f${i}\n`);
    asMultipart(m, 'many', parts);
  },
  'boundary-chaos': (m, r) => {
    const boundary = pick(r, ['', 'b', 'x'.repeat(300), '--', 'a b']);
    setField(m, 'MIME-Version', '1.0');
    setField(m, 'Content-Type', `multipart/${pick(r, ['mixed', 'alternative', 'report', 'signed'])}; boundary="${boundary}"`);
    m.body = r() < 0.5 ? `--${boundary}\nContent-Type: text/plain\n\n${m.body}` : `--${boundary}\n--${boundary}\n\n${m.body}\n--${boundary}--\n--${boundary}--\n`;
  },
  'header-ends-early': (m, r) => {
    const i = int(r, 0, Math.max(0, m.fields.length - 1));
    m.fields.splice(i, 0, pick(r, ['', ' ', 'not a field', ':', 'X-Empty:']));
  },
  'cr-chaos': (m, r) => {
    m.post.push((raw) => raw.replace(/\n/g, (nl) => (r() < 0.1 ? pick(r, ['\r', '\r\r\n', '\n\r', '\r\n']) : nl)));
  },
  truncate: (m, r) => {
    m.post.push((raw) => raw.slice(0, int(r, 0, raw.length)));
  },
  'byte-flips': (m, r) => {
    m.post.push((raw) => {
      const chars = raw.split('');
      for (let k = int(r, 1, 20); k > 0 && chars.length; k--) chars[int(r, 0, chars.length - 1)] = String.fromCharCode(int(r, 0, 255));
      return chars.join('');
    });
  },
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

/**
 * A generator of hostile mails: each takes a fixture mail, gives it a Message-ID of its own
 * (`<fuzz-SEED-N@fuzz.example.org>`, which a mutation may then damage or remove), and applies one to three
 * mutations. Mails stay under ~2 MB: the SMTP size limit is another test's business.
 */
export function fuzzer(seed: number, bases: Buffer[]): () => FuzzCase {
  const r = prng(seed);
  let n = 0;
  return () => {
    n++;
    const mail = parse(pick(r, bases));
    setField(mail, 'Message-ID', `<fuzz-${seed}-${n}@fuzz.example.org>`);
    const mutations = Array.from({ length: int(r, 1, 3) }, () => pick(r, MUTATION_NAMES));
    for (const name of mutations) MUTATIONS[name]!(mail, r);
    return { n, mutations, raw: render(mail) };
  };
}
