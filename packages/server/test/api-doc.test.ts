import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from './helpers.js';

interface Route {
  method: string;
  path: string;
}

/** Paths compared without the API prefix, query and optional parts, and with parameters unnamed. */
function normalisePath(path: string): string {
  return path
    .replace(/^\/api\/v1(?=\/)/, '')
    .replace(/\[.*?\]/g, '')
    .replace(/\?.*$/, '')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/^…/, '...');
}

/**
 * The routes docs/api.md names, as code spans such as `GET/PATCH/DELETE .../apps/{appId}`:
 * methods joined by "/", then a path from the API root or, after "...", the end of one.
 */
function documentedRoutes(doc: string): { methods: string[]; path: string; span: string }[] {
  const spans = doc.matchAll(/`([A-Z]+(?:\/[A-Z]+)*) ((?:\/|\.\.\.\/|…\/)[^`\s]*)`/g);
  return [...spans].map((m) => ({
    methods: (m[1] as string).split('/'),
    path: normalisePath(m[2] as string),
    span: m[0],
  }));
}

function documents(entry: { methods: string[]; path: string }, route: Route): boolean {
  if (!entry.methods.includes(route.method)) return false;
  return entry.path.startsWith('...') ? route.path.endsWith(entry.path.slice(3)) : entry.path === route.path;
}

describe('REST API reference (docs/api.md)', () => {
  let server: TestServer;
  let routes: Route[];
  const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');

  before(async () => {
    server = await startTestServer();
    const openapi = server.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(openapi.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => ({ method: method.toUpperCase(), path: normalisePath(path) })),
    );
  });
  after(() => server.stop());

  it('names every route of the OpenAPI document', () => {
    assert.ok(routes.length > 40, `only ${routes.length} routes found`);
    const entries = documentedRoutes(doc);
    const missing = routes.filter((r) => !entries.some((e) => documents(e, r)));
    assert.deepEqual(
      missing.map((r) => `${r.method} ${r.path}`),
      [],
      'routes missing from docs/api.md (name them as `METHOD /path` or `METHOD .../end-of-path`)',
    );
  });

  it('names no route that does not exist', () => {
    const stale = documentedRoutes(doc).filter((e) =>
      e.methods.some((method) => !routes.some((r) => documents({ methods: [method], path: e.path }, r))),
    );
    assert.deepEqual(
      stale.map((e) => e.span),
      [],
      'docs/api.md names routes the server does not have',
    );
  });
});
