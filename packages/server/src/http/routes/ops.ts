import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { marked } from 'marked';
import { sql } from 'kysely';
import { ParleyError } from '../../errors.js';
import { bearerToken } from '../auth.js';
import type { RouteDeps } from '../deps.js';

/** Health, readiness, metrics, and the docs pages the console links to. */
export function opsRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    // The callback outbox refused writes lately: not ready until a write succeeds again.
    const store = deps.callbacks.dispatcher.storeHealth();
    if (!store.ok) {
      return reply.status(503).send({
        code: 'STORE_UNAVAILABLE',
        message: `The database does not take writes (callback events wait in memory since ${new Date(store.since).toISOString()}): ${store.reason}`,
      });
    }
    try {
      await sql`select 1`.execute(deps.svc.db);
      // Ready without recording too (calls work); the field says whether recordings can run.
      return { status: 'ready', recording: deps.recordings.manager.availability() };
    } catch (err) {
      app.log.warn({ err }, 'readiness check failed');
      return reply.status(503).send({ code: 'NOT_READY', message: 'The database is not reachable.' });
    }
  });

  const metricsAuthorised = bearerCheck(deps.config.metricsToken);
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (!metricsAuthorised(req.headers.authorization)) {
      throw new ParleyError('UNAUTHENTICATED', {
        message: 'Send Authorization: Bearer <metricsToken> to read /metrics.',
        headers: { 'www-authenticate': 'Bearer realm="metrics"' },
      });
    }
    void reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get<{ Params: { page: string } }>('/docs/:page', { schema: { hide: true } }, async (req, reply) => {
    const page = req.params.page.replace(/\.md$/, '');
    if (!/^[a-z0-9-]+$/.test(page)) throw new ParleyError('ROUTE_NOT_FOUND');
    let text: string;
    try {
      text = await readFile(path.join(deps.docsDir, `${page}.md`), 'utf8');
    } catch {
      throw new ParleyError('ROUTE_NOT_FOUND', { message: `No docs page "${page}".` });
    }
    const body = await marked.parse(text);
    const title = /^#\s+(.+)$/m.exec(text)?.[1] ?? page;
    void reply.type('text/html; charset=utf-8');
    return `<!doctype html><html><head><meta charset="utf-8"><title>${title} · Parley docs</title>
<style>body{font:15px/1.6 system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;color:#1f1f1f}
pre{background:#f5f5f5;padding:12px;overflow:auto;border-radius:6px}code{font-family:ui-monospace,monospace}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px}</style></head><body>${body}</body></html>`;
  });
}

/**
 * Whether an Authorization header carries `Bearer <token>`; always true when no token is set.
 * Both sides are hashed first, so the comparison takes the same time whatever the length or
 * content of the guess.
 */
function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  if (token === '') return () => true;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = digest(token);
  return (authorization) => timingSafeEqual(digest(bearerToken(authorization) ?? ''), expected);
}
