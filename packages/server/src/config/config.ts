/**
 * Server configuration: defaults < config file (JSON) < environment < command-line flags.
 * Validated once at start; the result is frozen. A bad value stops the server with a
 * message naming the setting and where it came from.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isIP } from '@parley/protocol';

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

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Raw = { value: unknown; source: string };

interface Setting<K extends keyof ParleyConfig> {
  key: K;
  env?: string;
  flag?: string;
  default: ParleyConfig[K];
  parse: (raw: unknown) => Parsed<ParleyConfig[K]>;
  /** One or two sentences for the generated configuration reference (docs/configuration.md). */
  doc: string;
}

type Parsed<T> = { ok: T } | { error: string };

function intIn(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const n =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && /^-?\d+$/.test(raw.trim())
          ? Number(raw)
          : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      return { error: `must be an integer from ${min} to ${max}` };
    return { ok: n };
  };
}

function numberIn(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) return { error: `must be a number from ${min} to ${max}` };
    return { ok: n };
  };
}

function str(check?: (s: string) => string | null) {
  return (raw: unknown): Parsed<string> => {
    if (typeof raw !== 'string') return { error: 'must be a string' };
    const problem = check?.(raw);
    return problem ? { error: problem } : { ok: raw };
  };
}

function oneOf<T extends string>(...values: T[]) {
  return (raw: unknown): Parsed<T> => {
    if (typeof raw === 'string' && (values as string[]).includes(raw)) return { ok: raw as T };
    return { error: `must be one of ${values.join(', ')}` };
  };
}

function ipList(raw: unknown): Parsed<readonly string[]> {
  const items = Array.isArray(raw)
    ? raw
    : typeof raw === 'string'
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  if (!items || !items.every((i) => typeof i === 'string' && isIP(i))) {
    return { error: 'must be a list of IPv4/IPv6 addresses (comma-separated in the environment)' };
  }
  return { ok: Object.freeze([...items] as string[]) };
}

function iceServerList(raw: unknown): Parsed<readonly IceServer[]> {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { error: 'must be a JSON array such as [{"urls":["stun:stun.example.com:3478"]}]' };
    }
  }
  if (!Array.isArray(value)) return { error: 'must be an array of {urls, username?, credential?}' };
  const out: IceServer[] = [];
  for (const [i, entry] of value.entries()) {
    const e = entry as Record<string, unknown>;
    const urls = typeof e?.['urls'] === 'string' ? [e['urls']] : e?.['urls'];
    if (
      !Array.isArray(urls) ||
      urls.length === 0 ||
      !urls.every((u) => typeof u === 'string' && /^(stuns?|turns?):[^\s]+$/.test(u))
    ) {
      return { error: `entry ${i}: urls must be stun:, stuns:, turn: or turns: URLs` };
    }
    for (const k of ['username', 'credential'] as const) {
      if (e[k] !== undefined && typeof e[k] !== 'string')
        return { error: `entry ${i}: ${k} must be a string` };
    }
    out.push({
      urls: urls as string[],
      ...(typeof e['username'] === 'string' ? { username: e['username'] } : {}),
      ...(typeof e['credential'] === 'string' ? { credential: e['credential'] } : {}),
    });
  }
  return { ok: Object.freeze(out) };
}

function trustProxySetting(raw: unknown): Parsed<boolean | number | readonly string[]> {
  if (raw === true || raw === 'true') return { ok: true };
  if (raw === false || raw === 'false' || raw === '') return { ok: false };
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw.trim()))) {
    const hops = Number(raw);
    if (Number.isInteger(hops) && hops >= 1 && hops <= 10) return { ok: hops };
    return { error: 'as a hop count must be an integer from 1 to 10' };
  }
  const list = cidrList(raw);
  if ('ok' in list && list.ok.length > 0) return list;
  return {
    error:
      'must be false, true, a hop count (1-10), or a list of proxy addresses/CIDRs such as 10.0.0.5,10.1.0.0/16',
  };
}

function bool(raw: unknown): Parsed<boolean> {
  if (typeof raw === 'boolean') return { ok: raw };
  if (raw === 'true' || raw === '1') return { ok: true };
  if (raw === 'false' || raw === '0') return { ok: false };
  return { error: 'must be true or false' };
}

function listOf(raw: unknown): unknown[] | null {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return null;
}

function secondsList(raw: unknown): Parsed<readonly number[]> {
  const items = listOf(raw)?.map((v) => (typeof v === 'string' ? Number(v) : v));
  if (
    !items ||
    items.length > 30 ||
    !items.every((n) => typeof n === 'number' && Number.isFinite(n) && n > 0 && n <= 7 * 86400)
  ) {
    return {
      error: 'must be a list of up to 30 delays in seconds (each above 0, at most 7 days), e.g. 5,30,300',
    };
  }
  return { ok: Object.freeze(items as number[]) };
}

function cidrList(raw: unknown): Parsed<readonly string[]> {
  const items = listOf(raw);
  const valid = (c: unknown) => {
    if (typeof c !== 'string') return false;
    const [ip, prefix, extra] = c.split('/');
    if (extra !== undefined || !ip || !isIP(ip)) return false;
    if (prefix === undefined) return true;
    const n = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
    return n >= 0 && n <= (ip.includes(':') ? 128 : 32);
  };
  if (!items || !items.every(valid))
    return { error: 'must be a list of IP addresses or CIDRs such as 10.1.0.0/16' };
  return { ok: Object.freeze(items as string[]) };
}

const settings: Setting<keyof ParleyConfig>[] = [
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
    default: 16,
    parse: intIn(2, 100),
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
    doc: 'Lowest UDP port of the media plane. Set together with `rtcPortMax` (both or neither); 0 and 0 let the operating system pick. A room of n people uses about n² ports: open the range in the firewall.',
  },
  {
    key: 'rtcPortMax',
    env: 'PARLEY_RTC_PORT_MAX',
    default: 0,
    parse: intIn(0, 65535),
    doc: 'Highest UDP port of the media plane; must be above `rtcPortMin`, or 0 with it.',
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

const hiddenSettings: ReadonlySet<string> = new Set([
  'adminPassword',
  'masterKey',
  's3SecretAccessKey',
  'metricsToken',
]);

function httpUrlOrEmpty(s: string): string | null {
  if (s === '') return null;
  try {
    const u = new URL(s);
    if (u.protocol === 'http:' || u.protocol === 'https:') return null;
  } catch {
    // falls through
  }
  return 'must be an http(s) URL such as https://s3.example.com';
}

export const configFlags = settings.filter((s) => s.flag).map((s) => s.flag as string);

/** One setting as the configuration reference (docs/configuration.md) presents it. */
export interface SettingReference {
  key: keyof ParleyConfig;
  env: string | null;
  /** The `parley start` flag, without its dashes. */
  flag: string | null;
  default: unknown;
  /** Configuration errors show `(hidden)` instead of its value. */
  secret: boolean;
  /** What the setting takes, in the words its validation uses when it refuses a value. */
  accepts: string;
  doc: string;
}

/** Every setting, in the order of the settings list, for the generated configuration reference. */
export function configReference(): SettingReference[] {
  return settings.map((s) => ({
    key: s.key,
    env: s.env ?? null,
    flag: s.flag ?? null,
    default: s.default,
    secret: hiddenSettings.has(s.key),
    accepts: acceptedValues(s.parse),
    doc: s.doc,
  }));
}

/**
 * Asks a parser what it accepts, so the reference cannot drift from the validation. No
 * setting takes a JSON object, so every parser refuses one and says what it wants ("must be an
 * integer from 0 to 65535"). String parsers answer that with "must be a string" only; their own
 * rule shows in how they treat the empty string and a string that is no valid value of anything.
 */
function acceptedValues(parse: (raw: unknown) => Parsed<unknown>): string {
  const refusal = (raw: unknown): string | null => {
    const parsed = parse(raw);
    return 'error' in parsed ? parsed.error.replace(/^must be /, '') : null;
  };
  const byType = refusal({});
  if (byType === null) return 'see the description';
  if (byType !== 'a string') return byType;
  const empty = refusal('');
  const nonsense = refusal('\u0000');
  if (nonsense === null) return empty === null ? 'any string' : 'a non-empty string';
  return empty !== null || /\bempty\b/.test(nonsense) ? nonsense : `empty, or ${nonsense}`;
}

export interface ConfigSources {
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Overrides for embedding and tests, applied last. */
  overrides?: Partial<Omit<ParleyConfig, 'configFile'>>;
}

/** Loads and validates the configuration; throws ConfigError naming every bad setting. */
export function loadConfig(sources: ConfigSources = {}): ParleyConfig {
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const configFile = flags['config'] ?? env['PARLEY_CONFIG'] ?? '';
  let fileValues: Record<string, unknown> = {};
  if (configFile !== '') {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `config file ${configFile}: cannot be read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      fileValues = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${configFile}: is not a JSON object (${(err as Error).message})`);
    }
    const known = new Set(settings.map((s) => s.key as string));
    for (const k of Object.keys(fileValues)) {
      if (!known.has(k)) throw new ConfigError(`config file ${configFile}: unknown setting "${k}"`);
    }
  }

  const out: Record<string, unknown> = { configFile };
  const problems: string[] = [];
  for (const s of settings) {
    let raw: Raw | null = null;
    if (s.key in fileValues) raw = { value: fileValues[s.key], source: `file ${configFile}` };
    if (s.env && env[s.env] !== undefined && env[s.env] !== '') raw = { value: env[s.env], source: s.env };
    if (s.flag && flags[s.flag] !== undefined) raw = { value: flags[s.flag], source: `--${s.flag}` };
    const override = sources.overrides?.[s.key as keyof ConfigSources['overrides'] & string];
    if (override !== undefined) raw = { value: override, source: 'override' };
    if (raw === null) {
      out[s.key] = s.default;
      continue;
    }
    const parsed = s.parse(raw.value);
    if ('error' in parsed) {
      const shown = typeof raw.value === 'string' ? JSON.stringify(raw.value) : String(raw.value);
      const what = hiddenSettings.has(s.key) ? '(hidden)' : shown;
      problems.push(`${s.key}: ${parsed.error} (got ${what} from ${raw.source})`);
    } else {
      out[s.key] = parsed.ok;
    }
  }
  const portMin = out['rtcPortMin'] as number | undefined;
  const portMax = out['rtcPortMax'] as number | undefined;
  if (portMin !== undefined && portMax !== undefined && (portMin === 0) !== (portMax === 0)) {
    problems.push('rtcPortMin/rtcPortMax: set both or neither');
  } else if (portMin && portMax && portMax - portMin < 1) {
    problems.push(`rtcPortMax: must be above rtcPortMin (got ${portMin}-${portMax})`);
  }
  if (out['recordingStorage'] === 's3') {
    for (const key of ['s3Endpoint', 's3Bucket', 's3AccessKeyId', 's3SecretAccessKey'] as const) {
      if (out[key] === '') problems.push(`${key}: must be set when recordingStorage is s3`);
    }
    const bucket = out['s3Bucket'];
    if (typeof bucket === 'string' && bucket !== '' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      problems.push(
        `s3Bucket: must be 3-63 lowercase letters, digits, "." or "-" (got ${JSON.stringify(bucket)})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  out['dataDir'] = path.resolve(out['dataDir'] as string);
  out['recordingsDir'] = path.resolve(
    (out['recordingsDir'] as string) || path.join(out['dataDir'] as string, 'recordings'),
  );
  return Object.freeze(out as unknown as ParleyConfig);
}
