// A worker's calls to its server, with its own token: uploads of a step's log and artefacts (PUT, the raw bytes
// streamed from the file), and downloads of a run's artefact (a boot on another worker than its build takes the
// kernel and modules images). A server that does not answer, or answers 5xx, is tried again a few times (it may be
// restarting); a refusal is final: 401 (the token was revoked), 409 (the run is over: nothing to add), 4xx.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, unavailable } from '../errors.js';

export interface ServerClientOptions {
  server: string;
  token: string;
  /** Tries of a request the server did not answer (or answered 5xx); default 5, 1 s apart, doubling. */
  tries?: number;
  firstDelayMs?: number;
}

/** The server refused the request for good (status kept): 401 revoked token, 409 run over, 413 too large … */
export class ServerRefused extends AppError {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(status === 401 ? 'unauthenticated' : status === 409 ? 'conflict' : 'invalid', 'server_refused', detail);
  }
}

export class ServerClient {
  constructor(private readonly o: ServerClientOptions) {}

  /** Uploads a step's log as `name` (`build-x86_64.log`) of run `runId`. */
  putLog(runId: number, name: string, file: string, signal?: AbortSignal): Promise<void> {
    return this.put(`/api/worker/runs/${runId}/files/log/${encodeURIComponent(name)}`, file, signal);
  }

  /** Uploads an artefact of build `key` (`bzImage`, `modules.ext2`, `console.log` …). */
  putArtifact(runId: number, key: string, file: string, signal?: AbortSignal): Promise<void> {
    return this.put(`/api/worker/runs/${runId}/files/artifact/${encodeURIComponent(key)}/${encodeURIComponent(path.basename(file))}`, file, signal);
  }

  /** Downloads an artefact of build `key` into `dest` (written beside it, then renamed). */
  async getArtifact(runId: number, key: string, name: string, dest: string, signal?: AbortSignal): Promise<void> {
    await this.retry(`download ${key}/${name} of run ${runId}`, async () => {
      const res = await fetch(this.url(`/api/worker/runs/${runId}/files/artifact/${encodeURIComponent(key)}/${encodeURIComponent(name)}`), {
        headers: this.headers(),
        ...(signal ? { signal } : {}),
      });
      await this.check(res);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const tmp = `${dest}.download-${process.pid}`;
      await pipeline(Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream), fs.createWriteStream(tmp));
      fs.renameSync(tmp, dest);
    });
  }

  private async put(route: string, file: string, signal?: AbortSignal): Promise<void> {
    await this.retry(`upload ${route}`, async () => {
      const size = fs.statSync(file).size;
      const res = await fetch(this.url(route), {
        method: 'PUT',
        headers: { ...this.headers(), 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
        duplex: 'half',
        ...(signal ? { signal } : {}),
      } as RequestInit);
      await this.check(res);
      await res.body?.cancel();
    });
  }

  private url(route: string): string {
    return `${this.o.server}${route}`;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}` };
  }

  private async check(res: Response): Promise<void> {
    if (res.ok) return;
    const body = (await res.json().catch(() => ({}))) as { detail?: unknown };
    const detail = `the server answered ${res.status}${typeof body.detail === 'string' ? `: ${body.detail}` : ''}`;
    if (res.status >= 500) throw unavailable('server_unavailable', detail);
    throw new ServerRefused(res.status, detail);
  }

  private async retry(what: string, fn: () => Promise<void>): Promise<void> {
    const tries = this.o.tries ?? 5;
    let delay = this.o.firstDelayMs ?? 1_000;
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof ServerRefused || (e as Error).name === 'AbortError' || i >= tries) {
          if (e instanceof AppError) throw e;
          throw unavailable('server_unreachable', `${what}: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }
}
