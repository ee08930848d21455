// Parses mail in worker threads (piscina), so that MIME decoding runs beside the database work of the main thread.
import { Piscina } from 'piscina';
import { parseMessage, type ParsedMessage } from './parse.js';

/** Parses several messages; one task per batch keeps the per-task cost of the pool small. */
export type Parse = (raws: Buffer[]) => Promise<ParsedMessage[]>;

export interface ParserPool {
  parse: Parse;
  destroy(): Promise<void>;
}

/** `threads` workers; 0 parses on the calling thread (tests, one-core machines). */
export function createParserPool(threads: number): ParserPool {
  if (threads <= 0) return { parse: (raws) => Promise.all(raws.map(parseMessage)), destroy: async () => {} };
  const pool = new Piscina({
    filename: new URL('./parse.worker.ts', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // The sources are TypeScript: each worker loads them through tsx as the main thread does.
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), '--import', 'tsx'],
  });
  return {
    parse: (raws) => pool.run(raws) as Promise<ParsedMessage[]>,
    destroy: () => pool.destroy(),
  };
}
