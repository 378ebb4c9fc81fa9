/** One delivery attempt: POST the JSON, never follow redirects, read at most a small body. */
import { Agent, request } from 'undici';
import { isIP } from 'node:net';
import { signCallback } from '@parley/server-sdk';
import { allowHint, compilePolicy, guardedLookup, type OutboundPolicy } from './outbound-guard.js';

export const maxResponseBytes = 64 * 1024;
const excerptBytes = 1024;

export interface AttemptResult {
  success: boolean;
  statusCode: number | null;
  /** Why it failed, in words, for the delivery log. */
  error: string | null;
  excerpt: string | null;
  durationMs: number;
  /** From a Retry-After header, when the receiver sent one. */
  retryAfterMs: number | null;
  /**
   * Retrying cannot help (the outbound guard refuses the URL, or it is not an http(s) URL):
   * the event fails at once instead of running through the retry schedule.
   */
  permanent?: boolean;
}

export interface DeliveryRequest {
  url: string;
  body: string;
  bizRequestId: string;
  /** Active callback signing secrets (all sign during a rotation overlap). */
  secrets: string[];
  /** A "Send test callback" request: marked with the header `X-Parley-Test: 1`. */
  test?: boolean;
}

function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The receiver must answer JSON {code: 0, bizRequestId: <same id>}; a numeric id is accepted too. */
function acknowledged(body: string, bizRequestId: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'the response is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'the response is not a JSON object';
  const record = parsed as Record<string, unknown>;
  if (record['code'] !== 0) return `the response code is ${JSON.stringify(record['code'])}, not 0`;
  const echoed = record['bizRequestId'];
  if (String(echoed) !== bizRequestId)
    return `the response bizRequestId ${JSON.stringify(echoed)} is not ${bizRequestId}`;
  return null;
}

export class CallbackSender {
  readonly #agent: Agent;
  readonly #permitted: (address: string) => boolean;

  constructor(
    policy: OutboundPolicy,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#permitted = compilePolicy(policy);
    this.#agent = new Agent({
      connect: { lookup: guardedLookup(this.#permitted) as never, timeout: timeoutMs },
      keepAliveTimeout: 30_000,
      connections: 256,
    });
  }

  /** Why a URL may not be called at all (scheme, literal blocked address), or null. */
  refusal(url: string): string | null {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'the URL is invalid';
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      return 'only http and https URLs are called';
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.#permitted(host))
      return `${host} is a blocked address (loopback, private, link-local or reserved); ${allowHint}`;
    return null;
  }

  async send(req: DeliveryRequest): Promise<AttemptResult> {
    const started = performance.now();
    const done = (r: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({
      ...r,
      durationMs: Math.round(performance.now() - started),
    });
    const refused = this.refusal(req.url);
    if (refused)
      return done({
        success: false,
        statusCode: null,
        error: refused,
        excerpt: null,
        retryAfterMs: null,
        permanent: true,
      });
    const timestamp = Math.floor(this.now() / 1000);
    const signatures = req.secrets
      .map((s) => signCallback(s, req.bizRequestId, timestamp, req.body))
      .join(' ');
    try {
      const res = await request(req.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Parley-Callbacks/1',
          'webhook-id': req.bizRequestId,
          'webhook-timestamp': String(timestamp),
          ...(signatures ? { 'webhook-signature': signatures } : {}),
          ...(req.test ? { 'x-parley-test': '1' } : {}),
        },
        body: req.body,
        signal: AbortSignal.timeout(this.timeoutMs),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxResponseBytes) {
          res.body.destroy();
          break;
        }
        chunks.push(chunk);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const excerpt = text.slice(0, excerptBytes);
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.now());
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const what =
          res.statusCode >= 300 && res.statusCode < 400
            ? 'a redirect (not followed)'
            : `HTTP ${res.statusCode}`;
        return done({
          success: false,
          statusCode: res.statusCode,
          error: `the receiver answered ${what}`,
          excerpt,
          retryAfterMs,
        });
      }
      if (size > maxResponseBytes) {
        return done({
          success: false,
          statusCode: res.statusCode,
          error: `the response is larger than ${maxResponseBytes} bytes`,
          excerpt,
          retryAfterMs,
        });
      }
      const problem = acknowledged(text, req.bizRequestId);
      return done({
        success: problem === null,
        statusCode: res.statusCode,
        error: problem,
        excerpt,
        retryAfterMs,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      const code = e.cause?.code ?? e.code;
      const blocked = code === 'EBLOCKED' || e.cause?.name === 'OutboundBlockedError';
      const message =
        e.name === 'TimeoutError' ||
        code === 'UND_ERR_HEADERS_TIMEOUT' ||
        code === 'UND_ERR_BODY_TIMEOUT' ||
        code === 'UND_ERR_CONNECT_TIMEOUT'
          ? `no answer within ${this.timeoutMs} ms`
          : code === 'ECONNREFUSED'
            ? 'connection refused'
            : blocked
              ? (e.cause?.message ?? e.message)
              : code === 'ENOTFOUND'
                ? 'the host name does not resolve'
                : `${code ?? e.name}: ${e.cause?.message ?? e.message}`;
      return done({
        success: false,
        statusCode: null,
        error: message,
        excerpt: null,
        retryAfterMs: null,
        permanent: blocked,
      });
    }
  }

  #closing: Promise<void> | null = null;

  /** Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#agent.close());
  }
}
