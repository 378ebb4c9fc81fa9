/**
 * Call applications (the seed's console page): list/search, create with a generated bizName
 * and RSA key, rename, delete, feature configuration with optimistic concurrency, and a
 * credential to try a call from the console. Their keys (reveal, rotation, verification) are
 * call-app-keys.ts, exported from here too.
 */
import {
  checkName,
  normaliseName,
  recordingDefaults,
  validateFeatureConfig,
  type CallApp,
  type CallAppList,
  type FeatureConfig,
  type FeatureConfigResponse,
  type ListCallAppsQuery,
} from '@parley/protocol';
import { sign, type Credential } from '@parley/server-sdk';
import { ParleyError, fieldError, rejectIssue } from '../errors.js';
import { newBizName } from '../security/ids.js';
import type { CallAppsTable, Db } from '../store/schema.js';
import { containsIgnoreCase } from '../store/text-search.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import { sealedKey, toKeyInfo } from './call-app-keys.js';
import { callAppRow } from './call-app-row.js';
import type { ServiceContext } from './context.js';
import { getApp } from './apps.js';
import { insertSecret } from '../callbacks/secrets.js';

export { listKeys, retireKey, revealKey, rotateKey, verificationKeys } from './call-app-keys.js';

type CallAppRow = Pick<
  CallAppsTable,
  'biz_name' | 'name' | 'app_id' | 'workspace_id' | 'auto_record' | 'created_at' | 'updated_at'
> & {
  key_id: string;
  key_fingerprint: string;
  key_created_at: number;
};

function toCallApp(r: CallAppRow, now: number): CallApp {
  return {
    bizName: r.biz_name,
    name: r.name,
    appId: r.app_id,
    workspaceId: r.workspace_id,
    autoRecord: r.auto_record === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    key: toKeyInfo(
      {
        id: r.key_id,
        status: 'active',
        fingerprint: r.key_fingerprint,
        created_at: r.key_created_at,
        retires_at: null,
      },
      now,
    ),
  };
}

function callAppsWithKey(db: Db, workspaceId: string, appId: string) {
  return db
    .selectFrom('call_apps as c')
    .innerJoin('call_app_keys as k', (j) =>
      j.onRef('k.biz_name', '=', 'c.biz_name').on('k.status', '=', 'active'),
    )
    .where('c.workspace_id', '=', workspaceId)
    .where('c.app_id', '=', appId);
}

const listColumns = [
  'c.biz_name',
  'c.name',
  'c.app_id',
  'c.workspace_id',
  'c.auto_record',
  'c.created_at',
  'c.updated_at',
  'k.id as key_id',
  'k.fingerprint as key_fingerprint',
  'k.created_at as key_created_at',
] as const;

/**
 * One page of call applications, newest first. The page is chosen on call_apps alone (the
 * index covers the filter and the order), then the 50 keys are fetched by primary key, so a
 * deep page does not join thousands of rows it skips.
 */
export async function listCallApps(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  q: ListCallAppsQuery,
): Promise<CallAppList> {
  await getApp(ctx.db, access, appId);
  const page = q.page ?? 1;
  const pageSize = q.pageSize ?? 20;
  let base = ctx.db
    .selectFrom('call_apps as c')
    .where('c.workspace_id', '=', access.workspaceId)
    .where('c.app_id', '=', appId);
  const search = q.search?.trim() ?? '';
  if (search !== '') {
    base = base.where((eb) =>
      eb.or([containsIgnoreCase('c.name', search), containsIgnoreCase('c.biz_name', search)]),
    );
  }
  const [rows, count] = await Promise.all([
    base
      .select([
        'c.biz_name',
        'c.name',
        'c.app_id',
        'c.workspace_id',
        'c.auto_record',
        'c.created_at',
        'c.updated_at',
      ])
      .orderBy('c.created_at', 'desc')
      .orderBy('c.biz_name', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const keys =
    rows.length === 0
      ? []
      : await ctx.db
          .selectFrom('call_app_keys')
          .select(['biz_name', 'id', 'fingerprint', 'created_at'])
          .where(
            'biz_name',
            'in',
            rows.map((r) => r.biz_name),
          )
          .where('status', '=', 'active')
          .execute();
  const keyOf = new Map(keys.map((k) => [k.biz_name, k]));
  const now = ctx.now();
  const items = rows.flatMap((r) => {
    const key = keyOf.get(r.biz_name);
    if (!key) return []; // only while a concurrent delete is half-visible
    return [
      toCallApp(
        { ...r, key_id: key.id, key_fingerprint: key.fingerprint, key_created_at: key.created_at },
        now,
      ),
    ];
  });
  return { items, total: Number(count.n), page, pageSize };
}

export async function getCallApp(
  db: Db,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  now: number,
): Promise<CallApp> {
  const row = await callAppsWithKey(db, access.workspaceId, appId)
    .where('c.biz_name', '=', bizName)
    .select(listColumns)
    .executeTakeFirst();
  if (!row) throw new ParleyError('CALL_APP_NOT_FOUND');
  return toCallApp(row, now);
}

export async function createCallApp(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  input: { name: string },
): Promise<CallApp> {
  requireRole(access, 'developer');
  rejectIssue(checkName('name', input.name));
  await getApp(ctx.db, access, appId);
  const name = normaliseName(input.name);
  const now = ctx.now();
  const bizName = newBizName();
  const key = await sealedKey(ctx, bizName, now);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('call_apps')
      .values({
        biz_name: bizName,
        workspace_id: access.workspaceId,
        app_id: appId,
        name,
        auto_record: 0,
        record_media_type: recordingDefaults.mediaType,
        record_max_mixed_streams: recordingDefaults.maxMixedStreams,
        recording_callback_url: '',
        room_callback_url: '',
        proxy_address: '',
        proxy_egress_ips: '',
        proxy_secret_enc: '',
        proxy_secret_at: null,
        config_version: 1,
        config_updated_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await trx.insertInto('call_app_keys').values(key).execute();
    // The callback signing secret comes with the call application (reading it never creates one).
    await insertSecret(trx, ctx.vault, bizName, now);
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.create',
      targetType: 'callApp',
      targetId: bizName,
      after: { name, appId, keyId: key.id },
      time: now,
    });
  });
  return getCallApp(ctx.db, access, appId, bizName, now);
}

export async function renameCallApp(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  newName: string,
): Promise<CallApp> {
  requireRole(access, 'developer');
  rejectIssue(checkName('name', newName));
  const name = normaliseName(newName);
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const before = await getCallApp(trx, access, appId, bizName, now);
    await trx
      .updateTable('call_apps')
      .set({ name, updated_at: now })
      .where('biz_name', '=', bizName)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.rename',
      targetType: 'callApp',
      targetId: bizName,
      before: { name: before.name },
      after: { name },
      time: now,
    });
  });
  return getCallApp(ctx.db, access, appId, bizName, now);
}

/** Deletes the call application with its keys (foreign-key cascade) in one transaction. */
export async function deleteCallApp(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<void> {
  requireRole(access, 'admin');
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const before = await getCallApp(trx, access, appId, bizName, now);
    await trx.deleteFrom('call_app_keys').where('biz_name', '=', bizName).execute();
    // Its callback history and secrets go with it (attempts cascade from their events).
    await trx
      .deleteFrom('callback_attempts')
      .where('event_id', 'in', trx.selectFrom('callback_events').select('id').where('biz_name', '=', bizName))
      .execute();
    await trx.deleteFrom('callback_events').where('biz_name', '=', bizName).execute();
    await trx.deleteFrom('callback_secrets').where('biz_name', '=', bizName).execute();
    await trx.deleteFrom('call_apps').where('biz_name', '=', bizName).execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.delete',
      targetType: 'callApp',
      targetId: bizName,
      before: { name: before.name, appId },
      time: now,
    });
  });
}

function asMediaType(n: number): 0 | 1 | 2 {
  return n === 1 || n === 2 ? n : 0;
}

function toConfigResponse(row: CallAppsTable): FeatureConfigResponse {
  return {
    config: {
      autoRecord: row.auto_record === 1,
      recordMediaType: asMediaType(row.record_media_type),
      recordMaxMixedStreams: row.record_max_mixed_streams,
      recordingCallbackUrl: row.recording_callback_url,
      roomCallbackUrl: row.room_callback_url,
      proxyAddress: row.proxy_address,
      proxyEgressIps: row.proxy_egress_ips,
    },
    version: row.config_version,
    updatedAt: row.config_updated_at,
  };
}

export async function getFeatureConfig(
  db: Db,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<FeatureConfigResponse> {
  return toConfigResponse(await callAppRow(db, access, appId, bizName));
}

/**
 * Validates every field first (nothing is saved if any is invalid), then saves only if
 * nobody saved since `version` was read.
 */
export async function saveFeatureConfig(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  input: { config: FeatureConfig; version: number },
): Promise<FeatureConfigResponse> {
  requireRole(access, 'developer');
  // The recording options may be omitted (older clients): they keep their saved values.
  const { issues, value } = validateFeatureConfig({
    ...input.config,
    recordMediaType: input.config.recordMediaType ?? recordingDefaults.mediaType,
    recordMaxMixedStreams: input.config.recordMaxMixedStreams ?? recordingDefaults.maxMixedStreams,
  });
  const first = issues[0];
  if (first) throw fieldError(`config.${first.field}`, first.message, first.reason);
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const before = await callAppRow(trx, access, appId, bizName);
    const result = await trx
      .updateTable('call_apps')
      .set({
        auto_record: value.autoRecord ? 1 : 0,
        record_media_type: input.config.recordMediaType ?? before.record_media_type,
        record_max_mixed_streams: input.config.recordMaxMixedStreams ?? before.record_max_mixed_streams,
        recording_callback_url: value.recordingCallbackUrl,
        room_callback_url: value.roomCallbackUrl,
        proxy_address: value.proxyAddress,
        proxy_egress_ips: value.proxyEgressIps,
        config_version: input.version + 1,
        config_updated_at: now,
        updated_at: now,
      })
      .where('biz_name', '=', bizName)
      .where('config_version', '=', input.version)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new ParleyError('VERSION_CONFLICT', { field: 'version' });
    }
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callApp.config.save',
      targetType: 'callApp',
      targetId: bizName,
      before: toConfigResponse(before).config,
      after: {
        ...value,
        recordMediaType: input.config.recordMediaType ?? before.record_media_type,
        recordMaxMixedStreams: input.config.recordMaxMixedStreams ?? before.record_max_mixed_streams,
      },
      time: now,
    });
    return toConfigResponse(await callAppRow(trx, access, appId, bizName));
  });
}

/**
 * Signs a credential for the signed-in console user, so they can try a call from the console
 * without a business server. The uid is derived from the user id; the credential lasts an hour.
 */
export async function signTryCredential(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<Credential> {
  requireRole(access, 'developer');
  const app = await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const key = await ctx.db
    .selectFrom('call_app_keys')
    .select(['id', 'private_key_enc'])
    .where('biz_name', '=', bizName)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!key) throw new ParleyError('KEY_NOT_FOUND');
  const now = ctx.now();
  return sign(
    {
      bizName,
      appId: app.appId,
      workspaceId: app.workspaceId,
      uid: `console_${access.actor.userId.replace(/^u_/, '')}`,
      expireTime: now + 3600_000,
      privateKeyPem: ctx.vault.decrypt(key.private_key_enc, `${bizName}/${key.id}`),
    },
    { now },
  );
}
