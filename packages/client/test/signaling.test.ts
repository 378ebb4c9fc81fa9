/**
 * The SDK's signaling behaviour against a fake protocol-v1 server in Node: hello → welcome,
 * request/response correlation and timeouts, error surfacing, keepalive, resume.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  errorCatalogue,
  signalingErrorCodes,
  signalingPath as protocolSignalingPath,
  signalingVersion,
} from '@parley/protocol';
import {
  ParleyClient,
  ParleyError,
  SignalingConnection,
  clientErrorCodes,
  protocolVersion,
  signalingPath,
  signalingUrl,
  type SignalingConnection as Conn,
} from '../src/index.js';
import {
  FakeSignalingServer,
  NodeWebSocket,
  credential,
  fakeMedia,
  until,
  type FakeServerOptions,
} from './fakes.js';

const servers: FakeSignalingServer[] = [];
const closers: { close(): void }[] = [];

async function fakeServer(options: FakeServerOptions = {}): Promise<FakeSignalingServer> {
  const server = await new FakeSignalingServer(options).start();
  servers.push(server);
  return server;
}

function connection(
  server: FakeSignalingServer,
  over: Partial<ConstructorParameters<typeof SignalingConnection>[0]> = {},
): Conn {
  const conn = new SignalingConnection({
    url: signalingUrl(server.url),
    credential,
    WebSocket: NodeWebSocket,
    reconnectDelayMs: 20,
    ...over,
  });
  closers.push(conn);
  return conn;
}

function client(
  server: FakeSignalingServer,
  over: Partial<ConstructorParameters<typeof ParleyClient>[0]> = {},
): ParleyClient {
  const c = new ParleyClient({
    url: server.url,
    credential,
    WebSocket: NodeWebSocket,
    media: fakeMedia(),
    reconnectDelayMs: 20,
    ...over,
  });
  closers.push(c);
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<ParleyError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

afterEach(async () => {
  for (const c of closers.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

describe('signaling URL and protocol constants', () => {
  it('derives ws(s)://host/signal/v1 from the http(s) base URL, keeping a path prefix', () => {
    assert.equal(signalingUrl('http://127.0.0.1:7802'), 'ws://127.0.0.1:7802/signal/v1');
    assert.equal(signalingUrl('https://parley.example.com/'), 'wss://parley.example.com/signal/v1');
    assert.equal(signalingUrl('https://example.com/parley/?x=1#y'), 'wss://example.com/parley/signal/v1');
    assert.equal(signalingUrl('wss://example.com/custom'), 'wss://example.com/custom');
    assert.throws(
      () => signalingUrl('ftp://example.com'),
      (err: ParleyError) => err.field === 'url',
    );
  });

  it('speaks the protocol package version and path, and its own error codes never collide with server codes', () => {
    assert.equal(protocolVersion, signalingVersion);
    assert.equal(signalingPath, protocolSignalingPath);
    for (const code of clientErrorCodes) {
      assert.ok(!(signalingErrorCodes as readonly string[]).includes(code), code);
      assert.ok(!Object.hasOwn(errorCatalogue, code), code);
    }
  });
});

describe('connect', () => {
  it('sends hello v1 with the credential and resolves with welcome', async () => {
    const server = await fakeServer();
    const c = client(server);
    const welcome = await c.connect();
    assert.equal(welcome.uid, 'alice');
    assert.equal(c.uid, 'alice');
    assert.equal(c.state, 'open');
    assert.deepEqual(server.hellos[0], { type: 'hello', v: 1, credential });
    assert.equal(server.connections.length, 1);
    // connect() is idempotent once open
    assert.equal(await c.connect(), welcome);
    assert.equal(server.connections.length, 1);
  });

  it('rejects with each credential failure code and field, distinct and unchanged', async () => {
    const failures: [string, string][] = [
      ['CREDENTIAL_EXPIRED', 'expireTime'],
      ['CREDENTIAL_SIGNATURE_INVALID', 'signature'],
      ['CREDENTIAL_BIZNAME_UNKNOWN', 'bizName'],
      ['CREDENTIAL_SCOPE_MISMATCH', 'appId'],
      ['CREDENTIAL_UID_INVALID', 'uid'],
      ['CREDENTIAL_KEY_RETIRED', 'signature'],
      ['CREDENTIAL_MALFORMED', 'signature'],
    ];
    let current = failures[0]!;
    const server = await fakeServer({
      onHello: (conn) => {
        conn.send({
          type: 'error',
          error: { code: current[0], message: `msg ${current[0]}`, field: current[1] },
        });
        conn.ws.close(4001, current[0]);
      },
    });
    for (const failure of failures) {
      current = failure;
      const c = client(server);
      const err = await rejection(c.connect());
      assert.equal(err.code, failure[0]);
      assert.equal(err.field, failure[1]);
      assert.equal(err.message, `msg ${failure[0]}`);
      assert.equal(err.isCredentialError, true);
      assert.equal(c.state, 'idle', 'a failed connect can be retried');
    }
  });

  it('takes the error code from the close reason or from bye when the server sends no error message', async () => {
    let mode: 'close' | 'bye' = 'close';
    const server = await fakeServer({
      onHello: (conn) => {
        if (mode === 'close') conn.ws.close(4001, 'CREDENTIAL_EXPIRED');
        else conn.send({ type: 'bye', code: 'SERVER_SHUTTING_DOWN', message: 'Restarting.' });
      },
    });
    assert.equal((await rejection(client(server).connect())).code, 'CREDENTIAL_EXPIRED');
    mode = 'bye';
    assert.equal((await rejection(client(server).connect())).code, 'SERVER_SHUTTING_DOWN');
  });

  it('rejects with CONNECT_TIMEOUT when no welcome comes, and CONNECTION_FAILED when nothing listens', async () => {
    const server = await fakeServer({ onHello: () => undefined });
    const started = Date.now();
    const err = await rejection(client(server, { connectTimeoutMs: 150 }).connect());
    assert.equal(err.code, 'CONNECT_TIMEOUT');
    assert.ok(Date.now() - started < 2000);
    const url = server.url;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    assert.equal(
      (await rejection(client({ url } as FakeSignalingServer).connect())).code,
      'CONNECTION_FAILED',
    );
  });

  it('calls a credential function on connect and again on every reconnect', async () => {
    const server = await fakeServer();
    let calls = 0;
    const c = client(server, {
      credential: async () => ({ ...credential, expireTime: credential.expireTime + ++calls }),
    });
    await c.connect();
    assert.equal(calls, 1);
    server.last.terminate();
    await new Promise<void>((resolve) => c.once('reconnected', () => resolve()));
    assert.equal(calls, 2);
    assert.equal(server.hellos[1]?.credential.expireTime, credential.expireTime + 2);
  });

  it('reports a throwing credential function as CREDENTIAL_UNAVAILABLE', async () => {
    const server = await fakeServer();
    const c = client(server, {
      credential: () => {
        throw new Error('business server down');
      },
    });
    const err = await rejection(c.connect());
    assert.equal(err.code, 'CREDENTIAL_UNAVAILABLE');
    assert.match(err.message, /business server down/);
  });
});

describe('requests', () => {
  it('correlates responses by id even when they come back out of order', async () => {
    const held: { id: string | number; type: string }[] = [];
    const server = await fakeServer({
      onRequest: (conn, msg) => {
        held.push({ id: msg.id, type: msg.type });
        if (held.length === 3)
          for (const h of [...held].reverse()) conn.respond(h.id, { time: Number(h.id) * 10 });
      },
    });
    const conn = connection(server);
    await conn.connect();
    const results = await Promise.all([
      conn.request('ping', {}),
      conn.request('ping', {}),
      conn.request('ping', {}),
    ]);
    assert.deepEqual(
      results.map((r) => r.time),
      held.map((h) => Number(h.id) * 10),
    );
    assert.equal(new Set(held.map((h) => h.id)).size, 3, 'every request has its own id');
  });

  it('rejects with the server code, message and field when response.ok is false', async () => {
    const server = await fakeServer();
    const c = client(server);
    const err = await rejection(c.joinRoom('0000000000'));
    assert.equal(err.code, 'ROOM_NOT_FOUND');
    assert.equal(err.field, 'roomId');
    assert.equal(err.message, 'No such room.');
    assert.equal(c.room, null);
  });

  it('rejects with REQUEST_TIMEOUT when no response comes in time, and ignores a late one', async () => {
    let late: (() => void) | null = null;
    const server = await fakeServer({
      onRequest: (conn, msg) => {
        late = () => conn.respond(msg.id, { time: 1 });
      },
    });
    const conn = connection(server, { requestTimeoutMs: 100 });
    await conn.connect();
    const started = Date.now();
    const err = await rejection(conn.request('ping', {}));
    assert.equal(err.code, 'REQUEST_TIMEOUT');
    assert.match(err.message, /ping/);
    assert.ok(Date.now() - started >= 95);
    late!();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(conn.state, 'open');
  });

  it('refuses requests before connect and after close with distinct codes', async () => {
    const server = await fakeServer();
    const conn = connection(server);
    assert.equal((await rejection(conn.request('ping', {}))).code, 'NOT_CONNECTED');
    await conn.connect();
    conn.close();
    assert.equal((await rejection(conn.request('ping', {}))).code, 'CLIENT_CLOSED');
    assert.equal((await rejection(conn.connect())).code, 'CLIENT_CLOSED');
  });

  it('rejects pending requests with CLIENT_CLOSED on close()', async () => {
    const server = await fakeServer({ onRequest: () => undefined });
    const conn = connection(server);
    await conn.connect();
    const pending = conn.request('ping', {});
    conn.close();
    assert.equal((await rejection(pending)).code, 'CLIENT_CLOSED');
  });

  it('surfaces an error message that answers no request as an error event', async () => {
    const server = await fakeServer();
    const c = client(server);
    await c.connect();
    const got = new Promise<ParleyError>((resolve) => c.once('error', resolve));
    server.last.send({ type: 'error', error: { code: 'RATE_LIMITED', message: 'Slow down.' } });
    const err = await got;
    assert.equal(err.code, 'RATE_LIMITED');
    assert.equal(c.state, 'open');
  });

  it('refuses locally a message larger than the server limit with MESSAGE_TOO_LARGE', async () => {
    const server = await fakeServer({
      limits: { maxParticipants: 6, maxMessageBytes: 200, messagesPerSecond: 50 },
    });
    const conn = connection(server);
    await conn.connect();
    const err = await rejection(conn.request('publish', { sdp: 'x'.repeat(500) }));
    assert.equal(err.code, 'MESSAGE_TOO_LARGE');
    assert.equal(server.last.of('publish').length, 0);
  });

  it('keeps under the server messagesPerSecond limit by queueing', async () => {
    const server = await fakeServer({
      limits: { maxParticipants: 6, maxMessageBytes: 65536, messagesPerSecond: 10 },
    });
    const conn = connection(server);
    await conn.connect();
    const started = Date.now();
    await Promise.all(Array.from({ length: 12 }, () => conn.request('ping', {})));
    assert.ok(Date.now() - started >= 900, 'the last ones waited for the next second');
    const times = server.last.of('ping').length;
    assert.equal(times, 12);
  });
});

describe('keepalive and resume', () => {
  it('pings on the interval', async () => {
    const server = await fakeServer();
    const conn = connection(server, { pingIntervalMs: 40 });
    await conn.connect();
    await until(() => server.last.of('ping').length >= 3, 2000, 'three pings');
  });

  it('resumes a dropped socket with sessionId and resumeToken; the room goes on without leave events', async () => {
    const server = await fakeServer();
    server.room.participants = [
      { participantId: 'p_self', uid: 'alice', joinedAt: 1, tracks: [] },
      { participantId: 'p_bob', uid: 'bob', joinedAt: 2, tracks: [] },
    ];
    const c = client(server);
    const room = await c.createRoom();
    const events: string[] = [];
    for (const e of [
      'reconnecting',
      'reconnected',
      'participantLeft',
      'participantJoined',
      'closed',
      'disconnected',
    ] as const) {
      room.on(e, () => events.push(e));
    }
    const welcome1 = c.welcome!;
    server.last.terminate();
    await until(() => events.includes('reconnected'), 3000, 'reconnected');
    const resumeHello = server.hellos[1]!;
    assert.deepEqual(resumeHello.resume, {
      sessionId: welcome1.sessionId,
      resumeToken: welcome1.resumeToken,
    });
    assert.deepEqual(events, ['reconnecting', 'reconnected']);
    assert.equal(c.welcome?.resumeToken, 'token_2', 'the new resume token is kept');
    assert.equal(room.state, 'joined');
    assert.deepEqual(
      room.participants.map((p) => p.uid),
      ['bob'],
    );
    // The next resume uses the latest token.
    server.last.terminate();
    await until(() => server.hellos.length === 3, 3000, 'second resume');
    assert.equal(server.hellos[2]?.resume?.resumeToken, 'token_2');
  });

  it('delivers events sent right behind welcome, after connect and after a resume', async () => {
    // A Node WebSocket dispatches the frames of one read at once; the server sends the pending
    // subscriberOffer right behind a resumed welcome.
    const server = await fakeServer({
      onHello: (conn, hello, s) => {
        s.welcome(conn, hello);
        conn.send({ type: 'tracksChanged', participantId: `p_${server.hellos.length}`, tracks: [] });
      },
    });
    const conn = connection(server);
    const got: string[] = [];
    conn.on('message', (m) => got.push(`${m.type}:${'participantId' in m ? m.participantId : ''}`));
    conn.on('reconnected', () => got.push('reconnected'));
    await conn.connect();
    await until(() => got.length === 1, 2000, 'the event behind the first welcome');
    server.last.terminate();
    await until(() => got.length === 3, 3000, 'the event behind the resumed welcome');
    assert.deepEqual(got, ['tracksChanged:p_1', 'reconnected', 'tracksChanged:p_2']);
  });

  it('queues requests made while reconnecting and sends them once resumed', async () => {
    let holdHello = true;
    const server = await fakeServer({
      onHello: (conn, hello, s) => {
        if (hello.resume && holdHello) return; // answer later
        s.welcome(conn, hello);
      },
    });
    const conn = connection(server);
    await conn.connect();
    server.last.terminate();
    await until(() => conn.state === 'reconnecting');
    const pending = conn.request('ping', {});
    await until(() => server.hellos.length === 2, 3000, 'resume hello');
    assert.equal(server.last.of('ping').length, 0, 'nothing sent before welcome');
    holdHello = false;
    server.welcome(server.last, server.hellos[1]!);
    assert.ok((await pending).time > 0);
  });

  it('rejects a request in flight when the socket drops with CONNECTION_LOST', async () => {
    const server = await fakeServer({
      onRequest: (conn, msg, s) => {
        if (msg.type === 'createRoom') conn.terminate();
        else s.defaultResponse(conn, msg);
      },
    });
    const c = client(server);
    await c.connect();
    assert.equal((await rejection(c.createRoom())).code, 'CONNECTION_LOST');
    await until(() => c.state === 'open', 3000, 'resumed');
  });

  it('reports RESUME_FAILED as disconnected and closes the room', async () => {
    const server = await fakeServer({
      onHello: (conn, hello, s) => {
        if (!hello.resume) return s.welcome(conn, hello);
        conn.send({ type: 'error', error: { code: 'RESUME_FAILED', message: 'Grace period over.' } });
        conn.ws.close(4001, 'RESUME_FAILED');
      },
    });
    const c = client(server);
    const room = await c.createRoom();
    const roomEvents: string[] = [];
    room.on('disconnected', (err) => roomEvents.push(`disconnected:${err.code}`));
    room.on('closed', (reason) => roomEvents.push(`closed:${reason}`));
    const clientDisconnected = new Promise<ParleyError>((resolve) => c.once('disconnected', resolve));
    server.last.terminate();
    assert.equal((await clientDisconnected).code, 'RESUME_FAILED');
    assert.deepEqual(roomEvents, ['disconnected:RESUME_FAILED', 'closed:disconnected']);
    assert.equal(c.state, 'closed');
    assert.equal(c.room, null);
    assert.equal(server.hellos.length, 2, 'no further attempts');
  });

  it('treats a welcome with resumed:false after a drop as RESUME_FAILED', async () => {
    const server = await fakeServer({
      onHello: (conn, hello, s) => s.welcome(conn, hello, { resumed: false, room: null }),
    });
    const c = client(server);
    await c.createRoom();
    const disconnected = new Promise<ParleyError>((resolve) => c.once('disconnected', resolve));
    server.last.terminate();
    assert.equal((await disconnected).code, 'RESUME_FAILED');
  });

  it('gives up after reconnectTimeoutMs with CONNECTION_LOST', async () => {
    const server = await fakeServer({
      onHello: (conn, hello, s) => (hello.resume ? conn.terminate() : s.welcome(conn, hello)),
    });
    const conn = connection(server, { reconnectTimeoutMs: 300 });
    await conn.connect();
    const disconnected = new Promise<ParleyError>((resolve) => conn.once('disconnected', resolve));
    server.last.terminate();
    const err = await disconnected;
    assert.equal(err.code, 'CONNECTION_LOST');
    assert.ok(server.hellos.length >= 3, 'it retried with backoff');
  });

  it('drops a socket whose pings go unanswered, then resumes', async () => {
    const server = await fakeServer({
      onRequest: (conn, msg, s) => {
        if (msg.type === 'ping' && s.connections.length === 1) return; // dead first socket
        s.defaultResponse(conn, msg);
      },
    });
    const conn = connection(server, { pingIntervalMs: 60, requestTimeoutMs: 1000 });
    await conn.connect();
    const reconnected = new Promise((resolve) => conn.once('reconnected', resolve));
    await reconnected;
    assert.ok(server.hellos[1]?.resume, 'the second hello resumes');
  });

  it('ends without reconnecting on bye, with the bye code', async () => {
    const server = await fakeServer();
    const c = client(server);
    await c.createRoom();
    const disconnected = new Promise<ParleyError>((resolve) => c.once('disconnected', resolve));
    server.last.send({ type: 'bye', code: 'SESSION_REPLACED', message: 'Signed in elsewhere.' });
    assert.equal((await disconnected).code, 'SESSION_REPLACED');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.hellos.length, 1);
  });

  it('dropConnection() resumes the same session (the test hook of the call page)', async () => {
    const server = await fakeServer();
    const c = client(server);
    const room = await c.createRoom();
    const left: string[] = [];
    room.on('participantLeft', (p) => left.push(p.uid));
    c.dropConnection();
    await new Promise((resolve) => room.once('reconnected', () => resolve(undefined)));
    assert.equal(server.hellos[1]?.resume?.sessionId, 's_1');
    assert.deepEqual(left, []);
  });
});
