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

/** Shared slabs kept for reuse: a reader thread (src/api/api-readers.ts) writes an answer into one the response lends. */
const sharedFree: SharedArrayBuffer[] = [];

/**
 * Lends a shared slab (SLAB_BYTES) to `fill`, which has another thread write one response's bytes into it: given back
 * once `res` has been written out (or closed) after `fill` settled — never before, since a thread may still be
 * writing into it — or at once when `fill` fails. The bytes `fill` returns must not be kept past the response.
 */
export async function withSharedSlab<T>(res: ServerResponse, fill: (slab: SharedArrayBuffer) => Promise<T>): Promise<T> {
  const slab = sharedFree.pop() ?? new SharedArrayBuffer(SLAB_BYTES);
  let back = false;
  const giveBack = () => {
    if (back) return;
    back = true;
    if (sharedFree.length < KEEP) sharedFree.push(slab);
  };
  try {
    const out = await fill(slab);
    if (res.writableFinished || res.destroyed) giveBack();
    else {
      res.once('finish', giveBack);
      res.once('close', giveBack);
    }
    return out;
  } catch (e) {
    giveBack();
    throw e;
  }
}

/** Slabs that move to a reader thread (src/api/api-readers.ts) and back with the answer it wrote into them. */
const movable: ArrayBuffer[] = [];

/** A slab to move to another thread, which writes one answer into it and moves it back (then: giveBackWhenWritten). */
export function borrowMovableSlab(): ArrayBuffer {
  return movable.pop() ?? new ArrayBuffer(SLAB_BYTES);
}

/**
 * Takes back a slab once `res` has been written out (or closed): the answer's bytes sent on `res` are a view of it.
 * (fastify sends only bytes over an ArrayBuffer, so the slab moves rather than being shared memory.)
 */
export function giveBackWhenWritten(res: ServerResponse, slab: ArrayBuffer): void {
  if (slab.byteLength !== SLAB_BYTES) return;
  let back = false;
  const giveBack = () => {
    if (back) return;
    back = true;
    if (movable.length < KEEP) movable.push(slab);
  };
  if (res.writableFinished || res.destroyed) return giveBack();
  res.once('finish', giveBack);
  res.once('close', giveBack);
}
