/**
 * Starts a Parley server from a validated configuration and stops it. The close cascade:
 * stop accepting connections → finish in-flight requests → close the database.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
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
import { sfuMediaPlane } from './signaling/sfu-media.js';
import { CallbackDispatcher } from './callbacks/dispatcher.js';
import { CallbackSender } from './callbacks/deliver.js';
import { createCallbackMetrics } from './callbacks/metrics.js';
import { attachRoomCallbacks, closeRoomsLeftByCrash } from './callbacks/room-callbacks.js';

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
  readonly dispatcher: CallbackDispatcher;
  /** Idempotent; resolves when everything is closed. */
  close(): Promise<void>;
}

export async function startServer(config: ParleyConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const log = pino({
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]'],
  });
  const db = await openDb({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(opts.pgSchema ? { pgSchema: opts.pgSchema } : {}),
  });
  // Undone in reverse order on failure and on close().
  const closers: (() => Promise<void> | void)[] = [() => db.close()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const services: ServiceContext = {
      db: db.db,
      vault: new KeyVault(loadMasterKey(config.masterKey, config.dataDir)),
      now: opts.now ?? Date.now,
      keyRotationGraceHours: config.keyRotationGraceHours,
    };
    const metrics = createMetrics();
    const rooms = new RoomRegistry({
      maxParticipants: config.maxParticipants,
      emptyRoomGraceMs: config.emptyRoomGraceSeconds * 1000,
      idleRoomTimeoutMs: config.idleRoomTimeoutSeconds * 1000,
      now: services.now,
    });

    const sender = new CallbackSender(
      { allow: config.callbackAllowNetworks, allowLoopback: config.callbackAllowLoopback },
      config.callbackTimeoutSeconds * 1000,
      services.now,
    );
    closers.push(() => sender.close());
    const dispatcher: CallbackDispatcher = new CallbackDispatcher({
      db: db.db,
      dialect: db.dialect,
      vault: services.vault,
      sender,
      metrics: createCallbackMetrics(metrics.registry, (): Promise<number> => dispatcher.queueDepth()),
      log,
      now: services.now,
      retryScheduleMs: config.callbackRetrySchedule.map((sec) => sec * 1000),
      jitter: config.callbackRetryJitter,
      concurrency: config.callbackConcurrency,
    });
    closers.push(() => dispatcher.close());
    attachRoomCallbacks(rooms, dispatcher, db.db);
    // Rooms close before the dispatcher so their last events reach the outbox.
    closers.push(() => rooms.close('shutdown'));

    const app = await buildHttpApp({
      log,
      svc: services,
      config,
      limiter: new LoginLimiter(config.loginMaxFailures, config.loginWindowSeconds * 1000),
      metrics,
      docsDir: path.join(repoRoot, 'docs'),
      consoleDir: config.consoleDir || path.join(repoRoot, 'packages', 'console', 'dist'),
      clientDir: path.join(repoRoot, 'packages', 'client', 'dist'),
      rooms,
      callbacks: {
        svc: services,
        dispatcher,
        sender,
        secretOverlapMs: config.callbackSecretOverlapHours * 3600_000,
      },
    });
    closers.push(() => app.close());

    const media =
      opts.media ??
      sfuMediaPlane(
        {
          portRangeBegin: config.rtcPortMin,
          portRangeEnd: config.rtcPortMax,
          announcedIps: [...config.announcedIps],
          iceServers: config.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
          ...(config.rtcBindAddress ? { bindAddress: config.rtcBindAddress } : {}),
        },
        log.child({ component: 'sfu' }),
      );
    closers.push(() => media.close());
    const signaling = new SignalingServer({
      db: db.db,
      registry: rooms,
      media,
      log,
      now: services.now,
      persisted: () => dispatcher.persisted(),
      reconnectGraceMs: config.reconnectGraceSeconds * 1000,
      helloTimeoutMs: 10_000,
      maxMessageBytes: config.signalingMaxMessageBytes,
      messagesPerSecond: config.signalingMessagesPerSecond,
      iceServers: config.iceServers,
    });
    closers.push(() => signaling.close());
    app.server.on('upgrade', (request, socket, head) => {
      if (!signaling.handleUpgrade(request, socket, head)) socket.destroy();
    });

    const boot = await bootstrapOwner(services, { email: config.adminEmail, password: config.adminPassword });
    if (boot?.generatedPassword) {
      log.warn(
        { email: boot.email, password: boot.generatedPassword },
        'owner account created with a generated password; it is shown only this once: sign in and keep it safe',
      );
    } else if (boot) {
      log.info(
        { email: boot.email },
        'owner account created from PARLEY_ADMIN_EMAIL / PARLEY_ADMIN_PASSWORD',
      );
    }
    await dispatcher.start();
    const orphaned = await closeRoomsLeftByCrash(dispatcher, db.db, services.now());
    if (orphaned > 0)
      log.warn(
        { rooms: orphaned },
        'closed rooms left open by a previous crash (leave and destroy callbacks sent)',
      );
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    log.info(
      { url, database: db.dialect, dataDir: config.dataDir },
      `Parley is listening; console at ${url}/`,
    );
    let closing: Promise<void> | null = null;
    return {
      url,
      port,
      app,
      services,
      db,
      rooms,
      signaling,
      dispatcher,
      // Cascade: signaling (terminals told goodbye) → HTTP → rooms (last room events) →
      // dispatcher (outbox writes and in-flight attempts finish) → callback sender → database.
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
