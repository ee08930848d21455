// Rows as objects made in JavaScript. better-sqlite3 builds each row object through V8's API, a property at a time;
// for a query of many rows that costs more than SQLite's own work (a series page's 500 embedded patches: 706 µs as
// better-sqlite3's objects, 408 µs as arrays made into objects here; issue 16). So a statement that returns rows
// returns arrays, and one function per statement, compiled for its columns, makes them into the same objects.
import type SQLite from 'better-sqlite3';

/** What kysely's SQLite driver calls on a prepared statement. */
export interface DriverStatement {
  readonly reader: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): SQLite.RunResult;
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
}

type MakeRow = (values: unknown[]) => unknown;

/**
 * The statement as kysely's driver uses it, its rows the objects better-sqlite3 would have made (keys in column
 * order; of two columns with one name, the later's value). A statement that returns no rows is handed back as it is.
 */
export function withObjectRows(stmt: SQLite.Statement): DriverStatement {
  if (!stmt.reader) return stmt;
  const make = rowMaker(stmt.columns().map((c) => c.name));
  if (!make) return stmt;
  stmt.raw(true);
  return {
    reader: true,
    all(parameters) {
      const rows = stmt.all(parameters) as unknown[][];
      const out = new Array<unknown>(rows.length);
      for (let i = 0; i < rows.length; i++) out[i] = make(rows[i]!);
      return out;
    },
    run: (parameters) => stmt.run(parameters),
    *iterate(parameters) {
      for (const values of stmt.iterate(parameters) as IterableIterator<unknown[]>) yield make(values);
    },
  };
}

/**
 * A function that makes one row's values into an object literal of these keys: one shape for every row, which V8
 * builds far faster than keys added one by one. Each key is written as a JSON string literal, so a column's name is
 * only ever a key, whatever its text; `__proto__` (which would set the prototype in a literal) gets no maker.
 */
function rowMaker(names: readonly string[]): MakeRow | null {
  if (names.includes('__proto__')) return null;
  const fields = names.map((name, i) => `${JSON.stringify(name)}: values[${i}]`).join(', ');
  return new Function('values', `return { ${fields} };`) as MakeRow;
}
