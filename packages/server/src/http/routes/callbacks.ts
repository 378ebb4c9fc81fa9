import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CallbackDeliveryListSchema,
  CallbackDeliveryQuerySchema,
  CallbackDeliverySchema,
  CallbackSecretListSchema,
  ErrorBodySchema,
  RetryNowRequestSchema,
  TestCallbackRequestSchema,
  TestCallbackResultSchema,
} from '@parley/protocol';
import {
  createSecret,
  getSecrets,
  listDeliveries,
  redeliver,
  retryNow,
  rotateSecrets,
  sendTestCallback,
} from '../../callbacks/service.js';
import { accessTo, type RouteDeps } from '../deps.js';

const CallAppParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
});
const EventParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  eventId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
});
const base = '/workspaces/:workspaceId/apps/:appId/call-apps/:bizName';
const tags = ['callbacks'];

export function callbackRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const cb = deps.callbacks;

  r.get(
    `${base}/callbacks`,
    {
      schema: {
        tags,
        summary: 'Delivery log: events with every attempt, newest first',
        params: CallAppParams,
        querystring: CallbackDeliveryQuerySchema,
        response: { 200: CallbackDeliveryListSchema },
      },
    },
    async (req) =>
      listDeliveries(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.query,
      ),
  );

  r.post(
    `${base}/callbacks/:eventId/redeliver`,
    {
      schema: {
        tags,
        summary: 'Send an event again with the same bizRequestId and a fresh run of retries (developer)',
        params: EventParams,
        response: { 200: CallbackDeliverySchema },
      },
    },
    async (req) =>
      redeliver(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.eventId,
      ),
  );

  r.post(
    `${base}/callbacks/retry-now`,
    {
      schema: {
        tags,
        summary:
          "Make a waiting event due now, by eventId, roomId or orderKey (give one), after fixing the receiver; it goes to the call application's current URL (developer)",
        params: CallAppParams,
        body: RetryNowRequestSchema,
        response: {
          200: Type.Object({ items: Type.Array(CallbackDeliverySchema) }),
          400: ErrorBodySchema,
          404: ErrorBodySchema,
        },
      },
    },
    async (req) => ({
      items: await retryNow(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body,
      ),
    }),
  );

  r.post(
    `${base}/callbacks/test`,
    {
      schema: {
        tags,
        summary:
          "Send a sample callback to the configured URL now and return the receiver's answer (developer)",
        params: CallAppParams,
        body: TestCallbackRequestSchema,
        response: { 200: TestCallbackResultSchema, 409: ErrorBodySchema },
      },
    },
    async (req) =>
      sendTestCallback(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.body.kind,
      ),
  );

  r.get(
    `${base}/callback-secrets`,
    {
      schema: {
        tags,
        summary:
          'Callback signing secrets (developer; audited). Empty for a call application made before secrets came with it: create one with POST',
        params: CallAppParams,
        response: { 200: CallbackSecretListSchema },
      },
    },
    async (req) => ({
      items: await getSecrets(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
    }),
  );

  r.post(
    `${base}/callback-secrets`,
    {
      schema: {
        tags,
        summary:
          'Create the signing secret of a call application that has none: 201; with one already active nothing changes: 200 (developer)',
        params: CallAppParams,
        response: { 200: CallbackSecretListSchema, 201: CallbackSecretListSchema },
      },
    },
    async (req, reply) => {
      const { created, items } = await createSecret(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      );
      return reply.status(created ? 201 : 200).send({ items });
    },
  );

  r.post(
    `${base}/callback-secrets/rotate`,
    {
      schema: {
        tags,
        summary: 'New signing secret; the previous one keeps signing for the overlap period (developer)',
        params: CallAppParams,
        response: { 200: CallbackSecretListSchema },
      },
    },
    async (req) => ({
      items: await rotateSecrets(
        cb,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
    }),
  );
}
