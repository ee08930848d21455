// The engine's side of the LAVA runner (issue 15): what each boot's step needs to use the server (the per-run secret
// of the artefact URLs the LAVA worker downloads from, the project's job limit), the live state of every LAVA job
// the steps report (for the series and queue pages), and the cancel of a run's jobs on the server when the run is
// cancelled (a newer revision, a maintainer): the step's thread is stopped then and cannot do it itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import type { LavaSettings } from '../../config/config.js';
import type { Logger } from '../../log.js';
import { LavaClient } from './lava-client.js';
import type { LavaStepSettings } from './lava-run.js';
import { freeSlotsOf, heldSlots } from './lava-slots.js';
import { LAVA_CHANNEL, wakeFollowers, type LavaStateMessage } from './lava-state.js';

export interface LavaJobsOptions {
  settings: LavaSettings;
  dataDir: string;
  /** patchbay's own public base URL (--base-url): the LAVA worker downloads the artefacts from it. */
  baseUrl: () => string;
  log: Logger;
}

export class LavaJobs {
  private readonly client: LavaClient;
  private readonly live = new Map<number, Map<string, LavaStateMessage>>();
  private readonly channel: BroadcastChannel;
  private readonly key: Buffer;
  private readonly slotsRoot: string;

  constructor(private readonly o: LavaJobsOptions) {
    this.client = new LavaClient({ url: o.settings.url, token: o.settings.token });
    this.key = artifactsKey(o.dataDir);
    this.slotsRoot = path.join(o.dataDir, 'lava', 'slots');
    this.channel = new BroadcastChannel(LAVA_CHANNEL);
    this.channel.onmessage = (ev: unknown) => this.note((ev as { data: LavaStateMessage }).data);
    this.channel.unref();
  }

  /** What the test step of `key` in run `runId` gets. */
  stepSettings(runId: number, key: string, slug: string, maxJobs: number): LavaStepSettings {
    const s = this.o.settings;
    return {
      server: { url: s.url, token: s.token },
      retries: s.retries,
      startWaitMs: s.startWaitMs,
      pollMs: s.pollMs,
      maxJobs,
      slotsDir: path.join(this.slotsRoot, slug),
      artifactsUrl: `${this.o.baseUrl()}/runs/${runId}/lava/${this.secret(runId)}/${encodeURIComponent(key)}/`,
      notifyUrl: `${this.o.baseUrl()}/runs/${runId}/lava/${this.secret(runId)}/notify`,
    };
  }

  /** The per-run secret of the artefact URLs given to LAVA: HMAC of the run id under this server's own key. */
  secret(runId: number): string {
    return crypto.createHmac('sha256', this.key).update(`patchbay lava artifacts run ${runId}`).digest('hex').slice(0, 32);
  }

  /** LAVA's notify callback for a job of run `runId` (its secret checked by the route): its followers poll at once. */
  notified(runId: number): void {
    wakeFollowers(runId);
  }

  verify(runId: number, secret: string): boolean {
    const want = Buffer.from(this.secret(runId));
    const got = Buffer.from(secret);
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  }

  /** The LAVA jobs of a run as the steps last told them, by build key. */
  states(runId: number): LavaStateMessage[] {
    return [...(this.live.get(runId)?.values() ?? [])];
  }

  /** Every live LAVA job (the admin's queue page), and the slots the projects' boots hold. */
  all(): { jobs: LavaStateMessage[]; slots: { slug: string; runId: number; key: string }[] } {
    const jobs = [...this.live.values()].flatMap((m) => [...m.values()]);
    const slots = fs.existsSync(this.slotsRoot)
      ? fs.readdirSync(this.slotsRoot).flatMap((slug) => heldSlots(path.join(this.slotsRoot, slug)).map((h) => ({ slug, ...h })))
      : [];
    return { jobs, slots };
  }

  /** The run is cancelled: its unfinished LAVA jobs are cancelled on the server and its slots freed. */
  async cancelRun(runId: number): Promise<void> {
    const jobs = this.states(runId).filter((j) => j.jobId !== null && j.state !== 'finished');
    this.live.delete(runId);
    if (fs.existsSync(this.slotsRoot)) for (const slug of fs.readdirSync(this.slotsRoot)) freeSlotsOf(path.join(this.slotsRoot, slug), runId);
    await Promise.all(
      jobs.map(async (j) => {
        try {
          await this.client.cancel(j.jobId!);
          this.o.log.info({ run: runId, build: j.key, lavaJob: j.jobId }, 'LAVA job cancelled with its run');
        } catch (err) {
          this.o.log.warn({ err, run: runId, lavaJob: j.jobId }, 'could not cancel the LAVA job of a cancelled run');
        }
      }),
    );
  }

  close(): void {
    this.channel.close();
  }

  private note(m: LavaStateMessage): void {
    if (!m || !Number.isInteger(m.runId) || typeof m.key !== 'string') return;
    let byKey = this.live.get(m.runId);
    if (!byKey) this.live.set(m.runId, (byKey = new Map()));
    // A finished job is no longer live: its step's outputs keep its id and link.
    if (m.state === 'finished') byKey.delete(m.key);
    else byKey.set(m.key, m);
    if (!byKey.size) this.live.delete(m.runId);
  }
}

/** This server's key for the artefact secrets, made once (DATA/lava/artifacts.key, 0600). */
function artifactsKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'lava', 'artifacts.key');
  try {
    return fs.readFileSync(file);
  } catch {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      fs.writeFileSync(file, crypto.randomBytes(32), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return fs.readFileSync(file);
  }
}
