/**
 * The Room's media negotiation against the fake server with fake RTCPeerConnections:
 * publish (client offer → server answer), subscribe (server offer → client answer),
 * candidate trickling both ways, re-subscribing when kinds change, mute, leave, ICE failure.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ParticipantInfo } from '@parley/protocol';
import type { ParleyError } from '../src/index.js';
import { ParleyClient, type Room } from '../src/index.js';
import {
  FakePeerConnection,
  FakeSignalingServer,
  NodeWebSocket,
  credential,
  fakeMedia,
  until,
  type FakeServerOptions,
  type FakeTrack,
} from './fakes.js';

let server: FakeSignalingServer;
let c: ParleyClient;
let media: ReturnType<typeof fakeMedia>;

const bob: ParticipantInfo = {
  participantId: 'p_bob',
  uid: 'bob',
  joinedAt: 2,
  tracks: [
    { kind: 'audio', muted: false },
    { kind: 'video', muted: false },
  ],
};

async function setup(options: FakeServerOptions = {}, participants: ParticipantInfo[] = []): Promise<Room> {
  server = await new FakeSignalingServer(options).start();
  server.room.participants = [
    { participantId: 'p_self', uid: 'alice', joinedAt: 1, tracks: [] },
    ...structuredClone(participants),
  ];
  media = fakeMedia();
  c = new ParleyClient({
    url: server.url,
    credential,
    WebSocket: NodeWebSocket,
    media,
    reconnectDelayMs: 20,
  });
  return c.joinRoom(server.room.roomId);
}

beforeEach(() => {
  FakePeerConnection.instances = [];
});
afterEach(async () => {
  c?.close();
  await server?.close();
});

const pcs = () => FakePeerConnection.instances;

describe('publishing', () => {
  it('opens the devices, offers sendonly, and sets the server answer; candidates wait for the transport id', async () => {
    const room = await setup();
    const stream = await room.publish({ audio: true, video: true });
    assert.deepEqual(media.requests, [{ audio: true, video: true }]);
    assert.equal(stream.getTracks().length, 2);
    const pc = pcs()[0]!;
    assert.deepEqual(
      pc.transceivers.map((t) => [t.track?.kind, t.direction]),
      [
        ['audio', 'sendonly'],
        ['video', 'sendonly'],
      ],
    );
    assert.deepEqual(pc.config.iceServers, [{ urls: ['stun:127.0.0.1:3478'] }], 'iceServers from welcome');
    const publish = await server.last.waitFor('publish');
    assert.equal(publish.sdp, 'client-offer kinds=audio,video');
    assert.deepEqual(pc.remoteDescription, { type: 'answer', sdp: 'server-answer' });
    const candidate = await server.last.waitFor('candidate');
    assert.equal(
      candidate.transportId,
      't_publish_1',
      'the local candidate went out with the publish transport id',
    );
    assert.match(candidate.candidate, /^candidate:1 /);
    assert.equal(candidate.mid, '0');
    // Server candidates for the transport reach the peer connection.
    server.last.send({
      type: 'candidate',
      transportId: 't_publish_1',
      candidate: 'candidate:9 1 udp 1 10.0.0.1 9 typ host',
      mid: '0',
    });
    await until(() => pc.addedCandidates.length === 1, 2000, 'remote candidate');
    assert.deepEqual(room.publishedKinds, ['audio', 'video']);
  });

  it('applies candidates that arrive before the publish response once the transport is known', async () => {
    const room = await setup({
      onRequest: (conn, msg, s) => {
        if (msg.type === 'publish') {
          conn.send({
            type: 'candidate',
            transportId: 't_early',
            candidate: 'candidate:7 1 udp 1 10.0.0.7 7 typ host',
            mid: '0',
          });
          setTimeout(() => conn.respond(msg.id, { transportId: 't_early', sdp: 'server-answer' }), 20);
        } else s.defaultResponse(conn, msg);
      },
    });
    await room.publish({ audio: true });
    await until(() => pcs()[0]!.addedCandidates.length === 1, 2000, 'early candidate applied');
  });

  it('mutes with track.enabled and a mute request, and keeps the mute across a republish', async () => {
    const room = await setup();
    await room.publish();
    await room.setMuted('audio', true);
    const audio = media.opened.find((t) => t.kind === 'audio')!;
    assert.equal(audio.enabled, false);
    assert.deepEqual(
      server.last.of('mute').map((m) => [m.kind, m.muted]),
      [['audio', true]],
    );
    assert.equal(room.isMuted('audio'), true);
    await room.publish({ audio: true, video: true });
    assert.equal(media.requests.length, 1, 'live tracks are reused, not reopened');
    assert.equal(server.last.of('unpublish').length, 1, 'the previous publication is withdrawn first');
    assert.equal(server.last.of('publish').length, 2);
    assert.deepEqual(
      server.last.of('mute').map((m) => [m.kind, m.muted]),
      [
        ['audio', true],
        ['audio', true],
      ],
      'the mute is restated for the new publication',
    );
  });

  it('unpublishes one kind (stopping that device) and then everything', async () => {
    const room = await setup();
    await room.publish();
    const [audio, video] = media.opened as [FakeTrack, FakeTrack];
    await room.unpublish('video');
    assert.equal(video.readyState, 'ended');
    assert.equal(audio.readyState, 'live');
    assert.deepEqual(server.last.of('unpublish').at(-1), {
      type: 'unpublish',
      id: server.last.of('unpublish').at(-1)!.id,
      kind: 'video',
    });
    assert.deepEqual(room.publishedKinds, ['audio']);
    await room.unpublish();
    assert.equal(audio.readyState, 'ended');
    assert.equal(pcs()[0]!.closed, true);
    assert.deepEqual(room.publishedKinds, []);
  });

  it('surfaces a refused publish with the server code', async () => {
    const room = await setup({
      onRequest: (conn, msg, s) =>
        msg.type === 'publish'
          ? conn.fail(msg.id, 'MEDIA_FAILED', 'SFU refused the offer.')
          : s.defaultResponse(conn, msg),
    });
    await assert.rejects(room.publish({ audio: true }), (err: ParleyError) => err.code === 'MEDIA_FAILED');
    assert.equal(pcs()[0]!.closed, true);
  });

  it('reports a device failure as MEDIA_DEVICE_FAILED', async () => {
    const room = await setup();
    media.getUserMedia = async () => {
      throw Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' });
    };
    await assert.rejects(
      room.publish(),
      (err: ParleyError) => err.code === 'MEDIA_DEVICE_FAILED' && /denied/.test(err.message),
    );
  });
});

describe('subscribing', () => {
  it('subscribes to everyone with tracks: server offer, client answer, tracks in one stream', async () => {
    const subscribed: string[] = [];
    const room = await setup({}, [bob, { participantId: 'p_carol', uid: 'carol', joinedAt: 3, tracks: [] }]);
    room.on('trackSubscribed', (p, track, stream) =>
      subscribed.push(`${p.uid}:${track.kind}:${stream.getTracks().length}`),
    );
    const sub = await server.last.waitFor('subscribe');
    assert.equal(sub.participantId, 'p_bob');
    const answer = await server.last.waitFor('answer');
    assert.equal(answer.transportId, 't_subscribe_1');
    const pc = pcs()[0]!;
    assert.deepEqual(pc.remoteDescription, { type: 'offer', sdp: 'server-offer kinds=audio,video' });
    assert.equal(answer.sdp, pc.localDescription?.sdp);
    assert.deepEqual(subscribed, ['bob:audio:1', 'bob:video:2']);
    assert.equal(server.last.of('subscribe').length, 1, 'carol publishes nothing: no subscription');
    assert.equal(room.getParticipant('p_bob')?.stream?.getTracks().length, 2);
    const cand = await server.last.waitFor('candidate', (m) => m.transportId === 't_subscribe_1');
    assert.match(cand.candidate, /^candidate:/);
  });

  it('re-subscribes when a participant publishes a different set of kinds, not on mute', async () => {
    const room = await setup({}, [bob]);
    const events: string[] = [];
    room.on('trackUnsubscribed', (p, t) => events.push(`-${p.uid}:${t.kind}`));
    room.on('trackSubscribed', (p, t) => events.push(`+${p.uid}:${t.kind}`));
    room.on('tracksChanged', (p, tracks) =>
      events.push(`tracks:${tracks.map((t) => `${t.kind}${t.muted ? '(m)' : ''}`).join(',')}`),
    );
    await server.last.waitFor('answer');
    const first = pcs()[0]!;
    // Mute only: no new subscription.
    const muted = [
      { kind: 'audio' as const, muted: true },
      { kind: 'video' as const, muted: false },
    ];
    server.room.participants[1]!.tracks = muted;
    server.last.send({ type: 'tracksChanged', participantId: 'p_bob', tracks: muted });
    await until(() => events.includes('tracks:audio(m),video'));
    assert.equal(room.getParticipant('p_bob')?.isMuted('audio'), true);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(server.last.of('subscribe').length, 1);
    // Video unpublished: close, unsubscribe, subscribe again.
    const audioOnly = [{ kind: 'audio' as const, muted: false }];
    server.room.participants[1]!.tracks = audioOnly;
    server.last.send({ type: 'tracksChanged', participantId: 'p_bob', tracks: audioOnly });
    await until(() => server.last.of('answer').length === 2, 2000, 'second answer');
    assert.equal(first.closed, true);
    const order = server.last.received
      .filter((m) => m.type === 'unsubscribe' || m.type === 'subscribe')
      .map((m) => m.type);
    assert.deepEqual(order, ['subscribe', 'unsubscribe', 'subscribe']);
    assert.deepEqual(
      events.filter((e) => e.startsWith('+') || e.startsWith('-')),
      ['+bob:audio', '+bob:video', '-bob:audio', '-bob:video', '+bob:audio'],
    );
    // Everything unpublished: unsubscribe, no new subscription.
    server.room.participants[1]!.tracks = [];
    server.last.send({ type: 'tracksChanged', participantId: 'p_bob', tracks: [] });
    await until(() => server.last.of('unsubscribe').length === 2, 2000, 'second unsubscribe');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(server.last.of('subscribe').length, 2);
    assert.equal(room.getParticipant('p_bob')?.stream, null);
  });

  it('subscribes to a newcomer and tears down for one who leaves', async () => {
    const room = await setup();
    const events: string[] = [];
    room.on('participantJoined', (p) => events.push(`joined:${p.uid}`));
    room.on('participantLeft', (p, reason) => events.push(`left:${p.uid}:${reason}`));
    room.on('trackUnsubscribed', (p, t) => events.push(`-${p.uid}:${t.kind}`));
    server.room.participants.push(structuredClone(bob));
    server.last.send({ type: 'participantJoined', participant: bob });
    await server.last.waitFor('answer');
    server.last.send({ type: 'participantLeft', participantId: 'p_bob', uid: 'bob', reason: 'left' });
    await until(() => events.includes('left:bob:left'));
    assert.deepEqual(events, ['joined:bob', '-bob:audio', '-bob:video', 'left:bob:left']);
    assert.equal(pcs()[0]!.closed, true);
    assert.deepEqual(room.participants, []);
  });

  it('ignores a subscribe refused because the participant already left', async () => {
    const room = await setup(
      {
        onRequest: (conn, msg, s) =>
          msg.type === 'subscribe'
            ? conn.fail(msg.id, 'PARTICIPANT_NOT_FOUND')
            : s.defaultResponse(conn, msg),
      },
      [bob],
    );
    const errors: ParleyError[] = [];
    room.on('error', (e) => errors.push(e));
    await server.last.waitFor('subscribe');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(errors, []);
  });

  it('reports other subscribe failures as error events with the server code', async () => {
    const room = await setup(
      {
        onRequest: (conn, msg, s) =>
          msg.type === 'subscribe'
            ? conn.fail(msg.id, 'MEDIA_FAILED', 'No router.')
            : s.defaultResponse(conn, msg),
      },
      [bob],
    );
    const error = await new Promise<ParleyError>((resolve) => room.once('error', resolve));
    assert.equal(error.code, 'MEDIA_FAILED');
  });

  it('subscribes again, quietly, when the server closed the transport before the answer', async () => {
    let answers = 0;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type === 'answer' && ++answers === 1) return conn.fail(msg.id, 'TRANSPORT_NOT_FOUND');
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    c.on('error', (e) => errors.push(e.code));
    await until(() => answers === 2, 2000, 'second answer');
    server.last.send({ type: 'error', error: { code: 'TRANSPORT_NOT_FOUND', message: 'No transport t_x.' } });
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(
      server.last.received
        .filter((m) => m.type === 'unsubscribe' || m.type === 'subscribe')
        .map((m) => m.type),
      ['subscribe', 'unsubscribe', 'subscribe'],
    );
    assert.deepEqual(errors, [], 'neither the lost answer nor a late candidate error is reported');
  });

  it('reports ICE failure as ICE_FAILED and subscribes again', async () => {
    const room = await setup({}, [bob]);
    await server.last.waitFor('answer');
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    pcs()[0]!.setState('failed');
    await until(() => server.last.of('answer').length === 2, 4000, 'resubscribed');
    assert.deepEqual(errors, ['ICE_FAILED']);
    assert.equal(pcs()[0]!.closed, true);
    assert.deepEqual(
      server.last.received
        .filter((m) => m.type === 'unsubscribe' || m.type === 'subscribe')
        .map((m) => m.type),
      ['subscribe', 'unsubscribe', 'subscribe'],
    );
  });

  it('does not report a failure explained by the signaling event that follows it (they left)', async () => {
    const room = await setup({}, [bob]);
    await server.last.waitFor('answer');
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    pcs()[0]!.setState('failed'); // the server closed the connection first...
    await new Promise((r) => setTimeout(r, 100));
    server.last.send({ type: 'participantLeft', participantId: 'p_bob', uid: 'bob', reason: 'left' }); // ...then said why
    await new Promise((r) => setTimeout(r, 1800));
    assert.deepEqual(errors, []);
    assert.equal(server.last.of('subscribe').length, 1, 'no re-subscribe');
  });

  it('manual mode: autoSubscribe false subscribes only when asked', async () => {
    server = await new FakeSignalingServer().start();
    server.room.participants = [
      { participantId: 'p_self', uid: 'alice', joinedAt: 1, tracks: [] },
      structuredClone(bob),
    ];
    media = fakeMedia();
    c = new ParleyClient({
      url: server.url,
      credential,
      WebSocket: NodeWebSocket,
      media,
      autoSubscribe: false,
    });
    const room = await c.joinRoom(server.room.roomId);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(server.last.of('subscribe').length, 0);
    await room.subscribe('p_bob');
    assert.equal(server.last.of('answer').length, 1);
    await room.unsubscribe('p_bob');
    assert.equal(server.last.of('unsubscribe').length, 1);
  });
});

describe('resume with media', () => {
  it('refreshes the room from the resumed welcome: leavers and newcomers, no leave for itself', async () => {
    const room = await setup({}, [bob]);
    await server.last.waitFor('answer');
    const events: string[] = [];
    room.on('participantLeft', (p) => events.push(`left:${p.uid}`));
    room.on('participantJoined', (p) => events.push(`joined:${p.uid}`));
    room.on('reconnected', () => events.push('reconnected'));
    // While we are away bob leaves and dave arrives.
    server.room.participants = [
      { participantId: 'p_self', uid: 'alice', joinedAt: 1, tracks: [] },
      { participantId: 'p_dave', uid: 'dave', joinedAt: 5, tracks: [{ kind: 'audio', muted: false }] },
    ];
    server.last.terminate();
    await until(() => events.includes('reconnected'), 3000, 'reconnected');
    assert.deepEqual(events, ['joined:dave', 'left:bob', 'reconnected']);
    await until(() => server.last.of('answer').length === 1, 2000, 'subscribed to dave on the new socket');
    assert.equal(server.last.of('subscribe')[0]?.participantId, 'p_dave');
  });

  it('republishes and resubscribes connections that failed while the socket was down', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await server.last.waitFor('answer');
    server.room.participants[0]!.tracks = [
      { kind: 'audio', muted: false },
      { kind: 'video', muted: false },
    ];
    const pub = pcs().find((pc) => pc.transceivers.length > 0)!;
    const sub = pcs().find((pc) => pc !== pub)!;
    const reconnecting = new Promise((resolve) => room.once('reconnecting', () => resolve(undefined)));
    server.last.terminate();
    await reconnecting;
    pub.setState('failed');
    sub.setState('failed');
    const old = server.last;
    await until(() => server.last !== old, 3000, 'a new socket');
    await until(
      () => server.last.of('publish').length === 1 && server.last.of('answer').length === 1,
      3000,
      'media redone',
    );
    assert.equal(pub.closed, true);
    assert.equal(sub.closed, true);
    assert.equal(room.state, 'joined');
  });

  it('keeps healthy connections across a resume', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await server.last.waitFor('answer');
    server.room.participants[0]!.tracks = [
      { kind: 'audio', muted: false },
      { kind: 'video', muted: false },
    ];
    for (const pc of pcs()) pc.setState('connected');
    server.last.terminate();
    await new Promise((resolve) => room.once('reconnected', () => resolve(undefined)));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.last.of('publish').length, 0);
    assert.equal(server.last.of('subscribe').length, 0);
    assert.ok(pcs().every((pc) => !pc.closed));
  });
});

describe('leaving', () => {
  it('leave() sends leaveRoom, closes every connection, stops the devices and emits closed', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await server.last.waitFor('answer');
    const closed = new Promise<string>((resolve) => room.once('closed', resolve));
    await room.leave();
    assert.equal(await closed, 'left');
    assert.equal(server.last.of('leaveRoom').length, 1);
    assert.ok(pcs().every((pc) => pc.closed));
    assert.ok(media.opened.every((t) => t.readyState === 'ended'));
    assert.equal(c.room, null);
    await assert.rejects(room.publish(), (err: ParleyError) => err.code === 'ROOM_LEFT');
    // The client can join again.
    const again = await c.joinRoom(server.room.roomId);
    assert.equal(again.state, 'joined');
  });

  it('client.close() sends leaveRoom before closing the socket', async () => {
    await setup();
    const conn = server.last;
    c.close();
    await conn.waitFor('leaveRoom');
    await until(() => conn.closed, 2000, 'socket closed');
  });

  it('roomClosed from the server ends the room with its reason', async () => {
    const room = await setup({}, [bob]);
    const closed = new Promise<string>((resolve) => room.once('closed', resolve));
    server.last.send({ type: 'roomClosed', roomId: server.room.roomId, reason: 'closedByApi' });
    assert.equal(await closed, 'closedByApi');
    assert.equal(c.room, null);
  });
});
