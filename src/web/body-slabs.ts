// JSON answers encoded into reused memory. A fresh buffer per answer (Buffer.from of a 150-300 KB page) cost more of
// the server's CPU than encoding it: on this kind of machine most of an uncached 100-item page's `Buffer.from` was
// the allocation and first touch of new memory, not the UTF-8 (bench/api, issue 16).
import type { ServerResponse } from 'node:http';

/** A slab holds any text up to a third of its size (UTF-8 takes at most 3 bytes per UTF-16 unit). */
const SLAB_BYTES = 2 * 1024 * 1024;
/** Slabs kept for reuse; more answers in flight at once borrow fresh ones that the GC takes back. */
const KEEP = 32;

const free: Buffer[] = [];

/**
 * The text's UTF-8 bytes, for one response: in a reused slab given back once `res` has been written out (or closed),
 * or, for text longer than a slab holds, a buffer of its own. The bytes must not be kept past the response.
 */
export function bytesForResponse(text: string, res: ServerResponse): Buffer {
  if (text.length * 3 > SLAB_BYTES) return Buffer.from(text);
  const slab = free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  const bytes = slab.subarray(0, slab.write(text));
  let back = false;
  const giveBack = () => {
    if (back) return;
    back = true;
    if (free.length < KEEP) free.push(slab);
  };
  // 'finish': the last byte is with the operating system; 'close' without it: the connection is gone, nothing is sent.
  res.once('finish', giveBack);
  res.once('close', giveBack);
  return bytes;
}
