import { randomSecret, sha256Hex } from '../security/ids.js';
import type { Db } from '../store/schema.js';
import type { Actor } from './context.js';

export interface SessionInfo {
  actor: Actor;
  csrfToken: string;
}

/** The cookie holds a random secret; the database holds only its hash. */
export async function createSession(
  db: Db,
  user: { id: string; email: string },
  now: number,
  ttlMs: number,
): Promise<{ cookieValue: string; csrfToken: string }> {
  const cookieValue = randomSecret();
  const csrfToken = randomSecret();
  await db
    .insertInto('sessions')
    .values({
      id_hash: sha256Hex(cookieValue),
      user_id: user.id,
      csrf_token: csrfToken,
      created_at: now,
      expires_at: now + ttlMs,
    })
    .execute();
  // Expired sessions are swept as new ones are made; no timer needed.
  await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
  return { cookieValue, csrfToken };
}

export async function findSession(db: Db, cookieValue: string, now: number): Promise<SessionInfo | null> {
  const row = await db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['u.id', 'u.email', 's.csrf_token', 's.expires_at'])
    .where('s.id_hash', '=', sha256Hex(cookieValue))
    .executeTakeFirst();
  if (!row || row.expires_at <= now) return null;
  return { actor: { userId: row.id, label: row.email, via: 'session' }, csrfToken: row.csrf_token };
}

export async function deleteSession(db: Db, cookieValue: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', sha256Hex(cookieValue)).execute();
}

/** Ends every session of a user, except the one whose cookie is `except`; returns how many ended. */
export async function endUserSessions(db: Db, userId: string, except?: string): Promise<number> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (except !== undefined) q = q.where('id_hash', '!=', sha256Hex(except));
  const result = await q.executeTakeFirst();
  return Number(result.numDeletedRows);
}
