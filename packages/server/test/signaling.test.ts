import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sign, stringToSign } from '@parley/server-sdk';
import type { CallApp, LiveRoom, RevealedKey } from '@parley/protocol';
import type { RoomEvent } from '../src/rooms/room.js';
import type { ApiClient } from './helpers.js';
import { adminPassword, callAppsUrl, ownerClient, startTestServer, type TestServer } from './helpers.js';
import { SignalClient } from './signal-client.js';

describe('signaling and rooms', () => {
  let server: TestServer;
  let owner: ApiClient;
  let app: CallApp;
  let other: CallApp;
  const keys = new Map<string, string>();
  const events: { name: string; e: RoomEvent & { reason?: string } }[] = [];
  const clients: SignalClient[] = [];

  const credential = (uid: string, over: Record<string, unknown> = {}, callApp = app) => ({
    ...sign({
      bizName: callApp.bizName,
      appId: 'default',
      workspaceId: 'default',
      uid,
      expireTime: Date.now() + 300_000,
      privateKeyPem: keys.get(callApp.bizName) as string,
    }),
    ...over,
  });
  async function connect(uid: string, callApp = app): Promise<SignalClient> {
    const c = await SignalClient.open(server.url);
    clients.push(c);
    const welcome = await c.hello(credential(uid, {}, callApp));
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    return c;
  }
  const eventsOf = (roomId: string) =>
    events.filter((x) => x.e.roomId === roomId).map((x) => `${x.name}:${x.e.uid}`);

  before(async () => {
    server = await startTestServer({
      overrides: {
        reconnectGraceSeconds: 0.6,
        emptyRoomGraceSeconds: 0.3,
        maxParticipants: 3,
        signalingMessagesPerSecond: 20,
      },
    });
    owner = await ownerClient(server);
    for (const name of ['Calls', 'Other calls']) {
      const created = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
      const key = await owner.post<RevealedKey>(`${callAppsUrl()}/${created.bizName}/keys/reveal`, {
        password: adminPassword,
      });
      keys.set(created.bizName, key.body.privateKeyPem);
      if (name === 'Calls') app = created;
      else other = created;
    }
    for (const name of ['roomCreated', 'userJoined', 'userLeft', 'roomDestroyed'] as const) {
      server.rooms.on(name, (e: RoomEvent) => events.push({ name, e }));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  it('welcomes a terminal with a valid credential', async () => {
    const c = await SignalClient.open(server.url);
    clients.push(c);
    const welcome = await c.hello(credential('alice'));
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome['uid'], 'alice');
    assert.equal(welcome['bizName'], app.bizName);
    assert.equal(welcome['resumed'], false);
    assert.match(String(welcome['sessionId']), /^s_/);
    assert.ok(String(welcome['resumeToken']).length >= 32);
  });

  it('refuses each bad credential with its own code and closes with 4401', async () => {
    const cases: [unknown, string][] = [
      [credential('bob', { expireTime: Date.now() - 5 }), 'CREDENTIAL_MALFORMED'], // re-signed below
      [credential('bob', { signature: credential('mallory').signature }), 'CREDENTIAL_SIGNATURE_INVALID'],
      [credential('bob', { bizName: 'nosuchbizname000' }), 'CREDENTIAL_BIZNAME_UNKNOWN'],
      [credential('bob', { appId: 'elsewhere' }), 'CREDENTIAL_SCOPE_MISMATCH'],
      [credential('bob', { uid: 'bob smith' }), 'CREDENTIAL_UID_INVALID'],
    ];
    cases[0] = [
      sign({
        bizName: app.bizName,
        appId: 'default',
        workspaceId: 'default',
        uid: 'bob',
        expireTime: Date.now() - 5,
        privateKeyPem: keys.get(app.bizName) as string,
      }),
      'CREDENTIAL_EXPIRED',
    ];
    for (const [cred, code] of cases) {
      const c = await SignalClient.open(server.url);
      const reply = await c.hello(cred);
      assert.equal(reply.type, 'error');
      assert.equal((reply['error'] as { code: string }).code, code);
      assert.equal(await c.closed, 4401);
    }
  });

  it('refuses a credential whose uid digits were moved into expireTime (a forgery) with CREDENTIAL_MALFORMED', async () => {
    const signed = credential('user12');
    const forged = { ...signed, uid: 'user1', expireTime: Number(`2${signed.expireTime}`) };
    assert.equal(stringToSign(forged), stringToSign(signed), 'the same signed string, the same signature');
    for (const expireTime of [forged.expireTime, String(forged.expireTime)]) {
      const c = await SignalClient.open(server.url);
      const reply = await c.hello({ ...forged, expireTime });
      assert.equal(reply.type, 'error', JSON.stringify(reply));
      const error = reply['error'] as { code: string; field: string; message: string };
      assert.equal(error.code, 'CREDENTIAL_MALFORMED');
      assert.equal(error.field, 'credential.expireTime');
      assert.match(error.message, /exactly 13 digits/);
      assert.equal(await c.closed, 4401);
    }
  });

  it('answers malformed and unexpected messages with errors and keeps working', async () => {
    const c = await SignalClient.open(server.url);
    clients.push(c);
    c.send({ type: 'joinRoom', id: 1, roomId: '123' });
    const early = await c.waitType('response');
    assert.equal((early['error'] as { code: string }).code, 'HELLO_REQUIRED');
    await c.hello(credential('carol'));
    c.send('not json');
    assert.equal(((await c.waitType('error'))['error'] as { code: string }).code, 'MESSAGE_INVALID');
    c.send({ type: 'teleport', id: 2 });
    const unknownType = await c.waitType('response');
    assert.equal((unknownType['error'] as { field: string }).field, 'type');
    const missing = await c.request({ type: 'joinRoom' });
    assert.equal(missing.error?.code, 'MESSAGE_INVALID');
    assert.equal(missing.error?.field, 'roomId');
    const extra = await c.request({ type: 'ping', extra: true });
    assert.equal(extra.error?.field, 'extra');
    c.send({ type: 'publish', id: 3, sdp: 'x'.repeat(70_000) });
    assert.equal(((await c.waitType('error'))['error'] as { code: string }).code, 'MESSAGE_TOO_LARGE');
    const notInRoom = await c.request({ type: 'leaveRoom' });
    assert.equal(notInRoom.error?.code, 'NOT_IN_ROOM');
    const ping = await c.request({ type: 'ping' });
    assert.equal(ping.ok, true);
    assert.equal(typeof ping.data?.['time'], 'number');
  });

  it('rate-limits a flood of messages and still serves the connection afterwards', async () => {
    const c = await connect('dave');
    for (let i = 0; i < 60; i += 1) c.send({ type: 'ping', id: `f${i}` });
    const limited = await c.waitFor(
      (m) => m.type === 'error' && (m['error'] as { code: string }).code === 'RATE_LIMITED',
    );
    assert.ok(limited);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await c.request({ type: 'ping' })).ok, true);
  });

  it('creates a room, lets a same-bizName terminal join, and emits created/joined/left/destroyed', async () => {
    const alice = await connect('alice_r');
    const created = await alice.request({ type: 'createRoom' });
    assert.equal(created.ok, true);
    const roomId = String(created.data?.['roomId']);
    assert.match(roomId, /^\d{10}$/);
    const bob = await connect('bob_r');
    const joined = await bob.request({ type: 'joinRoom', roomId });
    assert.equal(joined.ok, true);
    const participants = joined.data?.['participants'] as { uid: string }[];
    assert.deepEqual(participants.map((p) => p.uid).sort(), ['alice_r', 'bob_r']);
    const seen = await alice.waitType('participantJoined');
    assert.equal((seen['participant'] as { uid: string }).uid, 'bob_r');
    const live = await owner.get<{ items: LiveRoom[] }>(`${callAppsUrl()}/${app.bizName}/rooms`);
    assert.deepEqual(
      live.body.items
        .find((r) => r.roomId === roomId)
        ?.participants.map((p) => p.uid)
        .sort(),
      ['alice_r', 'bob_r'],
    );
    assert.equal((await bob.request({ type: 'leaveRoom' })).ok, true);
    const left = await alice.waitType('participantLeft');
    assert.equal(left['uid'], 'bob_r');
    assert.equal(left['reason'], 'left');
    assert.equal((await alice.request({ type: 'leaveRoom' })).ok, true);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(eventsOf(roomId), [
      'roomCreated:alice_r',
      'userJoined:alice_r',
      'userJoined:bob_r',
      'userLeft:bob_r',
      'userLeft:alice_r',
      'roomDestroyed:alice_r',
    ]);
    const gone = await bob.request({ type: 'joinRoom', roomId });
    assert.equal(gone.error?.code, 'ROOM_NOT_FOUND');
  });

  it('never lets another bizName see or join a room', async () => {
    const alice = await connect('alice_b');
    const roomId = String((await alice.request({ type: 'createRoom' })).data?.['roomId']);
    const stranger = await connect('alice_b', other);
    const res = await stranger.request({ type: 'joinRoom', roomId });
    assert.equal(res.ok, false);
    assert.equal(res.error?.code, 'ROOM_NOT_FOUND');
    const otherRooms = await owner.get<{ items: LiveRoom[] }>(`${callAppsUrl()}/${other.bizName}/rooms`);
    assert.equal(otherRooms.body.items.length, 0);
    await alice.request({ type: 'leaveRoom' });
  });

  it('resumes a dropped connection without a leave/join pair, and treats no resume as leaving', async () => {
    const alice = await connect('alice_d');
    const roomId = String((await alice.request({ type: 'createRoom' })).data?.['roomId']);
    const bob = await SignalClient.open(server.url);
    clients.push(bob);
    const welcome = await bob.hello(credential('bob_d'));
    assert.equal((await bob.request({ type: 'joinRoom', roomId })).ok, true);
    bob.ws.terminate(); // the network drops
    await new Promise((r) => setTimeout(r, 200));
    const again = await SignalClient.open(server.url);
    clients.push(again);
    const resumed = await again.hello(credential('bob_d'), {
      sessionId: String(welcome['sessionId']),
      resumeToken: String(welcome['resumeToken']),
    });
    assert.equal(resumed.type, 'welcome');
    assert.equal(resumed['resumed'], true);
    assert.equal((resumed['room'] as { roomId: string }).roomId, roomId);
    await new Promise((r) => setTimeout(r, 800)); // beyond the grace period
    assert.deepEqual(
      eventsOf(roomId),
      ['roomCreated:alice_d', 'userJoined:alice_d', 'userJoined:bob_d'],
      'no leave, no second join',
    );
    assert.equal(
      alice.messages.some((m) => m.type === 'participantLeft'),
      false,
    );
    const wrongToken = await SignalClient.open(server.url);
    const refused = await wrongToken.hello(credential('bob_d'), {
      sessionId: String(welcome['sessionId']),
      resumeToken: 'x'.repeat(32),
    });
    assert.equal((refused['error'] as { code: string }).code, 'RESUME_FAILED');
    again.ws.terminate();
    const left = await alice.waitType('participantLeft', 3000);
    assert.equal(left['uid'], 'bob_d');
    assert.equal(left['reason'], 'disconnected');
    await alice.request({ type: 'leaveRoom' });
  });

  it('resumes with a credential that expired during the call, but refuses it for a new session', async () => {
    const shortLived = sign({
      bizName: app.bizName,
      appId: 'default',
      workspaceId: 'default',
      uid: 'erin',
      expireTime: Date.now() + 300,
      privateKeyPem: keys.get(app.bizName) as string,
    });
    const c = await SignalClient.open(server.url);
    clients.push(c);
    const welcome = await c.hello(shortLived);
    assert.equal(welcome.type, 'welcome');
    await new Promise((r) => setTimeout(r, 400));
    c.ws.terminate();
    const again = await SignalClient.open(server.url);
    clients.push(again);
    const resumed = await again.hello(shortLived, {
      sessionId: String(welcome['sessionId']),
      resumeToken: String(welcome['resumeToken']),
    });
    assert.equal(resumed.type, 'welcome');
    assert.equal(resumed['resumed'], true);
    const fresh = await SignalClient.open(server.url);
    const refused = await fresh.hello(shortLived);
    assert.equal((refused['error'] as { code: string }).code, 'CREDENTIAL_EXPIRED');
  });

  it('refuses a participant beyond the room limit', async () => {
    const first = await connect('u1');
    const roomId = String((await first.request({ type: 'createRoom' })).data?.['roomId']);
    for (const uid of ['u2', 'u3'])
      assert.equal((await (await connect(uid)).request({ type: 'joinRoom', roomId })).ok, true);
    const fourth = await (await connect('u4')).request({ type: 'joinRoom', roomId });
    assert.equal(fourth.error?.code, 'ROOM_FULL');
    await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${roomId}`);
    const closed = await first.waitType('roomClosed');
    assert.equal(closed['reason'], 'closed');
  });

  it('lets an operator remove a participant and close a room through the API', async () => {
    const created = await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {});
    assert.equal(created.status, 201);
    const roomId = created.body.roomId;
    const alice = await connect('alice_o');
    const bob = await connect('bob_o');
    const aliceState = await alice.request({ type: 'joinRoom', roomId });
    await bob.request({ type: 'joinRoom', roomId });
    const removed = await owner.delete(
      `${callAppsUrl()}/${app.bizName}/rooms/${roomId}/participants/${aliceState.data?.['self']}`,
    );
    assert.equal(removed.status, 204);
    assert.equal((await alice.waitType('roomClosed'))['reason'], 'removed');
    assert.equal((await bob.waitType('participantLeft'))['reason'], 'removed');
    assert.equal((await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${roomId}`)).status, 204);
    assert.equal((await bob.waitType('roomClosed'))['reason'], 'closed');
    assert.deepEqual(eventsOf(roomId), [
      'roomCreated:',
      'userJoined:alice_o',
      'userJoined:bob_o',
      'userLeft:alice_o',
      'userLeft:bob_o',
      'roomDestroyed:',
    ]);
    const missing = await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${roomId}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body['code'], 'ROOM_NOT_FOUND');
  });

  it("sends room events to the room's other participants only, and empties the per-room index as they go", async () => {
    const index = (roomId: string) => [...(server.signaling.roomSessions().get(roomId) ?? [])].sort();
    const selfOf = (res: { data?: Record<string, unknown> }) => String(res.data?.['self']);
    /** Every broadcast to `c` so far has arrived once a ping it sends afterwards is answered. */
    const settled = async (...cs: SignalClient[]) => {
      for (const c of cs) assert.equal((await c.request({ type: 'ping' })).ok, true);
    };
    const heard = (c: SignalClient, type: string) => c.messages.filter((m) => m.type === type);

    // Two rooms of one bizName.
    const a1 = await connect('ix_a1');
    const createdA = await a1.request({ type: 'createRoom' });
    const roomA = String(createdA.data?.['roomId']);
    const a2 = await connect('ix_a2');
    const a2Joined = await a2.request({ type: 'joinRoom', roomId: roomA });
    const b1 = await connect('ix_b1');
    const createdB = await b1.request({ type: 'createRoom' });
    const roomB = String(createdB.data?.['roomId']);
    const b2 = await connect('ix_b2');
    const b2Joined = await b2.request({ type: 'joinRoom', roomId: roomB });
    assert.deepEqual(index(roomA), [selfOf(createdA), selfOf(a2Joined)].sort());
    assert.deepEqual(index(roomB), [selfOf(createdB), selfOf(b2Joined)].sort());
    await a1.waitFor((m) => m.type === 'participantJoined');
    await b1.waitFor((m) => m.type === 'participantJoined');

    // A third joins room A: its two others hear it, itself and room B do not.
    const a3 = await connect('ix_a3');
    const a3Joined = await a3.request({ type: 'joinRoom', roomId: roomA });
    assert.deepEqual(index(roomA), [selfOf(createdA), selfOf(a2Joined), selfOf(a3Joined)].sort());
    for (const c of [a1, a2]) {
      const joined = await c.waitType('participantJoined');
      assert.equal((joined['participant'] as { uid: string }).uid, 'ix_a3');
    }
    await settled(a1, a2, a3, b1, b2);
    for (const c of [a1, a2, a3, b1, b2]) assert.deepEqual(heard(c, 'participantJoined'), []);

    // Leave: out of the index; room A's others hear it, room B does not.
    assert.equal((await a3.request({ type: 'leaveRoom' })).ok, true);
    assert.deepEqual(index(roomA), [selfOf(createdA), selfOf(a2Joined)].sort());
    for (const c of [a1, a2]) assert.equal((await c.waitType('participantLeft'))['uid'], 'ix_a3');
    await settled(a1, a2, a3, b1, b2);
    for (const c of [a1, a2, a3, b1, b2]) assert.deepEqual(heard(c, 'participantLeft'), []);

    // Replaced: the same uid joins again from a new session; the old participant leaves the index.
    const a2Again = await connect('ix_a2');
    const a2AgainJoined = await a2Again.request({ type: 'joinRoom', roomId: roomA });
    assert.equal((await a2.waitType('bye'))['code'], 'SESSION_REPLACED');
    assert.deepEqual(index(roomA), [selfOf(createdA), selfOf(a2AgainJoined)].sort());
    assert.equal((await a1.waitType('participantLeft'))['reason'], 'replaced');
    const rejoined = (await a1.waitType('participantJoined'))['participant'] as { participantId: string };
    assert.equal(rejoined.participantId, selfOf(a2AgainJoined));

    // Disconnected past the grace period: out of the index.
    a2Again.ws.terminate();
    const dropped = await a1.waitType('participantLeft', 3000);
    assert.equal(dropped['reason'], 'disconnected');
    assert.deepEqual(index(roomA), [selfOf(createdA)]);

    // The last one leaves: room A has no entry at all.
    assert.equal((await a1.request({ type: 'leaveRoom' })).ok, true);
    assert.equal(server.signaling.roomSessions().has(roomA), false);

    // Room B destroyed through the API: its entry goes with it, and room A's terminals hear nothing.
    assert.equal((await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${roomB}`)).status, 204);
    for (const c of [b1, b2]) assert.equal((await c.waitType('roomClosed'))['reason'], 'closed');
    assert.equal(server.signaling.roomSessions().has(roomB), false);
    await settled(a1, a3);
    for (const c of [a1, a3]) assert.deepEqual(heard(c, 'roomClosed'), []);
  });

  it('hands the room to the newer session when the same uid joins twice', async () => {
    const first = await connect('twin');
    const roomId = String((await first.request({ type: 'createRoom' })).data?.['roomId']);
    const second = await connect('twin');
    assert.equal((await second.request({ type: 'joinRoom', roomId })).ok, true);
    const bye = await first.waitType('bye');
    assert.equal(bye['code'], 'SESSION_REPLACED');
    assert.equal(await first.closed, 4409);
    await second.request({ type: 'leaveRoom' });
  });
});
