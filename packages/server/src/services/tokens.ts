import {
  checkName,
  normaliseName,
  roleAtLeast,
  type ApiToken,
  type CreateTokenRequest,
  type CreatedToken,
} from '@parley/protocol';
import { ParleyError, fieldError, rejectIssue } from '../errors.js';
import { newTokenId, randomSecret, sha256Hex } from '../security/ids.js';
import type { Db } from '../store/schema.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import type { Actor, ServiceContext } from './context.js';

/** Secrets look like `parley_<43 chars>`; the prefix makes leaked tokens easy to scan for. */
const secretPrefix = 'parley_';

export async function createToken(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  input: CreateTokenRequest,
): Promise<CreatedToken> {
  requireRole(access, 'developer');
  rejectIssue(checkName('name', input.name));
  const role = input.role ?? access.role;
  if (!roleAtLeast(access.role, role)) {
    throw fieldError('role', `cannot be higher than your own role (${access.role})`, 'ROLE_TOO_HIGH');
  }
  const now = ctx.now();
  const parent = access.actor.token ?? null;
  const expiresAt = childExpiry(parent?.expiresAt ?? null, input.expiresInDays, now);
  const secret = secretPrefix + randomSecret();
  const row = {
    id: newTokenId(),
    workspace_id: access.workspaceId,
    user_id: access.actor.userId,
    name: normaliseName(input.name),
    role,
    token_hash: sha256Hex(secret),
    prefix: secret.slice(0, secretPrefix.length + 6),
    created_at: now,
    last_used_at: null,
    expires_at: expiresAt,
    revoked_at: null,
    parent_token_id: parent?.tokenId ?? null,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx.insertInto('api_tokens').values(row).execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'token.create',
      targetType: 'token',
      targetId: row.id,
      after: { name: row.name, role, expiresAt: row.expires_at, parentTokenId: row.parent_token_id },
      time: now,
    });
  });
  return { token: await getToken(ctx.db, access.workspaceId, row.id), secret };
}

/**
 * When a new token expires. A token made with a token never outlives it: without
 * `expiresInDays` it gets its parent's expiry (capped); a longer explicit one is refused, so a
 * script that asked for 30 days learns it cannot have them instead of silently getting less.
 */
function childExpiry(parentExpiresAt: number | null, expiresInDays: number | undefined, now: number) {
  const asked = expiresInDays ? now + expiresInDays * 86400_000 : null;
  if (parentExpiresAt === null) return asked;
  if (asked === null) return parentExpiresAt;
  if (asked > parentExpiresAt) {
    const days = Math.floor((parentExpiresAt - now) / 86400_000);
    throw fieldError(
      'expiresInDays',
      `must be at most ${days} here: a token made with an API token cannot outlive it, and this one expires ${new Date(parentExpiresAt).toISOString()} (omit expiresInDays to get that expiry)`,
      'OUT_OF_RANGE',
    );
  }
  return asked;
}

async function getToken(db: Db, workspaceId: string, tokenId: string): Promise<ApiToken> {
  const tokens = await tokenQuery(db, workspaceId).where('t.id', '=', tokenId).execute();
  const t = tokens[0];
  if (!t) throw new ParleyError('TOKEN_NOT_FOUND');
  return toApiToken(t);
}

function tokenQuery(db: Db, workspaceId: string) {
  return db
    .selectFrom('api_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select([
      't.id',
      't.name',
      't.role',
      't.prefix',
      't.created_at',
      't.last_used_at',
      't.expires_at',
      't.parent_token_id',
      't.user_id',
      'u.email',
    ])
    .where('t.workspace_id', '=', workspaceId)
    .where('t.revoked_at', 'is', null);
}

type TokenRow = Awaited<ReturnType<ReturnType<typeof tokenQuery>['execute']>>[number];
const toApiToken = (t: TokenRow): ApiToken => ({
  tokenId: t.id,
  name: t.name,
  role: t.role,
  prefix: t.prefix,
  createdBy: t.email,
  createdAt: t.created_at,
  lastUsedAt: t.last_used_at,
  expiresAt: t.expires_at,
  parentTokenId: t.parent_token_id,
});

/** Admins see every token of the workspace; others see their own. */
export async function listTokens(db: Db, access: WorkspaceAccess): Promise<ApiToken[]> {
  let q = tokenQuery(db, access.workspaceId);
  if (!roleAtLeast(access.role, 'admin')) q = q.where('t.user_id', '=', access.actor.userId);
  const rows = await q.orderBy('t.created_at', 'desc').execute();
  return rows.map(toApiToken);
}

export async function revokeToken(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  tokenId: string,
): Promise<void> {
  const rows = await tokenQuery(ctx.db, access.workspaceId).where('t.id', '=', tokenId).execute();
  const token = rows[0];
  if (!token) throw new ParleyError('TOKEN_NOT_FOUND');
  if (token.user_id !== access.actor.userId) requireRole(access, 'admin');
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', tokenId).execute();
    const descendants = await revokeDescendants(trx, tokenId, now);
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'token.revoke',
      targetType: 'token',
      targetId: tokenId,
      before: { name: token.name, role: token.role },
      ...(descendants.length > 0 ? { after: { alsoRevoked: descendants } } : {}),
      time: now,
    });
  });
}

/** Revokes the tokens made with a token, and theirs, level by level; returns their ids. */
async function revokeDescendants(db: Db, tokenId: string, now: number): Promise<string[]> {
  const revoked: string[] = [];
  let parents = [tokenId];
  while (parents.length > 0) {
    const children = await db
      .selectFrom('api_tokens')
      .select('id')
      .where('parent_token_id', 'in', parents)
      .where('revoked_at', 'is', null)
      .execute();
    parents = children.map((c) => c.id);
    if (parents.length === 0) break;
    await db.updateTable('api_tokens').set({ revoked_at: now }).where('id', 'in', parents).execute();
    revoked.push(...parents);
  }
  return revoked;
}

/**
 * Whether every ancestor of a token is still valid. Revocation already cascades; this also
 * covers a child created while its parent was being revoked. Chains are short (a token made
 * by a token made by a token); the bound only guards against a cycle in damaged data.
 */
async function ancestorsValid(db: Db, parentId: string | null, now: number): Promise<boolean> {
  for (let depth = 0; parentId !== null; depth += 1) {
    if (depth >= 32) return false;
    const parent = await db
      .selectFrom('api_tokens')
      .select(['expires_at', 'revoked_at', 'parent_token_id'])
      .where('id', '=', parentId)
      .executeTakeFirst();
    if (!parent || parent.revoked_at !== null || (parent.expires_at !== null && parent.expires_at <= now))
      return false;
    parentId = parent.parent_token_id;
  }
  return true;
}

/** Resolves a bearer secret to its actor, or null when unknown, revoked or expired. */
export async function authenticateToken(db: Db, secret: string, now: number): Promise<Actor | null> {
  if (!secret.startsWith(secretPrefix)) return null;
  const row = await db
    .selectFrom('api_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select([
      't.id',
      't.name',
      't.role',
      't.workspace_id',
      't.expires_at',
      't.revoked_at',
      't.last_used_at',
      't.parent_token_id',
      'u.id as user_id',
      'u.email',
    ])
    .where('t.token_hash', '=', sha256Hex(secret))
    .executeTakeFirst();
  if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
  if (!(await ancestorsValid(db, row.parent_token_id, now))) return null;
  // Coarse last-use tracking: at most one write a minute per token keeps reads cheap.
  if (row.last_used_at === null || now - row.last_used_at > 60_000) {
    await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
  }
  return {
    userId: row.user_id,
    label: `token:${row.name} (${row.email})`,
    via: 'token',
    token: { tokenId: row.id, workspaceId: row.workspace_id, role: row.role, expiresAt: row.expires_at },
  };
}

/** For the CLI: an operator on the machine makes a token for a user in a workspace. */
export async function createTokenAsOperator(
  ctx: ServiceContext,
  input: { workspaceId: string; email: string } & CreateTokenRequest,
): Promise<CreatedToken> {
  const user = await ctx.db
    .selectFrom('users as u')
    .innerJoin('memberships as m', 'm.user_id', 'u.id')
    .select(['u.id', 'u.email', 'm.role'])
    .where('u.email', '=', input.email.trim().toLowerCase())
    .where('m.workspace_id', '=', input.workspaceId)
    .executeTakeFirst();
  if (!user)
    throw new ParleyError('MEMBER_NOT_FOUND', {
      message: `${input.email} is not a member of ${input.workspaceId}.`,
    });
  const access: WorkspaceAccess = {
    workspaceId: input.workspaceId,
    role: user.role,
    actor: { userId: user.id, label: `cli (${user.email})`, via: 'session' },
  };
  return createToken(ctx, access, input);
}
