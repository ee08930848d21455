// Byte-level helpers for raw RFC 5322 messages: find the header block, read and add header fields, without touching the body.

const CR = 0x0d;
const LF = 0x0a;

/** Offset where the body starts (after the blank line), and where the header block ends. */
export function splitHeader(raw: Buffer): { headerEnd: number; bodyStart: number } {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== LF) continue;
    if (raw[i + 1] === LF) return { headerEnd: i + 1, bodyStart: i + 2 };
    if (raw[i + 1] === CR && raw[i + 2] === LF) return { headerEnd: i + 1, bodyStart: i + 3 };
  }
  return { headerEnd: raw.length, bodyStart: raw.length };
}

/** The header block as latin1 text (lossless for any byte), newlines normalized to LF. */
export function headerText(raw: Buffer): string {
  return normalizeNewlines(raw.subarray(0, splitHeader(raw).headerEnd)).toString('latin1');
}

/** All values of a header field, unfolded (RFC 5322 §2.2.3), in order. */
export function headerValues(header: string, name: string): string[] {
  const out: string[] = [];
  const want = name.toLowerCase();
  const lines = header.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0 || line[0] === ' ' || line[0] === '\t') continue;
    if (line.slice(0, colon).trim().toLowerCase() !== want) continue;
    let value = line.slice(colon + 1);
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) value += ' ' + lines[++i]!.trim();
    out.push(value.trim());
  }
  return out;
}

export function headerValue(header: string, name: string): string | undefined {
  return headerValues(header, name)[0];
}

/**
 * The Message-ID without angle brackets, or undefined when absent, empty or broken. A bare `id@host` (old mailers)
 * is taken; a damaged one (`<abc` cut short, no `@`) is not an identity: two different mails cut at the same place
 * would otherwise count as one and the second be dropped as a duplicate.
 */
export function extractMsgid(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /<([^<>\s]+)>/.exec(value);
  if (m) return m[1];
  const bare = value.trim().split(/\s+/)[0] ?? '';
  return /^[^<>@]+@[^<>@]+$/.test(bare) ? bare : undefined;
}

/** CRLF and lone CR become LF. */
export function normalizeNewlines(buf: Buffer): Buffer {
  if (!buf.includes(CR)) return buf;
  const out = Buffer.allocUnsafe(buf.length);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === CR) {
      out[n++] = LF;
      if (buf[i + 1] === LF) i++;
    } else out[n++] = b;
  }
  return out.subarray(0, n);
}

/** The newline the message uses, so that added header lines match it. */
export function newlineOf(raw: Buffer): string {
  const lf = raw.indexOf(LF);
  return lf > 0 && raw[lf - 1] === CR ? '\r\n' : '\n';
}

/** Puts header lines ("Name: value") before the existing ones; the rest stays byte-identical. */
export function prependHeaders(raw: Buffer, lines: string[]): Buffer {
  if (lines.length === 0) return raw;
  const nl = newlineOf(raw);
  return Buffer.concat([Buffer.from(lines.map((l) => l + nl).join(''), 'utf8'), raw]);
}

/** Removes the named header fields (with their folded continuation lines); the body stays byte-identical. */
export function removeHeaders(raw: Buffer, names: string[]): Buffer {
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const { headerEnd } = splitHeader(raw);
  const parts: Buffer[] = [];
  let keep = true;
  let start = 0;
  while (start < headerEnd) {
    let end = raw.indexOf(LF, start);
    end = end === -1 || end >= headerEnd ? headerEnd : end + 1;
    const first = raw[start];
    if (first !== 0x20 && first !== 0x09) {
      const line = raw.subarray(start, Math.min(end, start + 200)).toString('latin1');
      const colon = line.indexOf(':');
      keep = colon <= 0 || !drop.has(line.slice(0, colon).trim().toLowerCase());
    }
    if (keep) parts.push(raw.subarray(start, end));
    start = end;
  }
  parts.push(raw.subarray(headerEnd));
  return Buffer.concat(parts);
}
