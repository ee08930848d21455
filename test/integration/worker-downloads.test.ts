// A worker's own HTTP client against the real routes (src/queue/server-client.ts): it uploads a build's image and a
// boot on another worker downloads it back with its token; a missing artefact, a bad name, a revoked token and a run
// that is over are refused for good (no retries), each with its status.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRun, finishRun, startRun } from '../../src/db/pipeline.repository.js';
import { ServerClient, ServerRefused } from '../../src/queue/server-client.js';
import { tempDir } from '../helpers/dirs.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

describe("a worker's uploads and downloads through its client", () => {
  let w: WebApp;
  let base: string;
  let runId: number;
  let lab1: ServerClient;
  let lab2: ServerClient;
  const scratch = tempDir('patchbay-worker-client-');

  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
    runId = await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'build', job: 'x86_64' }, { step: 'test', job: 'x86_64' }] });
    await startRun(w.h.db, runId);
    lab1 = new ServerClient({ server: base, token: await w.workerTokens.create('lab-1'), tries: 2, firstDelayMs: 10 });
    lab2 = new ServerClient({ server: base, token: await w.workerTokens.create('lab-2'), tries: 2, firstDelayMs: 10 });
  });
  after(async () => {
    await w?.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const refused = (status: number) => (e: unknown) => e instanceof ServerRefused && e.status === status;

  it("takes one worker's kernel image to another: uploaded by the builder, downloaded byte for byte by the booter", async () => {
    const image = path.join(scratch, 'lab-1', 'bzImage');
    fs.mkdirSync(path.dirname(image), { recursive: true });
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 0);
    for (let i = 0; i < bytes.length; i += 4099) bytes[i] = i % 251;
    fs.writeFileSync(image, bytes);
    await lab1.putArtifact(runId, 'x86_64', image);
    const dest = path.join(scratch, 'lab-2', 'artifacts', `run-${runId}`, 'x86_64', 'bzImage');
    await lab2.getArtifact(runId, 'x86_64', 'bzImage', dest);
    assert.ok(fs.readFileSync(dest).equals(bytes));
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), ['bzImage']);
  });

  it('refuses a missing artefact (404) and a name of the wrong shape (400), without retrying', async () => {
    const dest = path.join(scratch, 'none');
    await assert.rejects(lab2.getArtifact(runId, 'x86_64', 'modules.ext2', dest), refused(404));
    await assert.rejects(lab2.getArtifact(runId, 'x86_64', '.config', dest), refused(400));
    assert.ok(!fs.existsSync(dest));
  });

  it("refuses a revoked worker's download and upload (401), and takes no more files for a run that is over (409)", async () => {
    await w.workerTokens.revoke('lab-2');
    await assert.rejects(lab2.getArtifact(runId, 'x86_64', 'bzImage', path.join(scratch, 'revoked')), refused(401));
    const log = path.join(scratch, 'test-x86_64.log');
    fs.writeFileSync(log, 'booted\n');
    await assert.rejects(lab2.putLog(runId, 'test-x86_64.log', log), refused(401));
    await finishRun(w.h.db, runId, { outcome: 'pass', base: null, reportMsgid: null, reason: null });
    await assert.rejects(lab1.putLog(runId, 'test-x86_64.log', log), refused(409));
    // What the run kept stays readable.
    await lab1.getArtifact(runId, 'x86_64', 'bzImage', path.join(scratch, 'after'));
  });
});
