import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorBodySchema, LoginRequestSchema, SessionSchema, type Session } from '@parley/protocol';
import { ParleyError } from '../../errors.js';
import { hashPassword, verifyPassword } from '../../security/passwords.js';
import { createSession, deleteSession } from '../../services/sessions.js';
import { findUserByEmail, getUser, normaliseEmail, toUser } from '../../services/users.js';
import { listWorkspaces } from '../../services/workspaces.js';
import { authenticate, sessionCookie } from '../auth.js';
import type { RouteDeps } from '../deps.js';

// A fixed hash to verify against when the email is unknown, so response time does not reveal
// which emails have accounts.
let decoyHash: Promise<string> | null = null;

export function authRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const secure =
    deps.config.secureCookies === 'always' ||
    (deps.config.secureCookies === 'auto' && deps.config.publicUrl.startsWith('https:'));
  const ttlMs = deps.config.sessionTtlHours * 3600_000;

  async function sessionBody(userId: string, csrfToken: string): Promise<Session> {
    const user = await getUser(deps.svc.db, userId);
    const workspaces = await listWorkspaces(deps.svc.db, { userId, label: user.email, via: 'session' });
    return { user: toUser(user), csrfToken, workspaces };
  }

  r.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in to the console; sets the session cookie',
        body: LoginRequestSchema,
        response: { 200: SessionSchema, 401: ErrorBodySchema, 429: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      const now = deps.svc.now();
      const email = normaliseEmail(request.body.email);
      const wait = deps.limiter.retryAfterSeconds(request.ip, email, now);
      if (wait > 0) {
        throw new ParleyError('LOGIN_RATE_LIMITED', {
          message: `Too many failed sign-ins. Try again in ${wait} seconds.`,
          headers: { 'retry-after': String(wait) },
        });
      }
      const user = await findUserByEmail(deps.svc.db, email);
      decoyHash ??= hashPassword('decoy password for unknown users');
      const ok = await verifyPassword(request.body.password, user?.password_hash ?? (await decoyHash));
      if (!user || !ok) {
        deps.limiter.recordFailure(request.ip, email, now);
        deps.metrics.loginFailures.inc();
        request.log.warn({ email, ip: request.ip }, 'sign-in failed');
        throw new ParleyError('INVALID_LOGIN');
      }
      deps.limiter.recordSuccess(request.ip, email);
      const { cookieValue, csrfToken } = await createSession(deps.svc.db, user, now, ttlMs);
      void reply.setCookie(sessionCookie, cookieValue, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure,
        maxAge: Math.floor(ttlMs / 1000),
      });
      request.log.info({ userId: user.id }, 'signed in');
      return sessionBody(user.id, csrfToken);
    },
  );

  r.post(
    '/auth/logout',
    { schema: { tags: ['auth'], summary: 'Sign out (ends the session)' } },
    async (request, reply) => {
      const cookie = request.cookies[sessionCookie];
      if (cookie) {
        await authenticate(deps.svc.db, request, deps.svc.now()); // CSRF-checked like any change
        await deleteSession(deps.svc.db, cookie);
      }
      void reply.clearCookie(sessionCookie, { path: '/' });
      return reply.status(204).send();
    },
  );

  r.get(
    '/auth/session',
    {
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user, their CSRF token and workspaces',
        response: { 200: SessionSchema, 401: ErrorBodySchema },
      },
    },
    async (request) => {
      const { actor, csrfToken } = await authenticate(deps.svc.db, request, deps.svc.now());
      if (csrfToken === null) {
        const user = await getUser(deps.svc.db, actor.userId);
        return { user: toUser(user), csrfToken: '', workspaces: await listWorkspaces(deps.svc.db, actor) };
      }
      return sessionBody(actor.userId, csrfToken);
    },
  );
}
