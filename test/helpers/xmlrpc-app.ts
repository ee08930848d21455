// The XML-RPC endpoint in-process over the REST API's app (real fixture mail, users with passwords), and a client
// that posts method calls through app.inject() and reads the answers with @foxglove/xmlrpc.
import { Deserializer, serializeMethodCall, XmlRpcFault, type XmlRpcValue } from '@foxglove/xmlrpc';
import type { FastifyInstance } from 'fastify';
import { setPassword } from '../../src/api/user.service.js';
import { XmlRpcService } from '../../src/api/xmlrpc.service.js';
import { createLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import { createArchiveService } from '../../src/web/archive.service.js';
import { PEOPLE, startApiApp, type ApiApp, type Who } from './api-app.js';

/** Everyone's password for HTTP Basic. */
export const PASSWORD = 'correct horse battery';

export interface Fault {
  faultCode: number;
  faultString: string;
}

export interface XmlRpcApp {
  a: ApiApp;
  app: FastifyInstance;
  /** The answer, or the fault as a value ({ faultCode, faultString }). */
  call(method: string, params?: unknown[], auth?: Who | { authorization: string }): Promise<any>;
  close(): Promise<void>;
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export async function startXmlRpcApp(fixtures: string[]): Promise<XmlRpcApp> {
  const a = await startApiApp(fixtures);
  for (const p of Object.values(PEOPLE)) await setPassword(a.h.db, p.email, PASSWORD);
  const archive = createArchiveService({ db: a.h.db, lists: [{ id: a.h.projectId, slug: 'proctree', name: 'Proctree Syscall' }] });
  const service = new XmlRpcService({ db: a.h.db, api: a.api.api, writes: a.api.writes, auth: a.api.auth, mbox: archive });
  const app = await buildApp({
    log: createLogger('silent'),
    health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
    lists: {} as never,
    api: a.api,
    archive: { service: archive, publicBase: null },
    xmlrpc: { service, baseUrl: 'https://patchbay.example.org' },
  });
  return {
    a,
    app,
    async call(method, params = [], auth) {
      const authorization = auth === undefined ? undefined : typeof auth === 'string' ? basic(PEOPLE[auth].username, PASSWORD) : auth.authorization;
      const r = await app.inject({
        method: 'POST',
        url: '/xmlrpc/',
        headers: { 'content-type': 'text/xml', ...(authorization ? { authorization } : {}) },
        payload: serializeMethodCall(method, params as XmlRpcValue[]),
      });
      if (r.statusCode !== 200) throw new Error(`POST /xmlrpc/ ${method}: ${r.statusCode} ${r.body}`);
      try {
        return await new Deserializer().deserializeMethodResponse(r.body);
      } catch (e) {
        if (e instanceof XmlRpcFault) return { faultCode: e.faultCode, faultString: e.faultString };
        throw e;
      }
    },
    async close() {
      await app.close();
      await a.close();
    },
  };
}

/** Patchwork's bytes fields (base64 on the wire) as text. */
export function text(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  throw new Error(`expected bytes, got ${JSON.stringify(v)}`);
}
