// What the pipeline benchmarks wait on: the reply to a series in the outbox (its arrival time), the tree
// maintenance going quiet after a run, and a JSON GET on the server.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import type { ServerProcess } from '../../test/helpers/server-process.js';

export const now = () => performance.timeOrigin + performance.now();

/**
 * Resolves with the time the reply to `msgid` is in the outbox (woken by fs.watch, else every `pollMs`). Files in
 * `seen` are not read again; pass one set across calls when the outbox keeps earlier replies.
 */
export async function replyTime(outbox: string, msgid: string, o: { timeoutMs: number; pollMs: number; seen?: Set<string> }): Promise<{ at: number; file: string }> {
  fs.mkdirSync(outbox, { recursive: true });
  const seen = o.seen ?? new Set<string>();
  let wake: (() => void) | null = null;
  const watcher = fs.watch(outbox, () => wake?.());
  const deadline = Date.now() + o.timeoutMs;
  try {
    for (;;) {
      for (const f of fs.readdirSync(outbox)) {
        if (!f.endsWith('.eml') || seen.has(f)) continue;
        const at = now();
        seen.add(f);
        const head = headerText(fs.readFileSync(path.join(outbox, f)));
        if (extractMsgid(headerValue(head, 'in-reply-to')) === msgid) return { at, file: f };
      }
      if (Date.now() > deadline) throw new Error(`no reply to <${msgid}> in ${o.timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, o.pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    watcher.close();
  }
}

/** Waits until every git command of tree maintenance (the slot's reset on release) has exited: the next series starts on a quiet server. */
export async function treesQuiet(data: string): Promise<void> {
  const dir = path.join(data, 'logs', 'trees');
  let last = '';
  for (let i = 0; i < 6000; i++) {
    let text = '';
    try {
      text = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'latin1')).join('');
    } catch {
      // no tree log yet
    }
    const started = (text.match(/^\$ /gm) ?? []).length;
    const exited = (text.match(/^\[exit /gm) ?? []).length;
    if (started === exited && text === last) return;
    last = text;
    await sleep(100);
  }
  throw new Error('tree maintenance did not go quiet in 10 min');
}

export async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
