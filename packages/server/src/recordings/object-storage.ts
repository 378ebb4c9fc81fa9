// Recordings leave this machine through this module, so it has to work against every
// S3-compatible store a customer may run (Alibaba OSS, MinIO, AWS S3...) and fail in a way an
// operator can act on. Hence:
// - the SDK's own retries are off (maxAttempts 1): one retry loop here decides what is
//   transient, reports how many attempts an upload took and can be stopped by close();
// - the SDK's newer default checksums (CRC32 trailers, aws-chunked bodies) are turned down to
//   "when required", because several S3-compatible stores reject them; integrity comes from a
//   Content-MD5 header instead, which every S3-compatible store verifies;
// - big files go up as a multipart upload we drive ourselves (./object-upload.ts);
// - every failure becomes an ObjectStorageError whose kind tells a "test storage" button and
//   the logs what to fix (./object-storage-errors.ts), naming the endpoint, bucket and key but
//   never the secret.
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  checkObjectStorageConfig,
  objectUrl,
  printableEndpoint,
  type ObjectStorageConfig,
} from './object-storage-config.js';
import {
  ClosedError,
  LocalFileError,
  ObjectStorageError,
  classify,
  type Classified,
  type StorageOperation,
} from './object-storage-errors.js';
import { putMultipart, putSingle, type UploadContext } from './object-upload.js';

export { checkObjectStorageConfig, type ObjectStorageConfig } from './object-storage-config.js';
export { ObjectStorageError, type ObjectStorageErrorKind } from './object-storage-errors.js';

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
const MAX_BACKOFF_MS = 60_000;
const MAX_KEY_BYTES = 1024;

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
    op: StorageOperation,
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

  const uploads: UploadContext = {
    client,
    bucket,
    endpointText,
    partSize,
    withRetry,
    isClosed: () => closed,
    hideSecret,
    log,
  };

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
      const file = { file: localFile, fullKey, size, contentType };
      const r = size > partSize ? await putMultipart(uploads, file) : await putSingle(uploads, file);
      const url = objectUrl(config, fullKey);
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
