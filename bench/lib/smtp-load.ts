// The SMTP benchmarks' sending side (bench/smtp-intake, bench/fuzz): clean patch mails as git send-email writes them,
// persistent sessions that each take the next message until none is left, and the wait until every stored mail has
// left state `stored`, with what the database holds then.
import path from 'node:path';
import { openDatabase } from '../../src/db/database.js';
import { DEMO } from '../../test/helpers/dirs.js';
import { ConnectionLost, SmtpSession } from '../../test/helpers/smtp-client.js';

const SUBSYSTEMS = ['sched', 'mm', 'fs/proc', 'kernel/fork', 'drivers/misc', 'net/core', 'lib', 'init'];
const WORDS = 'the task walks its children and counts them under the tasklist lock so that no child can exit during the walk'.split(' ');

/** A mail as git send-email sends one patch of a series: its headers, a commit message, a diffstat and a unified diff. */
export function patchMail(n: number, rand: () => number, list = DEMO.list): { msgid: string; raw: Buffer } {
  const series = Math.floor(n / 5);
  const index = (n % 5) + 1;
  const student = series % 60;
  const subsystem = SUBSYSTEMS[series % SUBSYSTEMS.length]!;
  const email = `student${student}@students.example.org`;
  const stamp = `2026112610${String(series % 60).padStart(2, '0')}00.${100000 + series}`;
  const msgid = `${stamp}-${index}-${email}`;
  const target = Math.round((5 + 45 * rand() ** 2) * 1024); // 5-50 KB, most of them small, as real patches
  const sentence = () => Array.from({ length: 8 + Math.floor(rand() * 8) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  const file = `${subsystem}/proctree_${series % 97}.c`;
  const diff: string[] = [`diff --git a/${file} b/${file}`, `index 3f2a1b4c5d6e..9a8b7c6d5e4f 100644`, `--- a/${file}`, `+++ b/${file}`];
  let size = 2000;
  let line = 10;
  while (size < target) {
    const added = 3 + Math.floor(rand() * 12);
    const hunk = [`@@ -${line},6 +${line},${6 + added} @@ static int proctree_walk_${line}(struct task_struct *task)`, ' {', '\tstruct task_struct *child;', '\tint count = 0;'];
    for (let i = 0; i < added; i++) hunk.push(`+\tcount += proctree_helper_${line}_${i}(child, ${Math.floor(rand() * 1000)}); /* ${sentence()} */`);
    hunk.push(' \tread_lock(&tasklist_lock);', ' \treturn count;', ' }');
    diff.push(...hunk);
    size += hunk.reduce((s, l) => s + l.length + 1, 0);
    line += 40;
  }
  const headers = [
    `From: Student ${student} <${email}>`,
    `To: ${list}`,
    'Cc: Teacher <teacher@example.org>',
    `Subject: [PATCH v2 ${index}/5] ${subsystem}: walk step ${index} of series ${series}`,
    `Date: Thu, 26 Nov 2026 10:${String(series % 60).padStart(2, '0')}:0${index} +0000`,
    `Message-Id: <${msgid}>`,
    'X-Mailer: git-send-email 2.39.5',
    ...(index > 1 ? [`In-Reply-To: <${stamp}-1-${email}>`, `References: <${stamp}-1-${email}>`] : []),
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
  ];
  const body = [
    `${sentence()}.`,
    '',
    `${sentence()}, ${sentence()}.`,
    '',
    `Signed-off-by: Student ${student} <${email}>`,
    '---',
    ` ${file} | ${diff.length} ++++++++`,
    ' 1 file changed',
    '',
    ...diff,
    '-- ',
    '2.39.5',
  ];
  return { msgid, raw: Buffer.from(headers.join('\n') + '\n\n' + body.join('\n') + '\n') };
}

export interface Sent {
  /** Indexes of the payloads acknowledged with 250. */
  acked: number[];
  /** Indexes refused (any other reply) or cut off with the connection. */
  refused: number[];
  /** DATA-end -> reply, ms, of every acknowledged payload. */
  latencies: number[];
  seconds: number;
}

/**
 * Sends the payloads (DATA bytes: smtp-client's dataPayload) over `connections` persistent sessions, each taking the
 * next payload until none is left or `deadline` (ms since the epoch) passes. With `strict`, any refusal throws (clean
 * mail must all go through); otherwise it is counted, and a lost connection is opened again.
 */
export async function sendAll(port: number, payloads: Buffer[], o: { connections: number; deadline: number; strict: boolean; from?: string; to?: string }): Promise<Sent> {
  const sent: Sent = { acked: [], refused: [], latencies: [], seconds: 0 };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.connections }, async () => {
      let session: SmtpSession | null = null;
      for (let i = next++; i < payloads.length; i = next++) {
        if (Date.now() > o.deadline) throw new Error('time limit reached while sending');
        session ??= await SmtpSession.open(port);
        if (!session.alive) throw new Error(`not greeted: ${session.greeting?.text}`);
        try {
          const reply = await session.send(o.from ?? 'student@students.example.org', [o.to ?? DEMO.list], payloads[i]!);
          if (reply.code === 250) {
            sent.acked.push(i);
            sent.latencies.push(reply.dataMs);
          } else if (o.strict) {
            throw new Error(`message ${i} refused: ${reply.text}`);
          } else {
            sent.refused.push(i);
          }
        } catch (e) {
          if (o.strict || !(e instanceof ConnectionLost)) throw e;
          sent.refused.push(i);
          session = null;
        }
      }
      await session?.quit();
    }),
  );
  sent.seconds = (performance.now() - t0) / 1000;
  return sent;
}

export interface Processed {
  /** Every row: its Message-ID and state. */
  rows: { msgid: string; state: string }[];
  /** Rows per state. */
  states: Record<string, number>;
}

/** Waits until no mail of the data folder is in state `stored` (checking every 50 ms), then reads every row. */
export async function waitProcessed(data: string, deadline: number): Promise<Processed> {
  const { db, sqlite } = openDatabase(path.join(data, 'patchbay.sqlite'));
  try {
    const stored = sqlite.prepare<[], { n: number }>("select count(*) as n from mails where state = 'stored'");
    for (;;) {
      if (Date.now() > deadline) throw new Error('time limit reached while waiting for processing');
      if (stored.get()!.n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const rows = sqlite.prepare<[], { msgid: string; state: string }>('select msgid, state from mails').all();
    const states: Record<string, number> = {};
    for (const r of rows) states[r.state] = (states[r.state] ?? 0) + 1;
    return { rows, states };
  } finally {
    await db.destroy();
  }
}
