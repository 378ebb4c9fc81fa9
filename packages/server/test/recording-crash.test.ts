/**
 * A recorded call whose server is killed outright (kill -9) 20 s in: at the next start on the
 * same data directory, the recording arrives as a result made from what was captured (50 "cut
 * short by a crash", 11, 99 status 2 with a file ffprobe reads), not as a failure.
 *
 * The server runs as a separate process (from source, so the recorder child does too), a Node
 * publisher replays real Opus + VP8 media to it through signaling, callbacks go to a real
 * receiver on 127.0.0.1.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { CallApp, FeatureConfigResponse } from '@parley/protocol';
import { ApiClient, callAppsUrl, credentialSigner, pgUrl } from './helpers.js';
import { codecs, ffprobe } from './media-probe.js';
import { Receiver } from './receiver.js';
import { makeClips, type RtpClip } from './recorder-fixtures/media.js';
import { ReplayPublisher } from './recorder-fixtures/publisher.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { SignalClient } from './signal-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let clips: { audio: RtpClip; video: RtpClip };
const root = mkdtempSync(path.join(tmpdir(), 'parley-rec-crash-'));
const servers: ServerProcess[] = [];
const receiver = new Receiver();
/** PostgreSQL databases of this file's own (dropped at the end). */
const databases: string[] = [];

async function pgQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

before(async () => {
  clips = await makeClips({ seconds: 30, video: 'vp8', picture: 'testsrc', tone: 440 });
  await receiver.start();
});

after(async () => {
  for (const s of servers) await s.stop();
  await receiver.stop();
  for (const name of databases) await pgQuery(`drop database if exists "${name}" with (force)`);
  rmSync(root, { recursive: true, force: true });
});

/** The recording callbacks received so far, in arrival order. */
function recordingEvents(): Record<string, unknown>[] {
  return receiver
    .successes()
    .map((r) => r.body)
    .filter((b) => b['recordId'] !== undefined);
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

for (const db of ['sqlite', 'postgres'] as const) {
  it(
    `${db}: a server killed -9 20 s into a recorded call delivers the recording at the next start: 50 cut short by a crash, then 99 status 2 with the captured media`,
    { timeout: 240_000 },
    async (t) => {
      const dataDir = path.join(root, db);
      mkdirSync(dataDir);
      const env: NodeJS.ProcessEnv = {};
      if (db === 'postgres') {
        const name = `parley_rec_crash_${randomBytes(4).toString('hex')}`;
        await pgQuery(`create database "${name}"`);
        databases.push(name);
        env['PARLEY_DATABASE_URL'] = `${pgUrl.replace(/\/[^/]*$/, '')}/${name}`;
      }
      const first = startServerProcess(dataDir, env);
      servers.push(first);
      const owner = new ApiClient(await first.url);
      await owner.login('owner@example.com', 'owner-password-1234');
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Crash recording' })).body;
      const configUrl = `${callAppsUrl()}/${app.bizName}/config`;
      const current = (await owner.get<FeatureConfigResponse>(configUrl)).body;
      const saved = await owner.put(configUrl, {
        version: current.version,
        config: { ...current.config, autoRecord: true, recordingCallbackUrl: receiver.url('/rec') },
      });
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      const sign = await credentialSigner(owner, app.bizName);

      const client = await SignalClient.open(await first.url);
      assert.equal((await client.hello(sign('alice'))).type, 'welcome');
      const created = await client.request({ type: 'createRoom' });
      assert.equal(created.ok, true, JSON.stringify(created));
      const roomId = String(created.data?.['roomId']);
      const publisher = new ReplayPublisher(String(created.data?.['self']), clips);
      try {
        await publisher.publish({
          publish: async (_participantId, offerSdp) => {
            const res = await client.request({ type: 'publish', sdp: offerSdp });
            assert.equal(res.ok, true, JSON.stringify(res));
            return { transportId: String(res.data?.['transportId']), answerSdp: String(res.data?.['sdp']) };
          },
          subscribe: () => Promise.reject(new Error('not used')),
          setAnswer: () => Promise.reject(new Error('not used')),
        });
        publisher.play();
        const recordId = await until('callback 10', 20_000, () => {
          const init = recordingEvents().find((e) => e['roomId'] === roomId && e['eventCode'] === 10);
          return init ? String(init['recordId']) : undefined;
        });
        // 20 s of the call recorded, then the server dies with its recorder.
        await sleep(20_000);
        const parts = path.join(dataDir, 'recordings', app.bizName, `${recordId}.parts`);
        assert.ok(existsSync(parts), 'captures on disk');
        first.child.kill('SIGKILL');
        assert.equal(await first.exited, 'SIGKILL');
        assert.ok(
          recordingEvents().every((e) => e['roomId'] !== roomId || e['eventCode'] !== 99),
          'no result before the crash',
        );
        const chunks = readdirSync(parts).filter((f) => f.endsWith('.nut'));
        assert.ok(chunks.length > 0, `capture chunks in ${parts}`);
      } finally {
        publisher.close();
        client.close();
      }

      const restartedAt = Date.now();
      const second = startServerProcess(dataDir, env);
      servers.push(second);
      await second.url;
      const result = await until('callback 99 after the restart', 120_000, () =>
        recordingEvents().find((e) => e['roomId'] === roomId && e['eventCode'] === 99),
      );
      const resultAfterMs = Date.now() - restartedAt;
      const events = recordingEvents().filter((e) => e['roomId'] === roomId);
      const codes = events.map((e) => e['eventCode']);
      const warning = events.find((e) => e['eventCode'] === 50);
      assert.ok(warning, `a 50 warning: ${JSON.stringify(codes)}`);
      assert.equal((warning['detail'] as Record<string, unknown>)['reason'], 'cut-short-by-crash');
      assert.match(String(warning['message']), /cut short by a crash/);
      assert.ok(codes.indexOf(50) < codes.indexOf(99), `50 before 99: ${JSON.stringify(codes)}`);
      assert.ok(codes.indexOf(11) < codes.indexOf(99), `11 before 99: ${JSON.stringify(codes)}`);
      assert.ok(!codes.includes(100105), `no crash failure: ${JSON.stringify(codes)}`);
      assert.deepEqual(
        events
          .filter((e) => e['eventCode'] === 0)
          .map((e) => e['kind'])
          .sort(),
        ['audio', 'video'],
        'each stream open at the crash is reported recorded (0)',
      );
      const rr = result['recordResult'] as Record<string, unknown>;
      assert.equal(rr['status'], 2, JSON.stringify(result));
      assert.equal(rr['fileType'], 1);
      assert.equal(rr['mediaType'], 0);
      assert.equal(typeof rr['recordStartTime'], 'number');
      assert.match(String(rr['filePath']), new RegExp(`${String(result['recordId'])}`));

      const file = path.join(dataDir, 'recordings', app.bizName, `${String(result['recordId'])}.mp4`);
      const probe = await ffprobe(file);
      assert.equal(codecs(probe), 'video:h264+audio:aac');
      const duration = Number(probe.format.duration);
      t.diagnostic(`recovered ${duration} s of a 20 s call; 99 came ${resultAfterMs} ms after the restart`);
      assert.ok(duration >= 15 && duration <= 23, `the captured 20 s are in the file (got ${duration} s)`);
      for (const s of probe.streams) {
        assert.ok(Number(s.duration) >= 15, `${s.codec_type} covers the call (${s.duration} s)`);
      }
      assert.ok(
        !existsSync(path.join(dataDir, 'recordings', app.bizName, `${String(result['recordId'])}.parts`)),
      );

      // The recording's row says the same, through the API (with the file downloadable).
      const owner2 = new ApiClient(await second.url);
      await owner2.login('owner@example.com', 'owner-password-1234');
      const row = await owner2.get<Record<string, unknown>>(
        `${callAppsUrl()}/${app.bizName}/recordings/${String(result['recordId'])}`,
      );
      assert.equal(row.status, 200, JSON.stringify(row.body));
      assert.equal(row.body['status'], 'done', JSON.stringify(row.body));
      await second.stop();
    },
  );
}
