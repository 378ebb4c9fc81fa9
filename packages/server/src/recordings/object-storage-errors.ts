// How a failed object-storage request is told to the operator: every failure becomes an
// ObjectStorageError whose kind says what to fix (DNS, firewall, keys, bucket name), and whether
// it is worth retrying is decided here, in one place, from the SDK's or Node's error.

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

/** The request that failed (an S3 command), or the storage method when no command was sent yet. */
export type StorageOperation =
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
export class LocalFileError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`cannot read local file ${file}: ${describe(cause)}`, { cause });
  }
}

/** What requests of a closed storage reject with (an AbortError, as an aborted request would). */
export class ClosedError extends Error {
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

/** A failure as the retry loop and the error message see it. */
export interface Classified {
  kind: ObjectStorageErrorKind;
  transient: boolean;
  status: number | null;
  code: string | null;
  detail: string;
}

export function describe(err: unknown): string {
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

export function classify(err: unknown, op: StorageOperation, requestTimeoutMs: number): Classified {
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
