/**
 * Callback signatures in the Standard Webhooks convention: headers `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
 * `id.timestamp.body`, several space-separated while a secret is being rotated).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const secretPrefix = 'whsec_';

function secretBytes(secret: string): Buffer {
  const raw = secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret;
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length < 16)
    throw new TypeError('the callback signing secret must be whsec_ followed by base64 of at least 16 bytes');
  return bytes;
}

/** The `v1,<base64>` signature of one message. */
export function signCallback(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretBytes(secret))
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

export class CallbackVerificationError extends Error {
  override name = 'CallbackVerificationError';
}

export interface VerifyCallbackOptions {
  /** The call application's callback signing secret(s) from the console (`whsec_...`). */
  secret: string | string[];
  /** Request headers (any case); a Headers object or a plain record. */
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The raw request body exactly as received (do not re-serialise parsed JSON). */
  body: string | Buffer;
  /** Allowed clock difference in seconds (default 300). */
  toleranceSeconds?: number;
  now?: () => number;
}

function header(headers: VerifyCallbackOptions['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies a Parley callback request and returns its parsed JSON body; throws
 * CallbackVerificationError when headers are missing, the timestamp is too old or too new,
 * or no signature matches (e.g. the body was altered).
 */
export function verifyCallback<T = Record<string, unknown>>(options: VerifyCallbackOptions): T {
  const id = header(options.headers, 'webhook-id');
  const timestamp = header(options.headers, 'webhook-timestamp');
  const signatures = header(options.headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new CallbackVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  }
  const seconds = Number(timestamp);
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (!Number.isInteger(seconds) || Math.abs(now - seconds) > tolerance) {
    throw new CallbackVerificationError(
      `webhook-timestamp ${timestamp} is outside the allowed ${tolerance} s`,
    );
  }
  const body = typeof options.body === 'string' ? options.body : options.body.toString('utf8');
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
  const presented = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  for (const secret of secrets) {
    const expected = Buffer.from(signCallback(secret, id, seconds, body).slice(3), 'base64');
    if (presented.some((p) => p.length === expected.length && timingSafeEqual(p, expected))) {
      return JSON.parse(body) as T;
    }
  }
  throw new CallbackVerificationError('no signature matches: wrong secret, or the body was altered');
}
