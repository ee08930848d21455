// GET /runs/R/ for a browser: the run as a page (its series, state, lane, steps with their logs and workers, its
// artefacts), with the Cancel or Retry button for admins (run-admin.route.ts), Cancel or Run again for the project's
// maintainers (the series page's form, actions.service.ts). Scripts keep the JSON of runs.route.ts
// at the same URL.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { archiveRoot } from '../mail/archive-layout.js';
import type { RunAdminService } from '../pipeline/run-admin.service.js';
import type { RunViewService } from '../pipeline/run-view.service.js';
import { DONE_TEXT } from './admin.service.js';
import { runRow, stepRow } from './run-rows.js';
import type { Views } from './views.js';
import { canMaintain, viewerOf } from './viewer.js';

/** Renders the run's page (runs.route.ts calls it for a browser's GET /runs/R/). */
export type RunPage = (req: FastifyRequest, reply: FastifyReply, runId: number) => Promise<FastifyReply>;

export interface RunPageDeps {
  views: Views;
  runs: RunViewService;
  runAdmin?: RunAdminService | null;
  projects: readonly { id: number; slug: string; name: string; maintainers: readonly string[] }[];
}

export function createRunPage(deps: RunPageDeps): RunPage {
  return async (req, reply, runId) => {
    const run = await deps.runs.run(runId);
    const viewer = viewerOf(req);
    const board = deps.runAdmin ? await deps.runAdmin.run(runId) : null;
    const project = board?.project ? deps.projects.find((p) => p.id === board.project!.id) : undefined;
    const isAdmin = viewer.user?.role === 'admin' && board !== null;
    const done = typeof (req.query as { done?: unknown } | undefined)?.done === 'string' ? DONE_TEXT[(req.query as { done: string }).done] : undefined;
    const html = deps.views.render(
      'run',
      { title: `Run ${run.id}`, viewer, project: project ? { slug: project.slug, name: project.name, archive: archiveRoot(project.slug) } : null, scripts: ['keys.js'] },
      {
        run: {
          ...runRow(run),
          queue: run.queue,
          json: `/runs/${run.id}/?format=json`,
        },
        series: board?.series ?? { id: run.series, name: null, version: null, submitter: null },
        seriesHref: `/series/${run.series}/`,
        steps: run.steps.map((s) => stepRow(run.id, s)),
        artifacts: run.artifacts.map((a) => ({ path: a.path, bytes: a.bytes, href: `/runs/${run.id}/artifacts/${a.path.split('/').map(encodeURIComponent).join('/')}` })),
        // The project's maintainers cancel or run the series again through the series page's form (the API's writes).
        maintain:
          !isAdmin && project && board && canMaintain(viewer, project)
            ? {
                action: `/actions/series/${run.series}/`,
                canCancel: board.canCancel,
                canRerun: !board.canCancel && board.newerRun === null && !board.superseded,
                newerRun: board.newerRun,
              }
            : null,
        admin: isAdmin ? { canCancel: board.canCancel, canRetry: board.canRetry, newerRun: board.newerRun, superseded: board.superseded, back: `/runs/${run.id}/` } : null,
        done: done ?? null,
      },
    );
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('vary', 'Accept, Cookie').send(html);
  };
}
