// An answer's JSON written into a buffer item by item (src/api/json-bytes.ts): the same bytes as JSON.stringify, and
// a refusal rather than a cut answer when they might not fit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonBytes, writeJson } from '../../src/api/json-bytes.js';

const VALUES: unknown[] = [
  [],
  [{}],
  [{ id: 1, name: 'Jörg → ünïcode 😀', tags: ['a', null, 2.5], nested: { deep: [true, false] } }, { id: 2 }],
  [undefined, () => 1, null, 'text "quoted" \\ \n', 0],
  { id: 7, items: [1, 2, 3], name: 'Ω' },
  'a lone string',
  42,
  null,
  Array.from({ length: 100 }, (_, i) => ({ id: i, msgid: `<${i}@example.org>`, name: i % 7 ? 'plain' : 'Łukasz Żółć' })),
];

test('writeJson writes exactly JSON.stringify\'s UTF-8 for lists, objects and scalars', () => {
  const into = Buffer.alloc(1024 * 1024);
  for (const v of VALUES) {
    const n = writeJson(v, into);
    assert.ok(n >= 0, `fits: ${JSON.stringify(v)?.slice(0, 40)}`);
    assert.equal(into.subarray(0, n).toString('utf8'), JSON.stringify(v));
  }
});

test('writeJson refuses (-1) an answer that might not fit, for a list and for an object', () => {
  const into = Buffer.alloc(64);
  assert.equal(writeJson([{ a: 'x'.repeat(30) }, { b: 'y'.repeat(30) }], into), -1);
  assert.equal(writeJson({ a: 'x'.repeat(60) }, into), -1);
  assert.equal(writeJson(['é'.repeat(21)], into), -1, 'three bytes a unit are allowed for');
  assert.equal(into.subarray(0, writeJson([1, 2], into)).toString(), '[1,2]');
});

test('jsonBytes gives bytes of their own, small or past its scratch memory', () => {
  const a = jsonBytes([{ n: 1 }]);
  const b = jsonBytes([{ n: 2 }]);
  assert.equal(a.toString(), '[{"n":1}]', 'the first answer is not overwritten by the next');
  assert.equal(b.toString(), '[{"n":2}]');
  const big = [{ pad: 'x'.repeat(600_000) }];
  assert.equal(jsonBytes(big).toString(), JSON.stringify(big));
});
