/**
 * The whole recording path with real browsers: two Chromium call pages (fake camera and
 * microphone) talk for about 10 s in a room of a call application with auto-recording on; the
 * business server (a real HTTP receiver) gets 10, 0 per stream, 11 and 99 in order, and the file
 * behind filePath is an H.264 + AAC MP4 as long as the call.
 *
 * Needs `npm run build` first (the server serves packages/client/dist/call).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import type { CallApp, FeatureConfigResponse } from '@parley/protocol';
import { fakeMediaFlags, launchChromium } from './chromium.js';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  startTestServer,
  type ApiClient,
  type TestServer,
} from './helpers.js';
import { createRoom, openCallPage, waitStatus } from './call-page.js';
import { codecs, ffprobe } from './media-probe.js';
import { Receiver } from './receiver.js';

const callDist = new URL('../../client/dist/call/index.html', import.meta.url).pathname;

describe('recordings: two Chromium participants', { timeout: 120_000 }, () => {
  let server: TestServer;
  let owner: ApiClient;
  let browser: Browser;
  const receiver = new Receiver();
  const contexts: BrowserContext[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-rec-browser-'));

  before(async () => {
    assert.ok(existsSync(callDist), `build the client first (npm run build): ${callDist} is missing`);
    await receiver.start();
    server = await startTestServer({
      overrides: { callbackAllowLoopback: true, emptyRoomGraceSeconds: 0.2 },
    });
    owner = await ownerClient(server);
    browser = await launchChromium([...fakeMediaFlags, '--autoplay-policy=no-user-gesture-required']);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    await receiver.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('records the call: 10, 0 per stream, 11, 99 status 2, and an H.264 + AAC file as long as the call', async () => {
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Browser recordings' })).body;
    const configUrl = `${callAppsUrl()}/${app.bizName}/config`;
    const current = (await owner.get<FeatureConfigResponse>(configUrl)).body;
    const saved = await owner.put(configUrl, {
      version: current.version,
      config: { ...current.config, autoRecord: true, recordingCallbackUrl: receiver.url('/rec') },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const sign = await credentialSigner(owner, app.bizName);

    const alice = await openCallPage(browser, contexts, server.url, sign('alice'));
    const roomId = await createRoom(alice);
    const t0 = Date.now();
    // The call's media begins when alice's camera is live (it is published as it starts).
    await alice.waitForFunction(
      () =>
        ((document.querySelector('[data-testid="local-video"]') as HTMLVideoElement | null)?.readyState ??
          0) >= 2,
    );
    const media0 = Date.now();
    const bob = await openCallPage(browser, contexts, server.url, sign('bob'), `?room=${roomId}&join=1`);
    await waitStatus(bob, 'in-room');
    await alice.getByTestId('remote-video-bob').waitFor();
    await alice.waitForTimeout(10_000 - (Date.now() - media0));
    await bob.getByTestId('leave').click();
    await alice.getByTestId('leave').click();
    await waitStatus(alice, 'connected');
    const end = Date.now();
    const span = (end - media0) / 1000;

    const result = await receiver.waitForSuccess(
      (b) => b['roomId'] === roomId && b['eventCode'] === 99,
      30_000,
    );
    const events = receiver
      .successes()
      .map((r) => r.body)
      .filter((b) => b['roomId'] === roomId && b['recordId'] !== undefined);
    assert.deepEqual(
      events.map((e) => e['eventCode']),
      [10, 0, 0, 0, 0, 11, 99],
      JSON.stringify(events),
    );
    assert.equal(new Set(events.map((e) => e['recordId'])).size, 1, 'one recordId');
    assert.deepEqual(
      events
        .filter((e) => e['eventCode'] === 0)
        .map((e) => `${String(e['uid'])}/${String(e['kind'])}`)
        .sort(),
      ['alice/audio', 'alice/video', 'bob/audio', 'bob/video'],
    );
    const recordResult = result.body['recordResult'] as Record<string, unknown>;
    assert.equal(recordResult['status'], 2);
    assert.equal(recordResult['fileType'], 1);
    assert.equal(recordResult['mediaType'], 0);
    assert.ok(Math.abs((recordResult['recordStartTime'] as number) - t0) < 3000);

    const file = await fetch(recordResult['filePath'] as string, { headers: owner.authHeaders() });
    assert.equal(file.status, 200);
    const local = path.join(tmp, 'call.mp4');
    writeFileSync(local, Buffer.from(await file.arrayBuffer()));
    const probe = await ffprobe(local);
    assert.equal(codecs(probe), 'video:h264+audio:aac');
    const duration = Number(probe.format.duration);
    const startLag = ((recordResult['recordStartTime'] as number) - t0) / 1000;
    const init = receiver.successes().find((r) => r.body['roomId'] === roomId && r.body['eventCode'] === 10)!;
    console.log(
      `# browser call: media ${span.toFixed(2)} s, file ${duration} s; after the room was created: ` +
        `recorder initialised ${((init.at - t0) / 1000).toFixed(2)} s, first frame ${startLag.toFixed(2)} s, ` +
        `camera live ${((media0 - t0) / 1000).toFixed(2)} s`,
    );
    assert.ok(Math.abs(duration - span) < 1.5, `file ${duration} s, call ${span} s`);
  });
});
