// Answers encoded into reused memory: the bytes are right, two answers in flight never share a slab, and a slab comes
// back for the next answer only once its response has been written.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { borrowMovableSlab, giveBackWhenWritten, jsonForResponse } from '../../src/web/body-slabs.js';

/**
 * A real HTTP server whose `answer` prepares each response and returns what sends it; `/a` and `/b` are held until
 * both have arrived, so that their answers are in flight at once. `fn` gets a GET that resolves with the body.
 */
async function withServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => () => void, fn: (get: (p: string) => Promise<string>) => Promise<void>): Promise<void> {
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const send = answer(req, res);
    if (req.url === '/a' || req.url === '/b') {
      held.push(send);
      if (held.length === 2) for (const s of held) s();
    } else send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const get = (p: string) =>
    new Promise<string>((resolve, reject) =>
      http.get({ port, host: '127.0.0.1', path: p, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      }).on('error', reject),
    );
  try {
    await fn(get);
  } finally {
    server.close();
  }
}

test('bytes in slabs: exact UTF-8, never shared while in flight, reused after the response is written', async () => {
  const memory: ArrayBufferLike[] = [];
  await withServer(
    (req, res) => {
      const value = [{ path: req.url, name: 'Jörg → ünïcode' }, { pad: 'x'.repeat(100_000) }];
      const bytes = jsonForResponse(value, res);
      memory.push(bytes.buffer);
      assert.equal(bytes.toString('utf8'), JSON.stringify(value));
      return () => res.end(bytes);
    },
    async (get) => {
      const [a, b] = await Promise.all([get('/a'), get('/b')]);
      assert.equal(JSON.parse(a)[0].path, '/a');
      assert.equal(JSON.parse(b)[0].path, '/b');
      assert.notEqual(memory[0], memory[1], 'two answers in flight use two slabs');
      const c = await get('/c');
      assert.equal(JSON.parse(c)[0].name, 'Jörg → ünïcode');
      assert.ok(memory[2] === memory[0] || memory[2] === memory[1], 'a written answer gives its slab back');
    },
  );
});

test('an answer longer than a slab holds gets bytes of its own, and the slab is not lost', async () => {
  const big = [{ pad: 'é'.repeat(800_000) }];
  await withServer(
    (_req, res) => {
      const first = borrowMovableSlab();
      giveBackWhenWritten(res, first); // back once this response is out
      const bytes = jsonForResponse(big, res);
      assert.notEqual(bytes.buffer, first);
      assert.equal(bytes.toString('utf8'), JSON.stringify(big));
      return () => res.end(bytes);
    },
    async (get) => {
      assert.equal(JSON.parse(await get('/big'))[0].pad.length, 800_000);
    },
  );
});

test('a movable slab comes back for the next answer only once the response written from it is out', async () => {
  const lent: ArrayBuffer[] = [];
  await withServer(
    (req, res) => {
      const slab = borrowMovableSlab();
      lent.push(slab);
      // As a reader thread would: the answer written into the slab, the response sent from a view of it.
      const bytes = Buffer.from(slab, 0, Buffer.from(slab).write(`answer ${req.url}`));
      giveBackWhenWritten(res, slab);
      return () => res.end(bytes);
    },
    async (get) => {
      assert.deepEqual(await Promise.all([get('/a'), get('/b')]), ['answer /a', 'answer /b']);
      assert.notEqual(lent[0], lent[1], 'two answers in flight use two slabs');
      assert.equal(await get('/c'), 'answer /c');
      assert.ok(lent[2] === lent[0] || lent[2] === lent[1], 'a written answer gives its slab back');
    },
  );
});
