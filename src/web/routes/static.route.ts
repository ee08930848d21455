// /static/: the web view's stylesheet and scripts from templates/web/static (the CSP allows scripts from here only);
// /favicon.ico and /favicon.svg, the site's icon (src/web/favicon.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { notFound } from '../../errors.js';
import { faviconIco, faviconSvg } from '../favicon.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../templates/web/static');
const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

export function staticRoutes(): FastifyPluginAsync {
  return async (app) => {
    const files = new Map<string, Buffer>();
    for (const name of fs.readdirSync(DIR)) {
      if (TYPES[path.extname(name)]) files.set(name, fs.readFileSync(path.join(DIR, name)));
    }
    const params = { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z0-9-]+\\.(css|js|svg)$' } }, required: ['name'] } as const;
    app.get<{ Params: { name: string } }>('/static/:name', { schema: { params: params, hide: true } }, async (req, reply) => {
      const body = files.get(req.params.name);
      if (!body) throw notFound('static_unknown', `no such file: ${req.params.name}`);
      return reply.type(TYPES[path.extname(req.params.name)]!).header('cache-control', 'public, max-age=300').send(body);
    });
    // Drawn once at start; a day's cache, since browsers ask for the icon on every page otherwise.
    const ico = faviconIco();
    const svg = Buffer.from(faviconSvg());
    app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.type('image/x-icon').header('cache-control', 'public, max-age=86400').send(ico));
    app.get('/favicon.svg', { schema: { hide: true } }, async (_req, reply) => reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(svg));
  };
}
