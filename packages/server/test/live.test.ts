/**
 * The live call (src/live): one owner per call, made with its room and ended with it. Real room
 * model, real SFU (node-datachannel peers publishing and subscribing on 127.0.0.1).
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerMessage } from '@parley/protocol';
import { LiveCalls } from '../src/live/live-calls.js';
import type { CallRecording, RemoteDenied } from '../src/live/live-call.js';
import { sfuMediaPlane } from '../src/live/sfu-room-media.js';
import { RoomRegistry } from '../src/rooms/room.js';
import { sfuNativeStats } from '../src/sfu/index.js';
import { TestPublisher, TestSubscriber, waitFor } from './sfu-fixtures/peers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const scope = { bizName: 'biz_live', appId: 'app', workspaceId: 'ws' };

/** A terminal's inbox. */
class Inbox {
  readonly messages: ServerMessage[] = [];
  send(message: ServerMessage): void {
    this.messages.push(message);
  }
  types(): string[] {
    return this.messages.map((m) => m.type);
  }
}

function setup() {
  const rooms = new RoomRegistry({ maxParticipants: 4, emptyRoomGraceMs: 50, idleRoomTimeoutMs: 5000 });
  const media = sfuMediaPlane({ portRangeBegin: 0, portRangeEnd: 0, bindAddress: '127.0.0.1' }, silent);
  const denied: RemoteDenied[] = [];
  const calls = new LiveCalls({ rooms, media, onRemoteDenied: (e) => denied.push(e) });
  const order: string[] = [];
  rooms.on('userLeft', (e) => order.push(`userLeft:${e.uid}`));
  rooms.on('roomDestroyed', (e) => order.push(`roomDestroyed:${e.reason}`));
  return { rooms, media, calls, order, denied };
}

describe('live calls: one owner per call', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  it('makes a call with every room, however the room is made, and forgets it when the room closes', () => {
    const { rooms, calls, media } = setup();
    cleanup.push(() => media.close());
    const byTerminal = calls.create(scope, 'alice');
    const byApi = rooms.create(scope, ''); // the REST API makes rooms on the registry
    assert.equal(calls.size, 2);
    assert.equal(calls.get(scope.bizName, byApi.roomId).room, byApi);
    assert.throws(() => calls.get('another_biz', byTerminal.roomId), /No room/);
    byApi.close('closedByApi', '');
    assert.equal(calls.size, 1);
    assert.equal(calls.find(scope.bizName, byApi.roomId), undefined);
    assert.throws(() => calls.get(scope.bizName, byApi.roomId), /No room/);
    calls.close();
    assert.equal(calls.size, 0);
    assert.equal(byTerminal.closed, true);
  });

  it("sends room events to the call's other terminals only, and tells a removed one why", () => {
    const { calls, media } = setup();
    cleanup.push(() => media.close());
    const call = calls.create(scope, 'alice');
    const other = calls.create(scope, 'carol');
    const a = new Inbox();
    const b = new Inbox();
    const c = new Inbox();
    const alice = call.join('alice', a);
    const bob = call.join('bob', b);
    other.join('carol', c);
    assert.deepEqual(a.types(), ['participantJoined']);
    assert.deepEqual(b.types(), []);
    bob.setTracks(['audio']);
    assert.deepEqual(a.types(), ['participantJoined', 'tracksChanged']);
    assert.deepEqual(call.memberIds().sort(), [alice.participantId, bob.participantId].sort());
    call.room.leave(bob, 'removed');
    assert.deepEqual(a.types(), ['participantJoined', 'tracksChanged', 'participantLeft']);
    assert.deepEqual(b.messages.at(-1), { type: 'roomClosed', roomId: call.roomId, reason: 'removed' });
    assert.deepEqual(call.memberIds(), [alice.participantId]);
    // Nothing crossed into the other call.
    assert.deepEqual(c.types(), []);
    calls.close();
  });

  it('ends quietly when the media plane closed first (a shutdown that stops media before the rooms)', async () => {
    const { calls, media, order } = setup();
    const nativeBefore = sfuNativeStats().peerConnections;
    const call = calls.create(scope, 'alice');
    const alice = call.join('alice', new Inbox());
    call.join('bob', new Inbox());
    const router = call.router();
    router.openSubscriber(alice.participantId);
    media.close();
    assert.equal(router.closed, true);
    assert.doesNotThrow(() => calls.close());
    assert.deepEqual(order, ['userLeft:alice', 'userLeft:bob', 'roomDestroyed:shutdown']);
    await waitFor(
      'native peer connections released',
      () => sfuNativeStats().peerConnections === nativeBefore,
    );
  });

  it('ends in order: participants leave, the recording finishes, the media closes, then the room is destroyed; twice is once', async () => {
    const { calls, media, order } = setup();
    const nativeBefore = sfuNativeStats().peerConnections;
    const call = calls.create(scope, 'alice');
    const a = new Inbox();
    const b = new Inbox();
    const alice = call.join('alice', a);
    const bob = call.join('bob', b);
    const router = call.router();
    assert.equal(media.rooms(), 1);

    // Real media: alice publishes, bob receives her packets.
    const pub = new TestPublisher(alice.participantId);
    const sub = new TestSubscriber(bob.participantId);
    cleanup.push(() => {
      pub.close();
      sub.close();
    });
    await pub.publish(router);
    await sub.subscribe(router, alice.participantId);
    const sent = pub.send('video');
    await waitFor('bob receives alice', () => sub.received(pub.ssrc.video).length > 0);
    assert.deepEqual(sub.received(pub.ssrc.video)[0], sent);
    assert.equal(router.stats().transports, 2);

    const names = new Map<string, string>();
    const recording: CallRecording & { calls: string[] } = {
      recordId: 'record_test',
      pid: null,
      calls: [],
      addParticipant(id) {
        this.calls.push(`add:${id}`);
      },
      removeParticipant(id) {
        this.calls.push(`remove:${id}`);
        order.push(`recording.remove:${names.get(id) ?? '?'}`);
      },
      finish() {
        order.push(`recording.finish:transports=${router.closed ? 'closed' : router.stats().transports}`);
      },
    };
    call.recording = recording;
    const carol = call.join('carol', new Inbox());
    for (const [id, uid] of call.participants()) names.set(id, uid);
    assert.deepEqual(recording.calls, [`add:${carol.participantId}`]);
    call.room.leave(carol, 'left');

    call.close('closedByApi', '');
    call.close('again');
    calls.close();
    assert.equal(router.closed, true);
    assert.equal(media.rooms(), 0);
    assert.equal(calls.size, 0);
    assert.deepEqual(order, [
      'recording.remove:carol',
      'userLeft:carol',
      'recording.remove:alice',
      'userLeft:alice',
      'recording.remove:bob',
      'userLeft:bob',
      // Each participant's transports closed as it left: nothing is left when the recording finishes.
      'recording.finish:transports=0',
      'roomDestroyed:closedByApi',
    ]);
    // Everyone still connected heard the room close.
    assert.deepEqual(a.messages.at(-1), { type: 'roomClosed', roomId: call.roomId, reason: 'closed' });
    assert.throws(() => call.media(), /has ended/);
    await waitFor(
      'native peer connections released',
      () => sfuNativeStats().peerConnections === nativeBefore,
    );
  });
});
