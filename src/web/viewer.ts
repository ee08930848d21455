// Who is looking at a page: the signed-in user (from the session cookie) or nobody, and the CSRF token every form
// carries. The session plugin (src/web/routes/session.route.ts) sets request.viewer before any page route runs.
import type { FastifyRequest } from 'fastify';
import type { UserRole } from '../db/api-schema.js';

export interface ViewerUser {
  id: number;
  username: string;
  /** Display name (first + last name, or the username). */
  name: string;
  email: string;
  role: UserRole;
}

export interface Viewer {
  user: ViewerUser | null;
  /** The session's CSRF token (a random value, also in the session row); '' when there is no session. */
  csrf: string;
}

export const ANONYMOUS: Viewer = Object.freeze({ user: null, csrf: '' });

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
  }
}

export function viewerOf(req: FastifyRequest): Viewer {
  return req.viewer ?? ANONYMOUS;
}

/**
 * As the API's `maintains`: admins, and the users listed in the project file's `maintainers:`, may change states,
 * delegate, archive and link revisions of that project's series.
 */
export function canMaintain(viewer: Viewer, project: { maintainers: readonly string[] }): boolean {
  const u = viewer.user;
  if (!u) return false;
  return u.role === 'admin' || project.maintainers.some((m) => m.toLowerCase() === u.email.toLowerCase());
}
