import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ParleyError } from '../errors.js';
import type { Actor } from '../services/context.js';
import { findSession } from '../services/sessions.js';
import { authenticateToken } from '../services/tokens.js';
import type { Db } from '../store/schema.js';

export const sessionCookie = 'parley_session';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? null;
}

/**
 * Who is calling: a bearer token, or the session cookie. Cookie-authenticated requests that
 * change state must carry the session's CSRF token in `X-CSRF-Token`.
 */
export async function authenticate(
  db: Db,
  request: FastifyRequest,
  now: number,
): Promise<{ actor: Actor; csrfToken: string | null }> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const token = bearerToken(header);
    const actor = token ? await authenticateToken(db, token, now) : null;
    if (!actor)
      throw new ParleyError('UNAUTHENTICATED', { message: 'The API token is invalid, expired or revoked.' });
    return { actor, csrfToken: null };
  }
  const cookie = request.cookies[sessionCookie];
  const session = cookie ? await findSession(db, cookie, now) : null;
  if (!session) throw new ParleyError('UNAUTHENTICATED');
  if (!safeMethods.has(request.method)) {
    const sent = request.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameSecret(sent, session.csrfToken))
      throw new ParleyError('CSRF_TOKEN_INVALID');
  }
  return { actor: session.actor, csrfToken: session.csrfToken };
}
