/**
 * The media-stream proxy of a call application: its TURN shared secret (made on first need,
 * shown to developers so they can put it in the proxy's config, rotated on request), and what a
 * terminal of the application is told about media (only the proxy, relay-only, with
 * time-limited credentials) and what the SFU accepts (only the proxy's egress IPs).
 */
import { randomBytes } from 'node:crypto';
import type { ProxySecret } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import type { IceServer } from '../config/config.js';
import { requireRole, type WorkspaceAccess } from '../services/access.js';
import { recordAudit } from '../services/audit.js';
import { getCallApp } from '../services/call-apps.js';
import type { ServiceContext } from '../services/context.js';
import type { Db } from '../store/schema.js';
import type { KeyVault } from '../security/keys.js';
import { proxyTurnUrls, turnCredentials } from './turn-credentials.js';

const newSecret = () => randomBytes(24).toString('base64url');
const boundTo = (bizName: string) => `${bizName}/proxy-secret`;

/** The secret, made and saved first when the application has none yet. */
export async function ensureProxySecret(
  db: Db,
  vault: KeyVault,
  bizName: string,
  now: number,
): Promise<ProxySecret> {
  const read = () =>
    db
      .selectFrom('call_apps')
      .select(['proxy_secret_enc', 'proxy_secret_at'])
      .where('biz_name', '=', bizName)
      .executeTakeFirst();
  let row = await read();
  if (!row) throw new ParleyError('CALL_APP_NOT_FOUND');
  if (row.proxy_secret_enc === '') {
    // Only the first of two racing requests writes; both then read the same secret.
    await db
      .updateTable('call_apps')
      .set({ proxy_secret_enc: vault.encrypt(newSecret(), boundTo(bizName)), proxy_secret_at: now })
      .where('biz_name', '=', bizName)
      .where('proxy_secret_enc', '=', '')
      .execute();
    row = await read();
    if (!row) throw new ParleyError('CALL_APP_NOT_FOUND');
  }
  return {
    secret: vault.decrypt(row.proxy_secret_enc, boundTo(bizName)),
    createdAt: Number(row.proxy_secret_at ?? now),
  };
}

export async function revealProxySecret(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<ProxySecret> {
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const secret = await ensureProxySecret(ctx.db, ctx.vault, bizName, ctx.now());
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'proxy.secret.reveal',
    targetType: 'callApp',
    targetId: bizName,
    time: ctx.now(),
  });
  return secret;
}

/** A new secret at once: terminals get credentials from it from now on (update the proxy too). */
export async function rotateProxySecret(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<ProxySecret> {
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const now = ctx.now();
  const secret = newSecret();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('call_apps')
      .set({ proxy_secret_enc: ctx.vault.encrypt(secret, boundTo(bizName)), proxy_secret_at: now })
      .where('biz_name', '=', bizName)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'proxy.secret.rotate',
      targetType: 'callApp',
      targetId: bizName,
      time: now,
    });
  });
  return { secret, createdAt: now };
}

export interface MediaPolicy {
  iceServers: IceServer[];
  iceTransportPolicy: 'all' | 'relay';
  mediaProxy: string | null;
  /** Addresses the SFU takes this application's media from; null: any. */
  egressIps: string[] | null;
}

/**
 * What a terminal of `bizName` (user `uid`) is told about media, and what the SFU accepts.
 * Without a proxy: the deployment's ICE servers, direct ICE, any address.
 */
export async function mediaPolicyFor(
  db: Db,
  vault: KeyVault,
  bizName: string,
  uid: string,
  defaults: { iceServers: readonly IceServer[]; credentialTtlSeconds: number; now: number },
): Promise<MediaPolicy> {
  const row = await db
    .selectFrom('call_apps')
    .select(['proxy_address', 'proxy_egress_ips'])
    .where('biz_name', '=', bizName)
    .executeTakeFirst();
  const address = row?.proxy_address ?? '';
  if (address === '') {
    return {
      iceServers: defaults.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
      iceTransportPolicy: 'all',
      mediaProxy: null,
      egressIps: null,
    };
  }
  const { secret } = await ensureProxySecret(db, vault, bizName, defaults.now);
  const creds = turnCredentials(secret, uid, defaults.credentialTtlSeconds, defaults.now);
  const egress = (row?.proxy_egress_ips ?? '')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    iceServers: [{ urls: proxyTurnUrls(address), username: creds.username, credential: creds.credential }],
    iceTransportPolicy: 'relay',
    mediaProxy: address,
    egressIps: egress.length > 0 ? egress : null,
  };
}
