import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  AddMemberRequestSchema,
  ApiTokenSchema,
  AppSchema,
  AuditListSchema,
  AuditQuerySchema,
  ChangeRoleRequestSchema,
  CreateAppRequestSchema,
  CreatedTokenSchema,
  CreateTokenRequestSchema,
  CreateWorkspaceRequestSchema,
  MemberSchema,
  RenameRequestSchema,
  WorkspaceSummarySchema,
} from '@parley/protocol';
import { requireRole } from '../../services/access.js';
import { createApp, deleteApp, getApp, listApps, renameApp } from '../../services/apps.js';
import { listAudit } from '../../services/audit.js';
import { createToken, listTokens, revokeToken } from '../../services/tokens.js';
import {
  addMember,
  changeRole,
  createWorkspace,
  listMembers,
  listWorkspaces,
  removeMember,
} from '../../services/workspaces.js';
import { accessTo, actorOf, type RouteDeps } from '../deps.js';

const Ws = Type.Object({ workspaceId: Type.String() });
const WsApp = Type.Object({ workspaceId: Type.String(), appId: Type.String() });
const WsUser = Type.Object({ workspaceId: Type.String(), userId: Type.String() });
const WsToken = Type.Object({ workspaceId: Type.String(), tokenId: Type.String() });
const list = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item) });

export function workspaceRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { svc } = deps;

  r.get(
    '/workspaces',
    {
      schema: {
        tags: ['workspaces'],
        summary: 'Workspaces you belong to',
        response: { 200: list(WorkspaceSummarySchema) },
      },
    },
    async (req) => ({
      items: await listWorkspaces(svc.db, await actorOf(deps, req)),
    }),
  );

  r.post(
    '/workspaces',
    {
      schema: {
        tags: ['workspaces'],
        summary: 'Create a workspace (you become its owner)',
        body: CreateWorkspaceRequestSchema,
        response: { 201: WorkspaceSummarySchema },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await createWorkspace(svc, await actorOf(deps, req), req.body)),
  );

  r.get(
    '/workspaces/:workspaceId/apps',
    {
      schema: {
        tags: ['apps'],
        summary: 'Apps of the workspace',
        params: Ws,
        response: { 200: list(AppSchema) },
      },
    },
    async (req) => ({
      items: await listApps(svc.db, await accessTo(deps, req, req.params.workspaceId)),
    }),
  );

  r.post(
    '/workspaces/:workspaceId/apps',
    {
      schema: {
        tags: ['apps'],
        summary: 'Create an app (admin)',
        params: Ws,
        body: CreateAppRequestSchema,
        response: { 201: AppSchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(await createApp(svc, await accessTo(deps, req, req.params.workspaceId), req.body)),
  );

  r.get(
    '/workspaces/:workspaceId/apps/:appId',
    { schema: { tags: ['apps'], summary: 'One app', params: WsApp, response: { 200: AppSchema } } },
    async (req) => getApp(svc.db, await accessTo(deps, req, req.params.workspaceId), req.params.appId),
  );

  r.patch(
    '/workspaces/:workspaceId/apps/:appId',
    {
      schema: {
        tags: ['apps'],
        summary: 'Rename an app (admin)',
        params: WsApp,
        body: RenameRequestSchema,
        response: { 200: AppSchema },
      },
    },
    async (req) =>
      renameApp(svc, await accessTo(deps, req, req.params.workspaceId), req.params.appId, req.body.name),
  );

  r.delete(
    '/workspaces/:workspaceId/apps/:appId',
    { schema: { tags: ['apps'], summary: 'Delete an app without call applications (admin)', params: WsApp } },
    async (req, reply) => {
      await deleteApp(svc, await accessTo(deps, req, req.params.workspaceId), req.params.appId);
      return reply.status(204).send();
    },
  );

  r.get(
    '/workspaces/:workspaceId/members',
    {
      schema: {
        tags: ['members'],
        summary: 'Members and roles (admin)',
        params: Ws,
        response: { 200: list(MemberSchema) },
      },
    },
    async (req) => {
      const access = await accessTo(deps, req, req.params.workspaceId);
      requireRole(access, 'admin');
      return { items: await listMembers(svc.db, access) };
    },
  );

  r.post(
    '/workspaces/:workspaceId/members',
    {
      schema: {
        tags: ['members'],
        summary: 'Add a member, creating the user if new (admin; owner for admin/owner roles)',
        params: Ws,
        body: AddMemberRequestSchema,
        response: { 201: MemberSchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(await addMember(svc, await accessTo(deps, req, req.params.workspaceId), req.body)),
  );

  r.patch(
    '/workspaces/:workspaceId/members/:userId',
    {
      schema: {
        tags: ['members'],
        summary: "Change a member's role",
        params: WsUser,
        body: ChangeRoleRequestSchema,
        response: { 200: MemberSchema },
      },
    },
    async (req) =>
      changeRole(svc, await accessTo(deps, req, req.params.workspaceId), req.params.userId, req.body.role),
  );

  r.delete(
    '/workspaces/:workspaceId/members/:userId',
    { schema: { tags: ['members'], summary: 'Remove a member (their tokens are revoked)', params: WsUser } },
    async (req, reply) => {
      await removeMember(svc, await accessTo(deps, req, req.params.workspaceId), req.params.userId);
      return reply.status(204).send();
    },
  );

  r.get(
    '/workspaces/:workspaceId/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'API tokens (yours; admins see all)',
        params: Ws,
        response: { 200: list(ApiTokenSchema) },
      },
    },
    async (req) => ({
      items: await listTokens(svc.db, await accessTo(deps, req, req.params.workspaceId)),
    }),
  );

  r.post(
    '/workspaces/:workspaceId/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token (the secret is returned once)',
        params: Ws,
        body: CreateTokenRequestSchema,
        response: { 201: CreatedTokenSchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(await createToken(svc, await accessTo(deps, req, req.params.workspaceId), req.body)),
  );

  r.delete(
    '/workspaces/:workspaceId/tokens/:tokenId',
    { schema: { tags: ['tokens'], summary: 'Revoke an API token', params: WsToken } },
    async (req, reply) => {
      await revokeToken(svc, await accessTo(deps, req, req.params.workspaceId), req.params.tokenId);
      return reply.status(204).send();
    },
  );

  r.get(
    '/workspaces/:workspaceId/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Audit log, newest first (admin)',
        params: Ws,
        querystring: AuditQuerySchema,
        response: { 200: AuditListSchema },
      },
    },
    async (req) => {
      const access = await accessTo(deps, req, req.params.workspaceId);
      requireRole(access, 'admin');
      return listAudit(svc.db, access.workspaceId, req.query);
    },
  );
}
