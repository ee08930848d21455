// Pure: the dicts Patchwork's XML-RPC methods return (views/xmlrpc.py *_to_dict), in its key order and value types.
// Patchwork encodes several strings with `.encode('utf-8')`, which Python 3's xmlrpc.client sends as <base64>
// (pwclient decodes them); they are bytes (Uint8Array) here too, so scripts written against Patchwork read the same.
import type { XmlRpcCheckRow, XmlRpcPatchRow } from '../db/xmlrpc.repository.js';
import { mboxFilename } from '../mail/mbox-render.js';
import { STATES } from '../series/states.js';
import type { XmlRpcStruct } from './xmlrpc-args.js';
import type { ProjectInfo } from './represent.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/**
 * The bytes of values a long list repeats (a project, a state, a submitter, 'None'), made once: one object per
 * value, whose base64 the wire also makes once. Never written to; cleared when full.
 */
const SHARED_MAX = 4096;
const shared = new Map<string, Uint8Array>();
function sharedBytes(s: string): Uint8Array {
  let b = shared.get(s);
  if (b === undefined) {
    if (shared.size >= SHARED_MAX) shared.clear();
    shared.set(s, (b = bytes(s)));
  }
  return b;
}

/** str() of a naive UTC datetime, as Patchwork stores them: `2026-11-20 09:59:59`, microseconds only when not 0. */
export function pyDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = d.toISOString();
  const ms = d.getUTCMilliseconds();
  return `${s.slice(0, 10)} ${s.slice(11, 19)}${ms ? `.${String(ms * 1000).padStart(6, '0')}` : ''}`;
}

/** Patchwork's state ids are the default states' primary keys: their order plus one. */
export function stateId(slug: string): number {
  const i = STATES.findIndex((s) => s.slug === slug);
  return i < 0 ? 0 : i + 1;
}

export function stateDict(index: number): XmlRpcStruct {
  return { id: index + 1, name: STATES[index]!.name };
}

export function projectDict(p: ProjectInfo): XmlRpcStruct {
  return { id: p.id, linkname: p.slug, name: p.name };
}

/** Person.__str__: `Name <email>`, or the email alone. */
function personStr(name: string | null, email: string | null): string {
  return name ? `${name} <${email ?? ''}>` : (email ?? '');
}

/** A person; `user` is the username of the account with the same email, or Python's str(None). */
export function personDict(p: { id: number; name: string | null; email: string }, username: string | null): XmlRpcStruct {
  // XML-RPC has no None (Patchwork sends the email as the name of a person without one).
  return { id: p.id, email: p.email, name: p.name || p.email, user: sharedBytes(username ?? 'None') };
}

export function patchDict(p: XmlRpcPatchRow, projects: ReadonlyMap<number, ProjectInfo>): XmlRpcStruct {
  const state = STATES.find((s) => s.slug === p.state);
  return {
    id: p.id,
    date: bytes(pyDate(p.date)),
    filename: mboxFilename(p.name, ''),
    msgid: `<${p.msgid}>`,
    name: p.name,
    project: sharedBytes(projects.get(p.project_id)?.name ?? ''),
    project_id: p.project_id,
    state: sharedBytes(state?.name ?? p.state),
    state_id: stateId(p.state),
    archived: p.archived === 1,
    submitter: sharedBytes(personStr(p.submitter_name, p.submitter_email)),
    submitter_id: p.submitter_id,
    delegate: sharedBytes(p.delegate_username ?? 'None'),
    delegate_id: p.delegate_id ?? 0,
    commit_ref: p.commit_ref ?? '',
    hash: p.hash ?? '',
  };
}

/** A check; one without a user (patchbay's own pipeline) shows user 'None' and user_id 0, as a patch's delegate. */
export function checkDict(c: XmlRpcCheckRow): XmlRpcStruct {
  return {
    id: c.id,
    date: bytes(pyDate(c.date)),
    patch: sharedBytes(c.patch_name),
    patch_id: c.patch_id,
    user: sharedBytes(c.username ?? 'None'),
    user_id: c.user_id ?? 0,
    state: c.state,
    target_url: c.target_url ?? '',
    description: c.description ?? '',
    context: c.context,
  };
}
