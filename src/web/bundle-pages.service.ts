// The bundle page at /bundle/OWNER/NAME/ (the API's bundle `web_url`, Patchwork's bundle-detail): its patches in
// order, with links to each patch and to the bundle's mbox; a public bundle for anyone, a private one for its owner.
import type { Project } from '../config/projects.js';
import type { Db } from '../db/database.js';
import { embeddedPatches, inOrder } from '../db/api-patch.repository.js';
import { bundlePatchIds, findBundle } from '../db/bundle.repository.js';
import { findUserByUsername } from '../db/user.repository.js';
import { notFound } from '../errors.js';
import { archiveRoot, msgidSegment } from '../mail/archive-layout.js';
import type { Page } from './series-pages.service.js';
import type { Viewer } from './viewer.js';

export interface BundlePagesService {
  bundlePage(owner: string, name: string, viewer: Viewer): Promise<Page>;
}

export function createBundlePagesService(deps: { db: Db; projects: readonly (Project & { id: number })[] }): BundlePagesService {
  const { db } = deps;
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  return {
    async bundlePage(owner, name, viewer) {
      const user = await findUserByUsername(db, owner);
      const bundle = user && (await findBundle(db, user.id, name));
      // Someone else's private bundle does not exist for the viewer (the API answers 404 too).
      if (!user || !bundle || (bundle.public !== 1 && bundle.owner_id !== viewer.user?.id)) throw notFound('bundle_not_found', `no bundle ${name} of ${owner}`);
      const project = byId.get(bundle.project_id);
      const ids = (await bundlePatchIds(db, [bundle.id])).get(bundle.id) ?? [];
      const patches = inOrder(ids, await embeddedPatches(db, ids)).map((p) => ({
        name: p.name,
        date: p.date,
        href: `/project/${byId.get(p.project_id)?.slug ?? ''}/patch/${msgidSegment(p.msgid)}/`,
      }));
      const base = `/bundle/${encodeURIComponent(user.username)}/${encodeURIComponent(bundle.name)}/`;
      return {
        frame: { title: `Bundle ${bundle.name}`, viewer, project: project ? { slug: project.slug, name: project.name, archive: archiveRoot(project.slug) } : null },
        data: {
          bundle: { name: bundle.name, owner: [user.first_name, user.last_name].filter(Boolean).join(' ') || user.username, public: bundle.public === 1, mbox: `${base}mbox/` },
          patches,
        },
      };
    },
  };
}
