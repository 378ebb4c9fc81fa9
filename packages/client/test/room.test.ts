/**
 * The Room's media negotiation against the fake server with fake RTCPeerConnections:
 * publish (client offer → server answer); the one receiving connection (openSubscriber, then
 * server offers answered in version order, tracks handed out by mid, m-lines reused for other
 * participants, manual subscriptions, restarts); candidate trickling both ways, mute, resume,
 * leave, ICE failure, stats.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ParticipantInfo } from '@parley/protocol';
import type { ParleyError } from '../src/index.js';
import { ParleyClient, type Room } from '../src/index.js';
import {
  FakePeerConnection,
  FakeSignalingServer,
  FakeSubscriber,
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

const carol: ParticipantInfo = {
  participantId: 'p_carol',
  uid: 'carol',
  joinedAt: 3,
  tracks: [{ kind: 'audio', muted: false }],
};

async function setup(
  options: FakeServerOptions = {},
  participants: ParticipantInfo[] = [],
  clientOptions: { autoSubscribe?: boolean } = {},
): Promise<Room> {
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
    ...clientOptions,
  });
  return c.joinRoom(server.room.roomId);
}

beforeEach(() => {
  FakePeerConnection.instances = [];
  FakePeerConnection.remoteDelayMs = 0;
  FakePeerConnection.statsWithoutMid = false;
});
afterEach(async () => {
  c?.close();
  await server?.close();
});

const pcs = () => FakePeerConnection.instances;
/** The receiving peer connections made so far (those given a server offer). */
const receivingPcs = () => pcs().filter((pc) => pc.remoteDescription?.type === 'offer');
const answers = () => server.last.of('subscriberAnswer');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Track events as `+uid:kind` / `-uid:kind`, and participant events as `joined:uid` / `left:uid`. */
function record(room: Room): string[] {
  const events: string[] = [];
  room.on('trackSubscribed', (p, t) => events.push(`+${p.uid}:${t.kind}`));
  room.on('trackUnsubscribed', (p, t) => events.push(`-${p.uid}:${t.kind}`));
  room.on('participantJoined', (p) => events.push(`joined:${p.uid}`));
  room.on('participantLeft', (p) => events.push(`left:${p.uid}`));
  return events;
}

/** The receiver track carried on `mid` of a peer connection. */
const trackOn = (pc: FakePeerConnection, mid: string) =>
  pc.transceivers.find((t) => t.mid === mid)!.receiver.track;
const streamOf = (room: Room, id: string) => room.getParticipant(id)?.stream?.getTracks() ?? null;

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

describe('receiving', () => {
  it('opens one receiving connection on start and answers each server offer with its version', async () => {
    const room = await setup({}, [bob, { ...carol, tracks: [] }]);
    const events = record(room);
    const open = await server.last.waitFor('openSubscriber');
    assert.deepEqual(open, { type: 'openSubscriber', id: open.id, autoSubscribe: true });
    const first = await server.last.waitFor('subscriberAnswer');
    const pc = pcs()[0]!;
    assert.deepEqual(
      [first.transportId, first.version, first.sdp],
      ['t_sub_1', 1, 'client-answer pc1 v1'],
      'answered by the connection it made for the offer',
    );
    assert.equal(pc.localDescription?.sdp, first.sdp);
    assert.deepEqual(events, ['+bob:audio', '+bob:video']);
    assert.deepEqual(streamOf(room, 'p_bob'), [trackOn(pc, '0'), trackOn(pc, '1')]);
    assert.equal(streamOf(room, 'p_carol'), null, 'carol publishes nothing yet');
    // Candidates: ours go out with the transport id; the server's reach the peer connection.
    const cand = await server.last.waitFor('candidate', (m) => m.transportId === 't_sub_1');
    assert.match(cand.candidate, /^candidate:1 /);
    server.last.send({
      type: 'candidate',
      transportId: 't_sub_1',
      candidate: 'candidate:9 1 udp 1 10.0.0.1 9 typ host',
      mid: '0',
    });
    await until(() => pc.addedCandidates.length === 1, 2000, 'server candidate');
    // Carol publishes: the server puts her track on the same connection, with offer 2.
    const sub = server.subscriber!;
    sub.add('p_carol', 'audio');
    server.last.send(sub.offer());
    await until(() => answers().length === 2, 2000, 'second answer');
    assert.deepEqual(
      answers().map((a) => [a.transportId, a.version, a.sdp]),
      [
        ['t_sub_1', 1, 'client-answer pc1 v1'],
        ['t_sub_1', 2, 'client-answer pc1 v2'],
      ],
    );
    assert.deepEqual(events, ['+bob:audio', '+bob:video', '+carol:audio']);
    assert.deepEqual(streamOf(room, 'p_carol'), [trackOn(pc, '2')]);
    assert.equal(pcs().length, 1, 'one peer connection for everyone');
    assert.equal(server.last.of('openSubscriber').length, 1);
    assert.equal(
      server.last.of('subscribe').length + server.last.of('answer').length,
      0,
      'no per-pair exchange',
    );
  });

  it('makes no receiving peer connection while there is nothing to receive', async () => {
    const room = await setup({}, [{ ...carol, tracks: [] }]);
    await server.last.waitFor('openSubscriber');
    await pause(30);
    assert.equal(pcs().length, 0);
    assert.equal((await room.getStats()).peerConnections, 0);
  });

  it('applies offers one at a time in version order; of those waiting only the newest', async () => {
    FakePeerConnection.remoteDelayMs = 30;
    const room = await setup({}, [bob]);
    const events = record(room);
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    await until(() => pcs()[0]?.steps.includes('srd:v1:start') ?? false, 2000, 'offer 1 being applied');
    const sub = server.subscriber!;
    sub.remove('p_bob', 'video');
    const v2 = sub.offer();
    sub.add('p_bob', 'video', 'p_bob-video-2');
    const v3 = sub.offer();
    server.last.send(v3);
    server.last.send(v2); // older than the one waiting: superseded, never applied
    await until(() => answers().length === 2, 3000, 'two answers');
    await pause(80);
    assert.deepEqual(pcs()[0]!.steps, [
      'srd:v1:start',
      'srd:v1',
      'answer',
      'sld',
      'srd:v3:start',
      'srd:v3',
      'answer',
      'sld',
    ]);
    assert.deepEqual(
      answers().map((a) => a.version),
      [1, 3],
    );
    assert.equal(server.subscriber!.answered, 3);
    // Offer 3 put bob's new video track on m-line 1: the old one is unsubscribed first.
    assert.deepEqual(events, ['+bob:audio', '+bob:video', '-bob:video', '+bob:video']);
    assert.deepEqual(errors, [], 'the superseded answer to offer 1 is not an error');
  });

  it('keeps an offer that overtakes the openSubscriber response; ignores offers for other transports', async () => {
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type !== 'openSubscriber') return s.defaultResponse(conn, msg);
          const stale = new FakeSubscriber('t_old');
          stale.add('p_bob', 'video');
          const sub = (s.subscriber = new FakeSubscriber('t_early'));
          sub.add('p_bob', 'audio');
          conn.send(stale.offer());
          conn.send(sub.offer());
          setTimeout(() => conn.respond(msg.id, { transportId: 't_early' }), 40);
        },
      },
      [bob],
    );
    const events = record(room);
    await server.last.waitFor('openSubscriber');
    await pause(15);
    assert.equal(pcs().length, 0, 'nothing applied before the transport is known');
    await until(() => answers().length === 1, 2000, 'answer');
    assert.deepEqual([answers()[0]!.transportId, answers()[0]!.version], ['t_early', 1]);
    assert.deepEqual(events, ['+bob:audio']);
    const other = new FakeSubscriber('t_other');
    other.add('p_bob', 'video');
    server.last.send(other.offer());
    await pause(50);
    assert.equal(answers().length, 1);
    assert.equal(pcs().length, 1);
    assert.deepEqual(events, ['+bob:audio']);
  });

  it('answers an offer sent again after a resume once more, without applying it twice', async () => {
    let dropped = false;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          // The first answer is lost with the socket: the server still waits for it.
          if (msg.type === 'subscriberAnswer' && !dropped) {
            dropped = true;
            return conn.terminate();
          }
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const events = record(room);
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    const first = await server.last.waitFor('subscriberAnswer');
    const old = server.last;
    await until(() => server.last !== old && answers().length === 1, 3000, 'answer on the new socket');
    const again = answers()[0]!;
    assert.deepEqual([again.transportId, again.version, again.sdp], [first.transportId, 1, first.sdp]);
    assert.equal(server.subscriber!.answered, 1);
    await pause(30);
    assert.equal(answers().length, 1);
    assert.equal(pcs()[0]!.steps.filter((s) => s === 'srd:v1').length, 1, 'applied once');
    assert.deepEqual(events, ['+bob:audio', '+bob:video']);
    assert.equal(server.last.of('openSubscriber').length, 0, 'the connection itself is kept');
    assert.deepEqual(errors, []);
  });

  it('moves a reused m-line from one participant to another: unsubscribed first, then subscribed', async () => {
    const room = await setup({}, [bob, carol]);
    const events = record(room);
    const tracks: unknown[] = [];
    room.on('trackUnsubscribed', (_p, t) => tracks.push(t));
    room.on('trackSubscribed', (_p, t) => tracks.push(t));
    await until(() => answers().length === 1, 2000, 'first answer');
    const pc = pcs()[0]!;
    const video = trackOn(pc, '1');
    assert.deepEqual(events, ['+bob:audio', '+bob:video', '+carol:audio']);
    // Bob stops his camera and carol starts hers: one offer gives bob's m-line to carol.
    const sub = server.subscriber!;
    sub.reassign('1', 'p_carol');
    server.last.send(sub.offer());
    await until(() => answers().length === 2, 2000, 'second answer');
    assert.deepEqual(events.slice(3), ['-bob:video', '+carol:video']);
    assert.equal(tracks[3], video);
    assert.equal(tracks[4], video, "the same receiver track object, now carol's");
    assert.deepEqual(streamOf(room, 'p_bob'), [trackOn(pc, '0')]);
    assert.deepEqual(streamOf(room, 'p_carol'), [trackOn(pc, '2'), video]);
    // Through an inactive m-line: carol stops, then bob's camera comes back on the same mid.
    sub.remove('p_carol', 'video');
    server.last.send(sub.offer());
    await until(() => answers().length === 3, 2000, 'third answer');
    sub.add('p_bob', 'video', 'p_bob-video-2');
    server.last.send(sub.offer());
    await until(() => answers().length === 4, 2000, 'fourth answer');
    assert.deepEqual(events.slice(5), ['-carol:video', '+bob:video']);
    assert.equal(tracks.at(-1), video);
    assert.deepEqual(streamOf(room, 'p_bob'), [trackOn(pc, '0'), video]);
    assert.deepEqual(streamOf(room, 'p_carol'), [trackOn(pc, '2')]);
    assert.equal(pc.transceivers.length, 3, 'no m-line added');
  });

  it('someone who leaves: tracks go with the offer dropping them or with participantLeft, whichever is first', async () => {
    const room = await setup({}, [bob, carol]);
    const events = record(room);
    await until(() => answers().length === 1, 2000, 'first answer');
    const bobP = room.getParticipant('p_bob')!;
    const carolP = room.getParticipant('p_carol')!;
    const sub = server.subscriber!;
    // Bob: the offer dropping his tracks comes first, then participantLeft.
    sub.remove('p_bob');
    server.last.send(sub.offer());
    await until(() => answers().length === 2, 2000, 'offer 2');
    assert.deepEqual(events.slice(3), ['-bob:audio', '-bob:video']);
    server.last.send({ type: 'participantLeft', participantId: 'p_bob', uid: 'bob', reason: 'left' });
    await until(() => events.includes('left:bob'), 2000, 'bob left');
    assert.deepEqual(events.slice(3), ['-bob:audio', '-bob:video', 'left:bob']);
    assert.equal(bobP.stream, null);
    // Carol: participantLeft comes first; later offers, even one still listing her, change nothing.
    server.last.send({ type: 'participantLeft', participantId: 'p_carol', uid: 'carol', reason: 'left' });
    await until(() => events.includes('left:carol'), 2000, 'carol left');
    assert.deepEqual(events.slice(6), ['-carol:audio', 'left:carol']);
    assert.equal(carolP.stream, null);
    server.last.send(sub.offer());
    sub.remove('p_carol');
    await until(() => answers().length === 3, 2000, 'offer 3');
    server.last.send(sub.offer());
    await until(() => answers().length === 4, 2000, 'offer 4');
    assert.equal(events.length, 8);
    assert.equal(carolP.stream, null);
    assert.deepEqual(room.participants, []);
    assert.equal(pcs()[0]!.closed, false, 'the connection stays for later tracks');
  });

  it('hands out tracks offered for someone not known yet when their participantJoined comes', async () => {
    const room = await setup({}, [bob]);
    const events = record(room);
    await until(() => answers().length === 1, 2000, 'first answer');
    const sub = server.subscriber!;
    sub.add('p_dave', 'audio');
    server.last.send(sub.offer());
    await until(() => answers().length === 2, 2000, 'second answer');
    assert.deepEqual(events, ['+bob:audio', '+bob:video'], 'nothing for someone unknown');
    const dave = {
      participantId: 'p_dave',
      uid: 'dave',
      joinedAt: 5,
      tracks: [{ kind: 'audio' as const, muted: false }],
    };
    server.last.send({ type: 'participantJoined', participant: dave });
    await until(() => events.length === 4, 2000, 'dave received');
    assert.deepEqual(events.slice(2), ['joined:dave', '+dave:audio']);
    assert.deepEqual(streamOf(room, 'p_dave'), [trackOn(pcs()[0]!, '2')]);
  });

  it('manual mode: autoSubscribe false opens it empty; subscribe()/unsubscribe() send setSubscribed', async () => {
    const room = await setup({}, [bob], { autoSubscribe: false });
    const events = record(room);
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    const subscribed = room.subscribe('p_bob'); // before the room started: waits for the connection
    const open = await server.last.waitFor('openSubscriber');
    assert.equal(open.autoSubscribe, false);
    await subscribed;
    assert.deepEqual(
      server.last.received
        .filter((m) => m.type === 'openSubscriber' || m.type === 'setSubscribed')
        .map((m) => m.type),
      ['openSubscriber', 'setSubscribed'],
    );
    await until(() => events.length === 2, 2000, 'bob received');
    assert.deepEqual(events, ['+bob:audio', '+bob:video']);
    await room.unsubscribe('p_bob');
    await until(() => events.length === 4, 2000, 'bob no longer received');
    assert.deepEqual(events.slice(2), ['-bob:audio', '-bob:video']);
    assert.equal(room.getParticipant('p_bob')!.stream, null);
    assert.deepEqual(
      server.last.of('setSubscribed').map((m) => [m.participantId, m.subscribed]),
      [
        ['p_bob', true],
        ['p_bob', false],
      ],
    );
    assert.deepEqual(
      answers().map((a) => a.version),
      [1, 2],
    );
    await room.subscribe('p_gone'); // PARTICIPANT_NOT_FOUND: they left meanwhile, not an error
    assert.equal(server.last.of('setSubscribed').length, 3);
    assert.deepEqual(errors, []);
  });

  it('manual mode: states the subscribe() choices again to a fresh connection', async () => {
    const room = await setup({}, [bob, carol], { autoSubscribe: false });
    const events = record(room);
    await room.subscribe('p_bob');
    await until(() => answers().length === 1, 2000, 'bob received');
    pcs()[0]!.setState('failed');
    await until(() => server.last.of('openSubscriber').length === 2, 4000, 'reopened');
    await until(() => answers().length === 2, 2000, 'the fresh connection answered');
    assert.deepEqual(
      server.last.of('openSubscriber').map((m) => [m.autoSubscribe, m.restart ?? false]),
      [
        [false, false],
        [false, true],
      ],
    );
    assert.deepEqual(
      server.last.of('setSubscribed').map((m) => [m.participantId, m.subscribed]),
      [
        ['p_bob', true],
        ['p_bob', true],
      ],
    );
    assert.deepEqual(events, [
      '+bob:audio',
      '+bob:video',
      '-bob:audio',
      '-bob:video',
      '+bob:audio',
      '+bob:video',
    ]);
  });

  it('reports ICE failure as ICE_FAILED and asks for a fresh receiving connection', async () => {
    const room = await setup({}, [bob]);
    await until(() => answers().length === 1, 2000, 'first answer');
    const events = record(room);
    const errors: ParleyError[] = [];
    room.on('error', (e) => errors.push(e));
    const states: string[] = [];
    room.on('mediaStateChanged', (ch) =>
      states.push(`${ch.transport}:${String(ch.participant)}:${ch.state}`),
    );
    const stream = room.getParticipant('p_bob')!.stream;
    const first = pcs()[0]!;
    first.setState('failed');
    await until(() => server.last.of('openSubscriber').length === 2, 4000, 'reopened');
    const reopen = server.last.of('openSubscriber')[1]!;
    assert.deepEqual(reopen, { type: 'openSubscriber', id: reopen.id, autoSubscribe: true, restart: true });
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ICE_FAILED'],
    );
    assert.match(errors[0]!.message, /receiving/);
    assert.deepEqual(states, ['subscribe:null:failed']);
    assert.equal(first.closed, true);
    await until(() => answers().length === 2, 2000, 'new connection answered');
    assert.deepEqual([answers()[1]!.transportId, answers()[1]!.version], ['t_sub_2', 1]);
    const second = pcs()[1]!;
    assert.deepEqual(events, ['-bob:audio', '-bob:video', '+bob:audio', '+bob:video']);
    assert.equal(room.getParticipant('p_bob')!.stream, stream, 'one stream object per participant');
    assert.deepEqual(stream!.getTracks(), [trackOn(second, '0'), trackOn(second, '1')]);
    // The old connection's offers are ignored.
    const old = new FakeSubscriber('t_sub_1');
    old.version = 1;
    old.add('p_bob', 'audio');
    server.last.send(old.offer());
    await pause(50);
    assert.equal(answers().length, 2);
    assert.equal(pcs().length, 2);
  });

  it('does not report a failure the signaling event that follows explains (the room closed)', async () => {
    const room = await setup({}, [bob]);
    await until(() => answers().length === 1, 2000, 'first answer');
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    pcs()[0]!.setState('failed'); // the server closed the connection first...
    await pause(100);
    server.last.send({ type: 'roomClosed', roomId: server.room.roomId, reason: 'closed' }); // ...then said why
    await pause(1700);
    assert.deepEqual(errors, []);
    assert.equal(server.last.of('openSubscriber').length, 1, 'no new connection');
  });

  it('ignores OFFER_SUPERSEDED quietly and answers the newer offer', async () => {
    let superseded = false;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type === 'subscriberAnswer' && !superseded) {
            superseded = true;
            // Bob stopped his camera meanwhile: offer 2 replaces offer 1.
            const sub = s.subscriber!;
            sub.remove('p_bob', 'video');
            conn.fail(msg.id, 'OFFER_SUPERSEDED');
            conn.send(sub.offer());
            return;
          }
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const events = record(room);
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    c.on('error', (e) => errors.push(e.code));
    await until(() => answers().length === 2, 2000, 'second answer');
    await pause(30);
    assert.deepEqual(
      answers().map((a) => a.version),
      [1, 2],
    );
    assert.equal(server.subscriber!.answered, 2);
    assert.deepEqual(events, ['+bob:audio', '+bob:video', '-bob:video']);
    assert.deepEqual(errors, []);
    assert.equal(server.last.of('openSubscriber').length, 1, 'no restart');
  });

  it('asks quietly for a fresh connection when the server no longer knows the one it answered', async () => {
    let first = true;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type === 'subscriberAnswer' && first) {
            first = false;
            return conn.fail(msg.id, 'TRANSPORT_NOT_FOUND');
          }
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    await until(() => answers().length === 2, 2000, 'second answer');
    assert.deepEqual(
      server.last.of('openSubscriber').map((m) => m.restart ?? false),
      [false, true],
    );
    assert.deepEqual(
      answers().map((a) => a.transportId),
      ['t_sub_1', 't_sub_2'],
    );
    assert.equal(pcs()[0]!.closed, true);
    assert.equal(room.getParticipant('p_bob')!.stream?.getTracks().length, 2);
    assert.deepEqual(errors, []);
  });

  it('reports a refused openSubscriber with the server code, and tries again on the next join', async () => {
    let refuse = true;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type === 'openSubscriber' && refuse) {
            refuse = false;
            return conn.fail(msg.id, 'MEDIA_FAILED', 'No router.');
          }
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const events = record(room);
    const error = await new Promise<ParleyError>((resolve) => room.once('error', resolve));
    assert.equal(error.code, 'MEDIA_FAILED');
    server.last.send({ type: 'participantJoined', participant: { ...carol, tracks: [] } });
    await until(() => answers().length === 1, 2000, 'opened on the next join');
    assert.deepEqual(
      server.last.of('openSubscriber').map((m) => m.restart ?? false),
      [false, true],
    );
    assert.deepEqual(events, ['joined:carol', '+bob:audio', '+bob:video']);
  });

  it('getStats: per participant received, only their inbound RTP; peerConnections counts 0 to 2', async () => {
    const room = await setup({}, [bob, carol]);
    const summary = async () => {
      const stats = await room.getStats();
      return {
        peerConnections: stats.peerConnections,
        publication: stats.publication !== null,
        subscriptions: stats.subscriptions.map((s) => [
          s.uid,
          s.state,
          s.inbound.map((i) => `${i.kind}:${i.packetsReceived}`).sort(),
        ]),
      };
    };
    assert.equal((await summary()).peerConnections, 0);
    await until(() => answers().length === 1, 2000, 'first answer');
    pcs()[0]!.setState('connected');
    assert.deepEqual(await summary(), {
      peerConnections: 1,
      publication: false,
      subscriptions: [
        ['bob', 'connected', ['audio:1001', 'video:1002']],
        ['carol', 'connected', ['audio:1003']],
      ],
    });
    // Bob's m-line goes to carol: the stats its earlier SSRC left behind are not carol's.
    const sub = server.subscriber!;
    sub.reassign('1', 'p_carol');
    server.last.send(sub.offer());
    await until(() => answers().length === 2, 2000, 'second answer');
    const expected = [
      ['bob', 'connected', ['audio:1001']],
      ['carol', 'connected', ['audio:1003', 'video:1004']],
    ];
    assert.deepEqual((await summary()).subscriptions, expected);
    FakePeerConnection.statsWithoutMid = true; // matched by trackIdentifier instead
    assert.deepEqual((await summary()).subscriptions, expected);
    await room.publish();
    assert.deepEqual(
      { ...(await summary()), subscriptions: [] },
      { peerConnections: 2, publication: true, subscriptions: [] },
    );
    await room.leave();
    assert.deepEqual(await summary(), { peerConnections: 0, publication: false, subscriptions: [] });
  });
});

describe('resume with media', () => {
  const self: ParticipantInfo = { participantId: 'p_self', uid: 'alice', joinedAt: 1, tracks: [] };

  it('refreshes the room from the resumed welcome, then applies the offer sent again', async () => {
    const room = await setup({}, [bob]);
    await until(() => answers().length === 1, 2000, 'first answer');
    const events = record(room);
    room.on('reconnected', () => events.push('reconnected'));
    // While we are away bob leaves and dave arrives; the offer saying so is lost with the socket.
    server.room.participants = [
      self,
      { participantId: 'p_dave', uid: 'dave', joinedAt: 5, tracks: [{ kind: 'audio', muted: false }] },
    ];
    const sub = server.subscriber!;
    sub.remove('p_bob');
    sub.add('p_dave', 'audio');
    sub.offer();
    server.last.terminate();
    await until(() => events.includes('reconnected'), 3000, 'reconnected');
    await until(() => answers().length === 1, 3000, 'offer 2 answered on the new socket');
    assert.deepEqual(events, [
      'joined:dave',
      '-bob:audio',
      '-bob:video',
      'left:bob',
      'reconnected',
      '+dave:audio',
    ]);
    assert.equal(answers()[0]!.version, 2);
    assert.equal(server.last.of('openSubscriber').length, 0);
    assert.deepEqual(streamOf(room, 'p_dave'), [trackOn(pcs()[0]!, '0')], "on bob's former audio m-line");
  });

  it('republishes and reopens the receiving connection when they failed while the socket was down', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await until(() => answers().length === 1, 2000, 'first answer');
    server.room.participants[0]!.tracks = [
      { kind: 'audio', muted: false },
      { kind: 'video', muted: false },
    ];
    const receiving = receivingPcs()[0]!;
    const pub = pcs().find((pc) => pc.localDescription?.type === 'offer')!;
    const reconnecting = new Promise((resolve) => room.once('reconnecting', () => resolve(undefined)));
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    server.last.terminate();
    await reconnecting;
    pub.setState('failed');
    receiving.setState('failed');
    const old = server.last;
    await until(() => server.last !== old, 3000, 'a new socket');
    await until(() => server.last.of('publish').length === 1 && answers().length === 1, 3000, 'media redone');
    await pause(1600);
    assert.deepEqual(errors, [], 'repaired by the resume, before the failure grace ran out');
    assert.deepEqual(
      server.last.of('openSubscriber').map((m) => m.restart),
      [true],
    );
    assert.equal(pub.closed, true);
    assert.equal(receiving.closed, true);
    assert.equal(room.state, 'joined');
    assert.equal((await room.getStats()).peerConnections, 2);
  });

  it('keeps healthy connections across a resume', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await until(() => answers().length === 1, 2000, 'first answer');
    server.room.participants[0]!.tracks = [
      { kind: 'audio', muted: false },
      { kind: 'video', muted: false },
    ];
    for (const pc of pcs()) pc.setState('connected');
    server.last.terminate();
    await new Promise((resolve) => room.once('reconnected', () => resolve(undefined)));
    await pause(50);
    assert.equal(server.last.of('publish').length, 0);
    assert.equal(server.last.of('openSubscriber').length, 0);
    assert.equal(answers().length, 0, 'the answered offer is not sent again');
    assert.ok(pcs().every((pc) => !pc.closed));
  });

  it('opens the receiving connection again when the openSubscriber response was lost', async () => {
    let dropped = false;
    const room = await setup(
      {
        onRequest: (conn, msg, s) => {
          if (msg.type === 'openSubscriber' && !dropped) {
            dropped = true;
            return conn.terminate();
          }
          s.defaultResponse(conn, msg);
        },
      },
      [bob],
    );
    const events = record(room);
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.code));
    const old = await server.last.waitFor('openSubscriber').then(() => server.last);
    await until(() => server.last !== old && answers().length === 1, 3000, 'opened on the new socket');
    assert.deepEqual(
      server.last.of('openSubscriber').map((m) => m.restart),
      [true],
    );
    assert.deepEqual(events, ['+bob:audio', '+bob:video']);
    assert.deepEqual(errors, []);
  });
});

describe('leaving', () => {
  it('leave() sends leaveRoom, closes every connection, stops the devices and emits closed', async () => {
    const room = await setup({}, [bob]);
    await room.publish();
    await until(() => answers().length === 1, 2000, 'first answer');
    const events = record(room);
    const closed = new Promise<string>((resolve) => room.once('closed', resolve));
    await room.leave();
    assert.equal(await closed, 'left');
    assert.deepEqual(events, ['-bob:audio', '-bob:video']);
    assert.equal(server.last.of('leaveRoom').length, 1);
    assert.equal(pcs().length, 2);
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
