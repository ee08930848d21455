// Patchwork's XML-RPC interface through app.inject(), on real fixture mail filed by the real services: patch_list's
// filter struct and lookups, Python's faults, HTTP Basic only for writes, the permissions and events of the REST
// API, safe parsing (DOCTYPE, size, content type) and /project/SLUG/pwclientrc/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serializeMethodCall } from '@foxglove/xmlrpc';
import { PEOPLE } from '../helpers/api-app.js';
import { basic, PASSWORD, startXmlRpcApp, text, type XmlRpcApp } from '../helpers/xmlrpc-app.js';

/** A Patchwork name without its prefixes (`[v2,1/3] x` -> `x`). */
const title = (name: string) => name.replace(/^(\[[^\]]*\]\s*)+/, '');
const fault = (faultString: string) => ({ faultCode: 1, faultString });

describe('XML-RPC (Patchwork’s interface for pwclient)', () => {
  let x: XmlRpcApp;
  /** Patch ids by name, from patch_list. */
  let ids: Map<string, number[]>;
  const id = (name: string) => ids.get(name)![0]!;
  const names = (patches: any[]) => patches.map((p) => title(p.name));
  const post = (payload: string | Buffer, headers: Record<string, string> = { 'content-type': 'text/xml' }) => x.app.inject({ method: 'POST', url: '/xmlrpc/', headers, payload });

  before(async () => {
    // Zoé's 3-patch series with a cover, her 3 patches without one, a patch and its RESEND (same diff), and a
    // 2-patch series the teacher replied to (so he is a person too): 10 patches.
    x = await startXmlRpcApp(['cover-letter', 'no-cover', 'resend', 'comments']);
    ids = new Map();
    for (const p of await x.call('patch_list', [{}])) ids.set(title(p.name), [...(ids.get(title(p.name)) ?? []), p.id]);
  });
  after(() => x.close());

  it('lists every patch in date order by default, and the first or last N with max_count', async () => {
    const all = await x.call('patch_list', []);
    assert.equal(all.length, 10);
    const dates = all.map((p: any) => text(p.date));
    assert.deepEqual(dates, [...dates].sort());
    assert.deepEqual(await x.call('patch_list', [{ max_count: 2 }]), all.slice(0, 2));
    assert.deepEqual(await x.call('patch_list', [{ max_count: -3 }]), all.slice(-3));
    assert.deepEqual(await x.call('patch_list', [{ max_count: '2' }]), all.slice(0, 2));
  });

  it('filters patch_list with Django lookups: id__gt/lt/in/range, name__(i)contains/(i)startswith/(i)endswith, isnull, date__year/gte', async () => {
    const first = id('proctree: read the children file');
    assert.deepEqual(
      (await x.call('patch_list', [{ id__gt: first, id__lt: first + 3 }])).map((p: any) => p.id).sort(),
      [first + 1, first + 2],
    );
    assert.deepEqual((await x.call('patch_list', [{ id__in: [first, first + 2, 9999] }])).map((p: any) => p.id).sort(), [first, first + 2]);
    assert.deepEqual((await x.call('patch_list', [{ id__range: [first, first + 1] }])).length, 2);
    // Case-sensitive ones compare exactly; the i… ones fold case.
    assert.deepEqual(names(await x.call('patch_list', [{ name__contains: 'Count' }])), []);
    assert.deepEqual(names(await x.call('patch_list', [{ name__icontains: 'COUNT the' }])), ['proctree: count the children']);
    assert.deepEqual(names(await x.call('patch_list', [{ name__startswith: 'doc:' }])), ['doc: describe the output format']);
    assert.deepEqual(names(await x.call('patch_list', [{ name__startswith: 'DOC:' }])), []);
    assert.deepEqual(names(await x.call('patch_list', [{ name__istartswith: 'DOC:' }])), ['doc: describe the output format']);
    assert.equal((await x.call('patch_list', [{ name__contains: 'doc: describe' }])).length, 2);
    assert.deepEqual(names(await x.call('patch_list', [{ name__endswith: 'usage' }])), ['proctree: explain the usage']);
    assert.deepEqual(names(await x.call('patch_list', [{ name__iendswith: 'USAGE' }])), ['proctree: explain the usage']);
    assert.equal((await x.call('patch_list', [{ name__endswith: '' }])).length, 10);
    // `%` and `_` in a search are themselves, not wildcards.
    assert.deepEqual(await x.call('patch_list', [{ name__icontains: '%' }]), []);
    assert.equal((await x.call('patch_list', [{ commit_ref__isnull: true }])).length, 10);
    assert.equal((await x.call('patch_list', [{ date__year: 2026 }])).length, 10);
    assert.equal((await x.call('patch_list', [{ date__year: 2025 }])).length, 0);
    const late = await x.call('patch_list', [{ date__gte: '2026-11-21 00:00' }]);
    assert.ok(late.length > 0 && late.length < 10);
    assert.ok(late.every((p: any) => text(p.date) >= '2026-11-21 00:00:00'));
    assert.deepEqual(await x.call('patch_list', [{ date: text((await x.call('patch_get', [first])).date) }]), [await x.call('patch_get', [first])]);
  });

  it('matches msgid with or without its angle brackets, and its other lookups on the bracketed form, as stored by Patchwork', async () => {
    const p = await x.call('patch_get', [id('proctree: read the children file')]);
    assert.deepEqual(await x.call('patch_list', [{ msgid: p.msgid }]), [p]);
    assert.deepEqual(await x.call('patch_list', [{ msgid: p.msgid.slice(1, -1) }]), [p]);
    assert.deepEqual(await x.call('patch_list', [{ msgid__startswith: '<20261120100000.21562-2' }]), [p]);
    assert.deepEqual(await x.call('patch_list', [{ hash: p.hash.toUpperCase() }]), [p]);
  });

  it('takes project_id, state_id, submitter_id and pwclient’s series, and answers [] when one names nothing', async () => {
    const zoe = (await x.call('person_list', ['zoe@', 0]))[0];
    const fresh = (await x.call('patch_list', [{}])).filter((p: any) => p.state_id === 1);
    assert.ok(fresh.length > 1);
    assert.deepEqual(await x.call('patch_list', [{ project_id: 1, state_id: 1, submitter_id: zoe.id }]), fresh);
    assert.deepEqual(await x.call('patch_list', [{ project_id: '1', state_id__in: 1 }]), fresh);
    const p = await x.call('patch_get', [id('proctree: count the children')]);
    const series = (await x.a.get(`/api/patches/${p.id}/`)).series[0].id;
    assert.deepEqual(names(await x.call('patch_list', [{ series: String(series) }])), ['proctree: read the children file', 'proctree: count the children', 'proctree: print the count']);
    for (const filt of [{ project_id: 99 }, { state_id: 11 }, { submitter_id: 999 }, { delegate_id: 999 }, { project_id: null }]) {
      assert.deepEqual(await x.call('patch_list', [filt]), [], JSON.stringify(filt));
    }
    // An unknown field or lookup type is no filter Patchwork knows: an empty list, not a fault.
    for (const filt of [{ content: 'x' }, { name__regex: '.' }, { name__icontains__x: 'a' }, { id__lte: 3 }]) {
      assert.deepEqual(await x.call('patch_list', [filt]), [], JSON.stringify(filt));
    }
  });

  it('takes delegate_id as pwclient’s -d gives it: a person, whose email is the delegate’s account', async () => {
    const patch = id('proctree: explain the usage');
    const r = await x.a.req({ method: 'PATCH', url: `/api/patches/${patch}/`, as: 'teacher', payload: { delegate: 'teacher' } });
    assert.equal(r.statusCode, 200, r.body);
    const teacher = await x.call('person_list', ['teacher', 0]);
    const person: number = teacher[0].id;
    assert.deepEqual(teacher, [{ id: person, email: PEOPLE.teacher.email, name: 'Tom Teacher', user: Buffer.from('teacher') }]);
    const delegated = await x.call('patch_list', [{ delegate_id: person }]);
    assert.deepEqual(names(delegated), ['proctree: explain the usage']);
    assert.deepEqual([text(delegated[0].delegate), delegated[0].delegate_id], ['teacher', x.a.userIds.teacher]);
  });

  it('gets one patch by id, by hash and by project and hash; {} for none, and Patchwork’s fault for a hash two patches share', async () => {
    const p = await x.call('patch_get', [id('proctree: print the count')]);
    assert.deepEqual(await x.call('patch_get_by_hash', [p.hash]), p);
    assert.deepEqual(await x.call('patch_get_by_project_hash', ['proctree', p.hash]), p);
    assert.deepEqual(await x.call('patch_get_by_project_hash', ['other', p.hash]), {});
    assert.deepEqual(await x.call('patch_get_by_hash', ['0'.repeat(40)]), {});
    assert.deepEqual(await x.call('patch_get', [99999]), {});
    const resend = await x.call('patch_get', [id('doc: describe the output format')]);
    assert.deepEqual(await x.call('patch_get_by_hash', [resend.hash]), fault("<class 'patchwork.models.Patch.MultipleObjectsReturned'>:get() returned more than one Patch -- it returned 2!"));
  });

  it('serves the mbox and the diff as /patch/N/mbox/ and /patch/N/raw/ do, and "" for a missing patch', async () => {
    const n = id('proctree: count the children');
    assert.equal(await x.call('patch_get_mbox', [n]), (await x.app.inject({ url: `/patch/${n}/mbox/` })).body);
    assert.equal(await x.call('patch_get_diff', [n]), (await x.app.inject({ url: `/patch/${n}/raw/` })).body);
    assert.equal(await x.call('patch_get_mbox', [99999]), '');
    assert.equal(await x.call('patch_get_diff', [99999]), '');
  });

  it('lists projects, people and states with Patchwork’s search and max_count, and gets each by id ({} for none)', async () => {
    assert.deepEqual(await x.call('project_list', ['TREE', 0]), [{ id: 1, linkname: 'proctree', name: 'Proctree Syscall' }]);
    assert.deepEqual(await x.call('project_list', ['nothing', 0]), []);
    assert.deepEqual(await x.call('project_get', [1]), { id: 1, linkname: 'proctree', name: 'Proctree Syscall' });
    assert.deepEqual(await x.call('project_get', [2]), {});
    const people = await x.call('person_list', ['', 0]);
    assert.deepEqual(people.map((p: any) => p.email), [PEOPLE.zoe.email, PEOPLE.teacher.email]);
    assert.deepEqual(await x.call('person_list', ['', -1]), people.slice(-1));
    assert.deepEqual((await x.call('person_list', ['ÉTUDIANTE', 1])).length, 1);
    assert.deepEqual(await x.call('person_list', ['ZOÉ', 1]), []); // SQLite's LIKE folds ASCII letters only
    assert.deepEqual(await x.call('person_get', [people[0].id]), people[0]);
    assert.deepEqual(await x.call('person_get', [999]), {});
    assert.deepEqual(await x.call('state_list', ['re', 0]), [
      { id: 2, name: 'Under Review' },
      { id: 4, name: 'Rejected' },
      { id: 7, name: 'Changes Requested' },
      { id: 8, name: 'Awaiting Upstream' },
      { id: 10, name: 'Deferred' },
    ]);
    assert.deepEqual(await x.call('state_list', ['', 2]), [{ id: 1, name: 'New' }, { id: 2, name: 'Under Review' }]);
    assert.deepEqual(await x.call('state_get', [9]), { id: 9, name: 'Superseded' });
    assert.deepEqual(await x.call('state_get', [0]), {});
  });

  it('sets state, archived and commit_ref for a maintainer, ignores other keys, and records the change as the REST API does', async () => {
    const n = id('proctree: parse the pid argument');
    assert.equal(await x.call('patch_set', [n, { state: 7, archived: true, commit_ref: 'cafe1234', delegate: 'olga', name: 'renamed' }], 'teacher'), true);
    const p = await x.call('patch_get', [n]);
    assert.deepEqual([text(p.state), p.state_id, p.archived, p.commit_ref, p.name, p.delegate_id], ['Changes Requested', 7, true, 'cafe1234', '[1/3] proctree: parse the pid argument', 0]);
    const events = await x.a.get(`/api/events/?patch=${n}&category=patch-state-changed`);
    assert.deepEqual(
      events.map((e: any) => [e.actor.username, e.payload.current_state]),
      [['teacher', 'changes-requested']],
    );
    // An empty change is a no-op that succeeds; an admin may change any patch; a submitter her own.
    assert.equal(await x.call('patch_set', [n, {}], 'teacher'), true);
    assert.equal(await x.call('patch_set', [n, { archived: false }], 'admin'), true);
    assert.equal(await x.call('patch_set', [n, { state: 1 }], 'zoe'), true);
    assert.deepEqual([(await x.call('patch_get', [n])).state_id, (await x.call('patch_get', [n])).archived], [1, false]);
  });

  it('refuses patch_set and check_create without Basic credentials, with a Token or a wrong password, and to a bystander', async () => {
    const n = id('proctree: reject a negative pid');
    const set = (auth?: Parameters<XmlRpcApp['call']>[2]) => x.call('patch_set', [n, { state: 4 }], auth);
    assert.deepEqual(await set(), fault("<class 'Exception'>:No authentication credentials given"));
    assert.deepEqual(await set({ authorization: `Token ${x.a.tokens.teacher}` }), fault("<class 'Exception'>:Authentication scheme not supported"));
    assert.deepEqual(await set({ authorization: 'Basic bm9jb2xvbg==' }), fault("<class 'Exception'>:Invalid authentication credentials"));
    assert.deepEqual(await set({ authorization: basic('teacher', 'wrong password') }), fault("<class 'Exception'>:Invalid username/password"));
    assert.deepEqual(await set({ authorization: basic('nobody', PASSWORD) }), fault("<class 'Exception'>:Invalid username/password"));
    assert.deepEqual(await set('olga'), fault("<class 'Exception'>:No permissions to edit this patch"));
    assert.deepEqual(await set('outsider'), fault("<class 'Exception'>:No permissions to edit this patch"));
    assert.deepEqual(await x.call('check_create', [n, 'ci', 'fail', '', ''], 'olga'), fault("<class 'Exception'>:No permissions to edit this patch"));
    assert.equal(text((await x.call('patch_get', [n])).state), 'New');
    assert.deepEqual(await x.call('check_list', [{ patch_id: n }]), []);
    // Reads never look at credentials, as in Patchwork: wrong ones do not stop them.
    assert.equal((await x.call('patch_get', [n], { authorization: basic('teacher', 'wrong password') })).id, n);
  });

  it('answers a client past the failed-login limit with a fault saying when to come back', async () => {
    const wrong = { authorization: basic('olga', 'guess') };
    let last: any;
    for (let i = 0; i < 7; i++) last = await x.call('patch_set', [1, {}], wrong);
    assert.match(last.faultString, /^<class 'Exception'>:Too many failed authentications\. Try again in \d+ seconds\.$/);
  });

  it('creates checks (state pending, success, warning or fail), lists them by patch, user or id, and combines the newest per context', async () => {
    const n = id('proctree: read the children file');
    assert.equal(await x.call('check_create', [n, 'build', 'fail', 'https://ci.example.org/1', 'broken'], 'teacher'), true);
    assert.equal(await x.call('check_create', [n, 'build', 'success', '', ''], 'teacher'), true);
    assert.equal(await x.call('check_create', [n, 'lint', 'warning'], 'zoe'), true);
    assert.deepEqual(await x.call('check_create', [n, 'build', 'Success', '', ''], 'teacher'), fault("<class 'Exception'>:Invalid check state: Success"));
    assert.deepEqual(await x.call('check_create', [99999, 'build', 'success', '', ''], 'teacher'), fault("<class 'patchwork.models.Patch.DoesNotExist'>:Patch matching query does not exist."));
    const checks = await x.call('check_list', [{ patch_id: n }]);
    assert.deepEqual(
      checks.map((c: any) => [text(c.user), c.context, c.state, c.target_url, c.description]),
      [
        ['teacher', 'build', 'fail', 'https://ci.example.org/1', 'broken'],
        ['teacher', 'build', 'success', '', ''],
        ['zoe', 'lint', 'warning', '', ''],
      ],
    );
    assert.deepEqual(await x.call('check_list', [{ user: 'zoe' }]), checks.slice(2));
    assert.deepEqual(await x.call('check_list', [{ user: x.a.userIds.teacher, max_count: -1 }]), checks.slice(1, 2));
    assert.deepEqual(await x.call('check_list', [{ project_id: 1, id__gt: checks[0].id }]), checks.slice(1));
    assert.deepEqual(await x.call('check_list', [{ project_id: 2 }]), []);
    assert.deepEqual(await x.call('check_list', [{ context: 'build' }]), []);
    assert.deepEqual(await x.call('check_get', [checks[1].id]), checks[1]);
    assert.deepEqual(await x.call('check_get', [99999]), {});
    assert.deepEqual(await x.call('patch_check_get', [n]), { state: 'warning', total: 2, checks: checks.slice(1) });
    assert.deepEqual(await x.call('patch_check_get', [99999]), {});
  });

  it('answers with Python’s faults: an unknown method, wrong argument counts, a value of the wrong kind', async () => {
    assert.deepEqual(await x.call('system.listMethods'), fault(`<class 'Exception'>:method "system.listMethods" is not supported`));
    assert.deepEqual(await x.call('patch_get'), fault("<class 'TypeError'>:patch_get() missing 1 required positional argument: 'patch_id'"));
    assert.deepEqual(await x.call('pw_rpc_version', [1]), fault("<class 'TypeError'>:pw_rpc_version() takes 0 positional arguments but 1 was given"));
    assert.deepEqual(await x.call('person_list', ['a', 0, 1]), fault("<class 'TypeError'>:person_list() takes from 0 to 2 positional arguments but 3 were given"));
    // Methods that log in count the user Patchwork passes first.
    assert.deepEqual(await x.call('patch_set', [1], 'teacher'), fault("<class 'TypeError'>:patch_set() missing 1 required positional argument: 'params'"));
    assert.deepEqual(await x.call('check_create', [1], 'teacher'), fault("<class 'TypeError'>:check_create() missing 2 required positional arguments: 'context' and 'state'"));
    assert.deepEqual(await x.call('patch_get', ['one']), fault("<class 'ValueError'>:Field 'id' expected a number but got 'one'."));
    assert.deepEqual(await x.call('patch_set', [1, [1, 2]], 'teacher'), fault("<class 'AttributeError'>:'list' object has no attribute 'items'"));
    assert.deepEqual(await x.call('patch_set', [1, { state: 42 }], 'teacher'), fault("<class 'patchwork.models.State.DoesNotExist'>:State matching query does not exist."));
    assert.deepEqual(await x.call('patch_list', [{ archived: 'maybe' }]), fault("<class 'django.core.exceptions.ValidationError'>:['“maybe” value must be either True or False.']"));
    assert.deepEqual((await x.call('patch_list', [{ date__gt: 'yesterday' }])).faultString.split(':')[0], "<class 'django.core.exceptions.ValidationError'>");
    assert.deepEqual(await x.call('patch_list', [{ name__year: 2026 }]), fault("<class 'django.core.exceptions.FieldError'>:Unsupported lookup 'year' for name or join on the field not permitted."));
    assert.deepEqual(await x.call('patch_list', [[1]]), fault("<class 'TypeError'>:patch_list() filter must be a struct, got list"));
    assert.deepEqual(await x.call('project_list', ['', 'many']), fault("<class 'TypeError'>:'>' not supported between instances of 'str' and 'int'"));
  });

  it('parses safely: refuses a DOCTYPE (no entity is ever expanded), a body that is not a method call, and answers with a fault', async () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><methodCall><methodName>project_list</methodName><params><param><value><string>&b;</string></value></param></params></methodCall>`;
    for (const [body, want] of [
      [lol, /^<class 'xml\.parsers\.expat\.ExpatError'>:a DOCTYPE is not accepted/],
      ['not xml at all', /^<class 'xml\.parsers\.expat\.ExpatError'>:/],
      ['<methodResponse><params/></methodResponse>', /^<class 'xml\.parsers\.expat\.ExpatError'>:Not a method call/],
      ['<methodCall><methodName>patch_get</methodName><params><param><value><i4>x</i4></value></param></params></methodCall>', /^<class 'xml\.parsers\.expat\.ExpatError'>:/],
    ] as const) {
      const r = await post(body);
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'text/xml; charset=utf-8');
      assert.match(r.body, /<fault>/);
      assert.match(/<name>faultString<\/name><value><string>([^<]*)</.exec(r.body)![1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>'), want);
    }
    // An undeclared entity is not expanded either: it stays text, and names no project.
    const r = await post('<methodCall><methodName>project_list</methodName><params><param><value><string>&x;</string></value></param></params></methodCall>');
    assert.match(r.body, /<array><data><\/data><\/array>/);
  });

  it('takes XML only, up to 1 MiB: 415 for another content type, 413 past the bound', async () => {
    const call = serializeMethodCall('pw_rpc_version', []);
    assert.equal((await post(call, { 'content-type': 'application/x-www-form-urlencoded' })).statusCode, 415);
    assert.equal((await post(call, { 'content-type': 'text/plain' })).statusCode, 415);
    assert.equal((await post(call, { 'content-type': 'application/xml' })).statusCode, 200);
    const big = serializeMethodCall('project_list', ['x'.repeat(1024 * 1024), 0]);
    assert.equal((await post(big)).statusCode, 413);
    const near = serializeMethodCall('project_list', ['x'.repeat(1000 * 1000), 0]);
    assert.deepEqual(await x.call('project_list', ['x'.repeat(1000 * 1000), 0]), []);
    assert.equal((await post(near)).statusCode, 200);
  });

  it('describes its methods on GET /xmlrpc/ and answers other methods with 405', async () => {
    const r = await x.app.inject({ url: '/xmlrpc/' });
    assert.equal(r.statusCode, 200);
    for (const m of ['patch_list(filt)', 'patch_set(patch_id, params)  [HTTP Basic]', 'check_create(patch_id, context, state, target_url, description)']) assert.ok(r.body.includes(m), m);
    const put = await x.app.inject({ method: 'PUT', url: '/xmlrpc/' });
    assert.equal(put.statusCode, 405);
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
  });

  it('serves a pwclientrc for the project naming the xmlrpc backend at the public URL; 404 for another project', async () => {
    const r = await x.app.inject({ url: '/project/proctree/pwclientrc/' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['content-disposition'], 'attachment; filename=.pwclientrc');
    const lines = r.body.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines, ['[proctree]', 'backend = xmlrpc', 'url = https://patchbay.example.org/xmlrpc/']);
    assert.equal((await x.app.inject({ url: '/project/nothing/pwclientrc/' })).statusCode, 404);
  });
});
