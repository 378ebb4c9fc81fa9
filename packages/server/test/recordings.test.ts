/**
 * Cloud recording through the whole server: rooms of a call application with auto-recording
 * on are recorded by a real recorder process with real ffmpeg, files land on disk (or in a real
 * S3-compatible server), and a real HTTP receiver gets every recording callback in order.
 * Publishers are in-process WebRTC peers replaying ffmpeg-encoded RTP (the browser run is in
 * recordings.browser.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CallApp, FeatureConfigResponse, Recording, RecordingList } from '@parley/protocol';
import { ffprobe, codecs } from './media-probe.js';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  startTestServer,
  type ApiClient,
  type TestServer,
} from './helpers.js';
import { Receiver } from './receiver.js';
import { SignalClient } from './signal-client.js';
import { makeClips, type RtpClip } from './recorder-fixtures/media.js';
import { ReplayPublisher } from './recorder-fixtures/publisher.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'parley-recordings-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

const baseOverrides = {
  callbackAllowLoopback: true,
  callbackRetrySchedule: [0.05, 0.05],
  emptyRoomGraceSeconds: 0.2,
  recordingStreamTimeoutSeconds: 1.5,
};

type Clips = { audio: RtpClip; video: RtpClip };

/** One server, its owner, a receiver for recording callbacks. */
class Setup {
  server!: TestServer;
  owner!: ApiClient;
  receiver = new Receiver();
  readonly cleanup: (() => unknown)[] = [];

  async start(overrides: Record<string, unknown> = {}): Promise<this> {
    await this.receiver.start();
    this.server = await startTestServer({ overrides: { ...baseOverrides, ...overrides } });
    this.owner = await ownerClient(this.server);
    return this;
  }

  async callApp(
    name: string,
    config: { autoRecord: boolean; recordMediaType?: 0 | 1 | 2; recordMaxMixedStreams?: number },
  ) {
    const app = (await this.owner.post<CallApp>(callAppsUrl(), { name })).body;
    const url = `${callAppsUrl()}/${app.bizName}/config`;
    const current = (await this.owner.get<FeatureConfigResponse>(url)).body;
    const saved = await this.owner.put(url, {
      version: current.version,
      config: { ...current.config, ...config, recordingCallbackUrl: this.receiver.url('/rec') },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    return { app, sign: await credentialSigner(this.owner, app.bizName) };
  }

  /** A terminal in a room (created when roomId is omitted) with a publisher replaying `clips`. */
  async join(
    sign: (uid: string) => unknown,
    uid: string,
    clips: Partial<Clips> | null,
    roomId?: string,
  ): Promise<Terminal> {
    const client = await SignalClient.open(this.server.url);
    const welcome = await client.hello(sign(uid));
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    const res = roomId
      ? await client.request({ type: 'joinRoom', roomId })
      : await client.request({ type: 'createRoom' });
    assert.equal(res.ok, true, JSON.stringify(res));
    const room = String(res.data?.['roomId']);
    const participantId = String(res.data?.['self']);
    let publisher: ReplayPublisher | null = null;
    if (clips) {
      publisher = new ReplayPublisher(participantId, clips);
      await publisher.publish(
        this.server.calls
          .list()
          .find((c) => c.roomId === room)!
          .router(),
      );
      publisher.play();
    }
    const t: Terminal = {
      client,
      roomId: room,
      participantId,
      publisher,
      leave: async () => {
        await client.request({ type: 'leaveRoom' }).catch(() => undefined);
        publisher?.close();
        client.ws.close();
      },
    };
    this.cleanup.push(() => t.leave());
    return t;
  }

  /** The recording callbacks of a room, grouped by recordId, in arrival order. */
  recordingEvents(roomId: string): Map<string, Record<string, unknown>[]> {
    const out = new Map<string, Record<string, unknown>[]>();
    for (const r of this.receiver.successes()) {
      if (r.body['roomId'] !== roomId || r.body['recordId'] === undefined) continue;
      const id = String(r.body['recordId']);
      out.set(id, [...(out.get(id) ?? []), r.body]);
    }
    return out;
  }

  /** Waits for the 99 of every recording of the room (at least `count`). */
  async results(roomId: string, count = 1, timeoutMs = 30_000): Promise<Record<string, unknown>[][]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = [...this.recordingEvents(roomId).values()];
      const done = all.filter((events) => events.some((e) => e['eventCode'] === 99));
      if (done.length >= count && done.length === all.length) return all;
      if (Date.now() > deadline) {
        throw new Error(`no result for room ${roomId} in ${timeoutMs} ms: ${JSON.stringify(all)}`);
      }
      await sleep(50);
    }
  }

  async recording(bizName: string, recordId: string): Promise<Recording> {
    const res = await this.owner.get<Recording>(`${callAppsUrl()}/${bizName}/recordings/${recordId}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  async stop(): Promise<void> {
    for (const fn of this.cleanup.splice(0)) await fn();
    await this.server?.stop();
    await this.receiver.stop();
  }
}

interface Terminal {
  client: SignalClient;
  roomId: string;
  participantId: string;
  publisher: ReplayPublisher | null;
  leave(): Promise<void>;
}

const codesOf = (events: Record<string, unknown>[]) => events.map((e) => e['eventCode']);
const contractFields = ['bizRequestId', 'bizName', 'appId', 'workspaceId', 'roomId', 'recordId', 'eventCode'];

let clipsA: Clips;
let clipsB: Clips;
before(async () => {
  clipsA = await makeClips({ seconds: 9, video: 'vp8', picture: 'testsrc', tone: 440 });
  clipsB = await makeClips({ seconds: 9, video: 'vp8', picture: 'testsrc2', tone: 660 });
});

describe('recordings: auto-recording through the server', { timeout: 180_000 }, () => {
  const s = new Setup();
  before(() => s.start());
  after(() => s.stop());

  it('records a two-person call: 10, 0 per stream, 11, 99 status 2 in order; the file is H.264 + AAC and downloadable', async () => {
    const { app, sign } = await s.callApp('Recorded calls', { autoRecord: true });
    const alice = await s.join(sign, 'alice', clipsA);
    const bob = await s.join(sign, 'bob', clipsB, alice.roomId);
    const t0 = Date.now();
    await sleep(4000);
    await bob.leave();
    await alice.leave();
    const span = (Date.now() - t0) / 1000;
    const [events] = await s.results(alice.roomId);
    assert.ok(events);
    const codes = codesOf(events);
    assert.deepEqual(codes, [10, 0, 0, 0, 0, 11, 99], JSON.stringify(events));
    for (const e of events) {
      for (const f of contractFields) assert.ok(f in e, `${f} in ${JSON.stringify(e)}`);
      assert.equal(typeof e['bizRequestId'], 'string');
      assert.equal(e['bizName'], app.bizName);
      assert.equal(e['appId'], 'default');
      assert.equal(e['workspaceId'], 'default');
      assert.equal(e['eventCode'] === 99, 'recordResult' in e, 'recordResult only with 99');
    }
    const streams = events
      .filter((e) => e['eventCode'] === 0)
      .map((e) => `${String(e['uid'])}/${String(e['kind'])}`)
      .sort();
    assert.deepEqual(streams, ['alice/audio', 'alice/video', 'bob/audio', 'bob/video']);
    const result = events.at(-1)!['recordResult'] as Record<string, unknown>;
    assert.equal(result['status'], 2);
    assert.equal(result['fileType'], 1);
    assert.equal(result['mediaType'], 0);
    assert.equal(typeof result['recordStartTime'], 'number');
    assert.ok(Math.abs((result['recordStartTime'] as number) - t0) < 3000, 'first frame near the call start');
    const recordId = String(events[0]!['recordId']);
    assert.equal(
      result['filePath'],
      `${s.server.url}${callAppsUrl()}/${app.bizName}/recordings/${recordId}/file`,
    );

    const rec = await s.recording(app.bizName, recordId);
    assert.equal(rec.status, 'done');
    assert.equal(rec.trigger, 'auto');
    assert.equal(rec.roomId, alice.roomId);
    assert.ok(rec.sizeBytes! > 10_000);
    // Through the API, as an authorised user downloads it.
    const file = await fetch(result['filePath'] as string, { headers: s.owner.authHeaders() });
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'video/mp4');
    const bytes = Buffer.from(await file.arrayBuffer());
    assert.equal(bytes.length, rec.sizeBytes);
    const local = path.join(tmpRoot, `${recordId}.mp4`);
    writeFileSync(local, bytes);
    const probe = await ffprobe(local);
    assert.equal(codecs(probe), 'video:h264+audio:aac');
    const duration = Number(probe.format.duration);
    assert.ok(Math.abs(duration - span) < 1.5, `file ${duration} s, call ${span} s`);
    // A browser seeking asks for ranges.
    const part = await fetch(result['filePath'] as string, {
      headers: { ...s.owner.authHeaders(), range: 'bytes=100-199' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 200));
    // Nobody without access gets it.
    assert.equal((await fetch(result['filePath'] as string)).status, 401);
  });

  it('audio only (1) and video only (2) give the right single stream', async () => {
    for (const [mediaType, expected] of [
      [1, 'audio:aac'],
      [2, 'video:h264'],
    ] as const) {
      const { app, sign } = await s.callApp(`Media type ${mediaType}`, {
        autoRecord: true,
        recordMediaType: mediaType,
      });
      const alice = await s.join(sign, 'alice', clipsA);
      await sleep(2500);
      await alice.leave();
      const [events] = await s.results(alice.roomId);
      assert.deepEqual(codesOf(events!), [10, 0, 11, 99], JSON.stringify(events));
      assert.equal(events![1]!['kind'], mediaType === 1 ? 'audio' : 'video');
      const result = events!.at(-1)!['recordResult'] as Record<string, unknown>;
      assert.equal(result['status'], 2);
      assert.equal(result['mediaType'], mediaType);
      const rec = await s.recording(app.bizName, String(events![0]!['recordId']));
      const local = path.join(s.server.dataDir, 'recordings', app.bizName, `${rec.recordId}.mp4`);
      assert.equal(codecs(await ffprobe(local)), expected);
    }
  });

  it('auto-recording off: no recording and no recording callback', async () => {
    const { app, sign } = await s.callApp('Not recorded', { autoRecord: false });
    const alice = await s.join(sign, 'alice', clipsA);
    await sleep(1500);
    await alice.leave();
    await sleep(1500);
    assert.equal(s.recordingEvents(alice.roomId).size, 0);
    const list = await s.owner.get<RecordingList>(`${callAppsUrl()}/${app.bizName}/recordings`);
    assert.equal(list.body.total, 0);
    assert.ok(!existsSync(path.join(s.server.dataDir, 'recordings', app.bizName)));
  });

  it('an operator starts and stops a recording through the REST API', async () => {
    const { app, sign } = await s.callApp('Recorded on demand', { autoRecord: false });
    const alice = await s.join(sign, 'alice', clipsA);
    const roomUrl = `${callAppsUrl()}/${app.bizName}/rooms/${alice.roomId}/recording`;
    const notYet = await s.owner.delete(roomUrl);
    assert.equal(notYet.status, 409);
    assert.equal((notYet.body as { code: string }).code, 'RECORDING_NOT_ACTIVE');
    const started = await s.owner.post<Recording>(roomUrl, {});
    assert.equal(started.status, 201, JSON.stringify(started.body));
    assert.equal(started.body.status, 'recording');
    assert.equal(started.body.trigger, 'api');
    const again = await s.owner.post(roomUrl, {});
    assert.equal(again.status, 409);
    assert.equal((again.body as { code: string }).code, 'RECORDING_ACTIVE');
    await sleep(2500);
    const stopped = await s.owner.delete<Recording>(roomUrl);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.recordId, started.body.recordId);
    const [events] = await s.results(alice.roomId);
    assert.deepEqual(codesOf(events!), [10, 0, 0, 11, 99]);
    assert.equal((events!.at(-1)!['recordResult'] as Record<string, unknown>)['status'], 2);
    const missing = await s.owner.post(`${callAppsUrl()}/${app.bizName}/rooms/0000000000/recording`, {});
    assert.equal(missing.status, 404);
    await alice.leave();
    // Deleting the recording removes its file; the list no longer shows it.
    const rec = await s.recording(app.bizName, started.body.recordId);
    const file = path.join(s.server.dataDir, 'recordings', app.bizName, `${rec.recordId}.mp4`);
    assert.ok(existsSync(file));
    const del = await s.owner.delete(`${callAppsUrl()}/${app.bizName}/recordings/${rec.recordId}`);
    assert.equal(del.status, 204);
    assert.ok(!existsSync(file));
    assert.equal(
      (await s.owner.get(`${callAppsUrl()}/${app.bizName}/recordings/${rec.recordId}`)).status,
      404,
    );
    // Deleting the call application takes its recordings' files with it.
    const bob = await s.join(sign, 'bob', clipsA);
    const bobRoom = `${callAppsUrl()}/${app.bizName}/rooms/${bob.roomId}/recording`;
    assert.equal((await s.owner.post(bobRoom, {})).status, 201);
    await sleep(1500);
    await bob.leave();
    await s.results(bob.roomId);
    const dir = path.join(s.server.dataDir, 'recordings', app.bizName);
    assert.ok(existsSync(dir));
    assert.equal((await s.owner.delete(`${callAppsUrl()}/${app.bizName}`)).status, 204);
    assert.ok(!existsSync(dir), 'the recordings directory went with the call application');
  });

  it("a participant's media cut off raises 500301 for them while the recording goes on", async () => {
    const { sign } = await s.callApp('Flaky network', { autoRecord: true, recordMediaType: 1 });
    const alice = await s.join(sign, 'alice', clipsA);
    await sleep(1500);
    alice.publisher!.pause();
    await sleep(2500);
    alice.publisher!.resume();
    await sleep(1500);
    await alice.leave();
    const [events] = await s.results(alice.roomId);
    const codes = codesOf(events!);
    assert.equal(codes[0], 10);
    assert.deepEqual(codes.slice(-2), [11, 99]);
    const warning = events!.find((e) => e['eventCode'] === 500301);
    assert.ok(warning, JSON.stringify(events));
    assert.equal(warning['uid'], 'alice');
    assert.equal(warning['kind'], 'audio');
    assert.equal((events!.at(-1)!['recordResult'] as Record<string, unknown>)['status'], 2);
  });

  it('the recorder process killed mid-call: 100105, 11, 99 status 3; the call goes on and a new recording starts', async () => {
    const { app, sign } = await s.callApp('Crashing recorder', { autoRecord: true, recordMediaType: 1 });
    const alice = await s.join(sign, 'alice', clipsA);
    await sleep(1500);
    const active = s.server.recordings.activeRecording(app.bizName, alice.roomId);
    assert.ok(active?.pid, 'a recorder process runs');
    process.kill(active.pid, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const next = s.server.recordings.activeRecording(app.bizName, alice.roomId);
      if (next && next.recordId !== active.recordId && next.pid) break;
      await sleep(100);
    }
    // The call itself was not touched: alice is still in her room, publishing.
    assert.ok(s.server.rooms.get(app.bizName, alice.roomId).participants.has(alice.participantId));
    await sleep(1500);
    await alice.leave();
    const all = await s.results(alice.roomId, 2);
    const crashed = s.recordingEvents(alice.roomId).get(active.recordId)!;
    assert.deepEqual(codesOf(crashed).slice(-3), [100105, 11, 99], JSON.stringify(crashed));
    assert.deepEqual(crashed.at(-1)!['recordResult'], { status: 3 });
    const next = all.find((events) => events[0]!['recordId'] !== active.recordId)!;
    assert.deepEqual(codesOf(next), [10, 0, 11, 99]);
    assert.equal((next.at(-1)!['recordResult'] as Record<string, unknown>)['status'], 2);
    assert.equal((await s.recording(app.bizName, active.recordId)).failureCode, 100105);
  });

  it('recordings a stopped server left unfinished with nothing captured on disk are reported failed (100105, 11, 99 status 3)', async () => {
    const { app } = await s.callApp('Interrupted', { autoRecord: true });
    const now = Date.now();
    await s.server.db.db
      .insertInto('recordings')
      .values({
        record_id: 'record_left_by_a_crash',
        workspace_id: 'default',
        app_id: 'default',
        biz_name: app.bizName,
        room_id: '1234567890',
        trigger: 'auto',
        status: 'recording',
        media_type: 0,
        started_at: now - 60_000,
        record_start_time: null,
        ended_at: null,
        duration_ms: null,
        size_bytes: null,
        storage: null,
        file_type: null,
        file_path: null,
        local_path: null,
        object_key: null,
        failure_code: null,
        failure_message: null,
        updated_at: now - 60_000,
      })
      .execute();
    assert.deepEqual(await s.server.recordings.recoverUnfinished(), { failed: 1, recovering: 0 });
    const [events] = await s.results('1234567890');
    assert.deepEqual(codesOf(events!), [100105, 11, 99]);
    assert.deepEqual(events![0]!['detail'], {
      reason: 'server-restarted',
      recovery: 'no capture of it was found on disk',
    });
    assert.deepEqual(events!.at(-1)!['recordResult'], { status: 3 });
    const rec = await s.recording(app.bizName, 'record_left_by_a_crash');
    assert.equal(rec.status, 'failed');
    assert.equal(rec.failureCode, 100105);
  });
});

describe('recordings: faults', { timeout: 120_000 }, () => {
  it('an output directory that cannot be created gives 100101 then 99 status 3', async () => {
    const blocker = path.join(tmpRoot, 'not-a-directory');
    writeFileSync(blocker, 'a file where the recordings directory should be');
    const s = await new Setup().start({ recordingsDir: path.join(blocker, 'recordings') });
    try {
      const { sign } = await s.callApp('Unwritable', { autoRecord: true });
      const alice = await s.join(sign, 'alice', clipsA);
      const [events] = await s.results(alice.roomId);
      assert.deepEqual(codesOf(events!), [100101, 99], JSON.stringify(events));
      assert.deepEqual(events![1]!['recordResult'], { status: 3 });
      assert.match(String(events![0]!['message']), /cannot create/);
      // The call is not affected.
      assert.equal(s.server.rooms.list().length, 1);
    } finally {
      await s.stop();
    }
  });

  it('ffmpeg failing to convert the final file gives 100102, 11, 99 status 3', async () => {
    const wrapper = path.join(tmpRoot, 'ffmpeg-no-compose.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase "$*" in *-filter_complex*) echo "simulated failure" >&2; exit 1;; esac\nexec /usr/bin/ffmpeg "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const s = await new Setup().start({ ffmpegPath: wrapper });
    try {
      const { sign } = await s.callApp('Broken ffmpeg', { autoRecord: true, recordMediaType: 1 });
      const alice = await s.join(sign, 'alice', clipsA);
      await sleep(2000);
      await alice.leave();
      const [events] = await s.results(alice.roomId);
      const codes = codesOf(events!);
      assert.equal(codes[0], 10);
      assert.deepEqual(codes.slice(-3), [100102, 11, 99], JSON.stringify(events));
      assert.deepEqual(events!.at(-1)!['recordResult'], { status: 3 });
    } finally {
      await s.stop();
    }
  });

  it('object storage unreachable gives 100201 and 99 status 2 with the local file kept (fileType 1)', async () => {
    const s = await new Setup().start({
      recordingStorage: 's3',
      s3Endpoint: 'http://127.0.0.1:9', // discard port: nothing listens
      s3Bucket: 'recordings',
      s3AccessKeyId: 'key',
      s3SecretAccessKey: 'secret',
      s3ForcePathStyle: true,
      s3UploadAttempts: 2,
    });
    try {
      const { app, sign } = await s.callApp('No storage', { autoRecord: true, recordMediaType: 1 });
      const alice = await s.join(sign, 'alice', clipsA);
      await sleep(2000);
      await alice.leave();
      const [events] = await s.results(alice.roomId, 1, 60_000);
      assert.deepEqual(codesOf(events!), [10, 0, 11, 100201, 99], JSON.stringify(events));
      const upload = events![3]!;
      assert.equal((upload['detail'] as Record<string, unknown>)['localFileKept'], true);
      const result = events![4]!['recordResult'] as Record<string, unknown>;
      assert.equal(result['status'], 2);
      assert.equal(result['fileType'], 1);
      const rec = await s.recording(app.bizName, String(events![0]!['recordId']));
      assert.equal(rec.storage, 'local');
      assert.equal(rec.failureCode, 100201);
      const file = await fetch(`${s.server.url}${rec.fileUrl}`, { headers: s.owner.authHeaders() });
      assert.equal(file.status, 200);
      assert.ok((await file.arrayBuffer()).byteLength > 1000);
    } finally {
      await s.stop();
    }
  });

  it('uploads to a real S3-compatible server: fileType 2 and an object whose bytes match the file', async () => {
    const { default: S3rver } = await import('s3rver');
    const dir = mkdtempSync(path.join(tmpRoot, 's3-'));
    const s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: 'calls' }],
    });
    const { port } = (await s3.run()) as { port: number };
    const s = await new Setup().start({
      recordingStorage: 's3',
      s3Endpoint: `http://127.0.0.1:${port}`,
      s3Bucket: 'calls',
      s3AccessKeyId: 'S3RVER',
      s3SecretAccessKey: 'S3RVER',
      s3ForcePathStyle: true,
      s3Prefix: 'parley/',
      s3KeepLocalCopy: true,
      callbackAllowNetworks: ['127.0.0.0/8'],
    });
    try {
      const { app, sign } = await s.callApp('Stored in S3', { autoRecord: true, recordMediaType: 1 });
      const alice = await s.join(sign, 'alice', clipsA);
      await sleep(2000);
      await alice.leave();
      const [events] = await s.results(alice.roomId, 1, 60_000);
      assert.deepEqual(codesOf(events!), [10, 0, 11, 99], JSON.stringify(events));
      const recordId = String(events![0]!['recordId']);
      const result = events![3]!['recordResult'] as Record<string, unknown>;
      assert.equal(result['status'], 2);
      assert.equal(result['fileType'], 2);
      const key = `parley/${app.bizName}/${recordId}.mp4`;
      assert.equal(result['filePath'], `http://127.0.0.1:${port}/calls/${key}`);
      const object = await fetch(result['filePath'] as string);
      assert.equal(object.status, 200);
      const local = readFileSync(path.join(s.server.dataDir, 'recordings', app.bizName, `${recordId}.mp4`));
      assert.deepEqual(Buffer.from(await object.arrayBuffer()), local);
      const rec = await s.recording(app.bizName, recordId);
      assert.equal(rec.storage, 's3');
      assert.equal(rec.fileType, 2);
    } finally {
      await s.stop();
      await s3.close();
    }
  });
});
