/**
 * A server without a system ffmpeg (the configured path is missing and PATH has none) does not
 * record with an ffmpeg shipped in an npm package: it starts, says once in its log what is missing
 * and what to do, reports recording unavailable on /readyz, holds calls, answers a REST start
 * with 503 RECORDING_UNAVAILABLE and reports the recording with the contract's failure callbacks.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CallApp, FeatureConfigResponse } from '@parley/protocol';
import { ApiClient, callAppsUrl, credentialSigner } from './helpers.js';
import { Receiver } from './receiver.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { SignalClient } from './signal-client.js';

const root = mkdtempSync(path.join(tmpdir(), 'parley-no-ffmpeg-'));
const receiver = new Receiver();
let server: ServerProcess;

before(async () => {
  await receiver.start();
  // An empty PATH directory: no `ffmpeg` to find (node runs by its absolute path).
  const emptyBin = path.join(root, 'bin');
  server = startServerProcess(path.join(root, 'data'), {
    PATH: emptyBin,
    PARLEY_FFMPEG_PATH: path.join(root, 'no-such-ffmpeg'),
  });
  await server.url;
});

after(async () => {
  await server.stop();
  await receiver.stop();
  rmSync(root, { recursive: true, force: true });
});

const unavailableLines = () => server.lines.filter((l) => /recording unavailable/.test(String(l['msg'])));

it('starts without ffmpeg, logs one clear message, and /readyz says recording is unavailable', async () => {
  const lines = unavailableLines();
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const msg = String(lines[0]!['msg']);
  assert.equal(lines[0]!['level'], 50, 'logged as an error');
  assert.match(msg, /no-such-ffmpeg\): not found/);
  assert.match(msg, /system \(ffmpeg\): not found/);
  assert.match(msg, /apt-get install ffmpeg/);
  assert.match(msg, /PARLEY_FFMPEG_PATH/);
  assert.doesNotMatch(msg, /npm|installer/);

  const url = await server.url;
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 200, 'calls work: the server is ready');
  const body = (await ready.json()) as { status: string; recording: { available: boolean; reason: string } };
  assert.equal(body.status, 'ready');
  assert.equal(body.recording.available, false);
  assert.match(body.recording.reason, /apt-get install ffmpeg/);
});

it('holds a call, refuses a REST recording start with 503 RECORDING_UNAVAILABLE and sends 100001 then 99 status 3', async () => {
  const url = await server.url;
  const owner = new ApiClient(url);
  await owner.login('owner@example.com', 'owner-password-1234');
  const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'No ffmpeg' })).body;
  const configUrl = `${callAppsUrl()}/${app.bizName}/config`;
  const current = (await owner.get<FeatureConfigResponse>(configUrl)).body;
  const saved = await owner.put(configUrl, {
    version: current.version,
    config: { ...current.config, recordingCallbackUrl: receiver.url('/rec') },
  });
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  const sign = await credentialSigner(owner, app.bizName);

  const client = await SignalClient.open(url);
  try {
    assert.equal((await client.hello(sign('alice'))).type, 'welcome');
    const created = await client.request({ type: 'createRoom' });
    assert.equal(created.ok, true, JSON.stringify(created));
    const roomId = String(created.data?.['roomId']);

    const res = await owner.post<{ code: string; message: string }>(
      `${callAppsUrl()}/${app.bizName}/rooms/${roomId}/recording`,
      {},
    );
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.code, 'RECORDING_UNAVAILABLE');
    assert.match(res.body.message, /apt-get install ffmpeg/);

    await receiver.waitForSuccesses(2, 15_000);
    const events = receiver
      .successes()
      .map((r) => r.body)
      .filter((b) => b['roomId'] === roomId);
    assert.deepEqual(
      events.map((e) => e['eventCode']),
      [100001, 99],
    );
    const failure = events[0]!;
    assert.equal((failure['detail'] as Record<string, unknown>)['reason'], 'ffmpeg-unavailable');
    assert.match(String(failure['message']), /recording is unavailable on this server/);
    assert.deepEqual(events[1]!['recordResult'], { status: 3 });

    // The call itself goes on.
    const ping = await client.request({ type: 'ping' });
    assert.equal(ping.ok, true);
    assert.equal(unavailableLines().length, 1, 'the missing ffmpeg is not logged again per recording');
  } finally {
    client.close();
  }
});
