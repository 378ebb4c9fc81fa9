/**
 * The keys of a call application: each one an RSA pair whose private half is sealed by the vault.
 * One key is active; rotation makes a new one and lets the old keep verifying credentials for a
 * grace period (retiring), after which it is retired. Revealing the private key is audited.
 */
import type { KeyInfo, KeyStatus, RevealedKey } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import { generateRsaKeyPair, keyFingerprint, maskKey } from '../security/keys.js';
import { newKeyId } from '../security/ids.js';
import type { CallAppKeysTable, Db } from '../store/schema.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import { callAppRow } from './call-app-row.js';
import type { ServiceContext } from './context.js';
import { confirmPassword } from './users.js';

type KeyMeta = Pick<CallAppKeysTable, 'id' | 'status' | 'fingerprint' | 'created_at' | 'retires_at'>;

/** A retiring key whose grace period is over is retired, whether or not a job has noticed yet. */
function effectiveStatus(key: Pick<CallAppKeysTable, 'status' | 'retires_at'>, now: number): KeyStatus {
  if (key.status === 'retiring' && key.retires_at !== null && key.retires_at <= now) return 'retired';
  return key.status;
}

export function toKeyInfo(key: KeyMeta, now: number): KeyInfo {
  return {
    keyId: key.id,
    status: effectiveStatus(key, now),
    fingerprint: key.fingerprint,
    masked: maskKey(key.fingerprint),
    createdAt: key.created_at,
    retiresAt: key.retires_at,
  };
}

export async function sealedKey(
  ctx: ServiceContext,
  bizName: string,
  now: number,
): Promise<CallAppKeysTable> {
  const pair = await generateRsaKeyPair();
  const id = newKeyId();
  return {
    id,
    biz_name: bizName,
    status: 'active',
    public_key_pem: pair.publicKeyPem,
    private_key_enc: ctx.vault.encrypt(pair.privateKeyPem, `${bizName}/${id}`),
    fingerprint: keyFingerprint(pair.publicKeyPem),
    created_at: now,
    retires_at: null,
  };
}

export async function listKeys(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<KeyInfo[]> {
  await callAppRow(ctx.db, access, appId, bizName);
  const rows = await ctx.db
    .selectFrom('call_app_keys')
    .select(['id', 'status', 'fingerprint', 'created_at', 'retires_at'])
    .where('biz_name', '=', bizName)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(20)
    .execute();
  const now = ctx.now();
  const order: Record<KeyStatus, number> = { active: 0, retiring: 1, retired: 2 };
  return rows.map((r) => toKeyInfo(r, now)).sort((a, b) => order[a.status] - order[b.status]);
}

/** Shows the active private key. Console users re-enter their password; every reveal is audited. */
export async function revealKey(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  password: string | undefined,
): Promise<RevealedKey> {
  requireRole(access, 'developer');
  await callAppRow(ctx.db, access, appId, bizName);
  if (access.actor.via === 'session') await confirmPassword(ctx.db, access.actor.userId, password);
  const key = await ctx.db
    .selectFrom('call_app_keys')
    .selectAll()
    .where('biz_name', '=', bizName)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!key) throw new ParleyError('KEY_NOT_FOUND');
  const privateKeyPem = ctx.vault.decrypt(key.private_key_enc, `${bizName}/${key.id}`);
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'callApp.key.reveal',
    targetType: 'callApp',
    targetId: bizName,
    after: { keyId: key.id, fingerprint: key.fingerprint },
    time: ctx.now(),
  });
  return { keyId: key.id, privateKeyPem, publicKeyPem: key.public_key_pem };
}

/** Makes a new active key; the old one keeps verifying for the grace period. */
export async function rotateKey(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  graceHours: number | undefined,
): Promise<KeyInfo[]> {
  requireRole(access, 'developer');
  await callAppRow(ctx.db, access, appId, bizName);
  const now = ctx.now();
  const grace = graceHours ?? ctx.keyRotationGraceHours;
  const retiresAt = now + Math.round(grace * 3600_000);
  const fresh = await sealedKey(ctx, bizName, now);
  await ctx.db.transaction().execute(async (trx) => {
    const old = await trx
      .selectFrom('call_app_keys')
      .select(['id', 'fingerprint'])
      .where('biz_name', '=', bizName)
      .where('status', '=', 'active')
      .executeTakeFirst();
    await trx
      .updateTable('call_app_keys')
      .set({ status: grace > 0 ? 'retiring' : 'retired', retires_at: retiresAt })
      .where('biz_name', '=', bizName)
      .where('status', '=', 'active')
      .execute();
    await trx.insertInto('call_app_keys').values(fresh).execute();
    await trx.updateTable('call_apps').set({ updated_at: now }).where('biz_name', '=', bizName).execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.key.rotate',
      targetType: 'callApp',
      targetId: bizName,
      before: old ? { keyId: old.id, fingerprint: old.fingerprint } : null,
      after: { keyId: fresh.id, fingerprint: fresh.fingerprint, oldKeyRetiresAt: retiresAt },
      time: now,
    });
  });
  return listKeys(ctx, access, appId, bizName);
}

/** Ends a retiring key's grace period now. */
export async function retireKey(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  keyId: string,
): Promise<KeyInfo[]> {
  requireRole(access, 'developer');
  await callAppRow(ctx.db, access, appId, bizName);
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const key = await trx
      .selectFrom('call_app_keys')
      .select(['id', 'status', 'retires_at', 'fingerprint'])
      .where('biz_name', '=', bizName)
      .where('id', '=', keyId)
      .executeTakeFirst();
    if (!key) throw new ParleyError('KEY_NOT_FOUND');
    if (effectiveStatus(key, now) !== 'retiring') throw new ParleyError('KEY_NOT_RETIRING');
    await trx
      .updateTable('call_app_keys')
      .set({ status: 'retired', retires_at: now })
      .where('id', '=', keyId)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.key.retire',
      targetType: 'callApp',
      targetId: bizName,
      before: { keyId, retiresAt: key.retires_at },
      after: { keyId, retiresAt: now },
      time: now,
    });
  });
  return listKeys(ctx, access, appId, bizName);
}

/** Public keys that verify credentials for a bizName right now: the active key and any in grace. */
export async function verificationKeys(
  db: Db,
  bizName: string,
  now: number,
): Promise<{ keyId: string; publicKeyPem: string }[]> {
  const rows = await db
    .selectFrom('call_app_keys')
    .select(['id', 'status', 'retires_at', 'public_key_pem'])
    .where('biz_name', '=', bizName)
    .where('status', 'in', ['active', 'retiring'])
    .execute();
  return rows
    .filter((r) => effectiveStatus(r, now) !== 'retired')
    .sort((a, b) => (a.status === 'active' ? -1 : b.status === 'active' ? 1 : 0))
    .map((r) => ({ keyId: r.id, publicKeyPem: r.public_key_pem }));
}
