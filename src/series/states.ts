// Patchwork's ten patch states (fixtures/default_states.xml) and the event categories patchbay emits.

export const STATES = [
  { slug: 'new', name: 'New', ordering: 0, actionRequired: true },
  { slug: 'under-review', name: 'Under Review', ordering: 1, actionRequired: true },
  { slug: 'accepted', name: 'Accepted', ordering: 2, actionRequired: false },
  { slug: 'rejected', name: 'Rejected', ordering: 3, actionRequired: false },
  { slug: 'rfc', name: 'RFC', ordering: 4, actionRequired: false },
  { slug: 'not-applicable', name: 'Not Applicable', ordering: 5, actionRequired: false },
  { slug: 'changes-requested', name: 'Changes Requested', ordering: 6, actionRequired: false },
  { slug: 'awaiting-upstream', name: 'Awaiting Upstream', ordering: 7, actionRequired: false },
  { slug: 'superseded', name: 'Superseded', ordering: 8, actionRequired: false },
  { slug: 'deferred', name: 'Deferred', ordering: 9, actionRequired: false },
] as const;

export type StateSlug = (typeof STATES)[number]['slug'];

export const INITIAL_STATE: StateSlug = 'new';

/** States a newer revision supersedes: the patch was still waiting for a decision. */
export const OPEN_STATES: ReadonlySet<string> = new Set(['new', 'under-review', 'changes-requested', 'rfc']);

export function isState(s: string): s is StateSlug {
  return STATES.some((x) => x.slug === s);
}

/** X-Patchwork-State: is matched on the state's name, case-insensitively (Patchwork's find_state). */
export function stateFromHeader(value: string | undefined): StateSlug | null {
  if (!value) return null;
  const v = value.trim().toLowerCase();
  return STATES.find((s) => s.name.toLowerCase() === v)?.slug ?? null;
}

export const EVENT_CATEGORIES = [
  'cover-created',
  'patch-created',
  'patch-completed',
  'patch-state-changed',
  'patch-delegated',
  'check-created',
  'series-created',
  'series-completed',
  'cover-comment-created',
  'patch-comment-created',
  'series-new-revision',
] as const;

export type EventCategory = (typeof EVENT_CATEGORIES)[number];
