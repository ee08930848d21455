// The XML-RPC wire (http://xmlrpc.com/spec.md): a methodCall read with @foxglove/xmlrpc's sax-based deserializer,
// answers and faults written here, and the wire table from AppError to Patchwork's faults.
import { Deserializer } from '@foxglove/xmlrpc';
import { AppError, invalid, isAppError } from '../errors.js';
import type { XmlRpcValue } from '../api/xmlrpc-args.js';

/**
 * Python's exception class behind each fault Patchwork writes (`'%s:%s' % (class, message)`, fault code 1); any
 * other AppError is `Exception` with its message, as Patchwork's own `raise Exception(…)`.
 */
const FAULT_CLASS: Record<string, string> = {
  xmlrpc_parse: 'xml.parsers.expat.ExpatError',
  xmlrpc_type_error: 'TypeError',
  xmlrpc_value_error: 'ValueError',
  xmlrpc_attribute_error: 'AttributeError',
  xmlrpc_validation_error: 'django.core.exceptions.ValidationError',
  xmlrpc_field_error: 'django.core.exceptions.FieldError',
  xmlrpc_patch_missing: 'patchwork.models.Patch.DoesNotExist',
  xmlrpc_state_missing: 'patchwork.models.State.DoesNotExist',
  xmlrpc_patch_multiple: 'patchwork.models.Patch.MultipleObjectsReturned',
};

/** Patchwork's only fault code: every exception becomes Fault(1, …). */
export const FAULT_CODE = 1;

export function faultOf(e: unknown): { faultCode: number; faultString: string } {
  const err = isAppError(e) ? e : new AppError('internal', 'internal', 'Internal server error');
  return { faultCode: FAULT_CODE, faultString: `<class '${FAULT_CLASS[err.code] ?? 'Exception'}'>:${err.message}` };
}

/**
 * A method call's name and parameters. Python's xmlrpc.client never sends a DOCTYPE; one is refused before parsing,
 * so no entity declaration is ever read (sax would not expand them either, nor fetch anything).
 */
export async function decodeCall(body: string): Promise<{ method: string; params: XmlRpcValue[] }> {
  if (/<!DOCTYPE/i.test(body)) throw invalid('xmlrpc_parse', 'a DOCTYPE is not accepted in an XML-RPC request');
  try {
    const [method, params] = await new Deserializer().deserializeMethodCall(body);
    return { method, params: params as XmlRpcValue[] };
  } catch (e) {
    throw invalid('xmlrpc_parse', e instanceof Error ? e.message.split('\n', 1)[0]! : 'not an XML-RPC method call');
  }
}

/** Characters XML 1.0 cannot carry (C0 controls but tab and newlines, lone surrogates, U+FFFE, U+FFFF). */
const INVALID = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const INVALIDS = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const MARKUP = /[&<>\r]/;

/**
 * Text as XML character data. Besides & < >, a CR is written &#13; so that diffs with CRLF lines keep them (a
 * parser turns a literal CR into LF, XML 1.0 §2.11), and a character XML 1.0 cannot carry at all becomes U+FFFD:
 * Python's client would refuse the whole answer.
 */
export function xmlText(s: string): string {
  let t = INVALID.test(s) ? s.replace(INVALIDS, '\uFFFD') : s;
  if (MARKUP.test(t)) t = t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
  return t;
}

/** The same bytes come back for every patch (a state, a project, a submitter): their base64 is made once. */
const base64s = new WeakMap<Uint8Array, string>();

function base64(x: Uint8Array): string {
  let b = base64s.get(x);
  if (b === undefined) base64s.set(x, (b = Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64')));
  return b;
}

/**
 * One value as XML. The library's serializer is not used for answers: it writes a string holding `<` or `&` as
 * CDATA and throws on one that also holds `]]>` (a patch to an XML file), and it lets control characters through.
 * Recursive: answers are the service's dicts, a few levels deep, never a structure a client sent. Built with `+`
 * (V8 joins such strings lazily), which is several times faster here than pushing pieces and joining them.
 */
function encodeValue(x: XmlRpcValue): string {
  if (x === null || x === undefined) return '<value><nil/></value>';
  if (typeof x === 'string') return '<value><string>' + xmlText(x) + '</string></value>';
  if (typeof x === 'boolean') return x ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>';
  if (typeof x === 'number') return Number.isInteger(x) ? '<value><int>' + x + '</int></value>' : '<value><double>' + (Number.isFinite(x) ? x : 0) + '</double></value>';
  if (x instanceof Uint8Array) return '<value><base64>' + base64(x) + '</base64></value>';
  if (x instanceof Date) return '<value><dateTime.iso8601>' + x.toISOString().slice(0, 19).replace(/-/g, '') + '</dateTime.iso8601></value>';
  let out: string;
  if (Array.isArray(x)) {
    out = '<value><array><data>';
    for (const item of x) out += encodeValue(item);
    return out + '</data></array></value>';
  }
  out = '<value><struct>';
  for (const key of Object.keys(x)) out += '<member><name>' + xmlText(key) + '</name>' + encodeValue(x[key]) + '</member>';
  return out + '</struct></value>';
}

const PROLOG = "<?xml version='1.0'?>\n";
const OPEN = `${PROLOG}<methodResponse><params><param>`;
const CLOSE = '</param></params></methodResponse>\n';
/** Items of a long answer encoded between two turns of the event loop (a patch is about 1.3 KB of XML). */
const BATCH = 200;

export function encodeResponse(value: XmlRpcValue): string {
  return OPEN + encodeValue(value) + CLOSE;
}

/**
 * The answer in pieces, a long list BATCH items at a time: sent as a stream, so that listing every patch of a big
 * project neither holds the whole text in memory nor keeps the event loop (SMTP, the other requests) waiting.
 */
export function* encodeResponseChunks(value: XmlRpcValue): Generator<string> {
  if (!Array.isArray(value) || value.length <= BATCH) {
    yield encodeResponse(value);
    return;
  }
  yield `${OPEN}<value><array><data>`;
  for (let i = 0; i < value.length; i += BATCH) {
    let out = '';
    for (const item of value.slice(i, i + BATCH)) out += encodeValue(item);
    yield out;
  }
  yield `</data></array></value>${CLOSE}`;
}

export function encodeFault(fault: { faultCode: number; faultString: string }): string {
  return `${PROLOG}<methodResponse><fault>${encodeValue({ faultCode: fault.faultCode, faultString: fault.faultString })}</fault></methodResponse>\n`;
}
