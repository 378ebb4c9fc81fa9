/** The shape of the server configuration once loaded: what every other module reads. */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ParleyConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** `postgres://...` selects PostgreSQL; empty means SQLite in dataDir. */
  readonly databaseUrl: string;
  /** base64 of 32 bytes; empty means generated into dataDir/master.key on first start. */
  readonly masterKey: string;
  readonly keyRotationGraceHours: number;
  readonly publicUrl: string;
  readonly logLevel: LogLevel;
  /** 'auto' sets Secure on cookies when publicUrl is https. */
  readonly secureCookies: 'auto' | 'always' | 'never';
  readonly sessionTtlHours: number;
  readonly loginMaxFailures: number;
  readonly loginWindowSeconds: number;
  readonly adminEmail: string;
  readonly adminPassword: string;
  /** Where the console's built files are; empty means the bundled console. */
  readonly consoleDir: string;
  readonly configFile: string;
  /** Most participants a room holds. */
  readonly maxParticipants: number;
  /** How long a dropped signaling connection may resume its session before the user has left. */
  readonly reconnectGraceSeconds: number;
  /** How long an empty room waits for someone to (re)join before it is destroyed. */
  readonly emptyRoomGraceSeconds: number;
  /** How long a room created through the REST API waits for its first participant. */
  readonly idleRoomTimeoutSeconds: number;
  readonly signalingMaxMessageBytes: number;
  readonly signalingMessagesPerSecond: number;
  /** UDP port range of the media plane; 0 and 0 let the OS pick. */
  readonly rtcPortMin: number;
  readonly rtcPortMax: number;
  /** One UDP port for all media (ICE UDP mux); 0: the port range (or the system's choice). */
  readonly rtcUdpPort: number;
  /** Local address the media plane binds to; empty means all interfaces. */
  readonly rtcBindAddress: string;
  /** Public addresses announced in ICE candidates instead of the host's own (servers behind NAT). */
  readonly announcedIps: readonly string[];
  /** STUN/TURN servers handed to clients, e.g. [{"urls":["stun:stun.example.com:3478"]}]. */
  readonly iceServers: readonly IceServer[];
  /** Per-attempt timeout of a callback request. */
  readonly callbackTimeoutSeconds: number;
  /** Delay before each retry, seconds; its length is the number of retries. */
  readonly callbackRetrySchedule: readonly number[];
  readonly callbackRetryJitter: number;
  readonly callbackConcurrency: number;
  /** CIDRs callbacks may reach although they are private/loopback/link-local. */
  readonly callbackAllowNetworks: readonly string[];
  /** Development mode: callbacks may reach loopback addresses. */
  readonly callbackAllowLoopback: boolean;
  /** How long the previous callback signing secret keeps signing after a rotation. */
  readonly callbackSecretOverlapHours: number;
  /** Where recordings are written (and kept, with local storage); empty means dataDir/recordings. */
  readonly recordingsDir: string;
  /** ffmpeg to record with; empty means `ffmpeg` on PATH (a system ffmpeg is required to record). */
  readonly ffmpegPath: string;
  /** Where finished recordings go: 'local' (recordingsDir, fileType 1) or 's3' (fileType 2). */
  readonly recordingStorage: 'local' | 's3';
  /** Seconds without packets before a recorded stream is reported disconnected (500301). */
  readonly recordingStreamTimeoutSeconds: number;
  /** Frame rate under which, for recordingLowFrameRateSeconds, 500302 is raised. */
  readonly recordingLowFrameRate: number;
  readonly recordingLowFrameRateSeconds: number;
  /** S3-compatible object storage (recordingStorage 's3'). */
  readonly s3Endpoint: string;
  readonly s3Bucket: string;
  readonly s3Region: string;
  readonly s3AccessKeyId: string;
  readonly s3SecretAccessKey: string;
  /** Prepended to every object key. */
  readonly s3Prefix: string;
  /** Path-style URLs (MinIO and most self-hosted servers need them). */
  readonly s3ForcePathStyle: boolean;
  /** Base of the filePath sent in callbacks; empty means derived from endpoint and bucket. */
  readonly s3PublicBaseUrl: string;
  readonly s3UploadAttempts: number;
  /** Keep the local file after a successful upload. */
  readonly s3KeepLocalCopy: boolean;
  /** Lifetime of the TURN credentials terminals get for a call application's media proxy. */
  readonly proxyCredentialTtlSeconds: number;
  /** Longest a client credential may be valid for: an expireTime further ahead is refused. */
  readonly maxCredentialLifetimeHours: number;
  /** Most callback requests one call application may have in flight at once. */
  readonly callbackConcurrencyPerApp: number;
  /**
   * Which reverse proxies are trusted to give the client address (X-Forwarded-For): false (none),
   * true (any), a hop count, or a list of proxy addresses/CIDRs.
   */
  readonly trustProxy: boolean | number | readonly string[];
  /** Bearer token /metrics requires; empty means /metrics is open (as before). */
  readonly metricsToken: string;
  /** CIDRs "Test proxy" may probe although they are loopback/link-local (private ones are always allowed). */
  readonly proxyProbeAllowNetworks: readonly string[];
}

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}
