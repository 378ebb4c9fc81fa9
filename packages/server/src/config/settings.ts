/**
 * The settings table: every setting's key, environment variable, flag, default, parser and
 * reference text. Adding a setting here is all it takes for the loader and the generated
 * configuration reference (docs/configuration.md) to know it.
 */
import { isIP } from '@parley/protocol';
import type { ParleyConfig } from './config-types.js';
import {
  bool,
  cidrList,
  httpUrlOrEmpty,
  iceServerList,
  intIn,
  ipList,
  numberIn,
  oneOf,
  secondsList,
  str,
  trustProxySetting,
  type Parsed,
} from './value-parsers.js';

export interface Setting<K extends keyof ParleyConfig> {
  key: K;
  env?: string;
  flag?: string;
  default: ParleyConfig[K];
  parse: (raw: unknown) => Parsed<ParleyConfig[K]>;
  /** One or two sentences for the generated configuration reference (docs/configuration.md). */
  doc: string;
}

export const settings: Setting<keyof ParleyConfig>[] = [
  {
    key: 'port',
    env: 'PARLEY_PORT',
    flag: 'port',
    default: 7880,
    parse: intIn(0, 65535),
    doc: 'TCP port of the HTTP server: console, REST API, signaling WebSocket (`/signal/v1`), call page, docs and `/metrics`. 0 picks a free port (the address is logged at start).',
  },
  {
    key: 'host',
    env: 'PARLEY_HOST',
    flag: 'host',
    default: '0.0.0.0',
    parse: str((s) => (s.trim() === '' ? 'must not be empty' : null)),
    doc: 'Address the HTTP server listens on: `0.0.0.0` every IPv4 interface, `::` every interface, `127.0.0.1` this machine only (e.g. behind a reverse proxy on the same host).',
  },
  {
    key: 'dataDir',
    env: 'PARLEY_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    parse: str((s) => (s.trim() === '' ? 'must not be empty' : null)),
    doc: 'Directory of the SQLite database (`parley.db`), the generated master key (`master.key`) and, unless `recordingsDir` is set, the recordings; created at start if missing. A relative path is resolved from the working directory.',
  },
  {
    key: 'databaseUrl',
    env: 'PARLEY_DATABASE_URL',
    default: '',
    parse: str((s) =>
      s === '' || /^postgres(ql)?:\/\/.+/.test(s)
        ? null
        : 'must be empty (SQLite in the data directory) or a postgres:// URL',
    ),
    doc: 'A `postgres://` (or `postgresql://`) URL keeps everything in that PostgreSQL database, which several nodes can share; empty keeps it in SQLite in `dataDir`. Migrations run at start either way.',
  },
  {
    key: 'masterKey',
    env: 'PARLEY_MASTER_KEY',
    default: '',
    parse: str((s) =>
      s === '' || Buffer.from(s, 'base64').length === 32
        ? null
        : 'must be the base64 encoding of exactly 32 random bytes (e.g. `openssl rand -base64 32`)',
    ),
    doc: 'Base64 of 32 random bytes (`openssl rand -base64 32`) that encrypts the secrets kept in the database (call-application keys, callback signing secrets, media-proxy secrets). Empty uses `dataDir/master.key`, generated on first start; nodes sharing one database need the same key.',
  },
  {
    key: 'keyRotationGraceHours',
    env: 'PARLEY_KEY_GRACE_HOURS',
    default: 24,
    parse: numberIn(0, 24 * 30),
    doc: 'Hours a rotated-out call-application key keeps verifying credentials when the rotation request gives no `graceHours`; 0 retires it at once.',
  },
  {
    key: 'publicUrl',
    env: 'PARLEY_PUBLIC_URL',
    default: '',
    parse: str((s) => (s === '' || /^https?:\/\/[^\s]+$/.test(s) ? null : 'must be an http(s) URL')),
    doc: 'URL users reach Parley at, e.g. through a reverse proxy (`https://calls.example.com`). An `https:` URL makes the session cookie Secure (with `secureCookies` `auto`), and it is the base of the `filePath` of locally stored recordings in callbacks; empty means the address the server listens on.',
  },
  {
    key: 'logLevel',
    env: 'PARLEY_LOG_LEVEL',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    doc: 'Least severe level written to the log (JSON lines on standard output); `silent` writes nothing.',
  },
  {
    key: 'secureCookies',
    env: 'PARLEY_SECURE_COOKIES',
    default: 'auto',
    parse: oneOf('auto', 'always', 'never'),
    doc: 'Whether the console session cookie is marked Secure (sent over HTTPS only): `auto` when `publicUrl` starts with `https:`, `always`, or `never`.',
  },
  {
    key: 'sessionTtlHours',
    env: 'PARLEY_SESSION_TTL_HOURS',
    default: 168,
    parse: numberIn(0.01, 24 * 90),
    doc: 'Hours a console sign-in stays valid, counted from sign-in; then the user signs in again.',
  },
  {
    key: 'loginMaxFailures',
    env: 'PARLEY_LOGIN_MAX_FAILURES',
    default: 5,
    parse: intIn(1, 1000),
    doc: "Failed sign-ins allowed for one email from one client address within `loginWindowSeconds` (4 times as many per email from all addresses, and per address over all emails); further attempts are refused with 429 `LOGIN_RATE_LIMITED` and a `Retry-After` header. A browser that signed in to the account before (device cookie) has its own budget of this size instead, so others' failures never lock it out. Each attempt is counted before its password is checked.",
  },
  {
    key: 'loginWindowSeconds',
    env: 'PARLEY_LOGIN_WINDOW_SECONDS',
    default: 900,
    parse: intIn(1, 86400),
    doc: 'Seconds over which failed sign-ins are counted against `loginMaxFailures`; a failure older than this no longer counts.',
  },
  {
    key: 'adminEmail',
    env: 'PARLEY_ADMIN_EMAIL',
    default: '',
    parse: str(),
    doc: 'Email of the owner account created on first start (while the database has no user); empty means `admin@parley.local`.',
  },
  {
    key: 'adminPassword',
    env: 'PARLEY_ADMIN_PASSWORD',
    default: '',
    parse: str((s) => (s === '' || s.length >= 12 ? null : 'must be at least 12 characters')),
    doc: 'Password of that owner account, at least 12 characters; empty means one is generated and written once to the log. Read only when the account is created.',
  },
  {
    key: 'consoleDir',
    env: 'PARLEY_CONSOLE_DIR',
    default: '',
    parse: str(),
    doc: 'Directory of a built console (with its `index.html`) to serve at `/`; empty serves the bundled console (`packages/console/dist`).',
  },
  {
    key: 'maxParticipants',
    env: 'PARLEY_MAX_PARTICIPANTS',
    default: 50,
    parse: intIn(2, 200),
    doc: 'Most participants one room holds at once; one more `joinRoom` is refused with `ROOM_FULL`.',
  },
  {
    key: 'reconnectGraceSeconds',
    env: 'PARLEY_RECONNECT_GRACE_SECONDS',
    default: 20,
    parse: numberIn(0, 600),
    doc: 'Seconds a terminal whose signaling connection dropped may resume its session, keeping its place in the room, before it counts as having left (eventCode 3, reason `disconnected`); 0 ends the session at once.',
  },
  {
    key: 'emptyRoomGraceSeconds',
    env: 'PARLEY_EMPTY_ROOM_GRACE_SECONDS',
    default: 10,
    parse: numberIn(0, 3600),
    doc: 'Seconds a room is kept after its last participant leaves, so someone can rejoin it; then it is destroyed (eventCode 4).',
  },
  {
    key: 'idleRoomTimeoutSeconds',
    env: 'PARLEY_IDLE_ROOM_TIMEOUT_SECONDS',
    default: 300,
    parse: numberIn(1, 86400),
    doc: 'Seconds a room created through the REST API waits for its first participant before it is destroyed.',
  },
  {
    key: 'signalingMaxMessageBytes',
    env: 'PARLEY_SIGNALING_MAX_MESSAGE_BYTES',
    default: 65536,
    parse: intIn(4096, 1048576),
    doc: 'Largest signaling message accepted, in bytes; a larger one is answered with `MESSAGE_TOO_LARGE` and ignored, and a frame above four times this closes the connection.',
  },
  {
    key: 'signalingMessagesPerSecond',
    env: 'PARLEY_SIGNALING_MESSAGES_PER_SECOND',
    default: 50,
    parse: intIn(1, 10000),
    doc: 'Signaling messages one connection may send per second, with bursts up to twice that; extra ones are answered with `RATE_LIMITED`, and after more than twice this many refusals the connection is closed (4429).',
  },
  {
    key: 'rtcPortMin',
    env: 'PARLEY_RTC_PORT_MIN',
    default: 0,
    parse: intIn(0, 65535),
    doc: 'Lowest UDP port of the media plane. Set together with `rtcPortMax` (both or neither); 0 and 0 let the operating system pick. A room of n people uses about 2n ports (one publishing and one receiving connection each): open the range in the firewall.',
  },
  {
    key: 'rtcPortMax',
    env: 'PARLEY_RTC_PORT_MAX',
    default: 0,
    parse: intIn(0, 65535),
    doc: 'Highest UDP port of the media plane; must be above `rtcPortMin`, or 0 with it.',
  },
  {
    key: 'rtcUdpPort',
    env: 'PARLEY_RTC_UDP_PORT',
    default: 0,
    parse: intIn(0, 65535),
    doc: 'One UDP port for all media (ICE UDP multiplexing): every WebRTC transport shares it, so a firewall needs one port open rather than a range. 0 (default) uses `rtcPortMin`/`rtcPortMax` instead; set either this or the range, not both.',
  },
  {
    key: 'rtcBindAddress',
    env: 'PARLEY_RTC_BIND_ADDRESS',
    default: '',
    parse: str((s) =>
      s === '' || isIP(s) ? null : 'must be an IP address of this machine, or empty for all',
    ),
    doc: 'Local IP address the media plane binds its UDP sockets to; empty binds every interface.',
  },
  {
    key: 'announcedIps',
    env: 'PARLEY_ANNOUNCED_IPS',
    default: Object.freeze([]),
    parse: ipList,
    doc: "Public IP addresses put in the media plane's ICE candidates instead of the host's own, for a server behind NAT (a cloud VM's elastic IP, a forwarded port range); comma-separated in the environment.",
  },
  {
    key: 'iceServers',
    env: 'PARLEY_ICE_SERVERS',
    default: Object.freeze([]),
    parse: iceServerList,
    doc: 'STUN/TURN servers handed to terminals in the signaling `welcome`, also used by the media plane to gather its own candidates: a JSON array of `{"urls": [...], "username"?, "credential"?}`.',
  },
  {
    key: 'callbackTimeoutSeconds',
    env: 'PARLEY_CALLBACK_TIMEOUT_SECONDS',
    default: 10,
    parse: numberIn(0.1, 120),
    doc: 'Seconds one callback attempt may take, from connecting to the end of the answer, before it counts as failed and is retried.',
  },
  {
    key: 'callbackRetrySchedule',
    env: 'PARLEY_CALLBACK_RETRY_SCHEDULE',
    default: Object.freeze([5, 30, 300, 1800, 7200, 18000, 36000, 36000]),
    parse: secondsList,
    doc: "Seconds to wait before each retry of a failed callback (comma-separated in the environment); its length is the number of retries, after which the event is marked failed. A receiver's longer `Retry-After` is honoured, up to 24 hours.",
  },
  {
    key: 'callbackRetryJitter',
    env: 'PARLEY_CALLBACK_RETRY_JITTER',
    default: 0.2,
    parse: numberIn(0, 0.5),
    doc: 'Random spread of each retry delay, as a fraction: 0.2 waits between 80 % and 120 % of the scheduled delay, so retries of many events do not arrive together.',
  },
  {
    key: 'callbackConcurrency',
    env: 'PARLEY_CALLBACK_CONCURRENCY',
    default: 128,
    parse: intIn(1, 1024),
    doc: 'Most callback requests in flight at once, across all call applications.',
  },
  {
    key: 'callbackAllowNetworks',
    env: 'PARLEY_CALLBACK_ALLOW_NETWORKS',
    default: Object.freeze([]),
    parse: cidrList,
    doc: 'IP addresses or CIDRs callbacks may reach although the outbound guard refuses them by default (private, link-local, carrier-grade NAT and other special addresses), e.g. `10.20.0.0/16`; comma-separated in the environment.',
  },
  {
    key: 'callbackAllowLoopback',
    env: 'PARLEY_CALLBACK_ALLOW_LOOPBACK',
    default: false,
    parse: bool,
    doc: 'Development mode: callbacks may reach loopback addresses (127.0.0.0/8, `::1`), for a receiver on the same machine. Keep it false in production.',
  },
  {
    key: 'callbackSecretOverlapHours',
    env: 'PARLEY_CALLBACK_SECRET_OVERLAP_HOURS',
    default: 24,
    parse: numberIn(0, 720),
    doc: 'Hours the previous callback signing secret keeps signing, next to the new one, after a rotation, so receivers can switch secrets without failed deliveries.',
  },
  {
    key: 'recordingsDir',
    env: 'PARLEY_RECORDINGS_DIR',
    default: '',
    parse: str(),
    doc: 'Directory recordings are written to (and kept in, with `local` storage), as `<bizName>/<recordId>.mp4`; empty means `dataDir/recordings`.',
  },
  {
    key: 'ffmpegPath',
    env: 'PARLEY_FFMPEG_PATH',
    default: '',
    parse: str(),
    doc: 'Path of the ffmpeg executable the recorder runs; empty means `ffmpeg` on PATH. Without one, calls work and recording is unavailable (see [recording](recording.md)).',
  },
  {
    key: 'recordingStorage',
    env: 'PARLEY_RECORDING_STORAGE',
    default: 'local',
    parse: oneOf('local', 's3'),
    doc: '`local` keeps finished recordings in `recordingsDir` (fileType 1); `s3` uploads them to S3-compatible object storage (fileType 2), which needs `s3Endpoint`, `s3Bucket`, `s3AccessKeyId` and `s3SecretAccessKey`.',
  },
  {
    key: 'recordingStreamTimeoutSeconds',
    env: 'PARLEY_RECORDING_STREAM_TIMEOUT_SECONDS',
    default: 5,
    parse: numberIn(1, 600),
    doc: 'Seconds a recorded stream may deliver no packet before warning 500301 (stream disconnected) is raised; the recording goes on.',
  },
  {
    key: 'recordingLowFrameRate',
    env: 'PARLEY_RECORDING_LOW_FRAME_RATE',
    default: 5,
    parse: numberIn(0.5, 60),
    doc: 'Frames per second under which a recorded video stream counts as slow: staying under it for `recordingLowFrameRateSeconds` raises warning 500302.',
  },
  {
    key: 'recordingLowFrameRateSeconds',
    env: 'PARLEY_RECORDING_LOW_FRAME_RATE_SECONDS',
    default: 5,
    parse: numberIn(1, 600),
    doc: 'Seconds a recorded video stream must stay under `recordingLowFrameRate` before warning 500302 is raised.',
  },
  {
    key: 's3Endpoint',
    env: 'PARLEY_S3_ENDPOINT',
    default: '',
    parse: str(httpUrlOrEmpty),
    doc: 'URL of the S3-compatible service, without the bucket, e.g. `https://oss-cn-hangzhou.aliyuncs.com` or `http://minio.internal:9000`.',
  },
  {
    key: 's3Bucket',
    env: 'PARLEY_S3_BUCKET',
    default: '',
    parse: str(),
    doc: 'Bucket recordings are uploaded to: 3 to 63 lowercase letters, digits, `.` or `-`.',
  },
  {
    key: 's3Region',
    env: 'PARLEY_S3_REGION',
    default: 'us-east-1',
    parse: str(),
    doc: 'Region used to sign requests; most self-hosted servers accept the default.',
  },
  {
    key: 's3AccessKeyId',
    env: 'PARLEY_S3_ACCESS_KEY_ID',
    default: '',
    parse: str(),
    doc: 'Access key id of the object-storage credentials.',
  },
  {
    key: 's3SecretAccessKey',
    env: 'PARLEY_S3_SECRET_ACCESS_KEY',
    default: '',
    parse: str(),
    doc: 'Secret access key of the object-storage credentials.',
  },
  {
    key: 's3Prefix',
    env: 'PARLEY_S3_PREFIX',
    default: 'recordings/',
    parse: str(),
    doc: 'Prepended to every object key (empty for none); must not start with `/`.',
  },
  {
    key: 's3ForcePathStyle',
    env: 'PARLEY_S3_FORCE_PATH_STYLE',
    default: false,
    parse: bool,
    doc: 'Path-style object URLs (`endpoint/bucket/key`) instead of virtual-hosted ones (`bucket.endpoint/key`); MinIO and most self-hosted servers need `true`.',
  },
  {
    key: 's3PublicBaseUrl',
    env: 'PARLEY_S3_PUBLIC_BASE_URL',
    default: '',
    parse: str(httpUrlOrEmpty),
    doc: 'Base URL (a CDN or public bucket URL) to which the object key is appended to make the `filePath` of uploaded recordings in callbacks; empty derives it from `s3Endpoint` and `s3Bucket`.',
  },
  {
    key: 's3UploadAttempts',
    env: 'PARLEY_S3_UPLOAD_ATTEMPTS',
    default: 4,
    parse: intIn(1, 20),
    doc: 'Tries per object-storage request before an upload fails; a transient error is retried after 1 s, doubling each time.',
  },
  {
    key: 's3KeepLocalCopy',
    env: 'PARLEY_S3_KEEP_LOCAL_COPY',
    default: false,
    parse: bool,
    doc: 'Keeps the local file in `recordingsDir` after a successful upload; `false` deletes it.',
  },
  {
    key: 'proxyCredentialTtlSeconds',
    env: 'PARLEY_PROXY_CREDENTIAL_TTL_SECONDS',
    default: 86_400,
    parse: intIn(60, 7 * 86_400),
    doc: "Seconds the TURN credentials that terminals get for a call application's media-stream proxy stay valid.",
  },
  {
    key: 'maxCredentialLifetimeHours',
    env: 'PARLEY_MAX_CREDENTIAL_LIFETIME_HOURS',
    default: 168,
    parse: numberIn(0.01, 24 * 366),
    doc: 'Longest a client credential may be valid for, from now: an `expireTime` further ahead is refused (CREDENTIAL_MALFORMED). Sign credentials for minutes or hours; a participant in a call stays in it past the expiry.',
  },
  {
    key: 'callbackConcurrencyPerApp',
    env: 'PARLEY_CALLBACK_CONCURRENCY_PER_APP',
    default: 64,
    parse: intIn(1, 1024),
    doc: 'Most callback requests one call application may have in flight at once (capped at `callbackConcurrency`), so a slow receiver cannot hold the delivery capacity of the others.',
  },
  {
    key: 'trustProxy',
    env: 'PARLEY_TRUST_PROXY',
    default: false,
    parse: trustProxySetting,
    doc: 'Reverse proxies trusted to give the client address in `X-Forwarded-For`: `false` (none, the default), `true` (any: only when Parley is reachable through the proxy alone), a hop count, or a comma-separated list of proxy addresses/CIDRs. Sign-in limits count attempts per client address, so set this behind a proxy.',
  },
  {
    key: 'metricsToken',
    env: 'PARLEY_METRICS_TOKEN',
    default: '',
    parse: str((s) => (s === '' || s.length >= 16 ? null : 'must be empty or at least 16 characters')),
    doc: 'When set, `/metrics` requires `Authorization: Bearer <token>` (Prometheus `authorization.credentials`). Empty leaves `/metrics` open to whoever reaches the port.',
  },
  {
    key: 'proxyProbeAllowNetworks',
    env: 'PARLEY_PROXY_PROBE_ALLOW_NETWORKS',
    default: Object.freeze([]),
    parse: cidrList,
    doc: '"Test proxy" refuses loopback, link-local and cloud-metadata addresses; list CIDRs here to allow them anyway (private addresses are always allowed: proxies live there).',
  },
];

/** Secrets: a refused value is shown as `(hidden)` so it never reaches a log or a terminal. */
export const hiddenSettings: ReadonlySet<string> = new Set([
  'adminPassword',
  'masterKey',
  's3SecretAccessKey',
  'metricsToken',
]);
