import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import {
  ChangePasswordRequestSchema,
  ChangePasswordResultSchema,
  ErrorBodySchema,
  LoginRequestSchema,
  RevokeSessionsRequestSchema,
  RevokeSessionsResultSchema,
  SessionSchema,
  type Session,
} from '@parley/protocol';
import { ParleyError } from '../../errors.js';
import { hashPassword, verifyPassword } from '../../security/passwords.js';
import { changePassword, checkPasswordChange, signOutEverywhere } from '../../services/account.js';
import type { LoginAttempt } from '../../services/login-limiter.js';
import { createSession, deleteSession } from '../../services/sessions.js';
import { findUserByEmail, getUser, normaliseEmail, toUser } from '../../services/users.js';
import { listWorkspaces } from '../../services/workspaces.js';
import { authenticate, sessionCookie } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import {
  DeviceCookies,
  deviceCookie,
  deviceCookieMaxAgeSeconds,
  deviceCookiePath,
} from '../device-cookie.js';

// A fixed hash to verify against when the email is unknown, so response time does not reveal
// which emails have accounts.
let decoyHash: Promise<string> | null = null;

export function authRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const secure =
    deps.config.secureCookies === 'always' ||
    (deps.config.secureCookies === 'auto' && deps.config.publicUrl.startsWith('https:'));
  const ttlMs = deps.config.sessionTtlHours * 3600_000;
  const devices = new DeviceCookies(deps.svc.vault.deriveKey('device-cookie'));

  /**
   * Takes a slot for one password guess by this client for `email`, before anything is awaited
   * (see services/login-limiter.ts), or refuses with 429 and Retry-After.
   */
  function beginAttempt(request: FastifyRequest, email: string): Extract<LoginAttempt, { allowed: true }> {
    const device = devices.deviceFor(request.cookies[deviceCookie], email);
    const attempt = deps.limiter.begin({ ip: request.ip, email, device }, deps.svc.now());
    if (!attempt.allowed) {
      const wait = attempt.retryAfterSeconds;
      throw new ParleyError('LOGIN_RATE_LIMITED', {
        message: `Too many failed sign-ins. Try again in ${wait} seconds.`,
        headers: { 'retry-after': String(wait) },
      });
    }
    return attempt;
  }

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
      const attempt = beginAttempt(request, email);
      const user = await findUserByEmail(deps.svc.db, email);
      decoyHash ??= hashPassword('decoy password for unknown users');
      const ok = await verifyPassword(request.body.password, user?.password_hash ?? (await decoyHash));
      if (!user || !ok) {
        deps.metrics.loginFailures.inc();
        request.log.warn({ email, ip: request.ip }, 'sign-in failed');
        throw new ParleyError('INVALID_LOGIN');
      }
      attempt.succeeded();
      const { cookieValue, csrfToken } = await createSession(deps.svc.db, user, now, ttlMs);
      void reply.setCookie(sessionCookie, cookieValue, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure,
        maxAge: Math.floor(ttlMs / 1000),
      });
      // A fresh device cookie each time: its lifetime runs from the last successful sign-in.
      void reply.setCookie(deviceCookie, devices.issue(email), {
        path: deviceCookiePath,
        httpOnly: true,
        sameSite: 'strict',
        secure,
        maxAge: deviceCookieMaxAgeSeconds,
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

  r.post(
    '/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change your password (console session only); signs out your other sessions',
        body: ChangePasswordRequestSchema,
        response: {
          200: ChangePasswordResultSchema,
          400: ErrorBodySchema,
          403: ErrorBodySchema,
          429: ErrorBodySchema,
        },
      },
    },
    async (request) => {
      const { actor, csrfToken } = await authenticate(deps.svc.db, request, deps.svc.now());
      const cookie = request.cookies[sessionCookie];
      if (csrfToken === null || cookie === undefined) {
        throw new ParleyError('FORBIDDEN', {
          message: 'Change a password in the console (signed in), not with an API token.',
        });
      }
      checkPasswordChange(request.body);
      // The current password is a guess like a sign-in: same budget.
      const attempt = beginAttempt(request, normaliseEmail(actor.label));
      const result = await changePassword(deps.svc, actor, cookie, request.body);
      attempt.succeeded();
      request.log.info({ userId: actor.userId, sessionsEnded: result.sessionsEnded }, 'password changed');
      return result;
    },
  );

  r.post(
    '/auth/sessions/revoke-all',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign out everywhere: end all your console sessions, this one included',
        description:
          'With `revokeTokens: true` your API tokens in every workspace are revoked too. Works with a session or an API token.',
        body: RevokeSessionsRequestSchema,
        response: { 200: RevokeSessionsResultSchema },
      },
    },
    async (request, reply) => {
      const { actor } = await authenticate(deps.svc.db, request, deps.svc.now());
      const result = await signOutEverywhere(deps.svc, actor, request.body);
      void reply.clearCookie(sessionCookie, { path: '/' });
      request.log.info({ userId: actor.userId, ...result }, 'signed out everywhere');
      return result;
    },
  );
}
