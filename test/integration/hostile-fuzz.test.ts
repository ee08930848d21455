// A seeded fuzzer's hostile mails (test/helpers/mail-fuzz.ts) against the real server as a process, for a bounded
// time, while probes check that /healthz answers within 1 s and a fresh SMTP client gets its banner and EHLO within
// 2 s; afterwards every acknowledged mail is stored once and each is filed, marked or quarantined.
// PATCHBAY_FUZZ_SEED replays a run; PATCHBAY_FUZZ_SECONDS sets how long mail is sent (10 by default).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { fixtureMails, fuzzer, type FuzzCase } from '../helpers/mail-fuzz.js';
import { maxOf, startProbes } from '../helpers/probes.js';
import { withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { ConnectionLost, dataPayload, SmtpSession } from '../helpers/smtp-client.js';
import { waitFor } from '../helpers/wait.js';

const SEED = Number(process.env.PATCHBAY_FUZZ_SEED ?? 20261211);
const SECONDS = Number(process.env.PATCHBAY_FUZZ_SECONDS ?? 10);
const SESSIONS = 2;
const FINAL = new Set(['processed', 'held', 'rejected', 'malformed', 'quarantined']);

describe('hostile mail fuzzing', () => {
  let server: ServerProcess;
  let data: string;
  before(async () => {
    data = tempDir();
    server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0', '--mail-time-budget', '1', '--mail-attempts', '2']);
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'the server stops cleanly after the fuzzing');
  });

  it(`keeps /healthz within 1 s and SMTP within 2 s under ${SECONDS} s of seeded hostile mail (seed ${SEED}); every acknowledged mail is stored once, then filed, marked or quarantined`, async () => {
    const next = fuzzer(SEED, await fixtureMails());
    const acked: FuzzCase[] = [];
    const refused: string[] = [];
    const probes = startProbes(server, { healthzEveryMs: 200, smtpEveryMs: 500 });
    const deadline = Date.now() + SECONDS * 1000;
    try {
      await Promise.all(
        Array.from({ length: SESSIONS }, async () => {
          let session: SmtpSession | null = null;
          while (Date.now() < deadline) {
            const c = next();
            session ??= await SmtpSession.open(server.smtpPort);
            try {
              const reply = await session.send('fuzz@fuzz.example.org', [DEMO.list], dataPayload(c.raw));
              if (reply.code === 250) acked.push(c);
              else refused.push(`${c.n} ${c.mutations.join('+')}: ${reply.text}`);
            } catch (e) {
              // Dropped mid-transaction: not acknowledged, so nothing is owed; the next mail gets a new connection.
              if (!(e instanceof ConnectionLost)) throw e;
              session = null;
            }
          }
          await session?.quit();
        }),
      );
      await waitFor('every acknowledged mail to leave state stored', async () => (await withDb(data, (db) => db.selectFrom('mails').select('id').where('state', '=', 'stored').execute())).length === 0, 240_000);
    } finally {
      const probed = await probes.stop();
      const states = await withDb(data, (db) => db.selectFrom('mails').select(({ fn }) => ['state', fn.countAll<number>().as('n')]).groupBy('state').execute());
      console.log(
        `seed ${SEED}: ${acked.length} acknowledged, ${refused.length} refused; states ${JSON.stringify(Object.fromEntries(states.map((s) => [s.state, s.n])))};`,
        `/healthz slowest ${maxOf(probed.healthz).toFixed(0)} ms of ${probed.healthz.length}, SMTP slowest ${maxOf(probed.smtp).toFixed(0)} ms of ${probed.smtp.length}`,
      );
      assert.deepEqual(probed.failures, [], 'every probe answered');
      assert.ok(maxOf(probed.healthz) < 1000, `/healthz answered within 1 s (slowest ${maxOf(probed.healthz).toFixed(0)} ms)`);
      assert.ok(maxOf(probed.smtp) < 2000, `SMTP greeted and answered EHLO within 2 s (slowest ${maxOf(probed.smtp).toFixed(0)} ms)`);
    }
    assert.ok(acked.length >= 50, `enough mail went through to mean something (${acked.length})`);

    const rows = await withDb(data, (db) => db.selectFrom('mails').select(['msgid', 'state', 'msgid_generated']).execute());
    // Each mail carries a Message-ID of its own (or none, when a mutation broke it, and then the server makes one):
    // one row per acknowledged mail, and each of the fuzzer's Message-IDs that survived is there.
    assert.equal(rows.length, acked.length, 'one stored row per acknowledged mail');
    const stored = new Set(rows.map((r) => r.msgid));
    for (const c of acked) {
      const id = /^Message-ID: <(fuzz-\d+-\d+@fuzz\.example\.org)>$/m.exec(c.raw.toString('latin1').split(/\r?\n\r?\n/)[0]!)?.[1];
      if (id && c.mutations.every((m) => !['truncate', 'byte-flips', 'cr-chaos', 'header-ends-early', 'folding-garbage', 'repeat-field'].includes(m))) {
        assert.ok(stored.has(id), `mail ${c.n} (${c.mutations.join('+')}) stored`);
      }
    }
    const open = rows.filter((r) => !FINAL.has(r.state));
    assert.deepEqual(open, [], 'every mail filed, marked or quarantined');
  });
});
