// Worker-thread entry of the parser pool: parses a batch of raw messages (see parser-pool.ts).
import { parseMessage, type ParsedMessage } from './parse.js';

export default function parse(raws: Uint8Array[]): Promise<ParsedMessage[]> {
  return Promise.all(raws.map((raw) => parseMessage(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength))));
}
