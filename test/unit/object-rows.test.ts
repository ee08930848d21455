// Rows made into objects in JavaScript (src/db/object-rows.ts): the same objects, keys and values better-sqlite3
// makes, whatever the columns are named, through all, iterate and run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { withObjectRows } from '../../src/db/object-rows.js';

function fixture(): SQLite.Database {
  const db = new SQLite(':memory:');
  db.exec(`create table t (id integer primary key, name text, blob blob, score real, n integer);
    insert into t (name, blob, score, n) values ('Jörg', x'00ff', 1.5, null), ('b', null, -2, 9007199254740991), (null, x'', 0, 3);`);
  return db;
}

const QUERIES = [
  'select * from t order by id',
  'select id, name from t where id in (select value from json_each(?)) order by id',
  `select count(*), max(score), 'a"b''c' as "odd "" name", 1 as "constructor", 2 as "toString" from t`,
  'select t.id, u.id, t.name as n, u.n from t join t as u on u.id = t.id + 1 order by t.id',
  'select 1 as "\u2028line", 2 as "é", 3 as "" ',
];

test('all and iterate give better-sqlite3\'s own objects, keys in the same order', () => {
  const db = fixture();
  for (const q of QUERIES) {
    const params = q.includes('?') ? ['[1,3]'] : [];
    const mine = withObjectRows(db.prepare(q));
    const theirs = db.prepare(q);
    const expected = theirs.all(...params) as object[];
    assert.ok(expected.length > 0, q);
    const got = mine.all(params) as object[];
    assert.deepEqual(got, expected, q);
    assert.deepEqual(got.map((o) => Object.keys(o)), expected.map((o) => Object.keys(o)), `key order: ${q}`);
    assert.deepEqual([...mine.iterate(params)], expected, `iterate: ${q}`);
    for (const o of got) assert.equal(Object.getPrototypeOf(o), Object.prototype);
  }
});

test('a column named __proto__ is left to better-sqlite3 (a literal would set the prototype): the same rows', () => {
  const db = fixture();
  const q = 'select 1 as "__proto__", 2 as x';
  const [mine] = withObjectRows(db.prepare(q)).all([]) as object[];
  const [theirs] = db.prepare(q).all() as object[];
  assert.deepEqual(Object.getOwnPropertyNames(mine), Object.getOwnPropertyNames(theirs));
  assert.equal(Object.getPrototypeOf(mine), Object.getPrototypeOf(theirs));
  assert.equal((mine as { x: number }).x, 2);
});

test('writes run as before, and a returning write gives its rows as objects', () => {
  const db = fixture();
  const insert = withObjectRows(db.prepare('insert into t (name) values (?)'));
  assert.equal(insert.reader, false);
  assert.equal(insert.run(['new']).changes, 1);
  const returning = withObjectRows(db.prepare('insert into t (name, n) values (?, ?) returning id, name, n'));
  assert.deepEqual(returning.all(['r', 4]), [{ id: 5, name: 'r', n: 4 }]);
});
