// JSON answers encoded into reused memory. A fresh buffer per answer (Buffer.from of a 150-300 KB page) cost more of
// the server's CPU than encoding it: on this kind of machine most of an uncached 100-item page's `Buffer.from` was
// the allocation and first touch of new memory, not the UTF-8 (bench/api, issue 16).
import type { ServerResponse } from 'node:http';
import { writeJson } from '../api/json-bytes.js';

/** A slab holds any answer whose text is up to a third of its size (UTF-8 takes at most 3 bytes per UTF-16 unit). */
const SLAB_BYTES = 2 * 1024 * 1024;
/** Slabs kept for reuse; more answers in flight at once borrow fresh ones that the GC takes back. */
const KEEP = 32;

/**
 * One pool for both ways an answer is written: on this thread (bytesForResponse), or by a reader thread
 * (src/api/api-readers.ts) that the slab moves to and back from. Plain ArrayBuffers: fastify sends only bytes over
 * one, and only those can move between threads.
 */
const free: ArrayBuffer[] = [];

/** A slab to write one answer into (here, or moved to another thread and back; then: giveBackWhenWritten). */
export function borrowMovableSlab(): ArrayBuffer {
  return free.pop() ?? new ArrayBuffer(SLAB_BYTES);
}

/**
 * JSON.stringify(value)'s UTF-8 bytes, for one response: in a reused slab given back once `res` has been written out
 * (or closed), or, for an answer longer than a slab holds, a buffer of its own. The bytes must not be kept past the
 * response.
 */
export function jsonForResponse(value: unknown, res: ServerResponse): Buffer {
  const slab = borrowMovableSlab();
  const n = writeJson(value, Buffer.from(slab));
  // Back once the response is out, whether the answer is in it or (too long) in a buffer of its own.
  giveBackWhenWritten(res, slab);
  return n < 0 ? Buffer.from(JSON.stringify(value)) : Buffer.from(slab, 0, n);
}

/**
 * Takes back a slab once `res` has been written out ('finish': the last byte is with the operating system) or closed
 * (the connection is gone, nothing more is sent): the answer's bytes sent on `res` are a view of it.
 */
export function giveBackWhenWritten(res: ServerResponse, slab: ArrayBuffer): void {
  if (slab.byteLength !== SLAB_BYTES) return;
  let back = false;
  const giveBack = () => {
    if (back) return;
    back = true;
    if (free.length < KEEP) free.push(slab);
  };
  if (res.writableFinished || res.destroyed) return giveBack();
  res.once('finish', giveBack);
  res.once('close', giveBack);
}
