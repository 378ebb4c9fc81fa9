/**
 * Test doubles for the SDK in Node: a fake signaling server (a real WebSocket server on
 * 127.0.0.1 speaking protocol v1 from scripted handlers) and fake WebRTC objects that
 * record what the SDK does with them.
 */
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { ClientMessage, RoomState, ServerMessage } from '@parley/protocol';
import type { MediaEnvironment, WebSocketConstructor, Welcome } from '../src/index.js';

export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

export const credential = {
  bizName: 'biz0000000000001',
  appId: 'default',
  workspaceId: 'default',
  uid: 'alice',
  expireTime: Date.now() + 300_000,
  signature: 'c2lnbmF0dXJl',
};

export class FakeConnection {
  readonly received: ClientMessage[] = [];
  closed = false;
  #waiters: { pred: (m: ClientMessage) => boolean; resolve: (m: ClientMessage) => void }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('close', () => (this.closed = true));
  }

  send(msg: ServerMessage | Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  respond(id: string | number, data: unknown = {}): void {
    this.send({ type: 'response', id, ok: true, data });
  }

  fail(id: string | number, code: string, message = code, field?: string): void {
    this.send({ type: 'response', id, ok: false, error: { code, message, ...(field ? { field } : {}) } });
  }

  /** Drops the TCP connection without a close frame, as a network failure does. */
  terminate(): void {
    this.ws.terminate();
  }

  /** @internal */
  push(msg: ClientMessage): void {
    this.received.push(msg);
    for (const w of [...this.#waiters]) {
      if (w.pred(msg)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    }
  }

  /** Resolves with the first message (already received or coming) that matches. */
  waitFor<T extends ClientMessage['type']>(
    type: T,
    pred: (m: Extract<ClientMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<ClientMessage, { type: T }>> {
    const match = (m: ClientMessage) => m.type === type && pred(m as Extract<ClientMessage, { type: T }>);
    const found = this.received.find(match);
    if (found) return Promise.resolve(found as Extract<ClientMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        pred: match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<ClientMessage, { type: T }>);
        },
      });
    });
  }

  of<T extends ClientMessage['type']>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.received.filter((m) => m.type === type) as Extract<ClientMessage, { type: T }>[];
  }
}

type Hello = Extract<ClientMessage, { type: 'hello' }>;
type Request = Extract<ClientMessage, { id: unknown }>;

export interface FakeServerOptions {
  /** Answer a hello; default: welcome (resumed when resume is sent). Return false to say nothing. */
  onHello?: (conn: FakeConnection, hello: Hello, server: FakeSignalingServer) => void;
  /** Answer a request; default: {@link FakeSignalingServer.defaultResponse}. */
  onRequest?: (conn: FakeConnection, msg: Request, server: FakeSignalingServer) => void;
  limits?: Welcome['limits'];
}

/** A scripted protocol-v1 server: welcome, a one-room model, canned media answers. */
export class FakeSignalingServer {
  readonly connections: FakeConnection[] = [];
  readonly hellos: Hello[] = [];
  url = '';
  sessionCount = 0;
  room: RoomState = { roomId: '1234567890', createdAt: 1, participants: [], self: 'p_self' };
  transportCount = 0;
  readonly #wss: WebSocketServer;
  readonly #connWaiters: ((c: FakeConnection) => void)[] = [];

  constructor(readonly options: FakeServerOptions = {}) {
    this.#wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/signal/v1' });
    this.#wss.on('connection', (ws) => {
      const conn = new FakeConnection(ws);
      this.connections.push(conn);
      for (const w of this.#connWaiters.splice(0)) w(conn);
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as ClientMessage;
        conn.push(msg);
        if (msg.type === 'hello') {
          this.hellos.push(msg);
          (this.options.onHello ?? ((c, h) => this.welcome(c, h)))(conn, msg, this);
        } else if ('id' in msg) {
          (this.options.onRequest ?? ((c, m) => this.defaultResponse(c, m)))(conn, msg, this);
        }
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#wss.once('listening', resolve));
    const { port } = this.#wss.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  welcome(conn: FakeConnection, hello: Hello, over: Partial<Welcome> = {}): void {
    const resumed = Boolean(hello.resume);
    if (!resumed) this.sessionCount += 1;
    conn.send({
      type: 'welcome',
      v: 1,
      sessionId: hello.resume?.sessionId ?? `s_${this.sessionCount}`,
      resumeToken: `token_${this.hellos.length}`,
      uid: String(hello.credential.uid),
      bizName: String(hello.credential.bizName),
      resumed,
      iceServers: [{ urls: ['stun:127.0.0.1:3478'] }],
      iceTransportPolicy: 'all',
      mediaProxy: null,
      room: resumed ? this.room : null,
      limits: this.options.limits ?? { maxParticipants: 6, maxMessageBytes: 65536, messagesPerSecond: 100 },
      ...over,
    } satisfies Welcome);
  }

  defaultResponse(conn: FakeConnection, msg: Request): void {
    switch (msg.type) {
      case 'createRoom':
        return conn.respond(msg.id, this.room);
      case 'joinRoom':
        if (msg.roomId !== this.room.roomId)
          return conn.fail(msg.id, 'ROOM_NOT_FOUND', 'No such room.', 'roomId');
        return conn.respond(msg.id, this.room);
      case 'publish':
      case 'subscribe': {
        this.transportCount += 1;
        const kinds =
          msg.type === 'subscribe'
            ? (this.room.participants.find((p) => p.participantId === msg.participantId)?.tracks ?? [])
                .map((t) => t.kind)
                .join(',')
            : '';
        return conn.respond(msg.id, {
          transportId: `t_${msg.type}_${this.transportCount}`,
          sdp: msg.type === 'publish' ? 'server-answer' : `server-offer kinds=${kinds}`,
        });
      }
      case 'ping':
        return conn.respond(msg.id, { time: Date.now() });
      default:
        return conn.respond(msg.id, {});
    }
  }

  /** The next connection to arrive (or the latest, if `existing` and there is one). */
  nextConnection(timeoutMs = 5000): Promise<FakeConnection> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connection')), timeoutMs);
      this.#connWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  get last(): FakeConnection {
    const c = this.connections.at(-1);
    if (!c) throw new Error('no connection yet');
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

// --- fake WebRTC -------------------------------------------------------------------------

let trackCount = 0;
export class FakeTrack {
  readonly id = `track${++trackCount}`;
  enabled = true;
  readyState: 'live' | 'ended' = 'live';
  constructor(readonly kind: 'audio' | 'video') {}
  stop(): void {
    this.readyState = 'ended';
  }
}

export class FakeMediaStream {
  readonly tracks: FakeTrack[];
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks];
  }
  getTracks(): FakeTrack[] {
    return [...this.tracks];
  }
  addTrack(t: FakeTrack): void {
    if (!this.tracks.includes(t)) this.tracks.push(t);
  }
  removeTrack(t: FakeTrack): void {
    const i = this.tracks.indexOf(t);
    if (i >= 0) this.tracks.splice(i, 1);
  }
}

type Handler = ((ev: never) => void) | null;

export class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  readonly n = FakePeerConnection.instances.push(this);
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  connectionState = 'new';
  closed = false;
  readonly transceivers: { track: FakeTrack | null; direction: string }[] = [];
  readonly addedCandidates: { candidate: string; sdpMid: string }[] = [];
  onicecandidate: Handler = null;
  ontrack: Handler = null;
  onconnectionstatechange: Handler = null;

  constructor(readonly config: { iceServers?: unknown[] }) {}

  addTransceiver(track: FakeTrack, init: { direction: string }) {
    const t = { track: track as FakeTrack | null, direction: init.direction };
    this.transceivers.push(t);
    return t;
  }

  getSenders() {
    return this.transceivers.map((t) => ({
      get track() {
        return t.track;
      },
      replaceTrack: async (track: FakeTrack | null) => {
        t.track = track;
      },
    }));
  }

  async createOffer() {
    const kinds = this.transceivers.map((t) => t.track?.kind).join(',');
    return { type: 'offer', sdp: `client-offer kinds=${kinds}` };
  }

  async createAnswer() {
    return { type: 'answer', sdp: `client-answer ${this.n}` };
  }

  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
    // Candidates are gathered a moment later, before the server's response comes back.
    setTimeout(() => {
      const fire = this.onicecandidate as ((ev: unknown) => void) | null;
      fire?.({
        candidate: {
          candidate: `candidate:${this.n} 1 udp 2122260223 127.0.0.1 500${this.n} typ host`,
          sdpMid: '0',
        },
      });
      fire?.({ candidate: null });
    }, 1);
  }

  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remoteDescription = d;
    if (d.type === 'offer') {
      const kinds = /kinds=([a-z,]*)/.exec(d.sdp)?.[1]?.split(',').filter(Boolean) ?? [];
      for (const kind of kinds) {
        const fire = this.ontrack as ((ev: unknown) => void) | null;
        fire?.({ track: new FakeTrack(kind as 'audio' | 'video'), streams: [] });
      }
    }
  }

  async addIceCandidate(c: { candidate: string; sdpMid: string }) {
    if (!this.remoteDescription) throw new Error('InvalidStateError: no remote description');
    this.addedCandidates.push(c);
  }

  setState(state: string): void {
    this.connectionState = state;
    (this.onconnectionstatechange as ((ev: unknown) => void) | null)?.({});
  }

  close(): void {
    this.closed = true;
    this.connectionState = 'closed';
  }

  async getStats() {
    return new Map();
  }
}

export function fakeMedia(): MediaEnvironment & { opened: FakeTrack[]; requests: MediaStreamConstraints[] } {
  const opened: FakeTrack[] = [];
  const requests: MediaStreamConstraints[] = [];
  return {
    opened,
    requests,
    RTCPeerConnection: FakePeerConnection as unknown as MediaEnvironment['RTCPeerConnection'],
    MediaStream: FakeMediaStream as unknown as MediaEnvironment['MediaStream'],
    async getUserMedia(c: MediaStreamConstraints) {
      requests.push(c);
      const tracks: FakeTrack[] = [];
      if (c.audio) tracks.push(new FakeTrack('audio'));
      if (c.video) tracks.push(new FakeTrack('video'));
      opened.push(...tracks);
      return new FakeMediaStream(tracks) as unknown as MediaStream;
    },
  };
}

export function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}
