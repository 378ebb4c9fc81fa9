import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ParleyError } from '../errors.js';
import type { RouteDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { authRoutes } from './routes/auth.js';
import { callAppRoutes } from './routes/call-apps.js';
import { credentialRoutes } from './routes/credentials.js';
import { roomRoutes } from './routes/rooms.js';
import { callbackRoutes } from './routes/callbacks.js';
import { recordingRoutes } from './routes/recordings.js';
import { proxyRoutes } from './routes/proxy.js';
import { opsRoutes } from './routes/ops.js';
import { workspaceRoutes } from './routes/workspaces.js';

/**
 * The trustProxy setting in the shape Fastify's types accept: a hop count becomes "trust the
 * first n hops" (what Fastify does with a number at run time; its types omit numbers).
 */
function fastifyTrustProxy(
  setting: boolean | number | readonly string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return typeof setting === 'boolean' ? setting : [...setting];
}

export async function buildHttpApp(deps: RouteDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: 256 * 1024,
    // Behind a reverse proxy the client address (sign-in limits, logs) comes from X-Forwarded-For,
    // but only from the proxies this setting trusts.
    trustProxy: fastifyTrustProxy(deps.config.trustProxy),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });

  app.setErrorHandler(errorHandler);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    deps.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  // An empty body sent as application/json is no body (clients set the header on every request,
  // DELETE included); anything else goes to Fastify's own parser, with its prototype-poisoning
  // protection.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });

  // POSTs whose body is all optional may be sent without one.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.method !== 'GET' && request.method !== 'DELETE')
      request.body = {};
  });

  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Parley REST API',
        version: '1',
        description:
          'Manage workspaces, apps, call applications, keys and feature configuration. Authenticate with `Authorization: Bearer <token>` (API tokens) or the console session cookie plus `X-CSRF-Token`. Errors: `{code, message, field?, reason?}`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });

  await app.register(
    async (api) => {
      authRoutes(api, deps);
      workspaceRoutes(api, deps);
      callAppRoutes(api, deps);
      credentialRoutes(api, deps);
      roomRoutes(api, deps);
      callbackRoutes(api, deps);
      recordingRoutes(api, deps, deps.recordings);
      proxyRoutes(api, deps);
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: '/api/v1' },
  );
  await app.register(swaggerUi, { routePrefix: '/api/v1/docs' });

  opsRoutes(app, deps);

  // The console: hashed files under /assets are immutable; index.html is always revalidated so
  // a rebuilt console is picked up. Files are looked up per request (wildcard), so rebuilding
  // the console does not need a server restart.
  const consoleDir = deps.consoleDir;
  const hasConsole = consoleDir !== null && existsSync(path.join(consoleDir, 'index.html'));
  if (hasConsole) {
    await app.register(fastifyStatic, {
      root: consoleDir,
      prefix: '/',
      wildcard: true,
      index: ['index.html'],
      setHeaders: (reply, filePath) => {
        void reply.header(
          'cache-control',
          filePath.includes(`${path.sep}assets${path.sep}`)
            ? 'public, max-age=31536000, immutable'
            : 'no-cache',
        );
      },
    });
  }

  // The browser SDK bundle and the call page (packages/client).
  const clientDir = deps.clientDir;
  if (clientDir && existsSync(path.join(clientDir, 'call', 'index.html'))) {
    await app.register(fastifyStatic, {
      root: path.join(clientDir, 'call'),
      prefix: '/call/',
      decorateReply: false,
      setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
    });
    app.get('/call', { schema: { hide: true } }, async (request, reply) => {
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      return reply.redirect(`/call/${query}`);
    });
  }
  if (clientDir && existsSync(path.join(clientDir, 'parley-client.js'))) {
    app.get('/sdk/parley-client.js', { schema: { hide: true } }, async (_request, reply) => {
      void reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8');
      return readFile(path.join(clientDir, 'parley-client.js'));
    });
    app.get('/sdk/parley-client.js.map', { schema: { hide: true } }, async (_request, reply) => {
      void reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8');
      return readFile(path.join(clientDir, 'parley-client.js.map'));
    });
  }

  app.setNotFoundHandler(async (request, reply) => {
    const pathname = request.url.split('?')[0] ?? '/';
    // Console routes are client-side: any GET that is not the API, docs or a file loads index.html.
    const isPageRoute =
      request.method === 'GET' &&
      !pathname.startsWith('/api/') &&
      !pathname.startsWith('/assets/') &&
      !/\.[a-z0-9]+$/i.test(pathname);
    if (hasConsole && isPageRoute) {
      void reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html');
    }
    throw new ParleyError('ROUTE_NOT_FOUND', { message: `No endpoint ${request.method} ${pathname}.` });
  });

  return app;
}
