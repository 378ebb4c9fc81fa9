/**
 * Per-call-application callback signing secrets. Rotation keeps the previous secret signing
 * alongside the new one for an overlap period, so receivers can switch without failures.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/schema.js';
import type { KeyVault } from '../security/keys.js';

export interface CallbackSecretInfo {
  secretId: string;
  secret: string;
  status: 'active' | 'retiring';
  createdAt: number;
  expiresAt: number | null;
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const newId = () => `cs_${randomBytes(8).toString('hex')}`;

export async function listSecrets(
  db: Db,
  vault: KeyVault,
  bizName: string,
  now: number,
): Promise<CallbackSecretInfo[]> {
  const rows = await db
    .selectFrom('callback_secrets')
    .selectAll()
    .where('biz_name', '=', bizName)
    .orderBy('created_at', 'desc')
    .execute();
  return rows
    .filter((r) => r.status === 'active' || (r.expires_at !== null && r.expires_at > now))
    .map((r) => ({
      secretId: r.id,
      secret: vault.decrypt(r.secret_enc, `${bizName}/${r.id}`),
      status: r.status,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    }));
}

/**
 * The secrets that sign now. A call application gets its first secret when it is created;
 * one made before secrets existed gets it here, when a callback must first be signed (never
 * when someone merely looks at the secrets).
 */
export async function signingSecrets(
  db: Db,
  vault: KeyVault,
  bizName: string,
  now: number,
): Promise<string[]> {
  let secrets = await listSecrets(db, vault, bizName, now);
  if (!secrets.some((s) => s.status === 'active')) {
    await insertSecret(db, vault, bizName, now);
    secrets = await listSecrets(db, vault, bizName, now);
  }
  return secrets.map((s) => s.secret);
}

/** Adds an active secret (the first one of a call application, or the next one of a rotation). */
export async function insertSecret(db: Db, vault: KeyVault, bizName: string, now: number): Promise<void> {
  const id = newId();
  await db
    .insertInto('callback_secrets')
    .values({
      id,
      biz_name: bizName,
      secret_enc: vault.encrypt(newSecret(), `${bizName}/${id}`),
      status: 'active',
      created_at: now,
      expires_at: null,
    })
    .execute();
}

export async function rotateSecret(
  db: Db,
  vault: KeyVault,
  bizName: string,
  now: number,
  overlapMs: number,
): Promise<void> {
  // With no active secret there is nothing to overlap: the new one is simply the first.
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('callback_secrets')
      .set({ status: 'retiring', expires_at: now + overlapMs })
      .where('biz_name', '=', bizName)
      .where('status', '=', 'active')
      .execute();
    await insertSecret(trx, vault, bizName, now);
  });
}
