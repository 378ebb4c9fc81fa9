import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CallAppListSchema,
  CallAppSchema,
  CredentialSchema,
  CreateCallAppRequestSchema,
  ErrorBodySchema,
  FeatureConfigResponseSchema,
  KeyListSchema,
  ListCallAppsQuerySchema,
  RenameRequestSchema,
  RevealedKeySchema,
  RevealKeyRequestSchema,
  RotateKeyRequestSchema,
  SaveFeatureConfigRequestSchema,
} from '@parley/protocol';
import {
  createCallApp,
  deleteCallApp,
  getCallApp,
  getFeatureConfig,
  listCallApps,
  listKeys,
  renameCallApp,
  retireKey,
  revealKey,
  rotateKey,
  saveFeatureConfig,
  signTryCredential,
} from '../../services/call-apps.js';
import { recordingObjectKeys, removeRecordingFiles } from '../../recordings/service.js';
import { accessTo, type RouteDeps } from '../deps.js';

const WsApp = Type.Object({ workspaceId: Type.String(), appId: Type.String() });
const CallAppParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
});
const KeyParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  keyId: Type.String(),
});
const base = '/workspaces/:workspaceId/apps/:appId/call-apps';
const tags = ['call applications'];

export function callAppRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { svc } = deps;

  r.get(
    base,
    {
      schema: {
        tags,
        summary: 'List call applications; search by name or bizName',
        params: WsApp,
        querystring: ListCallAppsQuerySchema,
        response: { 200: CallAppListSchema },
      },
    },
    async (req) =>
      listCallApps(svc, await accessTo(deps, req, req.params.workspaceId), req.params.appId, req.query),
  );

  r.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create a call application: bizName and RSA-2048 key generated, auto-record off (developer)',
        params: WsApp,
        body: CreateCallAppRequestSchema,
        response: { 201: CallAppSchema, 400: ErrorBodySchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(
          await createCallApp(
            svc,
            await accessTo(deps, req, req.params.workspaceId),
            req.params.appId,
            req.body,
          ),
        ),
  );

  r.get(
    `${base}/:bizName`,
    {
      schema: {
        tags,
        summary: 'One call application',
        params: CallAppParams,
        response: { 200: CallAppSchema },
      },
    },
    async (req) =>
      getCallApp(
        svc.db,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        svc.now(),
      ),
  );

  r.patch(
    `${base}/:bizName`,
    {
      schema: {
        tags,
        summary: 'Rename (developer)',
        params: CallAppParams,
        body: RenameRequestSchema,
        response: { 200: CallAppSchema },
      },
    },
    async (req) =>
      renameCallApp(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body.name,
      ),
  );

  r.delete(
    `${base}/:bizName`,
    {
      schema: {
        tags,
        summary: 'Delete with its keys, configuration, callback history and recordings (admin)',
        params: CallAppParams,
      },
    },
    async (req, reply) => {
      const access = await accessTo(deps, req, req.params.workspaceId);
      const objectKeys = await recordingObjectKeys(svc.db, req.params.bizName);
      await deleteCallApp(svc, access, req.params.appId, req.params.bizName);
      await removeRecordingFiles(deps, req.params.bizName, objectKeys);
      return reply.status(204).send();
    },
  );

  r.get(
    `${base}/:bizName/config`,
    {
      schema: {
        tags,
        summary: 'Feature configuration (功能配置) with its version',
        params: CallAppParams,
        response: { 200: FeatureConfigResponseSchema },
      },
    },
    async (req) =>
      getFeatureConfig(
        svc.db,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
  );

  r.put(
    `${base}/:bizName/config`,
    {
      schema: {
        tags,
        summary:
          'Save the feature configuration; refused with 409 if someone saved since `version` (developer)',
        params: CallAppParams,
        body: SaveFeatureConfigRequestSchema,
        response: { 200: FeatureConfigResponseSchema, 400: ErrorBodySchema, 409: ErrorBodySchema },
      },
    },
    async (req) =>
      saveFeatureConfig(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body,
      ),
  );

  r.get(
    `${base}/:bizName/keys`,
    {
      schema: {
        tags,
        summary: 'Keys with status (no secrets)',
        params: CallAppParams,
        response: { 200: KeyListSchema },
      },
    },
    async (req) => ({
      items: await listKeys(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
    }),
  );

  r.post(
    `${base}/:bizName/keys/reveal`,
    {
      schema: {
        tags,
        summary: 'Reveal the private key (developer; console users re-enter their password; audited)',
        params: CallAppParams,
        body: RevealKeyRequestSchema,
        response: { 200: RevealedKeySchema, 403: ErrorBodySchema },
      },
    },
    async (req) =>
      revealKey(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body.password,
      ),
  );

  r.post(
    `${base}/:bizName/keys/rotate`,
    {
      schema: {
        tags,
        summary: 'Make a new key; the old one verifies for the grace period (developer)',
        params: CallAppParams,
        body: RotateKeyRequestSchema,
        response: { 200: KeyListSchema },
      },
    },
    async (req) => ({
      items: await rotateKey(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body.graceHours,
      ),
    }),
  );

  r.post(
    `${base}/:bizName/keys/:keyId/retire`,
    {
      schema: {
        tags,
        summary: "End a retiring key's grace period now (developer)",
        params: KeyParams,
        response: { 200: KeyListSchema },
      },
    },
    async (req) => ({
      items: await retireKey(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.keyId,
      ),
    }),
  );

  r.post(
    `${base}/:bizName/try-credential`,
    {
      schema: {
        tags,
        summary: 'A one-hour credential for the signed-in user, to try a call from the console (developer)',
        params: CallAppParams,
        response: { 200: CredentialSchema },
      },
    },
    async (req) =>
      signTryCredential(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
  );
}
