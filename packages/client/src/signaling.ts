/**
 * The signaling connection: one WebSocket speaking protocol v1, `hello` → `welcome`,
 * requests correlated by id with timeouts, keepalive pings, and reconnection with
 * `hello.resume` when the socket drops. Knows nothing of rooms or media, and takes its
 * WebSocket constructor as an option so it runs (and is tested) in Node too.
 */
import type { ClientMessage, ClientRequest, Credential, ResponseData, ServerMessage } from '@parley/protocol';
import { Emitter } from './emitter.js';
import { ParleyError, asParleyError } from './errors.js';

/** The protocol version this SDK speaks (`hello.v`). */
export const protocolVersion = 1;
/** The signaling path on the server (protocol v1). */
export const signalingPath = '/signal/v1';

/** The part of the browser's WebSocket the SDK uses; the `ws` package's WebSocket fits too. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type Welcome = Extract<ServerMessage, { type: 'welcome' }>;
/** Server messages other than `welcome` and `response`: room events, candidates, errors, bye. */
export type ServerEvent = Exclude<ServerMessage, { type: 'welcome' } | { type: 'response' }>;
export type RequestType = ClientRequest['type'];
export type RequestBody<T extends RequestType> = Omit<Extract<ClientRequest, { type: T }>, 'type' | 'id'>;

/** A credential, or a function that fetches a fresh one (called on every connect and reconnect). */
export type CredentialSource = Credential | (() => Credential | Promise<Credential>);

export interface SignalingOptions {
  /** The signaling WebSocket URL (`ws(s)://host/signal/v1`). */
  url: string;
  credential: CredentialSource;
  /** Defaults to `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor | undefined;
  /** Per request; default 10 s. */
  requestTimeoutMs?: number | undefined;
  /** Socket open + hello → welcome; default 10 s. */
  connectTimeoutMs?: number | undefined;
  /** Keepalive `ping` interval; default 15 s; 0 turns keepalive off. */
  pingIntervalMs?: number | undefined;
  /** Reconnect with `resume` when the socket drops; default true. */
  reconnect?: boolean | undefined;
  /** Give up reconnecting after this long (then `disconnected`); default 60 s. */
  reconnectTimeoutMs?: number | undefined;
  /** First reconnect delay, doubled on each attempt up to `reconnectMaxDelayMs`; default 250 ms. */
  reconnectDelayMs?: number | undefined;
  /** Default 5 s. */
  reconnectMaxDelayMs?: number | undefined;
}

export type SignalingState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface SignalingEvents {
  /** A server event (room events, candidates, `roomClosed`, ...). `error` and `bye` are reported separately. */
  message: [ServerEvent];
  /** The socket dropped; the connection is trying to resume the session. */
  reconnecting: [cause: ParleyError];
  /** The session was resumed (`welcome.resumed === true`); queued requests are being sent. */
  reconnected: [welcome: Welcome];
  /** The session is over for good: resume failed or gave up, or the server said `bye`. */
  disconnected: [error: ParleyError];
  /** An `error` message from the server that answers no request. */
  error: [error: ParleyError];
  stateChanged: [state: SignalingState];
}

/** Codes after which a reconnect attempt is tried again; any other failure ends the session. */
const retryableCodes = new Set([
  'CONNECTION_FAILED',
  'CONNECT_TIMEOUT',
  'HELLO_TIMEOUT',
  'RATE_LIMITED',
  'NOT_READY',
  'INTERNAL',
  'SERVER_SHUTTING_DOWN',
]);

const WS_OPEN = 1;
/** The close code the SDK uses when it drops a socket it considers dead (and for tests). */
export const closeCodeDropped = 4000;

interface Pending {
  type: RequestType;
  resolve: (data: unknown) => void;
  reject: (err: ParleyError) => void;
  timer: ReturnType<typeof setTimeout>;
  sent: boolean;
}

interface Outgoing {
  text: string;
  id?: number;
}

export class SignalingConnection extends Emitter<SignalingEvents> {
  readonly url: string;
  readonly #opts: Required<Omit<SignalingOptions, 'url' | 'credential' | 'WebSocket'>>;
  readonly #credential: CredentialSource;
  readonly #WebSocket: WebSocketConstructor | undefined;

  #state: SignalingState = 'idle';
  #ws: WebSocketLike | null = null;
  #welcome: Welcome | null = null;
  #connectPromise: Promise<Welcome> | null = null;
  /** Aborts the socket being opened (connect or reconnect attempt). */
  #abortOpening: ((err: ParleyError) => void) | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #outbox: Outgoing[] = [];
  #sendTimes: number[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #wake: (() => void) | null = null;
  readonly #onOnline = () => this.#wake?.();

  constructor(options: SignalingOptions) {
    super();
    this.url = options.url;
    this.#credential = options.credential;
    this.#WebSocket =
      options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor | undefined);
    this.#opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      pingIntervalMs: options.pingIntervalMs ?? 15_000,
      reconnect: options.reconnect ?? true,
      reconnectTimeoutMs: options.reconnectTimeoutMs ?? 60_000,
      reconnectDelayMs: options.reconnectDelayMs ?? 250,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 5_000,
    };
  }

  get state(): SignalingState {
    return this.#state;
  }

  /** The latest `welcome` (updated on every resume), or null before the first one. */
  get welcome(): Welcome | null {
    return this.#welcome;
  }

  /** Opens the socket and sends `hello`; resolves with `welcome`. Idempotent while connecting or open. */
  connect(): Promise<Welcome> {
    if (this.#state === 'closed') {
      return Promise.reject(
        new ParleyError('CLIENT_CLOSED', 'The client has been closed; create a new one.'),
      );
    }
    if (this.#state === 'open' || this.#state === 'reconnecting') return Promise.resolve(this.#welcome!);
    if (this.#connectPromise) return this.#connectPromise;
    this.#setState('connecting');
    this.#connectPromise = this.#openSession(false).then(
      ({ ws, welcome, early }) => {
        this.#connectPromise = null;
        this.#welcome = welcome;
        this.#attach(ws, early);
        this.#setState('open');
        this.#listenOnline(true);
        return welcome;
      },
      (err: ParleyError) => {
        this.#connectPromise = null;
        if (this.#state === 'connecting') this.#setState('idle');
        throw err;
      },
    );
    return this.#connectPromise;
  }

  /**
   * Sends a request and resolves with its `response.data`; rejects with a {@link ParleyError}
   * carrying the server's code when `response.ok` is false, `REQUEST_TIMEOUT` when no
   * response comes in time, `CONNECTION_LOST` when the socket drops while it is in flight.
   * Requests made while reconnecting wait (within their timeout) for the session to resume.
   */
  request<T extends RequestType>(
    type: T,
    body: RequestBody<T>,
    options: { timeoutMs?: number } = {},
  ): Promise<ResponseData[T]> {
    if (this.#state === 'idle' || this.#state === 'connecting' || this.#state === 'closed') {
      const code = this.#state === 'closed' ? 'CLIENT_CLOSED' : 'NOT_CONNECTED';
      return Promise.reject(new ParleyError(code, `Cannot send ${type}: the client is ${this.#state}.`));
    }
    const id = this.#nextId++;
    const text = JSON.stringify({ type, id, ...body });
    const tooLarge = this.#checkSize(text, type);
    if (tooLarge) return Promise.reject(tooLarge);
    const timeoutMs = options.timeoutMs ?? this.#opts.requestTimeoutMs;
    return new Promise<ResponseData[T]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#outbox = this.#outbox.filter((o) => o.id !== id);
        reject(new ParleyError('REQUEST_TIMEOUT', `No response to ${type} within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.#pending.set(id, {
        type,
        resolve: resolve as (data: unknown) => void,
        reject,
        timer,
        sent: false,
      });
      this.#outbox.push({ text, id });
      this.#flush();
    });
  }

  /** Sends a message that has no response (`candidate`). Queued while reconnecting. */
  send(message: Exclude<ClientMessage, { id: unknown } | { type: 'hello' }>): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    const text = JSON.stringify(message);
    if (this.#checkSize(text, message.type)) return;
    this.#outbox.push({ text });
    this.#flush();
  }

  /**
   * Drops the socket as a network failure would (close code 4000), so the connection
   * reconnects and resumes. For tests and for "reconnect now" buttons.
   */
  dropConnection(reason = 'dropped by the application'): void {
    const ws = this.#ws;
    if (ws) this.#dropSocket(ws, new ParleyError('CONNECTION_LOST', reason));
  }

  /** Ends the session: closes the socket, rejects pending requests, stops reconnecting. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#shutdown(new ParleyError('CLIENT_CLOSED', 'The client was closed.'), 1000);
  }

  // --- internals -------------------------------------------------------------------------

  #setState(state: SignalingState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('stateChanged', state);
  }

  async #resolveCredential(): Promise<Credential> {
    try {
      const source = this.#credential;
      const credential = typeof source === 'function' ? await source() : source;
      if (!credential || typeof credential !== 'object') throw new Error('no credential');
      return credential;
    } catch (err) {
      throw asParleyError(err, 'CREDENTIAL_UNAVAILABLE', 'Could not get a credential');
    }
  }

  /**
   * Opens a socket, sends hello (with resume when asked) and waits for welcome. `early`: what
   * came right behind welcome before #attach (a Node WebSocket dispatches one read's frames at
   * once, and the server sends e.g. the pending subscriberOffer right after a resumed welcome).
   */
  async #openSession(resume: boolean): Promise<{ ws: WebSocketLike; welcome: Welcome; early: unknown[] }> {
    const Ctor = this.#WebSocket;
    if (!Ctor) throw new ParleyError('UNSUPPORTED', 'No WebSocket implementation is available.');
    const credential = await this.#resolveCredential();
    const previous = this.#welcome;
    const hello: ClientMessage = {
      type: 'hello',
      v: protocolVersion,
      credential,
      ...(resume && previous
        ? { resume: { sessionId: previous.sessionId, resumeToken: previous.resumeToken } }
        : {}),
    };
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new Ctor(this.url);
      } catch (err) {
        reject(asParleyError(err, 'CONNECTION_FAILED', `Cannot open ${this.url}`));
        return;
      }
      let settled = false;
      const finish = (err: ParleyError | null, welcome?: Welcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#abortOpening = null;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        if (err) {
          try {
            ws.close(1000);
          } catch {
            /* already closed */
          }
          reject(err);
        } else {
          const early: unknown[] = [];
          ws.onmessage = (ev) => early.push(ev.data);
          resolve({ ws, welcome: welcome!, early });
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new ParleyError(
              'CONNECT_TIMEOUT',
              `No welcome from ${this.url} within ${this.#opts.connectTimeoutMs} ms.`,
            ),
          ),
        this.#opts.connectTimeoutMs,
      );
      this.#abortOpening = (err) => finish(err);
      ws.onopen = () => {
        try {
          ws.send(JSON.stringify(hello));
        } catch (err) {
          finish(asParleyError(err, 'CONNECTION_FAILED', 'Cannot send hello'));
        }
      };
      ws.onmessage = (ev) => {
        const msg = parseServerMessage(ev.data);
        if (!msg)
          return finish(new ParleyError('PROTOCOL_ERROR', 'The server sent a message that is not JSON.'));
        if (msg.type === 'welcome') return finish(null, msg);
        if (msg.type === 'error') return finish(ParleyError.fromSignaling(msg.error));
        if (msg.type === 'bye') return finish(new ParleyError(msg.code, msg.message));
      };
      ws.onerror = () => {
        /* a close event follows */
      };
      ws.onclose = (ev) => finish(closeError(ev, this.url));
    });
  }

  #attach(ws: WebSocketLike, early: unknown[]): void {
    this.#ws = ws;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (ev) => {
      const error = closeError(ev, this.url);
      if (error.code !== 'CONNECTION_FAILED' && !retryableCodes.has(error.code)) {
        // The server ended the session on purpose and said why in the close reason.
        if (ws === this.#ws) this.#shutdown(error, 1000, true);
        return;
      }
      this.#onSocketGone(ws, new ParleyError('CONNECTION_LOST', `The connection dropped: ${error.message}`));
    };
    this.#sendTimes = [];
    this.#startPing();
    this.#flush();
    // After the caller has handled the welcome (`reconnected` is emitted synchronously after this).
    if (early.length > 0) {
      queueMicrotask(() => {
        for (const data of early) if (this.#ws === ws) this.#onMessage(data);
      });
    }
  }

  #onMessage(data: unknown): void {
    const msg = parseServerMessage(data);
    if (!msg) {
      this.emit('error', new ParleyError('PROTOCOL_ERROR', 'The server sent a message that is not JSON.'));
      return;
    }
    switch (msg.type) {
      case 'response': {
        const id = typeof msg.id === 'number' ? msg.id : Number(msg.id);
        const pending = this.#pending.get(id);
        if (!pending) return; // timed out already
        this.#pending.delete(id);
        clearTimeout(pending.timer);
        if (msg.ok) pending.resolve(msg.data);
        else pending.reject(ParleyError.fromSignaling(msg.error));
        return;
      }
      case 'welcome':
        return; // only expected while opening
      case 'error':
        this.emit('error', ParleyError.fromSignaling(msg.error));
        return;
      case 'bye':
        this.#shutdown(new ParleyError(msg.code, msg.message), 1000, true);
        return;
      default:
        this.emit('message', msg);
    }
  }

  /** The current socket is gone (closed by the network, the server, or us as dead). */
  #onSocketGone(ws: WebSocketLike, cause: ParleyError): void {
    if (ws !== this.#ws) return;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#stopPing();
    // Requests already on the wire may or may not have been processed: their answers are lost.
    for (const [id, p] of this.#pending) {
      if (!p.sent) continue;
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new ParleyError('CONNECTION_LOST', `The connection dropped before ${p.type} was answered.`));
    }
    if (this.#state !== 'open') return;
    if (!this.#opts.reconnect || !this.#welcome) {
      this.#shutdown(cause, 1000, true);
      return;
    }
    void this.#reconnectLoop(cause);
  }

  #dropSocket(ws: WebSocketLike, cause: ParleyError): void {
    try {
      ws.close(closeCodeDropped, cause.message.slice(0, 100));
    } catch {
      /* already closing */
    }
    this.#onSocketGone(ws, cause);
  }

  async #reconnectLoop(cause: ParleyError): Promise<void> {
    this.#setState('reconnecting');
    this.emit('reconnecting', cause);
    const deadline = Date.now() + this.#opts.reconnectTimeoutMs;
    let delay = this.#opts.reconnectDelayMs;
    let lastError = cause;
    while (this.#state === 'reconnecting') {
      const jittered = delay * (0.8 + Math.random() * 0.4);
      if (Date.now() + jittered > deadline) {
        this.#shutdown(
          new ParleyError(
            'CONNECTION_LOST',
            `Could not reconnect within ${this.#opts.reconnectTimeoutMs} ms (last error: ${lastError.message}).`,
          ),
          1000,
          true,
        );
        return;
      }
      await this.#sleep(jittered);
      delay = Math.min(delay * 2, this.#opts.reconnectMaxDelayMs);
      if (this.#state !== 'reconnecting') return;
      let opened: { ws: WebSocketLike; welcome: Welcome; early: unknown[] };
      try {
        opened = await this.#openSession(true);
      } catch (err) {
        const error = asParleyError(err, 'CONNECTION_FAILED', 'Reconnect failed');
        if (this.#state !== 'reconnecting') return;
        if (retryableCodes.has(error.code)) {
          lastError = error;
          continue;
        }
        this.#shutdown(error, 1000, true);
        return;
      }
      if (this.#state !== 'reconnecting') {
        opened.ws.close(1000);
        return;
      }
      if (!opened.welcome.resumed) {
        // The server no longer knows the session (grace period over): it started a new one.
        opened.ws.close(1000);
        this.#shutdown(
          new ParleyError('RESUME_FAILED', 'The session could not be resumed; its grace period is over.'),
          1000,
          true,
        );
        return;
      }
      this.#welcome = opened.welcome;
      this.#setState('open');
      this.#attach(opened.ws, opened.early);
      this.emit('reconnected', opened.welcome);
      return;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  #listenOnline(on: boolean): void {
    const target = globalThis as unknown as {
      addEventListener?: (type: string, fn: () => void) => void;
      removeEventListener?: (type: string, fn: () => void) => void;
    };
    if (on) target.addEventListener?.('online', this.#onOnline);
    else target.removeEventListener?.('online', this.#onOnline);
  }

  #shutdown(error: ParleyError, closeCode: number, notify = false): void {
    if (this.#state === 'closed') return;
    const wasSession = this.#welcome !== null && this.#state !== 'idle';
    this.#setState('closed');
    this.#listenOnline(false);
    this.#abortOpening?.(error);
    this.#wake?.();
    this.#stopPing();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(closeCode);
      } catch {
        /* already closed */
      }
    }
    this.#outbox = [];
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
    if (notify && wasSession) this.emit('disconnected', error);
  }

  #startPing(): void {
    this.#stopPing();
    const interval = this.#opts.pingIntervalMs;
    if (interval <= 0) return;
    this.#pingTimer = setInterval(() => {
      const ws = this.#ws;
      if (!ws || this.#state !== 'open') return;
      this.request('ping', {}, { timeoutMs: Math.min(this.#opts.requestTimeoutMs, interval) }).catch(
        (err: ParleyError) => {
          // No pong: the socket is dead even if the browser has not noticed yet.
          if (err.code === 'REQUEST_TIMEOUT' && this.#ws === ws) {
            this.#dropSocket(ws, new ParleyError('CONNECTION_LOST', 'The server stopped answering pings.'));
          }
        },
      );
    }, interval);
  }

  #stopPing(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
  }

  #checkSize(text: string, type: string): ParleyError | null {
    const max = this.#welcome?.limits.maxMessageBytes;
    if (!max) return null;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes <= max) return null;
    return new ParleyError(
      'MESSAGE_TOO_LARGE',
      `The ${type} message is ${bytes} bytes; the server accepts at most ${max}.`,
    );
  }

  /** Sends queued messages, keeping under the server's `limits.messagesPerSecond`. */
  #flush(): void {
    const ws = this.#ws;
    if (!ws || this.#state !== 'open' || ws.readyState !== WS_OPEN || this.#flushTimer) return;
    const perSecond = this.#welcome?.limits.messagesPerSecond ?? 0;
    const limit = perSecond > 0 ? Math.max(1, Math.floor(perSecond * 0.8)) : Infinity;
    while (this.#outbox.length > 0) {
      const now = Date.now();
      while (this.#sendTimes.length > 0 && now - this.#sendTimes[0]! >= 1000) this.#sendTimes.shift();
      if (this.#sendTimes.length >= limit) {
        this.#flushTimer = setTimeout(
          () => {
            this.#flushTimer = null;
            this.#flush();
          },
          1000 - (now - this.#sendTimes[0]!) + 5,
        );
        return;
      }
      const next = this.#outbox.shift()!;
      try {
        ws.send(next.text);
      } catch (err) {
        this.#outbox.unshift(next);
        this.#dropSocket(ws, asParleyError(err, 'CONNECTION_LOST', 'Sending failed'));
        return;
      }
      this.#sendTimes.push(now);
      if (next.id !== undefined) {
        const pending = this.#pending.get(next.id);
        if (pending) pending.sent = true;
      }
    }
  }
}

export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') {
    if (data instanceof ArrayBuffer) data = new TextDecoder().decode(data);
    else if (ArrayBuffer.isView(data)) data = new TextDecoder().decode(data);
    else return null;
  }
  try {
    const msg = JSON.parse(data as string) as unknown;
    if (msg && typeof msg === 'object' && typeof (msg as { type?: unknown }).type === 'string') {
      return msg as ServerMessage;
    }
  } catch {
    /* not JSON */
  }
  return null;
}

/** A close before `welcome`: the server may put an error code in the close reason. */
function closeError(ev: { code: number; reason: string }, url: string): ParleyError {
  const reason = (ev.reason ?? '').trim();
  if (/^[A-Z][A-Z0-9_]{2,}$/.test(reason)) {
    return new ParleyError(reason, `The server closed the connection (${ev.code} ${reason}).`);
  }
  return new ParleyError(
    'CONNECTION_FAILED',
    `The connection to ${url} closed (code ${ev.code}${reason ? `: ${reason}` : ''}).`,
  );
}
