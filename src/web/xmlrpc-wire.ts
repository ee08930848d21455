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

/**
 * Text as XML character data. Besides & < >, a CR is written &#13; so that diffs with CRLF lines keep them (a
 * parser turns a literal CR into LF, XML 1.0 §2.11), and a character XML 1.0 cannot carry at all (C0 controls
 * but tab and newlines, lone surrogates, U+FFFE/U+FFFF) becomes U+FFFD: Python's client would refuse the whole answer.
 */
export function xmlText(s: string): string {
  return s.replace(/[&<>\r]|[^\t\n\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '\r':
        return '&#13;';
      default:
        return '\uFFFD';
    }
  });
}

/**
 * One value. The library's serializer is not used for answers: it writes a string holding `<` or `&` as CDATA and
 * throws on one that also holds `]]>` (a patch to an XML file), and it lets control characters through.
 */
class Markup {
  constructor(readonly xml: string) {}
}

function encodeValue(root: XmlRpcValue): string {
  const out: string[] = [];
  // Iterative: a value is never deep here, but nothing in this function depends on that.
  const stack: (XmlRpcValue | Markup)[] = [root];
  while (stack.length) {
    const x = stack.pop();
    if (x instanceof Markup) {
      out.push(x.xml);
      continue;
    }
    if (x === null || x === undefined) out.push('<value><nil/></value>');
    else if (typeof x === 'string') out.push(`<value><string>${xmlText(x)}</string></value>`);
    else if (typeof x === 'boolean') out.push(`<value><boolean>${x ? 1 : 0}</boolean></value>`);
    else if (typeof x === 'number') out.push(Number.isInteger(x) ? `<value><int>${x}</int></value>` : `<value><double>${Number.isFinite(x) ? x : 0}</double></value>`);
    else if (x instanceof Uint8Array) out.push(`<value><base64>${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64')}</base64></value>`);
    else if (x instanceof Date) out.push(`<value><dateTime.iso8601>${x.toISOString().slice(0, 19).replace(/-/g, '')}</dateTime.iso8601></value>`);
    else if (Array.isArray(x)) {
      out.push('<value><array><data>');
      stack.push(new Markup('</data></array></value>'));
      for (let i = x.length - 1; i >= 0; i--) stack.push(x[i]);
    } else {
      out.push('<value><struct>');
      stack.push(new Markup('</struct></value>'));
      const keys = Object.keys(x);
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push(new Markup('</member>'));
        stack.push(x[keys[i]!]);
        stack.push(new Markup(`<member><name>${xmlText(keys[i]!)}</name>`));
      }
    }
  }
  return out.join('');
}

const PROLOG = "<?xml version='1.0'?>\n";

export function encodeResponse(value: XmlRpcValue): string {
  return `${PROLOG}<methodResponse><params><param>${encodeValue(value)}</param></params></methodResponse>\n`;
}

export function encodeFault(fault: { faultCode: number; faultString: string }): string {
  return `${PROLOG}<methodResponse><fault>${encodeValue({ faultCode: fault.faultCode, faultString: fault.faultString })}</fault></methodResponse>\n`;
}
