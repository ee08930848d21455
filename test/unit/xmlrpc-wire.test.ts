// The XML-RPC wire: answers read back by Python's own xmlrpc.client (the parser pwclient uses), faults in
// Patchwork's format, requests decoded, and Python's argument messages and Django's date formats.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { AppError, forbidden } from '../../src/errors.js';
import { arityError, dateArg, lookupValue } from '../../src/api/xmlrpc-args.js';
import { pyDate } from '../../src/api/xmlrpc-dicts.js';
import { decodeCall, encodeFault, encodeResponse, encodeResponseChunks, faultOf, xmlText } from '../../src/web/xmlrpc-wire.js';

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const noPython = spawnSync(PYTHON, ['--version'], { stdio: 'ignore' }).status !== 0;

/** What Python's xmlrpc.client.loads makes of an answer, as JSON (bytes as {"bytes": hex}). */
function pythonLoads(xml: string): unknown {
  const script = [
    'import json, sys, xmlrpc.client',
    'def plain(v):',
    '    if isinstance(v, xmlrpc.client.Binary): return {"bytes": v.data.hex()}',
    '    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}',
    '    if isinstance(v, (list, tuple)): return [plain(x) for x in v]',
    '    return v',
    'try:',
    '    params, _ = xmlrpc.client.loads(sys.stdin.buffer.read())',
    '    print(json.dumps({"params": plain(params)}))',
    'except xmlrpc.client.Fault as f:',
    '    print(json.dumps({"fault": [f.faultCode, f.faultString]}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script], { input: Buffer.from(xml, 'utf8'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('XML-RPC wire', () => {
  it('writes text that Python reads back exactly: CR (as &#13;), <, &, >, "]]>", tabs, accents and astral characters', { skip: noPython && 'no python3' }, () => {
    const diff = '--- a/x.xml\r\n+++ b/x.xml\r\n@@ -1 +1 @@\r\n-<a><![CDATA[x]]></a>\r\n+<a>&amp; ]]> b</a>\r\n\tZoé 🐧\n';
    assert.match(xmlText(diff), /&#13;/);
    assert.deepEqual(pythonLoads(encodeResponse(diff)), { params: [diff] });
  });

  it('replaces the characters XML 1.0 cannot carry with U+FFFD instead of sending an answer Python refuses', { skip: noPython && 'no python3' }, () => {
    const s = `form\x0cfeed, nul\x00, esc\x1b, del\x7f, lone \ud800 surrogate, \ufffe`;
    assert.deepEqual(pythonLoads(encodeResponse(s)), { params: ['form\ufffdfeed, nul\ufffd, esc\ufffd, del\x7f, lone \ufffd surrogate, \ufffd'] });
  });

  it('writes Patchwork’s value types as Python reads them: int, boolean, double, bytes as base64, nested lists and structs in key order', { skip: noPython && 'no python3' }, () => {
    const value = { id: 7, archived: false, ratio: 0.5, date: Buffer.from('2026-11-20 09:59:59'), list: [1, [true, 'x'], {}], close: 'struct keys are plain data', empty: '', 'a<b': 'key escaped' };
    assert.deepEqual(pythonLoads(encodeResponse(value)), {
      params: [{ id: 7, archived: false, ratio: 0.5, date: { bytes: Buffer.from('2026-11-20 09:59:59').toString('hex') }, list: [1, [true, 'x'], {}], close: 'struct keys are plain data', empty: '', 'a<b': 'key escaped' }],
    });
    assert.match(encodeResponse(value), /<member><name>id<\/name>.*<member><name>archived<\/name>.*<member><name>ratio<\/name>/);
  });

  it('writes a long list in batches whose concatenation is the whole answer', { skip: noPython && 'no python3' }, () => {
    const list = Array.from({ length: 450 }, (_, i) => ({ id: i, name: `patch <${i}>`, date: Buffer.from(`2026-11-20 00:00:${i % 60}`) }));
    const chunks = [...encodeResponseChunks(list)];
    assert.ok(chunks.length > 3, `${chunks.length} chunks`);
    assert.equal(chunks.join(''), encodeResponse(list));
    const read = pythonLoads(chunks.join('')) as { params: [{ id: number; name: string }[]] };
    assert.deepEqual(read.params[0].map((p) => p.name), list.map((p) => p.name));
    assert.deepEqual([...encodeResponseChunks([1, 2])], [encodeResponse([1, 2])]);
  });

  it('writes a fault as Patchwork does: code 1 and "<class ...>:message"; anything that is no AppError is an internal error', { skip: noPython && 'no python3' }, () => {
    assert.deepEqual(pythonLoads(encodeFault(faultOf(forbidden('xmlrpc_not_editable', 'No permissions to edit this patch')))), { fault: [1, "<class 'Exception'>:No permissions to edit this patch"] });
    assert.deepEqual(faultOf(new AppError('invalid', 'xmlrpc_type_error', "f() missing 1 required positional argument: 'x'")), { faultCode: 1, faultString: "<class 'TypeError'>:f() missing 1 required positional argument: 'x'" });
    assert.deepEqual(faultOf(new TypeError('secret detail')), { faultCode: 1, faultString: "<class 'Exception'>:Internal server error" });
  });

  it('decodes Python’s method calls (nil, struct, i4, boolean, base64) and refuses a DOCTYPE before parsing', async () => {
    const call = `<?xml version='1.0'?>\n<methodCall>\n<methodName>patch_list</methodName>\n<params>\n<param>\n<value><struct>\n<member>\n<name>max_count</name>\n<value><i4>-3</i4></value>\n</member>\n<member>\n<name>archived</name>\n<value><boolean>0</boolean></value>\n</member>\n<member>\n<name>name__icontains</name>\n<value><string>a &amp; b</string></value>\n</member>\n</struct></value>\n</param>\n<param><value><nil/></value></param>\n<param><value><base64>aGk=</base64></value></param>\n</params>\n</methodCall>\n`;
    const { method, params } = await decodeCall(call);
    assert.equal(method, 'patch_list');
    assert.deepEqual(params.slice(0, 2), [{ max_count: -3, archived: false, name__icontains: 'a & b' }, undefined]);
    assert.equal(Buffer.from(params[2] as Uint8Array).toString(), 'hi');
    await assert.rejects(decodeCall('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodCall><methodName>&e;</methodName></methodCall>'), { code: 'xmlrpc_parse' });
    await assert.rejects(decodeCall('<methodCall><params/></methodCall>'), { code: 'xmlrpc_parse' });
  });

  it('words a wrong argument count as Python does', () => {
    assert.equal(arityError('patch_get', ['patch_id'], 1, 0), "patch_get() missing 1 required positional argument: 'patch_id'");
    assert.equal(arityError('check_create', ['user', 'patch_id', 'context', 'state', 'target_url', 'description'], 4, 2), "check_create() missing 2 required positional arguments: 'context' and 'state'");
    assert.equal(arityError('f', ['a', 'b', 'c'], 3, 0), "f() missing 3 required positional arguments: 'a', 'b', and 'c'");
    assert.equal(arityError('pw_rpc_version', [], 0, 2), 'pw_rpc_version() takes 0 positional arguments but 2 were given');
    assert.equal(arityError('patch_get', ['patch_id'], 1, 2), 'patch_get() takes 1 positional argument but 2 were given');
    assert.equal(arityError('project_list', ['search_str', 'max_count'], 0, 3), 'project_list() takes from 0 to 2 positional arguments but 3 were given');
    assert.equal(arityError('project_list', ['search_str', 'max_count'], 0, 1), null);
  });

  it('reads dates as Django’s DateTimeField does (naive is UTC) and writes them as Python’s str(datetime)', () => {
    assert.equal(dateArg('2026-11-20'), '2026-11-20T00:00:00.000Z');
    assert.equal(dateArg('2026-11-20 09:59'), '2026-11-20T09:59:00.000Z');
    assert.equal(dateArg('2026-11-20T09:59:59.123456'), '2026-11-20T09:59:59.123Z');
    assert.equal(dateArg('2026-11-20 11:59:59+02:00'), '2026-11-20T09:59:59.000Z');
    assert.equal(dateArg(new Date('2026-11-20T09:59:59Z')), '2026-11-20T09:59:59.000Z');
    for (const bad of ['2026-02-30', '2026-11-20 24:00', 'yesterday', '20261120']) assert.throws(() => dateArg(bad), { code: 'xmlrpc_validation_error' }, bad);
    assert.equal(pyDate('2026-11-20T09:59:59.000Z'), '2026-11-20 09:59:59');
    assert.equal(pyDate('2026-11-20T09:59:59.250Z'), '2026-11-20 09:59:59.250000');
  });

  it('converts filter values by lookup: lists for in and range, a flag for isnull, year only on dates', () => {
    assert.deepEqual(lookupValue('int', 'in', [1, '2'], 'id'), [1, 2]);
    assert.deepEqual(lookupValue('date', 'range', ['2026-11-01', '2026-11-30'], 'date'), ['2026-11-01T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
    assert.equal(lookupValue('text', 'isnull', 0, 'commit_ref'), false);
    assert.equal(lookupValue('bool', 'exact', 'True', 'archived'), 1);
    assert.equal(lookupValue('int', 'contains', 12, 'id'), '12');
    assert.throws(() => lookupValue('int', 'in', 3, 'id'), { code: 'xmlrpc_type_error', message: "'int' object is not iterable" });
    assert.throws(() => lookupValue('int', 'range', [1], 'id'), { code: 'xmlrpc_value_error' });
    assert.equal((lookupValue('int', 'in', Array.from({ length: 1000 }, (_, i) => i), 'id') as number[]).length, 1000);
    assert.throws(() => lookupValue('int', 'in', Array.from({ length: 1001 }, (_, i) => i), 'id'), { code: 'xmlrpc_value_error', message: 'id__in: at most 1000 values' });
    assert.throws(() => lookupValue('text', 'month', 11, 'name'), { code: 'xmlrpc_field_error' });
  });
});
