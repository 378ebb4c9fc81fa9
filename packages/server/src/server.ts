/**
 * Starts a Parley server from a validated configuration and stops it. The close cascade:
 * stop accepting connections → finish in-flight requests → close the database.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { ParleyConfig } from './config/config.js';
import { buildHttpApp } from './http/app.js';
import { createMetrics } from './http/metrics.js';
import { KeyVault, loadMasterKey } from './security/keys.js';
import { bootstrapOwner } from './services/bootstrap.js';
import type { ServiceContext } from './services/context.js';
import { LoginLimiter } from './services/login-limiter.js';
import { openDb, type OpenedDb } from './store/db.js';
import { RoomRegistry } from './rooms/room.js';
import { SignalingServer } from './signaling/server.js';
import type { MediaPlane } from './signaling/media.js';
import { unavailableMediaPlane } from './signaling/no-media.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** packages/server/dist → repository root. */
const repoRoot = path.resolve(here, '..', '..', '..');

export interface StartOptions {
  /** Clock for tests of time-based behaviour (grace periods). */
  now?: () => number;
  /** PostgreSQL schema to isolate in (tests). */
  pgSchema?: string;
  /** The media plane; defaults to the SFU. */
  media?: MediaPlane;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  readonly services: ServiceContext;
  readonly db: OpenedDb;
  readonly rooms: RoomRegistry;
  readonly signaling: SignalingServer;
  /** Idempotent; resolves when everything is closed. */
  close(): Promise<void>;
}

export async function startServer(config: ParleyConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const db = await openDb({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(opts.pgSchema ? { pgSchema: opts.pgSchema } : {}),
  });
  let app: FastifyInstance | null = null;
  try {
    const services: ServiceContext = {
      db: db.db,
      vault: new KeyVault(loadMasterKey(config.masterKey, config.dataDir)),
      now: opts.now ?? Date.now,
      keyRotationGraceHours: config.keyRotationGraceHours,
    };
    const rooms = new RoomRegistry({
      maxParticipants: config.maxParticipants,
      emptyRoomGraceMs: config.emptyRoomGraceSeconds * 1000,
      idleRoomTimeoutMs: config.idleRoomTimeoutSeconds * 1000,
      now: services.now,
    });
    const consoleDir = config.consoleDir || path.join(repoRoot, 'packages', 'console', 'dist');
    app = await buildHttpApp({
      svc: services,
      config,
      limiter: new LoginLimiter(config.loginMaxFailures, config.loginWindowSeconds * 1000),
      metrics: createMetrics(),
      docsDir: path.join(repoRoot, 'docs'),
      consoleDir,
      rooms,
    });
    const signaling = new SignalingServer({
      db: db.db,
      registry: rooms,
      media: opts.media ?? unavailableMediaPlane('not built yet'),
      log: app.log,
      now: services.now,
      reconnectGraceMs: config.reconnectGraceSeconds * 1000,
      helloTimeoutMs: 10_000,
      maxMessageBytes: config.signalingMaxMessageBytes,
      messagesPerSecond: config.signalingMessagesPerSecond,
      iceServers: config.iceServers,
    });
    app.server.on('upgrade', (request, socket, head) => {
      if (!signaling.handleUpgrade(request, socket, head)) socket.destroy();
    });
    const boot = await bootstrapOwner(services, { email: config.adminEmail, password: config.adminPassword });
    if (boot?.generatedPassword) {
      app.log.warn(
        { email: boot.email, password: boot.generatedPassword },
        'owner account created with a generated password; it is shown only this once: sign in and keep it safe',
      );
    } else if (boot) {
      app.log.info(
        { email: boot.email },
        'owner account created from PARLEY_ADMIN_EMAIL / PARLEY_ADMIN_PASSWORD',
      );
    }
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    app.log.info(
      { url, database: db.dialect, dataDir: config.dataDir },
      `Parley is listening; console at ${url}/`,
    );
    const running = app;
    let closing: Promise<void> | null = null;
    return {
      url,
      port,
      app: running,
      services,
      db,
      rooms,
      signaling,
      close: () =>
        (closing ??= (async () => {
          await signaling.close();
          rooms.close('shutdown');
          await running.close();
          await db.close();
        })()),
    };
  } catch (err) {
    await app?.close();
    await db.close();
    throw err;
  }
}
