// Maintainers' forms on the series and patch pages, carried out as the REST API's writes with the signed-in user as
// the principal: the same permission rules (maintainers, and for a patch also its delegate and submitter) and the
// same events (patch-state-changed, patch-delegated …) as a PATCH on /api/patches/N/.
import type { Principal } from '../api/auth.service.js';
import type { Body } from '../api/api-write.service.js';
import { patchesOfSeriesList } from '../db/api-patch.repository.js';
import { seriesRows } from '../db/api-series.repository.js';
import { getRun } from '../db/pipeline.repository.js';
import { getUser } from '../db/user.repository.js';
import { forbidden, invalid, notFound } from '../errors.js';
import type { Viewer } from './viewer.js';
import type { WebContext } from './web-context.js';

export type Form = Record<string, unknown> | null | undefined;

/** A form field given once is a string, given twice a list: the last one counts (as the API reads forms). */
function field(form: Form, name: string): string | undefined {
  const v = form?.[name];
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return typeof last === 'string' ? last : undefined;
}

const has = (form: Form, name: string) => !!form && Object.prototype.hasOwnProperty.call(form, name);

export const SERIES_OPS = ['link', 'unlink', 'state', 'archive', 'cancel-run', 'rerun'] as const;

export class ActionsService {
  constructor(private readonly ctx: WebContext) {}

  /** The viewer as the API's principal, read afresh (a role changed since the page was drawn counts now). */
  private async principal(viewer: Viewer): Promise<Principal> {
    const u = viewer.user ? await getUser(this.ctx.db, viewer.user.id) : undefined;
    if (!u) throw forbidden('not_authenticated', 'Log in first.');
    return u;
  }

  private apiCtx(requestBase: string) {
    return this.ctx.api.api.ctx(this.ctx.urls.base || requestBase, null);
  }

  /**
   * The patch form: state, delegate ('' for nobody) and the `archived` checkbox. A browser leaves an unticked box
   * out, so with the rest of the form present its absence means "not archived"; a post of the box alone sets it.
   */
  async patch(viewer: Viewer, id: number, form: Form, requestBase: string): Promise<void> {
    const who = await this.principal(viewer);
    const body: Body = {};
    const state = field(form, 'state');
    if (state) body.state = state;
    if (has(form, 'delegate')) body.delegate = field(form, 'delegate') ?? '';
    if (has(form, 'archived')) body.archived = field(form, 'archived') === '1' || field(form, 'archived') === 'on' ? 'true' : 'false';
    else if (state !== undefined || has(form, 'delegate')) body.archived = 'false';
    if (!Object.keys(body).length) throw invalid('action_empty', 'The form changed nothing: give a state, a delegate or archived.');
    await this.ctx.api.writes.updatePatch(this.apiCtx(requestBase), id, body, who);
  }

  /**
   * op=link (previous=ID), op=unlink, op=state (state=S on every patch of the series), op=archive, and for a run of
   * the series (run=ID) op=cancel-run or op=rerun.
   */
  async series(viewer: Viewer, id: number, form: Form, requestBase: string): Promise<void> {
    const who = await this.principal(viewer);
    const op = field(form, 'op');
    const writes = this.ctx.api.writes;
    switch (op) {
      case 'link': {
        const previous = field(form, 'previous') ?? '';
        if (!/^\d{1,15}$/.test(previous.trim())) throw invalid('action_previous', 'Choose the earlier revision (a series id) to link to.');
        await writes.linkRevision(id, Number(previous), who);
        return;
      }
      case 'unlink':
        await writes.unlinkRevision(id, who);
        return;
      case 'state':
      case 'archive': {
        const state = field(form, 'state');
        if (op === 'state' && !state) throw invalid('action_state', 'Choose a state.');
        if (!(await seriesRows(this.ctx.db, [id])).length) throw notFound('series_not_found', 'No Series matches the given query.');
        const ctx = this.apiCtx(requestBase);
        const body: Body = op === 'state' ? { state } : { archived: 'true' };
        for (const p of await patchesOfSeriesList(this.ctx.db, [id])) await writes.updatePatch(ctx, p.id, body, who);
        return;
      }
      case 'cancel-run':
      case 'rerun': {
        // The run named by the form, of this series only (a run of another series is no run of this page's).
        const raw = field(form, 'run') ?? '';
        const run = /^\d{1,15}$/.test(raw.trim()) ? await getRun(this.ctx.db, Number(raw)) : undefined;
        if (!run || run.series_id !== id) throw notFound('no_such_run', `series ${id} has no run ${raw.slice(0, 20)}`);
        if (op === 'cancel-run') await writes.cancelRun(run.id, who);
        else await writes.rerun(run.id, who);
        return;
      }
      default:
        throw invalid('action_op', `op must be one of ${SERIES_OPS.join(', ')}`);
    }
  }
}
