import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorBodySchema, VerifiedCredentialSchema } from '@parley/protocol';
import { verifyCredential } from '../../credentials/verify.js';
import type { RouteDeps } from '../deps.js';

/**
 * Lets a customer check their signing code against the server: the same verification a
 * terminal's credential goes through when it connects, with the same error codes.
 */
export function credentialRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/credentials/verify',
    {
      schema: {
        tags: ['credentials'],
        summary:
          'Check a client credential (no authentication; answers exactly as a connecting terminal would be)',
        security: [],
        body: Type.Object({
          bizName: Type.Optional(Type.Unknown()),
          appId: Type.Optional(Type.Unknown()),
          workspaceId: Type.Optional(Type.Unknown()),
          uid: Type.Optional(Type.Unknown()),
          expireTime: Type.Optional(Type.Unknown()),
          signature: Type.Optional(Type.Unknown()),
        }),
        response: { 200: VerifiedCredentialSchema, 401: ErrorBodySchema },
      },
    },
    async (req) => ({
      valid: true as const,
      ...(await verifyCredential(deps.svc.db, req.body, deps.svc.now(), {
        maxLifetimeHours: deps.config.maxCredentialLifetimeHours,
      })),
    }),
  );
}
