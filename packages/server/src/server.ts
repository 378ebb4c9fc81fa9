/**
 * Starts a Parley server from a validated configuration and stops it. The close cascade:
 * stop accepting connections → finish in-flight requests → close the database.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { ConfigError, type ParleyConfig } from './config/config.js';
import { buildHttpApp } from './http/app.js';
import { createMetrics } from './http/metrics.js';
import { KeyVault, loadMasterKey } from './security/keys.js';
import { bootstrapOwner } from './services/bootstrap.js';
import type { ServiceContext } from './services/context.js';
import { LoginLimiter } from './services/login-limiter.js';
import { openDb, type OpenedDb } from './store/db.js';
import { makePrivateDir, tightenDataDir } from './store/data-dir.js';
import { RoomRegistry } from './rooms/room.js';
import { SignalingServer } from './signaling/server.js';
import { sfuMediaPlane } from './live/sfu-room-media.js';
import type { MediaPlane } from './live/room-media.js';
import { LiveCalls } from './live/live-calls.js';
import { createFfmpegLocator } from './recorder/ffmpeg.js';
import { RecordingManager } from './recordings/manager.js';
import { mediaPolicyFor } from './proxy/service.js';
import { Counter } from 'prom-client';
import { createRecordingMetrics } from './recordings/metrics.js';
import { recordingFilePath } from './recordings/service.js';
import {
  checkObjectStorageConfig,
  createObjectStorage,
  type ObjectStorageConfig,
} from './recordings/object-storage.js';
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
  readonly media: MediaPlane;
  readonly calls: LiveCalls;
  readonly recordings: RecordingManager;
  /** Idempotent; resolves when everything is closed. */
  close(): Promise<void>;
}

function s3ConfigOf(config: ParleyConfig): ObjectStorageConfig {
  return {
    endpoint: config.s3Endpoint,
    bucket: config.s3Bucket,
    region: config.s3Region,
    accessKeyId: config.s3AccessKeyId,
    secretAccessKey: config.s3SecretAccessKey,
    prefix: config.s3Prefix,
    forcePathStyle: config.s3ForcePathStyle,
    publicBaseUrl: config.s3PublicBaseUrl,
  };
}

export async function startServer(config: ParleyConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const log = pino({
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]'],
  });
  // Before anything is written there: no other user of the machine may read the data directory.
  for (const change of tightenDataDir(config.dataDir, config.recordingsDir)) {
    if (change.error) {
      log.error(change, 'data directory: could not take away group/other permissions; fix them by hand');
    } else log.warn(change, 'data directory: group/other permissions taken away (it was readable by others)');
  }
  try {
    makePrivateDir(config.recordingsDir);
  } catch (err) {
    log.error({ err, recordingsDir: config.recordingsDir }, 'recordings directory cannot be created');
  }
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
      vault: services.vault,
      sender,
      metrics: createCallbackMetrics(metrics.registry, (): Promise<number> => dispatcher.queueDepth()),
      log,
      now: services.now,
      retryScheduleMs: config.callbackRetrySchedule.map((sec) => sec * 1000),
      jitter: config.callbackRetryJitter,
      concurrency: config.callbackConcurrency,
      concurrencyPerApp: config.callbackConcurrencyPerApp,
      attemptTimeoutMs: config.callbackTimeoutSeconds * 1000,
    });
    closers.push(() => dispatcher.close());
    attachRoomCallbacks(rooms, dispatcher, db.db);

    const media = sfuMediaPlane(
      {
        ...(config.rtcUdpPort > 0
          ? { portRangeBegin: config.rtcUdpPort, portRangeEnd: config.rtcUdpPort, udpMux: true }
          : { portRangeBegin: config.rtcPortMin, portRangeEnd: config.rtcPortMax }),
        announcedIps: [...config.announcedIps],
        iceServers: config.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
        ...(config.rtcBindAddress ? { bindAddress: config.rtcBindAddress } : {}),
      },
      log.child({ component: 'sfu' }),
    );
    const egressDenied = new Counter({
      name: 'parley_media_egress_denied_total',
      help: "Media connections closed because they came from outside the call application's proxy egress IPs",
      labelNames: ['bizName'] as const,
      registers: [metrics.registry],
    });
    // The one owner of each live call: made with its room, ended with it.
    const calls = new LiveCalls({
      rooms,
      media,
      onRemoteDenied: (e) => {
        egressDenied.inc({ bizName: e.bizName });
        log.warn(
          { bizName: e.bizName, roomId: e.roomId, uid: e.uid, address: e.address, port: e.port },
          "media from an address outside the call application's proxy egress IPs dropped (connection closed)",
        );
      },
    });
    if (config.recordingStorage === 's3') {
      const problems = checkObjectStorageConfig(s3ConfigOf(config));
      if (problems.length > 0) {
        const lines = problems.map((p) => `s3${p.field[0]!.toUpperCase()}${p.field.slice(1)}: ${p.message}`);
        throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
      }
    }
    const storage =
      config.recordingStorage === 's3'
        ? createObjectStorage(s3ConfigOf(config), {
            attempts: config.s3UploadAttempts,
            log: log.child({ component: 'object-storage' }),
          })
        : null;
    if (storage) closers.push(() => storage.close());
    // Only a system ffmpeg (or the configured one): see recorder/ffmpeg.ts for why.
    const ffmpeg = createFfmpegLocator(config.ffmpegPath || null, log);
    let baseUrl = config.publicUrl.replace(/\/+$/, '');
    const recordings: RecordingManager = new RecordingManager({
      db: db.db,
      calls,
      dispatcher,
      recordingsDir: config.recordingsDir,
      ffmpeg: ffmpeg.locate,
      ffmpegAvailability: ffmpeg.availability,
      storage,
      keepLocalCopy: config.s3KeepLocalCopy,
      localFileUrl: (row) => `${baseUrl}${recordingFilePath(row)}`,
      warnings: {
        disconnectAfterMs: config.recordingStreamTimeoutSeconds * 1000,
        lowFrameRate: {
          fps: config.recordingLowFrameRate,
          forMs: config.recordingLowFrameRateSeconds * 1000,
        },
      },
      metrics: createRecordingMetrics(metrics.registry, (): number => recordings.activeCount()),
      log: log.child({ component: 'recordings' }),
      now: services.now,
    });
    // After the rooms (whose destruction stops recordings), before the dispatcher (which must
    // take their last callbacks).
    closers.push(() => recordings.close());
    // Rooms close before the dispatcher so their last events reach the outbox.
    // Media after the rooms: a call's participants leave (their transports close) before it ends.
    closers.push(() => media.close());
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
      recordings: { svc: services, manager: recordings, storage },
    });
    closers.push(() => app.close());

    const signaling = new SignalingServer({
      db: db.db,
      calls,
      log,
      now: services.now,
      persisted: () => dispatcher.persisted(),
      reconnectGraceMs: config.reconnectGraceSeconds * 1000,
      maxCredentialLifetimeHours: config.maxCredentialLifetimeHours,
      helloTimeoutMs: 10_000,
      maxMessageBytes: config.signalingMaxMessageBytes,
      messagesPerSecond: config.signalingMessagesPerSecond,
      mediaPolicy: (bizName, uid) =>
        mediaPolicyFor(db.db, services.vault, bizName, uid, {
          iceServers: config.iceServers,
          credentialTtlSeconds: config.proxyCredentialTtlSeconds,
          now: services.now(),
        }),
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
    // Before listen: the start-up log says at once whether recording is available.
    await ffmpeg.locate().catch(() => undefined);
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
    if (baseUrl === '') baseUrl = url;
    // After listen: a recovered recording's download URL needs the server's address.
    const unfinished = await recordings.recoverUnfinished();
    if (unfinished.failed > 0)
      log.warn(
        { recordings: unfinished.failed },
        'recordings left unfinished by a previous stop, with nothing captured to recover, reported as failed',
      );
    if (unfinished.recovering > 0)
      log.warn(
        { recordings: unfinished.recovering },
        'recordings cut short by a previous crash: recovering them from their captures',
      );
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
      media,
      calls,
      recordings,
      // Cascade: signaling (terminals told goodbye) → HTTP → rooms (last room events) →
      // dispatcher (outbox writes and in-flight attempts finish) → callback sender → database.
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
