// The HTTP client of a LAVA 2023.01 server's REST API v0.2 (doc/v2/restapi.rst): submit, read a job, its suites,
// test cases and log, cancel. Every request sends `Authorization: Token …` and has its own timeout. What the server
// answers is read by ./lava-answers.ts; a server that does not answer, or answers 5xx, is `lava_unreachable`, a
// submit it refuses (4xx) `lava_refused`: both the lab's failures, never the student's.
import { AppError } from '../../errors.js';
import { parseCases, parseJob, parsePage, parseSubmitted, type LavaCase, type LavaJob } from './lava-answers.js';

export interface LavaServer {
  /** The server's root, e.g. http://lava.example.org (no trailing slash). */
  url: string;
  token: string;
}

/** Most pages of suites or tests read for one job (50 rows a page): a job with more is not one of ours. */
const MAX_PAGES = 40;
/** The most of a job log read (the console of one test run is far below). */
const MAX_LOG_BYTES = 64 * 1024 * 1024;

export class LavaClient {
  constructor(
    private readonly server: LavaServer,
    private readonly timeoutMs = 30_000,
  ) {}

  /** The job's page on the server, for people. */
  jobUrl(id: number): string {
    return `${this.server.url}/scheduler/job/${id}`;
  }

  async submit(definition: string, signal?: AbortSignal): Promise<number> {
    const res = await this.request('POST', '/api/v0.2/jobs/', { body: JSON.stringify({ definition }), signal });
    if (res.status >= 400 && res.status < 500) {
      const text = await res.text();
      throw new AppError('invalid', 'lava_refused', `the LAVA server refused the job (HTTP ${res.status}): ${messageOf(text)}`);
    }
    return parseSubmitted(await this.json(res, 'the submit'));
  }

  async job(id: number, signal?: AbortSignal): Promise<LavaJob> {
    return parseJob(await this.json(await this.request('GET', `/api/v0.2/jobs/${id}/`, { signal }), `job ${id}`));
  }

  /** Every test case of the job with its suite's name. */
  async cases(id: number, signal?: AbortSignal): Promise<LavaCase[]> {
    const suites = await this.pages(`/api/v0.2/jobs/${id}/suites/`, `the suites of job ${id}`, signal);
    const tests = await this.pages(`/api/v0.2/jobs/${id}/tests/`, `the tests of job ${id}`, signal);
    return parseCases(suites, tests);
  }

  /** The job's log (YAML, one record a line). */
  async log(id: number, signal?: AbortSignal): Promise<string> {
    const res = await this.request('GET', `/api/v0.2/jobs/${id}/logs/`, { signal });
    // A job that never started has no log file: LAVA answers 404.
    if (res.status === 404) return '';
    await this.check(res, `the log of job ${id}`);
    const text = await res.text();
    return text.length > MAX_LOG_BYTES ? text.slice(0, MAX_LOG_BYTES) : text;
  }

  /** 2023.01 cancels with a GET on `…/cancel/` (lava_rest_app/v02/views.py); it answers 200 even for a finished job. */
  async cancel(id: number, signal?: AbortSignal): Promise<void> {
    await this.check(await this.request('GET', `/api/v0.2/jobs/${id}/cancel/`, { signal }), `the cancel of job ${id}`);
  }

  private async pages(first: string, what: string, signal?: AbortSignal): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    let next: string | null = first;
    for (let i = 0; next && i < MAX_PAGES; i++) {
      // `next` is absolute, as the server sees itself: only its path and query are used, on our URL.
      const u: URL = new URL(next, this.server.url);
      const page = parsePage(await this.json(await this.request('GET', `${u.pathname}${u.search}`, { signal }), what), what);
      rows.push(...page.results);
      next = page.next;
    }
    return rows;
  }

  private async request(method: string, pathAndQuery: string, o: { body?: string; signal?: AbortSignal | undefined }): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    try {
      return await fetch(`${this.server.url}${pathAndQuery}`, {
        method,
        headers: { authorization: `Token ${this.server.token}`, accept: 'application/json', ...(o.body ? { 'content-type': 'application/json' } : {}) },
        ...(o.body ? { body: o.body } : {}),
        signal,
        redirect: 'error',
      });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      const why = timeout.aborted ? `no answer in ${Math.round(this.timeoutMs / 1000)} s` : causeOf(e);
      throw new AppError('unavailable', 'lava_unreachable', `the LAVA server ${this.server.url} does not answer ${method} ${pathAndQuery.split('?')[0]}: ${why}`);
    }
  }

  private async check(res: Response, what: string): Promise<void> {
    if (res.ok) return;
    const text = await res.text().catch(() => '');
    const kind = res.status >= 500 || res.status === 429 ? 'unavailable' : 'internal';
    throw new AppError(kind, 'lava_unreachable', `the LAVA server answered HTTP ${res.status} to ${what}: ${messageOf(text)}`);
  }

  private async json(res: Response, what: string): Promise<unknown> {
    await this.check(res, what);
    try {
      return await res.json();
    } catch (e) {
      throw new AppError('internal', 'lava_unreachable', `the LAVA server's answer to ${what} is not JSON: ${causeOf(e)}`);
    }
  }
}

/** LAVA's `{"message": …}` or `{"detail": …}`, else the start of the body. */
function messageOf(text: string): string {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const m = o.message ?? o.detail;
    if (typeof m === 'string') return m;
    return JSON.stringify(o).slice(0, 500);
  } catch {
    return text.replace(/\s+/g, ' ').trim().slice(0, 500) || '(empty)';
  }
}

function causeOf(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}
