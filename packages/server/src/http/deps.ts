import type { RecordingServiceDeps } from '../recordings/service.js';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { ParleyConfig } from '../config/config.js';
import { workspaceAccess, type WorkspaceAccess } from '../services/access.js';
import type { Actor, ServiceContext } from '../services/context.js';
import type { LoginLimiter } from '../services/login-limiter.js';
import { authenticate } from './auth.js';
import type { Metrics } from './metrics.js';
import type { RoomRegistry } from '../rooms/room.js';
import type { CallbackServiceDeps } from '../callbacks/service.js';

export interface RouteDeps {
  log: FastifyBaseLogger;
  svc: ServiceContext;
  config: ParleyConfig;
  limiter: LoginLimiter;
  metrics: Metrics;
  /** Docs folder rendered at /docs/:page. */
  docsDir: string;
  consoleDir: string | null;
  /** Built browser SDK (parley-client.js) and call page (call/). */
  clientDir: string | null;
  rooms: RoomRegistry;
  callbacks: CallbackServiceDeps;
  recordings: RecordingServiceDeps;
}

export async function actorOf(deps: RouteDeps, request: FastifyRequest): Promise<Actor> {
  return (await authenticate(deps.svc.db, request, deps.svc.now())).actor;
}

export async function accessTo(
  deps: RouteDeps,
  request: FastifyRequest,
  workspaceId: string,
): Promise<WorkspaceAccess> {
  return workspaceAccess(deps.svc.db, await actorOf(deps, request), workspaceId);
}
