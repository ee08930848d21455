// The checkpointer's thread (checkpointer.ts): a connection of its own that copies the WAL into the database file
// every `everyMs`, so that copying and its two fsyncs never hold the thread that answers SMTP and HTTP.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

export interface CheckpointerData {
  file: string;
  everyMs: number;
}

const { file, everyMs } = workerData as CheckpointerData;
const db = new SQLite(file);
db.pragma('busy_timeout = 5000');

// PASSIVE: copies what no reader still needs and never waits for a writer; a WAL with nothing new costs a lock and a
// look at its index, and no fsync.
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
}, everyMs);

parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
