/**
 * The signaling endpoint (`/signal/v1`): authenticates terminals by their credential, keeps
 * their sessions across dropped connections, maps protocol requests onto the room model and
 * the media plane, and relays room events to the terminals in each room.
 *
 * Close codes sent to terminals: 4400 protocol error, 4401 credential refused, 4408 hello
 * timeout, 4409 session replaced by a newer one of the same uid, 4410 resume failed,
 * 4429 rate limit, 4001 server shutting down.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { FastifyBaseLogger } from 'fastify';
import type {
  ClientMessage,
  ClientRequest,
  ServerMessage,
  SignalingError,
  SignalingErrorCode,
} from '@parley/protocol';
import { signalingPath, signalingVersion } from '@parley/protocol';
import { verifyCredential } from '../credentials/verify.js';
import { ParleyError } from '../errors.js';
import type { MediaPolicy } from '../proxy/service.js';
import type { Db } from '../store/schema.js';
import { RoomError, type LeaveReason, type Participant, type RoomScope } from '../rooms/room.js';
import type { LiveCall } from '../live/live-call.js';
import type { LiveCalls } from '../live/live-calls.js';
import { MediaError } from '../live/room-media.js';
import { parseClientMessage } from './validate.js';
import { TokenBucket } from './rate-limit.js';

export interface SignalingOptions {
  db: Db;
  calls: LiveCalls;
  log: FastifyBaseLogger;
  now: () => number;
  /** Resolves once the room events emitted so far are durable (the callbacks outbox). */
  persisted: () => Promise<void>;
  reconnectGraceMs: number;
  /** maxCredentialLifetimeHours: credentials valid for longer are refused. */
  maxCredentialLifetimeHours: number;
  helloTimeoutMs: number;
  maxMessageBytes: number;
  messagesPerSecond: number;
  /**
   * What a terminal of the call application is told about media (ICE servers, relay-only
   * through its proxy) and which addresses the SFU takes its rooms' media from.
   */
  mediaPolicy(bizName: string, uid: string): Promise<MediaPolicy>;
}

class SignalingFailure extends Error {
  constructor(
    readonly code: SignalingErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

class Session {
  readonly sessionId = `s_${randomBytes(9).toString('base64url')}`;
  readonly resumeToken = randomBytes(24).toString('base64url');
  socket: WebSocket | null = null;
  participant: Participant | null = null;
  /** The call the participant is in (its owner: media, broadcasts, recording). */
  call: LiveCall | null = null;
  /** The call application's proxy egress IPs as of this session's latest hello (null: any). */
  egress: readonly string[] | null = null;
  graceTimer: NodeJS.Timeout | null = null;
  ended = false;

  constructor(
    readonly uid: string,
    readonly scope: RoomScope,
  ) {}

  /** The call this session's participant is still in. */
  get liveCall(): LiveCall | null {
    return this.participant && !this.participant.hasLeft ? this.call : null;
  }

  send(message: ServerMessage): void {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(message));
  }
}

export class SignalingServer {
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, Session>();
  /** The session of each participant in a call, until the participant leaves. */
  readonly #byParticipant = new Map<string, Session>();
  #closed = false;

  constructor(private readonly opts: SignalingOptions) {
    // ws enforces a hard cap well above the protocol limit, so an oversized message gets a
    // MESSAGE_TOO_LARGE answer instead of a dropped connection.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes * 4 });
    this.#wss.on('connection', (ws) => this.#onConnection(ws));
  }

  /** Hands `/signal/v1` upgrades to the WebSocket server; returns false for other paths. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (request.url ?? '').split('?')[0];
    if (path !== signalingPath) return false;
    if (this.#closed) {
      socket.destroy();
      return true;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#wss.emit('connection', ws, request));
    return true;
  }

  /** The terminals in each live call (room id → participant ids), for tests and diagnostics. */
  roomSessions(): Map<string, string[]> {
    return new Map(
      this.opts.calls
        .list()
        .filter((c) => c.memberIds().length > 0)
        .map((c) => [c.roomId, c.memberIds()]),
    );
  }

  stats(): { sessions: number; connected: number } {
    let connected = 0;
    for (const s of this.#sessions.values()) if (s.socket) connected += 1;
    return { sessions: this.#sessions.size, connected };
  }

  /** Idempotent: says goodbye to every terminal and closes the sockets (rooms are closed by the registry). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of this.#sessions.values()) {
      if (session.graceTimer) clearTimeout(session.graceTimer);
      session.send({ type: 'bye', code: 'SERVER_SHUTTING_DOWN', message: 'The server is shutting down.' });
      session.socket?.close(4001, 'SERVER_SHUTTING_DOWN');
    }
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #onConnection(ws: WebSocket): void {
    const bucket = new TokenBucket(this.opts.messagesPerSecond);
    let session: Session | null = null;
    // One socket owns at most one session. Decided here, synchronously, when the first hello
    // arrives: the credential checks that follow await the database, and a second hello sent
    // meanwhile must not start a second session this socket would never detach.
    let helloReceived = false;
    let strikes = 0;
    const helloTimer = setTimeout(() => {
      this.#sendRaw(ws, { type: 'bye', code: 'HELLO_TIMEOUT', message: 'No hello within the time allowed.' });
      ws.close(4408, 'HELLO_TIMEOUT');
    }, this.opts.helloTimeoutMs);
    helloTimer.unref();

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!bucket.take()) {
        strikes += 1;
        this.#sendRaw(ws, {
          type: 'error',
          error: {
            code: 'RATE_LIMITED',
            message: `At most ${this.opts.messagesPerSecond} messages per second.`,
          },
        });
        if (strikes > this.opts.messagesPerSecond * 2) ws.close(4429, 'RATE_LIMITED');
        return;
      }
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
      if (size > this.opts.maxMessageBytes) {
        this.#sendRaw(ws, {
          type: 'error',
          error: {
            code: 'MESSAGE_TOO_LARGE',
            message: `Messages are limited to ${this.opts.maxMessageBytes} bytes.`,
          },
        });
        return;
      }
      if (isBinary) {
        this.#sendRaw(ws, {
          type: 'error',
          error: { code: 'MESSAGE_INVALID', message: 'Send JSON text frames.' },
        });
        return;
      }
      const parsed = parseClientMessage(data.toString());
      if ('error' in parsed) {
        const id = parsed.id;
        if (typeof id === 'string' || typeof id === 'number')
          this.#sendRaw(ws, { type: 'response', id, ok: false, error: parsed.error });
        else this.#sendRaw(ws, { type: 'error', error: parsed.error });
        return;
      }
      const message = parsed.message;
      if (message.type === 'hello') {
        if (helloReceived) {
          this.#sendRaw(ws, {
            type: 'error',
            error: {
              code: 'HELLO_ALREADY_RECEIVED',
              message: 'This connection already sent hello; one connection holds one session.',
            },
          });
          return;
        }
        helloReceived = true;
        clearTimeout(helloTimer);
        void this.#hello(ws, message).then((s) => {
          session = s;
        });
        return;
      }
      if (!session || session.socket !== ws) {
        const error: SignalingError = {
          code: 'HELLO_REQUIRED',
          message: 'Send hello with your credential first.',
        };
        if ('id' in message) this.#sendRaw(ws, { type: 'response', id: message.id, ok: false, error });
        else this.#sendRaw(ws, { type: 'error', error });
        return;
      }
      void this.#dispatch(session, message);
    });

    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (session && session.socket === ws) this.#detach(session);
    });
    ws.on('error', (err) => this.opts.log.debug({ err }, 'signaling socket error'));
  }

  async #hello(ws: WebSocket, hello: Extract<ClientMessage, { type: 'hello' }>): Promise<Session | null> {
    let verified;
    const resumable = hello.resume ? this.#sessions.get(hello.resume.sessionId) : undefined;
    const ignoreExpiry =
      !!resumable && !resumable.ended && resumable.resumeToken === hello.resume?.resumeToken;
    try {
      verified = await verifyCredential(this.opts.db, hello.credential, this.opts.now(), {
        maxLifetimeHours: this.opts.maxCredentialLifetimeHours,
        ignoreExpiry,
      });
    } catch (err) {
      const error =
        err instanceof ParleyError
          ? {
              code: err.code,
              message: err.message,
              ...(err.field ? { field: `credential.${err.field}` } : {}),
            }
          : { code: 'INTERNAL', message: 'Credential check failed.' };
      if (!(err instanceof ParleyError)) this.opts.log.error({ err }, 'credential check failed');
      this.opts.log.info({ code: error.code }, 'signaling hello refused');
      this.#sendRaw(ws, { type: 'error', error });
      ws.close(4401, error.code);
      return null;
    }
    let policy: MediaPolicy;
    try {
      policy = await this.opts.mediaPolicy(verified.bizName, verified.uid);
    } catch (err) {
      this.opts.log.error({ err, bizName: verified.bizName }, 'signaling: media policy failed');
      this.#sendRaw(ws, {
        type: 'error',
        error: { code: 'INTERNAL', message: 'The media settings could not be read.' },
      });
      ws.close(1011, 'INTERNAL');
      return null;
    }
    if (this.#closed) {
      ws.close(4001, 'SERVER_SHUTTING_DOWN');
      return null;
    }
    // The terminal hung up while its credential was checked: its close event has passed, so a
    // session made now would never be detached (and would stay resumable for ever).
    if (ws.readyState !== ws.OPEN) return null;
    let session: Session;
    let resumed = false;
    if (hello.resume) {
      const existing = this.#sessions.get(hello.resume.sessionId);
      if (
        !existing ||
        existing.ended ||
        existing.resumeToken !== hello.resume.resumeToken ||
        existing.uid !== verified.uid ||
        existing.scope.bizName !== verified.bizName
      ) {
        this.#sendRaw(ws, {
          type: 'error',
          error: {
            code: 'RESUME_FAILED',
            message: 'The session cannot be resumed (unknown, ended or not yours); connect afresh.',
          },
        });
        ws.close(4410, 'RESUME_FAILED');
        return null;
      }
      session = existing;
      session.egress = policy.egressIps;
      session.liveCall?.setEgress(session.egress);
      if (session.graceTimer) clearTimeout(session.graceTimer);
      session.graceTimer = null;
      const old = session.socket;
      session.socket = null;
      old?.close(4409, 'SESSION_REPLACED');
      resumed = true;
    } else {
      session = new Session(verified.uid, {
        bizName: verified.bizName,
        appId: verified.appId,
        workspaceId: verified.workspaceId,
      });
      session.egress = policy.egressIps;
      this.#sessions.set(session.sessionId, session);
    }
    session.socket = ws;
    const call = session.liveCall;
    session.send({
      type: 'welcome',
      v: signalingVersion,
      sessionId: session.sessionId,
      resumeToken: session.resumeToken,
      uid: session.uid,
      bizName: session.scope.bizName,
      resumed,
      iceServers: policy.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
      iceTransportPolicy: policy.iceTransportPolicy,
      mediaProxy: policy.mediaProxy,
      room: call && session.participant ? call.room.state(session.participant) : null,
      limits: {
        maxParticipants: this.opts.calls.rooms.options.maxParticipants,
        maxMessageBytes: this.opts.maxMessageBytes,
        messagesPerSecond: this.opts.messagesPerSecond,
      },
    });
    this.opts.log.info(
      { sessionId: session.sessionId, uid: session.uid, bizName: session.scope.bizName, resumed },
      'signaling session',
    );
    // An offer sent while the socket was down may be lost: send the unanswered one again.
    const pending =
      call && session.participant ? call.pendingSubscriberOffer(session.participant.participantId) : null;
    if (pending) session.send({ type: 'subscriberOffer', ...pending, tracks: [...pending.tracks] });
    return session;
  }

  /** The socket dropped: the session (and its place in a room) waits for a resume. */
  #detach(session: Session): void {
    session.socket = null;
    if (this.#closed) return;
    const end = () => {
      session.ended = true;
      session.graceTimer = null;
      this.#sessions.delete(session.sessionId);
      const participant = session.participant;
      if (participant && !participant.hasLeft) participant.room.leave(participant, 'disconnected');
    };
    if (this.opts.reconnectGraceMs <= 0) end();
    else {
      session.graceTimer = setTimeout(end, this.opts.reconnectGraceMs);
      session.graceTimer.unref();
    }
  }

  async #dispatch(session: Session, message: Exclude<ClientMessage, { type: 'hello' }>): Promise<void> {
    if (message.type === 'candidate') {
      try {
        const { call, participant } = this.#inRoom(session);
        call
          .media()
          .addRemoteCandidate(participant.participantId, message.transportId, message.candidate, message.mid);
      } catch (err) {
        session.send({ type: 'error', error: this.#toError(err) });
      }
      return;
    }
    try {
      const data = await this.#request(session, message);
      // A terminal hears "joined"/"left" only once the matching callback event is on disk.
      // When the database does not take it, the request fails (STORE_UNAVAILABLE, retryable)
      // and a join is undone, so that the terminal's retry starts clean.
      await this.opts.persisted().catch((err: unknown) => {
        const joined = message.type === 'createRoom' || message.type === 'joinRoom';
        if (joined && session.participant && !session.participant.hasLeft) {
          session.participant.room.leave(session.participant, 'left');
          session.participant = null;
          session.call = null;
        }
        throw err;
      });
      session.send({ type: 'response', id: message.id, ok: true, data });
    } catch (err) {
      session.send({ type: 'response', id: message.id, ok: false, error: this.#toError(err) });
    }
  }

  async #request(session: Session, m: ClientRequest): Promise<unknown> {
    switch (m.type) {
      case 'ping':
        return { time: this.opts.now() };
      case 'createRoom': {
        this.#notInRoom(session);
        return this.#join(session, this.opts.calls.create(session.scope, session.uid));
      }
      case 'joinRoom': {
        this.#notInRoom(session);
        return this.#join(session, this.opts.calls.get(session.scope.bizName, m.roomId));
      }
      case 'leaveRoom': {
        const { call, participant } = this.#inRoom(session);
        call.room.leave(participant, 'left');
        session.participant = null;
        session.call = null;
        return {};
      }
      case 'publish': {
        const { call, participant } = this.#inRoom(session);
        const result = await call.media().publish(participant.participantId, m.sdp);
        participant.setTracks(result.kinds);
        return { transportId: result.transportId, sdp: result.answerSdp };
      }
      case 'unpublish': {
        const { call, participant } = this.#inRoom(session);
        if (participant.tracks.length === 0)
          throw new SignalingFailure('NOT_PUBLISHING', 'Nothing is published.');
        participant.setTracks(call.unpublish(participant.participantId, m.kind));
        return {};
      }
      case 'subscribe': {
        const { call, participant } = this.#inRoom(session);
        this.#peer(call, m.participantId, participant);
        const result = await call.media().subscribe(participant.participantId, m.participantId);
        return { transportId: result.transportId, sdp: result.offerSdp };
      }
      case 'unsubscribe': {
        const { call, participant } = this.#inRoom(session);
        call.media().unsubscribe(participant.participantId, m.participantId);
        return {};
      }
      case 'answer': {
        const { call, participant } = this.#inRoom(session);
        await call.media().setAnswer(participant.participantId, m.transportId, m.sdp);
        return {};
      }
      case 'openSubscriber': {
        const { call, participant } = this.#inRoom(session);
        // Without autoSubscribe, a restarted connection keeps the participant's earlier choices.
        return call.media().openSubscriber(participant.participantId, {
          ...(m.autoSubscribe !== undefined ? { autoSubscribe: m.autoSubscribe } : {}),
          restart: m.restart ?? false,
        });
      }
      case 'subscriberAnswer': {
        const { call, participant } = this.#inRoom(session);
        await call.media().setSubscriberAnswer(participant.participantId, m.transportId, m.version, m.sdp);
        return {};
      }
      case 'setSubscribed': {
        const { call, participant } = this.#inRoom(session);
        this.#peer(call, m.participantId, participant);
        call.media().setSubscribed(participant.participantId, m.participantId, m.subscribed);
        return {};
      }
      case 'mute': {
        const { participant } = this.#inRoom(session);
        if (!participant.setMuted(m.kind, m.muted)) {
          throw new SignalingFailure('NOT_PUBLISHING', `No ${m.kind} track is published.`, 'kind');
        }
        return {};
      }
    }
  }

  #join(session: Session, call: LiveCall) {
    const room = call.room;
    // The same uid in the same room twice: the newer session takes over.
    for (const other of room.participants.values()) {
      if (other.uid !== session.uid) continue;
      const previous = this.#byParticipant.get(other.participantId);
      room.leave(other, 'replaced' satisfies LeaveReason);
      if (previous && previous !== session) {
        previous.participant = null;
        previous.call = null;
        previous.send({
          type: 'bye',
          code: 'SESSION_REPLACED',
          message: 'The same user joined this room from another connection.',
        });
        previous.socket?.close(4409, 'SESSION_REPLACED');
        previous.ended = true;
        this.#sessions.delete(previous.sessionId);
      }
    }
    call.setEgress(session.egress);
    const participant = call.join(session.uid, session);
    session.participant = participant;
    session.call = call;
    this.#byParticipant.set(participant.participantId, session);
    participant.on('left', () => this.#byParticipant.delete(participant.participantId));
    return room.state(participant);
  }

  #inRoom(session: Session): { call: LiveCall; participant: Participant } {
    const participant = session.participant;
    const call = session.liveCall;
    if (!participant || !call) throw new SignalingFailure('NOT_IN_ROOM', 'Create or join a room first.');
    return { call, participant };
  }

  #notInRoom(session: Session): void {
    const call = session.liveCall;
    if (call)
      throw new SignalingFailure('ALREADY_IN_ROOM', `Already in room ${call.roomId}; leave it first.`);
  }

  #peer(call: LiveCall, participantId: string, self: Participant): Participant {
    const peer = call.room.participants.get(participantId);
    if (!peer || peer === self)
      throw new SignalingFailure(
        'PARTICIPANT_NOT_FOUND',
        `No other participant ${participantId} in this room.`,
        'participantId',
      );
    return peer;
  }

  #toError(err: unknown): SignalingError {
    if (err instanceof SignalingFailure)
      return { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
    if (err instanceof RoomError) return { code: err.code, message: err.message };
    if (err instanceof MediaError) return { code: err.code, message: err.message };
    if (err instanceof ParleyError && err.code === 'STORE_UNAVAILABLE')
      return { code: err.code, message: err.message };
    this.opts.log.error({ err }, 'signaling request failed');
    return { code: 'MEDIA_FAILED', message: 'The media server could not complete the request.' };
  }

  #sendRaw(ws: WebSocket, message: ServerMessage): void {
    if (ws.readyState === 1) ws.send(JSON.stringify(message));
  }
}
