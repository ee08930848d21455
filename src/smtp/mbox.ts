// Mbox reading for the backfill: splits an mboxo/mboxrd stream (plain or gzip) into messages, never holding more than one.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

/**
 * RFC 4155 leaves the quoting of body lines to the writer. mboxrd (public-inbox, lore, `git format-patch
 * --pretty=mboxrd`) quotes `>*From ` by adding one `>`, so reading removes one from every `^>+From ` line; mboxo
 * quotes only `From `, so only `^>From ` loses its `>` (a body line `>From ` cannot be told apart from an escaped one).
 */
export type MboxFormat = 'mboxo' | 'mboxrd';

export interface MboxMessage {
  /** 0-based position in the file. */
  index: number;
  /** The separator line that opened the message (without its newline), or null for text before the first one. */
  separator: string | null;
  /** The message as stored in the file, unescaped, without the separator and without the blank line that ends it. */
  raw: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e; // '>'
const F = 0x46; // 'F'
const FROM_ = Buffer.from('From ', 'latin1');
/** A line that could be a separator or a quoted one is held back until its end; past this length it is plain text. */
const CANDIDATE_MAX = 1000;

/**
 * A separator is "From " + sender + an asctime date, as git mailsplit's is_from_line() decides: the last colon
 * must sit in an HH:MM:SS time followed by a year. So a body line that merely starts with "From " (a sentence)
 * does not split the message, e.g. "From the manual: ...".
 *   From 2b9c4e1f0a Mon Sep 17 00:00:00 2001
 *   From mboxrd@z Thu Jan  1 00:00:00 1970
 */
export function isSeparatorLine(line: string): boolean {
  const m = /^From \S*\s.*\d:\d\d:\d\d\s+(\d+)/.exec(line.replace(/\r?\n$/, ''));
  return m !== null && Number(m[1]) > 90;
}

type LineKind = 'separator' | 'quoted' | 'plain' | 'undecided';

/** Splits a byte stream into messages, chunk by chunk; synchronous so that it can be tested on any chunking. */
export class MboxSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private separator: string | null = null;
  private opened = false;
  /** Text before the first separator holds more than blank lines (a bare .eml or .patch is one message). */
  private leadingText = false;
  private index = 0;
  /** Start of a line not yet classified because the chunk ended inside it. */
  private carry: Buffer | null = null;
  /** The previous chunk ended inside a line already classified as plain text. */
  private midLine = false;

  constructor(
    private readonly format: MboxFormat = 'mboxrd',
    /** false: only count messages (the quick first pass for a progress bar), keep no bytes. */
    private readonly keep = true,
  ) {}

  push(chunk: Buffer): MboxMessage[] {
    const out: MboxMessage[] = [];
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    if (this.midLine) {
      const nl = buf.indexOf(LF);
      if (nl === -1) {
        this.add(buf);
        return out;
      }
      this.add(buf.subarray(0, nl + 1));
      pos = nl + 1;
      this.midLine = false;
    }
    let segment = pos; // bytes from here to pos are plain content not yet added
    while (pos < buf.length) {
      const first = buf[pos];
      const nl = buf.indexOf(LF, pos);
      const complete = nl !== -1;
      const end = complete ? nl + 1 : buf.length;
      if (first !== F && first !== GT) {
        if (!complete) {
          this.midLine = true;
          pos = end;
          break;
        }
        pos = end;
        continue;
      }
      const line = buf.subarray(pos, end);
      const kind = this.classify(line, complete);
      if (kind === 'undecided') {
        this.add(buf.subarray(segment, pos));
        this.carry = Buffer.from(line);
        return out;
      }
      if (kind === 'separator') {
        this.add(buf.subarray(segment, pos));
        const done = this.finish();
        if (done) out.push(done);
        this.opened = true;
        this.separator = line.toString('latin1').replace(/\r?\n$/, '');
        pos = segment = end;
        continue;
      }
      if (kind === 'quoted') {
        this.add(buf.subarray(segment, pos));
        this.add(line.subarray(1));
        segment = end;
      }
      pos = end;
      if (!complete) this.midLine = true;
    }
    this.add(buf.subarray(segment, pos));
    return out;
  }

  /** The end of the input: the last message, which may lack a final newline. */
  end(): MboxMessage[] {
    if (this.carry) {
      const line = this.carry;
      this.carry = null;
      const kind = this.classify(line, true);
      if (kind === 'separator') {
        const done = this.finish();
        this.opened = true;
        this.separator = line.toString('latin1');
        return done ? [done] : [];
      }
      this.add(kind === 'quoted' ? line.subarray(1) : line);
    }
    const done = this.finish();
    return done ? [done] : [];
  }

  private classify(line: Buffer, complete: boolean): LineKind {
    if (line[0] === F) {
      const n = Math.min(line.length, FROM_.length);
      if (line.compare(FROM_, 0, n, 0, n) !== 0) return 'plain';
      // Whole or cut by a chunk boundary, a line this long is text: the answer must not depend on the chunking.
      if (line.length > CANDIDATE_MAX) return 'plain';
      if (!complete) return 'undecided';
      return line.length >= FROM_.length && isSeparatorLine(line.toString('latin1')) ? 'separator' : 'plain';
    }
    let quotes = 0;
    while (quotes < line.length && line[quotes] === GT) quotes++;
    if (quotes > CANDIDATE_MAX) return 'plain';
    const rest = line.subarray(quotes, quotes + FROM_.length);
    if (rest.length < FROM_.length && !complete) {
      return rest.compare(FROM_, 0, rest.length, 0, rest.length) === 0 ? 'undecided' : 'plain';
    }
    if (!rest.equals(FROM_)) return 'plain';
    return this.format === 'mboxrd' || quotes === 1 ? 'quoted' : 'plain';
  }

  private add(bytes: Buffer): void {
    if (!bytes.length) return;
    if (!this.opened && !this.leadingText) this.leadingText = /\S/.test(bytes.toString('latin1'));
    this.size += bytes.length;
    if (this.keep) this.parts.push(bytes);
  }

  private finish(): MboxMessage | null {
    const { parts, size } = this;
    this.parts = [];
    this.size = 0;
    if (this.opened ? size === 0 : !this.leadingText) return null;
    const message: MboxMessage = { index: this.index++, separator: this.separator, raw: Buffer.alloc(0) };
    if (this.keep) message.raw = stripEndingBlankLine(Buffer.concat(parts, size));
    return message;
  }
}

/** RFC 4155 §2: a writer ends each message with an empty line before the next separator; it is not the message's. */
function stripEndingBlankLine(raw: Buffer): Buffer {
  const n = raw.length;
  if (n >= 4 && raw[n - 1] === LF && raw[n - 2] === CR && raw[n - 3] === LF && raw[n - 4] === CR) return raw.subarray(0, n - 2);
  if (n >= 2 && raw[n - 1] === LF && raw[n - 2] === LF) return raw.subarray(0, n - 1);
  return raw;
}

/** The messages of an mbox byte stream, one at a time, as the stream is read. */
export async function* splitMbox(source: AsyncIterable<Buffer | string>, format: MboxFormat = 'mboxrd'): AsyncGenerator<MboxMessage> {
  const splitter = new MboxSplitter(format);
  for await (const chunk of source) yield* splitter.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  yield* splitter.end();
}

/** Counts the messages of an mbox stream without keeping any of them. */
export async function countMbox(source: AsyncIterable<Buffer>): Promise<number> {
  const splitter = new MboxSplitter('mboxrd', false);
  let n = 0;
  for await (const chunk of source) n += splitter.push(chunk).length;
  return n + splitter.end().length;
}

export interface MboxFile {
  /** The decompressed bytes. */
  stream: Readable;
  gzip: boolean;
  /** Size of the file on disk, and how much of it has been read so far (for a progress bar on a gzip file). */
  size: number;
  bytesRead(): number;
}

/** Opens an mbox file for streaming; a gzip file (by its magic bytes, as `t.mbox.gz` from public-inbox) is inflated. */
export function openMbox(file: string): MboxFile {
  const fd = fs.openSync(file, 'r');
  const magic = Buffer.alloc(2);
  let size: number;
  try {
    fs.readSync(fd, magic, 0, 2, 0);
    size = fs.fstatSync(fd).size;
  } finally {
    fs.closeSync(fd);
  }
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  const stream = gzip ? raw.pipe(zlib.createGunzip()) : raw;
  if (gzip) raw.on('error', (e) => stream.destroy(e));
  return { stream, gzip, size, bytesRead: () => raw.bytesRead };
}
