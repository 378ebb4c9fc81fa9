/**
 * Test doubles for the SDK in Node: a fake signaling server (a real WebSocket server on
 * 127.0.0.1 speaking protocol v1 from scripted handlers, with a model of the receiving
 * connection: FakeSubscriber) and fake WebRTC objects that record what the SDK does with them.
 */
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { ClientMessage, MediaKind, RoomState, ServerMessage, SubscribedTrack } from '@parley/protocol';
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

type SubscriberOfferMessage = Extract<ServerMessage, { type: 'subscriberOffer' }>;

/**
 * The server side of one receiving connection: m-lines that are never removed (a freed one is
 * reused for the next track of its kind, whoever publishes it), the tracks on them, and offers
 * numbered 1, 2, 3... whose SDP looks enough like SDP for the fake peer connection and the SDK:
 * per m-line `m=<kind>`, `a=mid:<mid>`, and `a=ssrc:<n>` while it carries a track.
 */
export class FakeSubscriber {
  version = 0;
  /** The last version answered; the offer after it is pending (sent again after a resume). */
  answered = 0;
  last: SubscriberOfferMessage | null = null;
  readonly mlines: { kind: MediaKind; track: SubscribedTrack | null; ssrc: number }[] = [];
  /** Who this subscriber receives, as setSubscribed asked (autoSubscribe otherwise). */
  readonly choices = new Map<string, boolean>();
  #ssrc = 1000;

  constructor(
    readonly transportId: string,
    readonly autoSubscribe = true,
  ) {}

  /** Puts a track on the first free m-line of its kind (or a new one); returns its mid. */
  add(participantId: string, kind: MediaKind, trackId = `${participantId}-${kind}`): string {
    let i = this.mlines.findIndex((m) => m.kind === kind && m.track === null);
    if (i < 0) i = this.mlines.push({ kind, track: null, ssrc: 0 }) - 1;
    const mid = String(i);
    this.mlines[i] = { kind, track: { mid, trackId, participantId, kind }, ssrc: ++this.#ssrc };
    return mid;
  }

  /** Frees the m-lines of a participant's tracks (all kinds, or one). */
  remove(participantId: string, kind?: MediaKind): void {
    for (const m of this.mlines) {
      if (m.track?.participantId === participantId && (!kind || m.kind === kind)) m.track = null;
    }
  }

  /** Moves an m-line to another participant's track (what reuse looks like in one offer). */
  reassign(
    mid: string,
    participantId: string,
    trackId = `${participantId}-${this.mlines[Number(mid)]!.kind}`,
  ) {
    const m = this.mlines[Number(mid)]!;
    this.mlines[Number(mid)] = {
      kind: m.kind,
      track: { mid, trackId, participantId, kind: m.kind },
      ssrc: ++this.#ssrc,
    };
  }

  get tracks(): SubscribedTrack[] {
    return this.mlines.flatMap((m) => (m.track ? [m.track] : []));
  }

  /** The next offer (version + 1) describing the m-lines now. */
  offer(): SubscriberOfferMessage {
    this.version += 1;
    const sections = this.mlines.map((m, mid) =>
      [
        `m=${m.kind} 9 UDP/TLS/RTP/SAVPF ${m.kind === 'audio' ? 111 : 96}`,
        `a=mid:${mid}`,
        m.track ? 'a=sendonly' : 'a=inactive',
        ...(m.track ? [`a=ssrc:${m.ssrc} cname:${m.track.participantId}`] : []),
      ].join('\r\n'),
    );
    const sdp = [`v=0`, `o=- 1 ${this.version} IN IP4 127.0.0.1`, 's=-', 't=0 0', ...sections].join('\r\n');
    const { transportId, version, tracks } = this;
    this.last = { type: 'subscriberOffer', transportId, version, sdp, tracks };
    return this.last;
  }
}

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
  /** The receiving connection the last openSubscriber made (default handling). */
  subscriber: FakeSubscriber | null = null;
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
    // As the server does: the receiving connection's unanswered offer again, after a resume.
    const sub = this.subscriber;
    if (resumed && sub?.last && sub.answered < sub.version) conn.send(sub.last);
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
        this.transportCount += 1;
        return conn.respond(msg.id, {
          transportId: `t_publish_${this.transportCount}`,
          sdp: 'server-answer',
        });
      case 'openSubscriber': {
        // A fresh connection carrying everyone the participant receives; its first offer follows.
        this.transportCount += 1;
        const sub = new FakeSubscriber(`t_sub_${this.transportCount}`, msg.autoSubscribe ?? true);
        this.subscriber = sub;
        for (const p of this.room.participants) {
          if (p.participantId === this.room.self || !(sub.choices.get(p.participantId) ?? sub.autoSubscribe))
            continue;
          for (const t of p.tracks) sub.add(p.participantId, t.kind);
        }
        conn.respond(msg.id, { transportId: sub.transportId });
        if (sub.tracks.length > 0) conn.send(sub.offer());
        return;
      }
      case 'subscriberAnswer': {
        const sub = this.subscriber;
        if (!sub || sub.transportId !== msg.transportId) return conn.fail(msg.id, 'TRANSPORT_NOT_FOUND');
        if (msg.version !== sub.version) return conn.fail(msg.id, 'OFFER_SUPERSEDED');
        sub.answered = msg.version;
        return conn.respond(msg.id, {});
      }
      case 'setSubscribed': {
        const sub = this.subscriber;
        const publisher = this.room.participants.find((p) => p.participantId === msg.participantId);
        if (!publisher) return conn.fail(msg.id, 'PARTICIPANT_NOT_FOUND');
        conn.respond(msg.id, {});
        if (!sub || (sub.choices.get(msg.participantId) ?? sub.autoSubscribe) === msg.subscribed) {
          sub?.choices.set(msg.participantId, msg.subscribed);
          return;
        }
        sub.choices.set(msg.participantId, msg.subscribed);
        if (msg.subscribed) for (const t of publisher.tracks) sub.add(publisher.participantId, t.kind);
        else sub.remove(publisher.participantId);
        conn.send(sub.offer());
        return;
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

export interface FakeTransceiver {
  /** null for the publication's (the SDK never asks), the m-line's mid once an offer set it. */
  mid: string | null;
  track: FakeTrack | null;
  direction: string;
  /** One track object for the transceiver's life, as in Chromium, whatever it carries. */
  receiver: { track: FakeTrack };
  /** Every SSRC the m-line carried (a reused one keeps the stats of earlier tracks). */
  ssrcs: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  /** Makes setRemoteDescription take this long, to show overlapping negotiations. */
  static remoteDelayMs = 0;
  /** Leaves `mid` out of inbound-rtp stats (older browsers): the SDK matches trackIdentifier. */
  static statsWithoutMid = false;
  readonly n = FakePeerConnection.instances.push(this);
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  connectionState = 'new';
  closed = false;
  readonly transceivers: FakeTransceiver[] = [];
  readonly addedCandidates: { candidate: string; sdpMid: string }[] = [];
  /** The negotiation steps in order: `srd:v<version>:start`, `srd:v<version>`, `answer`, `sld`. */
  readonly steps: string[] = [];
  onicecandidate: Handler = null;
  ontrack: Handler = null;
  onconnectionstatechange: Handler = null;

  constructor(readonly config: { iceServers?: unknown[] }) {}

  addTransceiver(track: FakeTrack, init: { direction: string }) {
    const t: FakeTransceiver = {
      mid: null,
      track,
      direction: init.direction,
      receiver: { track: new FakeTrack(track.kind) },
      ssrcs: [],
    };
    this.transceivers.push(t);
    return t;
  }

  getTransceivers(): FakeTransceiver[] {
    return [...this.transceivers];
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
    this.#live();
    this.steps.push('answer');
    const version = /^o=- \d+ (\d+)/m.exec(this.remoteDescription?.sdp ?? '')?.[1] ?? '?';
    return { type: 'answer', sdp: `client-answer pc${this.n} v${version}` };
  }

  async setLocalDescription(d: { type: string; sdp: string }) {
    this.#live();
    if (d.type === 'answer') this.steps.push('sld');
    const first = this.localDescription === null;
    this.localDescription = d;
    if (!first) return;
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
    this.#live();
    if (d.type !== 'offer') {
      this.remoteDescription = d;
      return;
    }
    const version = /^o=- \d+ (\d+)/m.exec(d.sdp)?.[1] ?? '?';
    this.steps.push(`srd:v${version}:start`);
    if (FakePeerConnection.remoteDelayMs > 0) await sleep(FakePeerConnection.remoteDelayMs);
    const sections = d.sdp.split(/\r\n(?=m=)/).slice(1);
    const existing = this.transceivers.filter((t) => t.mid !== null).length;
    if (sections.length < existing) throw new Error('InvalidAccessError: m-lines removed');
    this.remoteDescription = d;
    sections.forEach((section, i) => {
      const kind = /^m=(audio|video)/.exec(section)![1] as 'audio' | 'video';
      const mid = /^a=mid:(\S+)/m.exec(section)![1]!;
      let t = this.transceivers.find((x) => x.mid === mid);
      if (!t) {
        t = { mid, track: null, direction: 'recvonly', receiver: { track: new FakeTrack(kind) }, ssrcs: [] };
        this.transceivers.push(t);
      }
      const ssrc = /^a=ssrc:(\d+)/m.exec(section)?.[1];
      if (ssrc && !t.ssrcs.includes(ssrc)) t.ssrcs.push(ssrc);
      // Chromium fires track for a new or re-activated m-line; the SDK does not rely on it.
      if (ssrc && i >= existing)
        (this.ontrack as ((ev: unknown) => void) | null)?.({ track: t.receiver.track });
    });
    this.steps.push(`srd:v${version}`);
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

  /** inbound-rtp per SSRC each receiving m-line ever carried (packetsReceived = the SSRC). */
  async getStats() {
    const report = new Map<string, Record<string, unknown>>();
    for (const t of this.transceivers) {
      if (t.mid === null) continue;
      for (const ssrc of t.ssrcs) {
        report.set(`IT${ssrc}`, {
          type: 'inbound-rtp',
          ssrc: Number(ssrc),
          kind: t.receiver.track.kind,
          ...(FakePeerConnection.statsWithoutMid ? {} : { mid: t.mid }),
          trackIdentifier: t.receiver.track.id,
          packetsReceived: Number(ssrc),
          bytesReceived: Number(ssrc) * 100,
          packetsLost: 0,
          ...(t.receiver.track.kind === 'video' ? { framesDecoded: 30 } : {}),
        });
      }
    }
    return report;
  }

  #live(): void {
    if (this.closed) throw new Error('InvalidStateError: the peer connection is closed');
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
