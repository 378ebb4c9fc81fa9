import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  checkProxyAddress,
  ProxySecretSchema,
  ProxyTestRequestSchema,
  ProxyTestResultSchema,
} from '@parley/protocol';
import { fieldError, ParleyError } from '../../errors.js';
import { ensureProxySecret, revealProxySecret, rotateProxySecret } from '../../proxy/service.js';
import { ProbeAddressRefused } from '../../proxy/probe-guard.js';
import { probeTurnProxy } from '../../proxy/turn-probe.js';
import { requireRole } from '../../services/access.js';
import { getFeatureConfig } from '../../services/call-apps.js';
import { accessTo, type RouteDeps } from '../deps.js';

const CallAppParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
});
const base = '/workspaces/:workspaceId/apps/:appId/call-apps/:bizName';
const tags = ['media proxy'];

export function proxyRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { svc } = deps;

  r.get(
    `${base}/proxy-secret`,
    {
      schema: {
        tags,
        summary:
          "The media proxy's TURN shared secret (made on first read; developer): its static-auth-secret. Audited",
        params: CallAppParams,
        response: { 200: ProxySecretSchema },
      },
    },
    async (req) =>
      revealProxySecret(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
  );

  r.post(
    `${base}/proxy-secret/rotate`,
    {
      schema: {
        tags,
        summary:
          'A new TURN shared secret, used at once for new credentials (developer): update the proxy with it',
        params: CallAppParams,
        response: { 200: ProxySecretSchema },
      },
    },
    async (req) =>
      rotateProxySecret(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
  );

  r.post(
    `${base}/proxy/test`,
    {
      schema: {
        tags,
        summary:
          'Test proxy: resolve the address and make a TURN allocation with Parley-issued credentials (developer)',
        params: CallAppParams,
        body: ProxyTestRequestSchema,
        response: { 200: ProxyTestResultSchema },
      },
    },
    async (req) => {
      const access = await accessTo(deps, req, req.params.workspaceId);
      requireRole(access, 'developer');
      const saved = await getFeatureConfig(svc.db, access, req.params.appId, req.params.bizName);
      const address = (req.body.proxyAddress ?? saved.config.proxyAddress).trim();
      if (address === '') throw new ParleyError('PROXY_NOT_SET', { field: 'proxyAddress' });
      const issue = checkProxyAddress('proxyAddress', address);
      if (issue) throw fieldError('proxyAddress', issue.message, issue.reason);
      const { secret } = await ensureProxySecret(svc.db, svc.vault, req.params.bizName, svc.now());
      try {
        return await probeTurnProxy({
          address,
          secret,
          timeoutMs: 3000,
          allowNetworks: deps.config.proxyProbeAllowNetworks,
        });
      } catch (err) {
        if (err instanceof ProbeAddressRefused) {
          throw fieldError('proxyAddress', err.message, 'ADDRESS_NOT_ALLOWED');
        }
        throw err;
      }
    },
  );
}
