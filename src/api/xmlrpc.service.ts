// Patchwork's XML-RPC methods (views/xmlrpc.py, the interface pwclient speaks) over the REST API's services and
// repositories: the same reads, and writes through ApiWriteService, so permissions and events are the API's.
import type { Db } from '../db/database.js';
import { peopleRows, listPeople } from '../db/api-series.repository.js';
import { usersByEmails } from '../db/user.repository.js';
import { xmlrpcCheckRows, xmlrpcPatchRows, type CheckField, type Lookup, type PatchField } from '../db/xmlrpc.repository.js';
import { AppError, conflict, forbidden, invalid, isAppError, notFound, unauthenticated } from '../errors.js';
import { STATES } from '../series/states.js';
import type { ApiService } from './api.service.js';
import type { ApiWriteService } from './api-write.service.js';
import type { AuthService, Principal } from './auth.service.js';
import { combinedCheckState, latestChecks } from './represent.js';
import { applyWindow, arityError, countArg, idArg, isStruct, pyType, searchArg, typeError, type XmlRpcStruct, type XmlRpcValue } from './xmlrpc-args.js';
import { checkFilter, filterArg, hashLookup, idLookup as lookup, patchFilter } from './xmlrpc-filters.js';
import { checkDict, patchDict, personDict, projectDict, stateDict } from './xmlrpc-dicts.js';

/** Who calls, as the HTTP edge saw it: the Authorization header (Basic, read only by the methods that need a user). */
export interface XmlRpcCaller {
  authorization: string | undefined;
  /** The client's address, for the failed-login limits the REST API and the web login share. */
  address: string;
  /** Public base URL (for the REST services the writes go through). */
  base: string;
}

export interface XmlRpcDeps {
  db: Db;
  api: ApiService;
  writes: ApiWriteService;
  auth: Pick<AuthService, 'authenticate'>;
  /** Patchwork's patch mbox and diff downloads (src/web/archive.service.ts); not_found when there is no such patch. */
  mbox: { patchMbox(id: number): Promise<{ body: Buffer }>; patchDiff(id: number): Promise<{ body: Buffer }> };
}

/** pw_rpc_version: Patchwork's interface 1.3.0 (negative max_count on checks). */
export const RPC_VERSION = [1, 3, 0] as const;

interface Method {
  /** Python's parameter names, `user` first for the methods that need a login (Patchwork passes it first). */
  params: readonly string[];
  /** How many have no default. */
  required: number;
  login: boolean;
  doc: string;
  run(args: XmlRpcValue[], who: Principal | null, caller: XmlRpcCaller): Promise<XmlRpcValue>;
}

/** Django's get() counts up to 21 rows to say how many it found (MAX_GET_RESULTS). */
const GET_RESULTS = 21;

export class XmlRpcService {
  private readonly methods: ReadonlyMap<string, Method>;

  constructor(private readonly deps: XmlRpcDeps) {
    this.methods = new Map(Object.entries(this.table()));
  }

  /** The methods with their Python signatures and a line of documentation (GET /xmlrpc/). */
  describe(): { name: string; signature: string; doc: string; login: boolean }[] {
    return [...this.methods].map(([name, m]) => ({
      name,
      signature: `${name}(${m.params.filter((p) => p !== 'user' || !m.login).join(', ')})`,
      doc: m.doc,
      login: m.login,
    }));
  }

  /**
   * Runs a method as Patchwork's dispatcher does: an unknown name is refused, a method that needs a user logs in
   * with HTTP Basic first, then the argument count is checked as Python would.
   */
  async call(method: string, params: XmlRpcValue[], caller: XmlRpcCaller): Promise<XmlRpcValue> {
    const m = this.methods.get(method);
    if (!m) throw invalid('xmlrpc_no_method', `method "${method}" is not supported`);
    const who = m.login ? await this.login(caller) : null;
    const given = params.length + (m.login ? 1 : 0);
    const wrong = arityError(method, m.params, m.required, given);
    if (wrong) throw typeError(wrong);
    return m.run(params, who, caller);
  }

  /** The project of /project/SLUG/pwclientrc/. */
  project(slug: string) {
    const p = [...this.deps.api.projects.values()].find((x) => x.slug === slug);
    if (!p) throw notFound('project_not_found', 'No Project matches the given query.');
    return p;
  }

  /**
   * HTTP Basic only, as Patchwork (views/xmlrpc.py _user_for_request), checked by the API's AuthService: the same
   * accounts, the same failed-login limits.
   */
  private async login(caller: XmlRpcCaller): Promise<Principal> {
    const header = caller.authorization?.trim() ?? '';
    if (!header) throw unauthenticated('xmlrpc_no_credentials', 'No authentication credentials given', 'Basic');
    if (!header.startsWith('Basic ')) throw unauthenticated('xmlrpc_auth_scheme', 'Authentication scheme not supported', 'Basic');
    if (!Buffer.from(header.slice(6).trim(), 'base64').toString('utf8').includes(':')) throw unauthenticated('xmlrpc_bad_credentials', 'Invalid authentication credentials', 'Basic');
    let who: Principal | null;
    try {
      who = await this.deps.auth.authenticate(header, caller.address);
    } catch (e) {
      if (isAppError(e) && e.kind === 'forbidden') who = null;
      else throw e;
    }
    if (!who) throw unauthenticated('xmlrpc_invalid_login', 'Invalid username/password', 'Basic');
    return who;
  }

  private table(): Record<string, Method> {
    const { api } = this.deps;
    const projects = () => [...api.projects.values()].filter((p) => !api.visibility.isPrivate(p.id)).sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
    return {
      pw_rpc_version: { params: [], required: 0, login: false, doc: 'The interface version: [1, 3, 0].', run: async () => [...RPC_VERSION] },
      project_list: {
        params: ['search_str', 'max_count'],
        required: 0,
        login: false,
        doc: 'Projects whose link name contains search_str (case-insensitive); max_count: the first N, the last -N, 0 all.',
        run: async ([search, max]) => {
          const s = searchArg(search)?.toLowerCase();
          return applyWindow(
            projects().filter((p) => s === undefined || p.slug.toLowerCase().includes(s)),
            countArg(max),
          ).map(projectDict);
        },
      },
      project_get: {
        params: ['project_id'],
        required: 1,
        login: false,
        doc: 'A project by id, or {}.',
        run: async ([id]) => {
          const p = api.projects.get(idArg(id) ?? -1);
          return p && !api.visibility.isPrivate(p.id) ? projectDict(p) : {};
        },
      },
      person_list: {
        params: ['search_str', 'max_count'],
        required: 0,
        login: false,
        doc: 'People whose name or email contains search_str (case-insensitive).',
        run: async ([search, max]) => this.personList(searchArg(search), countArg(max)),
      },
      person_get: {
        params: ['person_id'],
        required: 1,
        login: false,
        doc: 'A person by id, or {}.',
        run: async ([id]) => {
          const [p] = await peopleRows(this.deps.db, [idArg(id) ?? -1]);
          return p ? (await this.personDicts([p]))[0]! : {};
        },
      },
      patch_list: {
        params: ['filt'],
        required: 0,
        login: false,
        doc: 'Patches matching a filter struct: id, name, project_id, submitter_id, delegate_id, archived, state_id, date, commit_ref, hash, msgid, series, each as FIELD or FIELD__LOOKUP; max_count.',
        run: async ([filt]) => this.patchList(filterArg(filt, 'patch_list')),
      },
      patch_get: { params: ['patch_id'], required: 1, login: false, doc: 'A patch by id, or {}.', run: async ([id]) => this.onePatch([lookup('id', idArg(id))]) },
      patch_get_by_hash: {
        params: ['hash'],
        required: 1,
        login: false,
        doc: 'The patch with this diff hash, or {}.',
        run: async ([hash]) => this.onePatch([hashLookup(hash)], true),
      },
      patch_get_by_project_hash: {
        params: ['project', 'hash'],
        required: 2,
        login: false,
        doc: 'The patch of the project (link name) with this diff hash, or {}.',
        run: async ([project, hash]) => {
          const p = projects().find((x) => x.slug === project);
          return p ? this.onePatch([lookup('project_id', p.id), hashLookup(hash)], true) : {};
        },
      },
      patch_get_mbox: {
        params: ['patch_id'],
        required: 1,
        login: false,
        doc: 'The patch as an mbox (as /patch/N/mbox/), or an empty string.',
        run: async ([id]) => this.download(idArg(id), (n) => this.deps.mbox.patchMbox(n)),
      },
      patch_get_diff: {
        params: ['patch_id'],
        required: 1,
        login: false,
        doc: 'The diff of the patch, or an empty string.',
        run: async ([id]) => this.download(idArg(id), (n) => this.deps.mbox.patchDiff(n)),
      },
      patch_set: {
        params: ['user', 'patch_id', 'params'],
        required: 3,
        login: true,
        doc: 'Sets state (a state id), archived, commit_ref (maintainers, the delegate, the submitter). Needs HTTP Basic.',
        run: async ([id, params], who, caller) => this.patchSet(idArg(id), params, who!, caller),
      },
      state_list: {
        params: ['search_str', 'max_count'],
        required: 0,
        login: false,
        doc: 'States whose name contains search_str (case-insensitive).',
        run: async ([search, max]) => {
          const s = searchArg(search)?.toLowerCase();
          const indexes = STATES.map((_, i) => i).filter((i) => s === undefined || STATES[i]!.name.toLowerCase().includes(s));
          return applyWindow(indexes, countArg(max)).map(stateDict);
        },
      },
      state_get: {
        params: ['state_id'],
        required: 1,
        login: false,
        doc: 'A state by id, or {}.',
        run: async ([id]) => {
          const i = (idArg(id) ?? 0) - 1;
          return i >= 0 && i < STATES.length ? stateDict(i) : {};
        },
      },
      check_list: {
        params: ['filt'],
        required: 0,
        login: false,
        doc: 'Checks matching a filter struct: id, user (id or username), project_id, patch_id; max_count.',
        run: async ([filt]) => this.checkList(filterArg(filt, 'check_list')),
      },
      check_get: {
        params: ['check_id'],
        required: 1,
        login: false,
        doc: 'A check by id, or {}.',
        run: async ([id]) => {
          const [c] = await xmlrpcCheckRows(this.deps.db, [{ field: 'id', op: 'exact', value: idArg(id) }]);
          return c ? checkDict(c) : {};
        },
      },
      check_create: {
        params: ['user', 'patch_id', 'context', 'state', 'target_url', 'description'],
        required: 4,
        login: true,
        doc: 'Adds a check (state: pending, success, warning, fail) to a patch, as whoever may change it. Needs HTTP Basic.',
        run: async ([id, context, state, url, description], who, caller) => this.checkCreate(idArg(id), { context, state, target_url: url, description }, who!, caller),
      },
      patch_check_get: {
        params: ['patch_id'],
        required: 1,
        login: false,
        doc: "A patch's checks (the newest of each user and context) and their combined state, or {}.",
        run: async ([id]) => this.patchChecks(idArg(id)),
      },
    };
  }

  /**
   * XML-RPC reads are anonymous (Patchwork's): they show public projects only, a private project's patches and checks
   * never (its students and maintainers use the REST API with a token, or the web view).
   */
  private publicOnly<F extends string = PatchField>(): Lookup<F>[] {
    const { api } = this.deps;
    if (!api.visibility.anyPrivate) return [];
    return [{ field: 'project_id' as F, op: 'in', value: [...api.projects.keys()].filter((id) => !api.visibility.isPrivate(id)) }];
  }

  private async personDicts(people: { id: number; name: string | null; email: string }[]): Promise<XmlRpcStruct[]> {
    const users = new Map((await usersByEmails(this.deps.db, people.map((p) => p.email))).map((u) => [u.email, u.username]));
    // With course projects on the server, people's addresses are for maintainers, and XML-RPC reads are anonymous.
    const hide = !this.deps.api.visibility.seesEmails(null);
    return people.map((p) => personDict(hide ? { ...p, email: '' } : p, users.get(p.email.toLowerCase()) ?? null));
  }

  private async personList(search: string | null, max: number): Promise<XmlRpcStruct[]> {
    const terms = search === null ? [] : [search];
    const { total } = await listPeople(this.deps.db, { terms, sort: [], page: { limit: 0, offset: 0 } });
    const [offset, limit] = max > 0 ? [0, max] : max < 0 ? [Math.max(0, total + max), -max] : [0, total];
    if (limit === 0) return [];
    return this.personDicts((await listPeople(this.deps.db, { terms, sort: [], page: { limit, offset } })).rows);
  }

  private async onePatch(lookups: Lookup<PatchField>[], unique = false): Promise<XmlRpcStruct> {
    const rows = await xmlrpcPatchRows(this.deps.db, [...lookups, ...this.publicOnly()], unique ? GET_RESULTS : 1);
    // Patchwork's get(): two patches with the hash (a resend, the same diff in two projects) are an error, not a pick.
    if (rows.length > 1) throw conflict('xmlrpc_patch_multiple', `get() returned more than one Patch -- it returned ${rows.length >= GET_RESULTS ? 'more than 20' : rows.length}!`);
    return rows[0] ? patchDict(rows[0], this.deps.api.projects) : {};
  }

  private async download(id: number | null, get: (id: number) => Promise<{ body: Buffer }>): Promise<string> {
    if (id === null || !(await xmlrpcPatchRows(this.deps.db, [lookup('id', id), ...this.publicOnly()], 1)).length) return '';
    try {
      return (await get(id)).body.toString('utf8');
    } catch (e) {
      if (isAppError(e) && e.kind === 'not_found') return '';
      throw e;
    }
  }

  /**
   * project_id, submitter_id, state_id, series: compared by id, whatever the lookup (Patchwork fetches the object).
   * delegate_id is a person's id, as pwclient's -d finds them with person_list: the account with that person's
   * email (Patchwork itself fails there: it compares a Person with the User a delegate is).
   */
  private async objectLookup(field: string, id: number | null): Promise<Lookup<PatchField> | undefined> {
    if (id === null) return undefined;
    switch (field) {
      case 'project_id':
        return this.deps.api.projects.has(id) ? lookup('project_id', id) : undefined;
      case 'state_id':
        return id >= 1 && id <= STATES.length ? { field: 'state', op: 'exact', value: STATES[id - 1]!.slug } : undefined;
      case 'series':
        return lookup('series_id', id);
      case 'submitter_id':
        return (await peopleRows(this.deps.db, [id])).length ? lookup('submitter_id', id) : undefined;
      default: {
        const [person] = await peopleRows(this.deps.db, [id]);
        const [user] = person ? await usersByEmails(this.deps.db, [person.email]) : [];
        return user ? lookup('delegate_id', user.id) : undefined;
      }
    }
  }

  private async patchList(filt: XmlRpcStruct): Promise<XmlRpcStruct[]> {
    const f = await patchFilter(filt, (field, id) => this.objectLookup(field, id));
    return f ? (await xmlrpcPatchRows(this.deps.db, [...f.lookups, ...this.publicOnly()], f.max)).map((r) => patchDict(r, this.deps.api.projects)) : [];
  }

  private async checkList(filt: XmlRpcStruct): Promise<XmlRpcStruct[]> {
    const f = checkFilter(filt);
    return f ? (await xmlrpcCheckRows(this.deps.db, [...f.lookups, ...this.publicOnly<CheckField>()], f.max)).map(checkDict) : [];
  }

  private async patchChecks(id: number | null): Promise<XmlRpcStruct> {
    if (id === null || !(await xmlrpcPatchRows(this.deps.db, [lookup('id', id), ...this.publicOnly()], 1)).length) return {};
    const rows = await xmlrpcCheckRows(this.deps.db, [{ field: 'patch_id', op: 'exact', value: id }]);
    const checks = latestChecks(rows).sort((a, b) => a.id - b.id);
    return { state: combinedCheckState(checks), total: checks.length, checks: checks.map(checkDict) };
  }

  /** The patch must exist before anything else is looked at (Patchwork: Patch.objects.get). */
  private async requirePatch(id: number | null): Promise<number> {
    if (id === null || !(await xmlrpcPatchRows(this.deps.db, [lookup('id', id), ...this.publicOnly()], 1)).length) throw notFound('xmlrpc_patch_missing', 'Patch matching query does not exist.');
    return id;
  }

  private async patchSet(patchId: number | null, params: XmlRpcValue, who: Principal, caller: XmlRpcCaller): Promise<true> {
    const id = await this.requirePatch(patchId);
    if (!isStruct(params)) throw new AppError('invalid', 'xmlrpc_attribute_error', `'${pyType(params)}' object has no attribute 'items'`);
    // Only these three; anything else is ignored, as Patchwork does.
    const body: Record<string, unknown> = {};
    for (const key of Object.keys(params)) {
      const v = params[key]!;
      if (key === 'state') {
        const i = (idArg(v) ?? 0) - 1;
        if (i < 0 || i >= STATES.length) throw notFound('xmlrpc_state_missing', 'State matching query does not exist.');
        body.state = STATES[i]!.slug;
      } else if (key === 'archived' || key === 'commit_ref') body[key] = v;
    }
    await this.asPatchwork(() => this.deps.writes.updatePatch(this.deps.api.ctx(caller.base, null), id, body, who));
    return true;
  }

  private async checkCreate(patchId: number | null, a: Record<string, XmlRpcValue>, who: Principal, caller: XmlRpcCaller): Promise<true> {
    const id = await this.requirePatch(patchId);
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) if (v !== null && v !== undefined) body[k] = v;
    try {
      await this.asPatchwork(() => this.deps.writes.createCheck(this.deps.api.ctx(caller.base, null), id, body, who));
    } catch (e) {
      if (isAppError(e) && (e.code === 'check_state_invalid' || e.code === 'check_state_missing')) throw invalid('xmlrpc_check_state', `Invalid check state: ${String(a.state ?? 'None')}`);
      throw e;
    }
    return true;
  }

  /** The REST services refuse with DRF's words; Patchwork's XML-RPC says it its own way. */
  private async asPatchwork(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (e) {
      if (isAppError(e) && e.kind === 'forbidden') throw forbidden('xmlrpc_not_editable', 'No permissions to edit this patch');
      throw e;
    }
  }
}


