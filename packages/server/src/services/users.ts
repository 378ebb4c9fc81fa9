import { passwordMinLength, type User } from '@parley/protocol';
import { ParleyError, fieldError } from '../errors.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { newUserId } from '../security/ids.js';
import type { Db, UsersTable } from '../store/schema.js';

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function checkEmail(field: string, email: string): void {
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 254) {
    throw fieldError(field, 'must be an email address such as ops@example.com', 'EMAIL_INVALID');
  }
}

export function checkNewPassword(field: string, password: string): void {
  if (password.length < passwordMinLength)
    throw fieldError(field, `must be at least ${passwordMinLength} characters`, 'TOO_SHORT');
}

export function toUser(row: UsersTable): User {
  return { userId: row.id, email: row.email, name: row.name, createdAt: row.created_at };
}

export async function createUser(
  db: Db,
  input: { email: string; name: string; password: string },
  now: number,
): Promise<UsersTable> {
  const email = normaliseEmail(input.email);
  checkEmail('email', email);
  checkNewPassword('password', input.password);
  const row: UsersTable = {
    id: newUserId(),
    email,
    name: input.name.trim() || email.split('@')[0] || email,
    password_hash: await hashPassword(input.password),
    created_at: now,
  };
  await db.insertInto('users').values(row).execute();
  return row;
}

export async function findUserByEmail(db: Db, email: string): Promise<UsersTable | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', normaliseEmail(email)).executeTakeFirst();
}

export async function getUser(db: Db, userId: string): Promise<UsersTable> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  if (!row) throw new ParleyError('USER_NOT_FOUND');
  return row;
}

/** Re-authentication for sensitive actions (key reveal): the password must match. */
export async function confirmPassword(db: Db, userId: string, password: string | undefined): Promise<void> {
  if (!password)
    throw new ParleyError('REAUTH_FAILED', { field: 'password', message: 'Enter your password.' });
  const user = await getUser(db, userId);
  if (!(await verifyPassword(password, user.password_hash))) {
    throw new ParleyError('REAUTH_FAILED', { field: 'password' });
  }
}
