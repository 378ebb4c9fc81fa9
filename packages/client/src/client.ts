/**
 * ParleyClient: the entry point. Holds one signaling session (one credential, one uid) and at
 * most one room at a time.
 */
import type { RoomState } from '@parley/protocol';
import { Emitter } from './emitter.js';
import { ParleyError } from './errors.js';
import { Room } from './room.js';
import {
  SignalingConnection,
  signalingPath,
  type CredentialSource,
  type SignalingState,
  type WebSocketConstructor,
  type Welcome,
} from './signaling.js';
import { browserMedia, type MediaEnvironment } from './transport.js';

export interface ParleyClientOptions {
  /**
   * The Parley server's base URL (`https://parley.example.com`, or with a path prefix when it
   * sits behind a proxy). The SDK derives `wss://…/signal/v1` from it; a `ws(s)://` URL is used
   * as given. Default in a browser: the page's origin.
   */
  url?: string;
  /** The credential from your business server, or a function returning a fresh one (called on every connect and reconnect). */
  credential: CredentialSource;
  /** Receive every participant's media automatically (default true). */
  autoSubscribe?: boolean;
  /** Per request; default 10 s. */
  requestTimeoutMs?: number;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Keepalive ping interval; default 15 s. */
  pingIntervalMs?: number;
  /** Resume the session when the WebSocket drops (default true). */
  reconnect?: boolean;
  /** Give up resuming after this long; default 60 s. */
  reconnectTimeoutMs?: number;
  /** First reconnect delay (doubling up to 5 s); default 250 ms. */
  reconnectDelayMs?: number;
  /** Override for non-browser hosts and tests. */
  WebSocket?: WebSocketConstructor;
  /** Override for non-browser hosts and tests. */
  media?: MediaEnvironment;
}

export interface ClientEvents {
  reconnecting: [cause: ParleyError];
  reconnected: [welcome: Welcome];
  /** The session is over (resume failed, gave up, or the server said bye). */
  disconnected: [error: ParleyError];
  /** An unsolicited error from the server. */
  error: [error: ParleyError];
  stateChanged: [state: SignalingState];
}

/** `http://h:p/x` → `ws://h:p/x/signal/v1`; `ws(s)://` URLs are kept as they are. */
export function signalingUrl(base: string): string {
  const url = new URL(base);
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.toString();
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ParleyError('UNSUPPORTED', `The server URL must be http(s) or ws(s): ${base}`, {
      field: 'url',
    });
  }
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(/\/+$/, '') + signalingPath;
  url.search = '';
  url.hash = '';
  return url.toString();
}

function defaultBaseUrl(): string {
  const location = (globalThis as { location?: { origin?: string } }).location;
  if (location?.origin && location.origin !== 'null') return location.origin;
  throw new ParleyError('UNSUPPORTED', 'Pass `url`: there is no page origin to connect to.', {
    field: 'url',
  });
}

export class ParleyClient extends Emitter<ClientEvents> {
  readonly #signaling: SignalingConnection;
  readonly #media: MediaEnvironment;
  readonly #autoSubscribe: boolean;
  #room: Room | null = null;

  constructor(options: ParleyClientOptions) {
    super();
    this.#media = options.media ?? browserMedia();
    this.#autoSubscribe = options.autoSubscribe ?? true;
    this.#signaling = new SignalingConnection({
      url: signalingUrl(options.url ?? defaultBaseUrl()),
      credential: options.credential,
      WebSocket: options.WebSocket,
      requestTimeoutMs: options.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      reconnect: options.reconnect,
      reconnectTimeoutMs: options.reconnectTimeoutMs,
      reconnectDelayMs: options.reconnectDelayMs,
    });
    const s = this.#signaling;
    s.on('message', (msg) => this.#room?.handleEvent(msg));
    s.on('stateChanged', (state) => this.emit('stateChanged', state));
    s.on('error', (err) => {
      // Only `candidate` messages go unanswered, so this is a candidate for a connection the
      // server has just closed (someone left or unpublished): expected, not worth reporting.
      if (err.code === 'TRANSPORT_NOT_FOUND') return;
      this.emit('error', err);
    });
    s.on('reconnecting', (cause) => {
      this.#room?.handleReconnecting(cause);
      this.emit('reconnecting', cause);
    });
    s.on('reconnected', (welcome) => {
      this.#room?.handleResumed(welcome);
      this.emit('reconnected', welcome);
    });
    s.on('disconnected', (err) => {
      this.#room?.handleDisconnected(err);
      this.emit('disconnected', err);
    });
  }

  /** The signaling URL in use. */
  get url(): string {
    return this.#signaling.url;
  }

  get state(): SignalingState {
    return this.#signaling.state;
  }

  /** The server's latest `welcome` (uid, sessionId, iceServers, limits), or null before connect(). */
  get welcome(): Welcome | null {
    return this.#signaling.welcome;
  }

  get uid(): string | null {
    return this.#signaling.welcome?.uid ?? null;
  }

  /** The room this client is in, or null. */
  get room(): Room | null {
    return this.#room;
  }

  /**
   * Connects and presents the credential. Rejects with a {@link ParleyError} whose code says
   * what is wrong: `CREDENTIAL_EXPIRED`, `CREDENTIAL_SIGNATURE_INVALID`,
   * `CREDENTIAL_BIZNAME_UNKNOWN`, `CREDENTIAL_SCOPE_MISMATCH`, `CREDENTIAL_UID_INVALID`,
   * `CREDENTIAL_KEY_RETIRED`, `CREDENTIAL_MALFORMED`, or `CONNECTION_FAILED`/`CONNECT_TIMEOUT`.
   */
  connect(): Promise<Welcome> {
    return this.#signaling.connect();
  }

  /** Creates a room (scoped to the credential's bizName) and joins it. */
  async createRoom(): Promise<Room> {
    await this.connect();
    const state = await this.#signaling.request('createRoom', {});
    return this.#enter(state);
  }

  /** Joins a room by id; `ROOM_NOT_FOUND` when it does not exist for this bizName. */
  async joinRoom(roomId: string): Promise<Room> {
    await this.connect();
    const state = await this.#signaling.request('joinRoom', { roomId });
    return this.#enter(state);
  }

  /**
   * Leaves the room (if any) and ends the session. The server sees `leaveRoom` before the
   * socket closes, so the others get `participantLeft` at once. Idempotent.
   */
  close(): void {
    const room = this.#room;
    if (room && this.#signaling.state === 'open') {
      this.#signaling.request('leaveRoom', {}).catch(() => undefined);
    }
    room?.end('left');
    this.#signaling.close();
  }

  /**
   * Drops the WebSocket as a network failure would, to exercise resume (tests, "reconnect"
   * buttons). The session and the room continue after the reconnect.
   */
  dropConnection(): void {
    this.#signaling.dropConnection();
  }

  #enter(state: RoomState): Room {
    this.#room?.end('replaced');
    const room = new Room(state, {
      signaling: this.#signaling,
      media: this.#media,
      iceServers: () =>
        (this.#signaling.welcome?.iceServers ?? []).map((s) => ({
          urls: s.urls,
          ...(s.username !== undefined ? { username: s.username } : {}),
          ...(s.credential !== undefined ? { credential: s.credential } : {}),
        })),
      iceTransportPolicy: () => this.#signaling.welcome?.iceTransportPolicy ?? 'all',
      mediaProxy: () => this.#signaling.welcome?.mediaProxy ?? null,
      autoSubscribe: this.#autoSubscribe,
      onEnded: (r) => {
        if (this.#room === r) this.#room = null;
      },
    });
    this.#room = room;
    // Let the caller attach listeners (after its await) before the receiving connection opens.
    setTimeout(() => room.start(), 0);
    return room;
  }
}
