// Recordings leave this machine through this module, so it has to work against every
// S3-compatible store a customer may run (Alibaba OSS, MinIO, AWS S3...) and fail in a way an
// operator can act on. Hence:
// - the SDK's own retries are off (maxAttempts 1): one retry loop here decides what is
//   transient, reports how many attempts an upload took and can be stopped by close();
// - the SDK's newer default checksums (CRC32 trailers, aws-chunked bodies) are turned down to
//   "when required", because several S3-compatible stores reject them; integrity comes from a
//   Content-MD5 header instead, which every S3-compatible store verifies;
// - big files go up as a multipart upload we drive ourselves, streaming each part from disk,
//   so a transient failure retries one part rather than the whole recording and memory use
//   does not grow with the part size;
// - every failure becomes an ObjectStorageError whose kind tells a "test storage" button and
//   the logs what to fix (DNS, firewall, keys, bucket name), naming the endpoint, bucket and
//   key but never the secret.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface ObjectStorageConfig {
  /** e.g. 'http://127.0.0.1:4568' or 'https://oss-cn-hangzhou.aliyuncs.com' (without the bucket). */
  endpoint: string;
  bucket: string;
  /** e.g. 'us-east-1'. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Prepended to every key as is, e.g. 'recordings/' ('' allowed). */
  prefix: string;
  /** MinIO / s3rver need path-style URLs. */
  forcePathStyle: boolean;
  /** '' → object URL derived from endpoint + bucket + key (path-style or virtual-hosted per forcePathStyle); else `${publicBaseUrl}/${fullKey}`. */
  publicBaseUrl: string;
}

/**
 * - dns: the endpoint's host name does not resolve;
 * - refused: cannot connect, or the connection was dropped (refused, reset, unreachable);
 * - timeout: no connection or no progress within requestTimeoutMs;
 * - auth: keys wrong, signature rejected, access denied, clock skew;
 * - no-bucket: the bucket does not exist;
 * - http: any other answer from the server (err.status / err.code say which);
 * - io: the local file cannot be read.
 */
export type ObjectStorageErrorKind = 'dns' | 'refused' | 'timeout' | 'auth' | 'no-bucket' | 'http' | 'io';

export class ObjectStorageError extends Error {
  override readonly name = 'ObjectStorageError';
  readonly kind: ObjectStorageErrorKind;
  /** How many times the failing request was tried. */
  readonly attempts: number;
  /** HTTP status of the server's answer, when there was one. */
  readonly status: number | null;
  /** S3 error code (NoSuchKey, AccessDenied...) or Node error code (ECONNREFUSED...), when known. */
  readonly code: string | null;
  constructor(
    kind: ObjectStorageErrorKind,
    message: string,
    attempts: number,
    extra: { status?: number | null; code?: string | null; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.kind = kind;
    this.attempts = attempts;
    this.status = extra.status ?? null;
    this.code = extra.code ?? null;
  }
}

export interface UploadResult {
  /** Full key, prefix included: pass this to download() and delete(). */
  key: string;
  url: string;
  bytes: number;
  /** Most tries any single request of the upload needed (1 = nothing was retried). */
  attempts: number;
  /** Without the surrounding quotes; multipart ETags end in -<parts>. */
  etag: string | null;
}

export interface ObjectStorage {
  /** Uploads a local file (multipart for big files), retried with exponential backoff on transient errors (dns/refused/timeout/5xx/io); auth and no-bucket fail at once. */
  upload(localFile: string, key: string, contentType?: string): Promise<UploadResult>;
  /** Streams an object back (for serving downloads), optional byte range {start, end} inclusive. `key` is the full key returned by upload(). */
  download(
    key: string,
    range?: { start: number; end?: number },
  ): Promise<{
    body: NodeJS.ReadableStream;
    contentLength: number;
    totalLength: number;
    contentType: string | null;
  }>;
  /** Full key as returned by upload; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** One quick request (HeadBucket) — used for a "test storage" check: resolves or throws ObjectStorageError with the right kind. */
  check(): Promise<void>;
  /** Idempotent; releases sockets, stops retries and in-flight requests (they reject). */
  close(): void;
}

export interface ObjectStorageOptions {
  /** Tries per request, default 4. */
  attempts?: number;
  /** First retry delay, default 1000, doubling, ±20% jitter. */
  backoffMs?: number;
  /** Connect timeout and socket inactivity timeout (not a cap on a whole transfer), default 30000. */
  requestTimeoutMs?: number;
  /** Files larger than this go up as multipart uploads of parts this big; default 8 MiB, at least 5 MiB (the S3 minimum). */
  partSizeBytes?: number;
  log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
const PART_CONCURRENCY = 4;
const MAX_BACKOFF_MS = 60_000;
const MAX_KEY_BYTES = 1024;

type Op =
  | 'upload'
  | 'download'
  | 'delete'
  | 'check'
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'GetObject'
  | 'DeleteObject'
  | 'HeadBucket'
  | 'GetBucketLocation';

/** A local read failure, told apart from network failures of the same request. */
class LocalFileError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`cannot read local file ${file}: ${describe(cause)}`, { cause });
  }
}

class ClosedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('object storage is closed');
  }
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'Forbidden',
  'InvalidSecurity',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'RequestTimeTooSkewed',
  'AuthorizationHeaderMalformed',
  'AccountProblem',
]);
const TRANSIENT_HTTP_CODES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'BadDigest']);

interface Classified {
  kind: ObjectStorageErrorKind;
  transient: boolean;
  status: number | null;
  code: string | null;
  detail: string;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function nodeCode(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  // Node's happy-eyeballs connect reports an AggregateError of the per-address failures.
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const c = nodeCode(inner);
      if (c) return c;
    }
  }
  const cause = (err as { cause?: unknown }).cause;
  return cause && cause !== err ? nodeCode(cause) : null;
}

function httpStatus(err: unknown): number | null {
  if (typeof err !== 'object' || err === null) return null;
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  const status = meta?.httpStatusCode;
  return typeof status === 'number' ? status : null;
}

function classify(err: unknown, op: Op, requestTimeoutMs: number): Classified {
  if (err instanceof LocalFileError) {
    return { kind: 'io', transient: true, status: null, code: nodeCode(err.cause), detail: err.message };
  }
  const status = httpStatus(err);
  const name = err instanceof Error ? err.name : '';
  const message = describe(err);
  if (status === null) {
    const code = nodeCode(err);
    if (code && DNS_CODES.has(code)) {
      return { kind: 'dns', transient: true, status, code, detail: `cannot resolve the host name (${code})` };
    }
    if (code && CONNECT_CODES.has(code)) {
      return {
        kind: 'refused',
        transient: true,
        status,
        code,
        detail: `connection failed (${code}): ${message}`,
      };
    }
    if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
      return {
        kind: 'timeout',
        transient: true,
        status,
        code: code ?? 'ETIMEDOUT',
        detail: `no connection or no progress within ${requestTimeoutMs} ms`,
      };
    }
    // TLS problems, unparseable answers and the like: retrying does not fix them.
    return { kind: 'http', transient: false, status, code, detail: message };
  }
  const code = name && name !== 'Error' && name !== 'Unknown' ? name : null;
  const detail = `HTTP ${status}${code ? ` ${code}` : ''}: ${message}`;
  if (code === 'RequestTimeout') return { kind: 'timeout', transient: true, status, code, detail };
  if (status === 401 || status === 403 || (code && AUTH_CODES.has(code))) {
    return { kind: 'auth', transient: false, status, code, detail };
  }
  if (code === 'NoSuchBucket') return { kind: 'no-bucket', transient: false, status, code, detail };
  // Answers to HEAD have no body, so a missing bucket is a bare 404 there; a write that gets a
  // 404 without a more precise code also means the bucket is not there.
  if (
    status === 404 &&
    (op === 'HeadBucket' ||
      op === 'GetBucketLocation' ||
      op === 'PutObject' ||
      op === 'CreateMultipartUpload') &&
    code !== 'NoSuchKey' &&
    code !== 'NoSuchUpload'
  ) {
    return { kind: 'no-bucket', transient: false, status, code, detail };
  }
  const transient = status >= 500 || status === 429 || (code !== null && TRANSIENT_HTTP_CODES.has(code));
  return { kind: 'http', transient, status, code, detail };
}

function stripQuotes(etag: string | undefined): string | null {
  if (!etag) return null;
  return etag.replace(/^"(.*)"$/, '$1');
}

async function md5OfRange(file: string, start: number, length: number, signal: AbortSignal): Promise<string> {
  const hash = createHash('md5');
  if (length > 0) {
    try {
      const stream = createReadStream(file, { start, end: start + length - 1, signal });
      for await (const chunk of stream) hash.update(chunk as Buffer);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new LocalFileError(file, err);
    }
  }
  return hash.digest('base64');
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function trimTrailingSlashes(s: string): string {
  return s.replace(/\/+$/, '');
}

/** The endpoint as safe to print: no user info, query or fragment. */
function printableEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${trimTrailingSlashes(u.pathname)}`;
  } catch {
    return '(invalid endpoint)';
  }
}

function isHttpUrl(value: string): URL | null {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u : null;
  } catch {
    return null;
  }
}

/** Validates a config (endpoint is an http(s) URL, bucket name rules, non-empty region/keys); returns a list of {field, message} problems (empty = ok). */
export function checkObjectStorageConfig(
  config: ObjectStorageConfig,
): { field: keyof ObjectStorageConfig; message: string }[] {
  const problems: { field: keyof ObjectStorageConfig; message: string }[] = [];
  const add = (field: keyof ObjectStorageConfig, message: string) => problems.push({ field, message });
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

  const endpoint = str(config.endpoint);
  const bucket = str(config.bucket);
  const endpointUrl = endpoint === null ? null : isHttpUrl(endpoint);
  if (endpoint === null || endpoint.trim() === '') {
    add('endpoint', 'endpoint is required, e.g. https://oss-cn-hangzhou.aliyuncs.com');
  } else if (!endpointUrl) {
    add('endpoint', 'endpoint must be an http:// or https:// URL, e.g. https://oss-cn-hangzhou.aliyuncs.com');
  } else if (endpointUrl.username || endpointUrl.password) {
    add('endpoint', 'endpoint must not contain a user name or password; set the access keys instead');
  } else if (endpointUrl.search || endpointUrl.hash) {
    add('endpoint', 'endpoint must not have a query string or fragment');
  } else if (bucket && endpointUrl.hostname.toLowerCase().startsWith(`${bucket}.`)) {
    add(
      'endpoint',
      `endpoint must not include the bucket name; use ${endpointUrl.protocol}//${endpointUrl.host.slice(bucket.length + 1)}`,
    );
  }

  if (bucket === null || bucket === '') {
    add('bucket', 'bucket is required');
  } else if (bucket.length < 3 || bucket.length > 63) {
    add('bucket', 'bucket name must be 3 to 63 characters long');
  } else if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    add(
      'bucket',
      'bucket name may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit',
    );
  } else if (bucket.includes('..')) {
    add('bucket', 'bucket name must not contain two dots in a row');
  } else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) {
    add('bucket', 'bucket name must not look like an IP address');
  } else if (bucket.includes('.') && !config.forcePathStyle && endpointUrl?.protocol === 'https:') {
    add('bucket', 'a bucket name with dots breaks TLS with virtual-hosted URLs; turn on forcePathStyle');
  }

  const region = str(config.region);
  if (region === null || region.trim() === '') add('region', 'region is required, e.g. us-east-1');
  else if (/\s/.test(region)) add('region', 'region must not contain spaces');

  for (const field of ['accessKeyId', 'secretAccessKey'] as const) {
    const value = str(config[field]);
    const label = field === 'accessKeyId' ? 'access key ID' : 'secret access key';
    if (value === null || value === '') add(field, `${label} is required`);
    else if (/\s/.test(value)) add(field, `${label} must not contain spaces or line breaks`);
  }

  const prefix = str(config.prefix);
  if (prefix === null) add('prefix', "prefix must be a string ('' for none)");
  else if (prefix.startsWith('/')) add('prefix', "prefix must not start with '/'");
  else if ([...prefix].some((ch) => ch === '\\' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    add('prefix', 'prefix must not contain control characters or backslashes');
  else if (Buffer.byteLength(prefix) > 512) add('prefix', 'prefix must be at most 512 bytes');

  if (typeof config.forcePathStyle !== 'boolean')
    add('forcePathStyle', 'forcePathStyle must be true or false');

  const publicBaseUrl = str(config.publicBaseUrl);
  if (publicBaseUrl === null) add('publicBaseUrl', "publicBaseUrl must be a string ('' for none)");
  else if (publicBaseUrl !== '') {
    const u = isHttpUrl(publicBaseUrl);
    if (!u) add('publicBaseUrl', "publicBaseUrl must be '' or an http:// or https:// URL");
    else if (u.search || u.hash)
      add('publicBaseUrl', 'publicBaseUrl must not have a query string or fragment');
  }
  return problems;
}

function positiveOption(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new RangeError(`${name} must be a number >= ${min}`);
  return value;
}

export function createObjectStorage(
  config: ObjectStorageConfig,
  options: ObjectStorageOptions = {},
): ObjectStorage {
  const problems = checkObjectStorageConfig(config);
  if (problems.length > 0) {
    throw new Error(
      `invalid object storage config: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    );
  }
  const maxAttempts = Math.floor(positiveOption(options.attempts, 4, 'attempts', 1));
  const backoffMs = positiveOption(options.backoffMs, 1000, 'backoffMs', 0);
  const requestTimeoutMs = positiveOption(options.requestTimeoutMs, 30_000, 'requestTimeoutMs', 1);
  const partSize = Math.floor(
    Math.max(MIN_PART_SIZE, positiveOption(options.partSizeBytes, DEFAULT_PART_SIZE, 'partSizeBytes', 1)),
  );
  const log = options.log;

  const { bucket, prefix, secretAccessKey } = config;
  const endpointText = printableEndpoint(config.endpoint);
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey },
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    followRegionRedirects: false,
    // The SDK prints some warnings with console.warn unless given a logger; ours logs retries.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    requestHandler: new NodeHttpHandler({
      connectionTimeout: requestTimeoutMs,
      socketTimeout: requestTimeoutMs,
    }),
  });
  /** Controllers of the requests under way, aborted by close(). */
  const active = new Set<AbortController>();
  let closed = false;

  const objectUrl = (fullKey: string): string => {
    if (config.publicBaseUrl) return `${trimTrailingSlashes(config.publicBaseUrl)}/${encodeKey(fullKey)}`;
    const u = new URL(config.endpoint);
    const base = trimTrailingSlashes(u.pathname);
    return config.forcePathStyle
      ? `${u.protocol}//${u.host}${base}/${encodeURIComponent(bucket)}/${encodeKey(fullKey)}`
      : `${u.protocol}//${bucket}.${u.host}${base}/${encodeKey(fullKey)}`;
  };

  const hideSecret = (text: string): string =>
    secretAccessKey.length >= 4 ? text.split(secretAccessKey).join('***') : text;

  const fail = (what: string, key: string | null, c: Classified, attempts: number, cause: unknown) =>
    new ObjectStorageError(
      c.kind,
      hideSecret(
        `object storage ${what} failed: ${c.detail} (endpoint ${endpointText}, bucket ${bucket}` +
          `${key === null ? '' : `, key ${key}`}; ${attempts} attempt${attempts === 1 ? '' : 's'})`,
      ),
      attempts,
      { status: c.status, code: c.code, cause },
    );

  const ensureOpen = () => {
    if (closed) throw new ClosedError();
  };

  /**
   * Runs one request, retrying transient failures with exponential backoff. `fn` gets a signal
   * that aborts on close() or when `group` aborts (a sibling part failed). One controller per
   * call, dropped when it ends: a long-lived signal shared by every request would collect
   * listeners.
   */
  async function withRetry<T>(
    op: Op,
    what: string,
    key: string | null,
    fn: (signal: AbortSignal, attempt: number) => Promise<T>,
    opts: { attempts?: number; group?: AbortSignal; diagnose?: boolean } = {},
  ): Promise<{ value: T; attempts: number }> {
    const limit = opts.attempts ?? maxAttempts;
    const controller = new AbortController();
    const { signal } = controller;
    const group = opts.group;
    const onGroupAbort = () => controller.abort(group?.reason);
    if (group?.aborted) onGroupAbort();
    else group?.addEventListener('abort', onGroupAbort, { once: true });
    active.add(controller);
    try {
      for (let attempt = 1; ; attempt++) {
        if (closed) throw new ClosedError();
        if (signal.aborted) throw signal.reason;
        try {
          return { value: await fn(signal, attempt), attempts: attempt };
        } catch (err) {
          if (closed) throw new ClosedError();
          if (signal.aborted) throw signal.reason;
          const c = classify(err, op, requestTimeoutMs);
          if (opts.diagnose && c.kind === 'refused' && (c.code === 'EPIPE' || c.code === 'ECONNRESET')) {
            const known = await diagnose(signal);
            if (known) throw fail(what, key, known, attempt, err);
          }
          if (!c.transient || attempt >= limit) throw fail(what, key, c, attempt, err);
          const delay =
            Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random());
          log?.warn(
            {
              op,
              endpoint: endpointText,
              bucket,
              key,
              attempt,
              kind: c.kind,
              status: c.status,
              code: c.code,
              delayMs: Math.round(delay),
            },
            `object storage ${what} failed, retrying: ${hideSecret(c.detail)}`,
          );
          try {
            await sleep(delay, undefined, { signal });
          } catch {
            if (closed) throw new ClosedError();
            throw signal.reason;
          }
        }
      }
    } finally {
      active.delete(controller);
      group?.removeEventListener('abort', onGroupAbort);
    }
  }

  /**
   * A server that rejects a request before reading its body (missing bucket, bad key) may close
   * the connection while the body is still being sent, so the client sees EPIPE or ECONNRESET
   * instead of the answer. Servers that honour "Expect: 100-continue" avoid this; for the others
   * one small request tells a definite "no such bucket" or "bad key" apart from a network
   * fault. Answers that could just mean a narrow key policy (AccessDenied) prove nothing.
   */
  async function diagnose(signal: AbortSignal): Promise<Classified | null> {
    try {
      await client.send(new GetBucketLocationCommand({ Bucket: bucket }), { abortSignal: signal });
      return null;
    } catch (err) {
      if (signal.aborted) return null;
      const c = classify(err, 'GetBucketLocation', requestTimeoutMs);
      const definite =
        c.kind === 'no-bucket' ||
        (c.kind === 'auth' && c.code !== null && c.code !== 'AccessDenied' && c.code !== 'Forbidden');
      return definite
        ? { ...c, detail: `${c.detail} (the server dropped the connection during the upload)` }
        : null;
    }
  }

  /** Sends `length` bytes of `file` from `start` as the body of one request, with its MD5. */
  async function sendFileRange<T>(
    file: string,
    start: number,
    length: number,
    signal: AbortSignal,
    md5: string,
    send: (body: Readable | Uint8Array, md5: string, abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (length === 0) return send(new Uint8Array(0), md5, signal);
    const request = new AbortController();
    const onAbort = () => request.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let readError: unknown = null;
    const body = createReadStream(file, { start, end: start + length - 1 });
    // The HTTP handler pipes the body without watching it; a read error must end the request.
    body.on('error', (err) => {
      readError = err;
      request.abort(err);
    });
    try {
      return await send(body, md5, request.signal);
    } catch (err) {
      if (readError !== null && !signal.aborted) throw new LocalFileError(file, readError);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  async function putSingle(file: string, fullKey: string, size: number, contentType: string | undefined) {
    let md5: string | null = null;
    const r = await withRetry(
      'PutObject',
      'upload',
      fullKey,
      async (signal) => {
        md5 ??= await md5OfRange(file, 0, size, signal);
        return sendFileRange(file, 0, size, signal, md5, (Body, ContentMD5, abortSignal) =>
          client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: fullKey,
              Body,
              ContentLength: size,
              ContentMD5,
              ContentType: contentType,
            }),
            { abortSignal },
          ),
        );
      },
      { diagnose: true },
    );
    return { etag: stripQuotes(r.value.ETag), attempts: r.attempts };
  }

  async function putMultipart(file: string, fullKey: string, size: number, contentType: string | undefined) {
    const part = Math.max(partSize, Math.ceil(size / MAX_PARTS));
    const count = Math.ceil(size / part);
    const created = await withRetry('CreateMultipartUpload', 'upload', fullKey, (signal) =>
      client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: fullKey, ContentType: contentType }),
        {
          abortSignal: signal,
        },
      ),
    );
    const uploadId = created.value.UploadId;
    if (!uploadId) {
      throw new ObjectStorageError(
        'http',
        `object storage upload failed: the server started a multipart upload without an upload ID (endpoint ${endpointText}, bucket ${bucket}, key ${fullKey})`,
        created.attempts,
      );
    }
    let attempts = created.attempts;
    const etags: string[] = new Array<string>(count);
    const group = new AbortController();
    let failure: unknown = null;
    let next = 0;
    const worker = async () => {
      while (failure === null && next < count) {
        const index = next++;
        const start = index * part;
        const length = Math.min(part, size - start);
        let md5: string | null = null;
        try {
          const r = await withRetry(
            'UploadPart',
            `upload (part ${index + 1} of ${count})`,
            fullKey,
            async (signal) => {
              md5 ??= await md5OfRange(file, start, length, signal);
              return sendFileRange(file, start, length, signal, md5, (Body, ContentMD5, abortSignal) =>
                client.send(
                  new UploadPartCommand({
                    Bucket: bucket,
                    Key: fullKey,
                    UploadId: uploadId,
                    PartNumber: index + 1,
                    Body,
                    ContentLength: length,
                    ContentMD5,
                  }),
                  { abortSignal },
                ),
              );
            },
            { group: group.signal, diagnose: true },
          );
          if (!r.value.ETag) {
            throw new ObjectStorageError(
              'http',
              `object storage upload failed: part ${index + 1} was stored without an ETag (endpoint ${endpointText}, bucket ${bucket}, key ${fullKey})`,
              r.attempts,
            );
          }
          etags[index] = r.value.ETag;
          attempts = Math.max(attempts, r.attempts);
        } catch (err) {
          if (failure === null) {
            failure = err;
            group.abort(err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
    if (failure === null) {
      try {
        const done = await withRetry(
          'CompleteMultipartUpload',
          'upload',
          fullKey,
          async (signal, attempt) => {
            try {
              return await client.send(
                new CompleteMultipartUploadCommand({
                  Bucket: bucket,
                  Key: fullKey,
                  UploadId: uploadId,
                  MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
                }),
                { abortSignal: signal },
              );
            } catch (err) {
              // An earlier try may have completed the upload with its answer lost on the way.
              if (attempt > 1 && err instanceof Error && err.name === 'NoSuchUpload') {
                const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey }), {
                  abortSignal: signal,
                });
                if (head.ContentLength === size) return { ETag: head.ETag };
              }
              throw err;
            }
          },
        );
        return { etag: stripQuotes(done.value.ETag), attempts: Math.max(attempts, done.attempts) };
      } catch (err) {
        failure = err;
      }
    }
    // Parts of an unfinished upload are billed until aborted: try once, never mask the failure.
    if (!closed) {
      try {
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: fullKey, UploadId: uploadId }),
        );
      } catch (err) {
        log?.warn(
          { endpoint: endpointText, bucket, key: fullKey, uploadId, err: hideSecret(describe(err)) },
          'object storage: could not abort an unfinished multipart upload; a lifecycle rule will have to remove its parts',
        );
      }
    }
    throw failure;
  }

  return {
    async upload(localFile, key, contentType) {
      ensureOpen();
      if (typeof key !== 'string' || key === '') throw new TypeError('object key must be a non-empty string');
      const fullKey = prefix + key;
      if (Buffer.byteLength(fullKey) > MAX_KEY_BYTES) {
        throw new TypeError(`object key must be at most ${MAX_KEY_BYTES} bytes with its prefix`);
      }
      let size: number;
      try {
        const st = await stat(localFile);
        if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
        size = st.size;
      } catch (err) {
        // A missing file will not appear by retrying: fail at once.
        const c = classify(new LocalFileError(localFile, err), 'upload', requestTimeoutMs);
        throw fail('upload', fullKey, c, 1, err);
      }
      const started = Date.now();
      const r =
        size > partSize
          ? await putMultipart(localFile, fullKey, size, contentType)
          : await putSingle(localFile, fullKey, size, contentType);
      const url = objectUrl(fullKey);
      log?.info(
        {
          endpoint: endpointText,
          bucket,
          key: fullKey,
          bytes: size,
          attempts: r.attempts,
          ms: Date.now() - started,
        },
        'object storage upload done',
      );
      return { key: fullKey, url, bytes: size, attempts: r.attempts, etag: r.etag };
    },

    async download(key, range) {
      ensureOpen();
      if (typeof key !== 'string' || key === '') throw new TypeError('object key must be a non-empty string');
      let Range: string | undefined;
      if (range) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || start < 0)
          throw new RangeError('range start must be an integer >= 0');
        if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
          throw new RangeError('range end must be an integer >= start');
        }
        Range = `bytes=${start}-${end ?? ''}`;
      }
      const { value: out } = await withRetry('GetObject', 'download', key, (signal) =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range }), { abortSignal: signal }),
      );
      const body = out.Body as Readable | undefined;
      if (!body) {
        throw new ObjectStorageError(
          'http',
          `object storage download failed: the answer had no body (endpoint ${endpointText}, bucket ${bucket}, key ${key})`,
          1,
        );
      }
      const contentLength = out.ContentLength ?? -1;
      const total = /\/(\d+)\s*$/.exec(out.ContentRange ?? '');
      return {
        body,
        contentLength,
        totalLength: total?.[1] ? Number(total[1]) : contentLength,
        contentType: out.ContentType ?? null,
      };
    },

    async delete(key) {
      ensureOpen();
      if (typeof key !== 'string' || key === '') throw new TypeError('object key must be a non-empty string');
      try {
        await withRetry('DeleteObject', 'delete', key, (signal) =>
          client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }),
        );
      } catch (err) {
        // S3 answers 204 for a missing key; some compatible stores answer 404 NoSuchKey.
        if (err instanceof ObjectStorageError && err.code === 'NoSuchKey') return;
        throw err;
      }
    },

    async check() {
      ensureOpen();
      await withRetry(
        'HeadBucket',
        'check',
        null,
        (signal) => client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal }),
        { attempts: 1 },
      );
    },

    close() {
      if (closed) return;
      closed = true;
      for (const controller of active) controller.abort(new ClosedError());
      active.clear();
      client.destroy();
    },
  };
}
