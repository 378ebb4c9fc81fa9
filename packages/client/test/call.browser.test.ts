/**
 * The call page (/call/) in real Chromium against a real Parley server: credentials signed
 * with the call application's key, rooms scoped by bizName, three-way calls whose pages
 * really decode each other's video and receive each other's audio, leave and rejoin,
 * a dropped WebSocket that resumes without a leave, and one error code per credential failure.
 *
 * Needs `npm run build` first (the server serves packages/client/dist/call).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { fakeMediaFlags, launchChromium } from '../../server/test/chromium.js';
import { sign } from '@parley/server-sdk';
import type { CallApp, RevealedKey } from '@parley/protocol';
import {
  adminPassword,
  callAppsUrl,
  ownerClient,
  startTestServer,
  type ApiClient,
  type TestServer,
} from '../../server/test/helpers.js';
import {
  assertReceives,
  createRoom as createCallRoom,
  openCallPage,
  openPeerConnections,
  pageEvents,
  waitStatus,
} from '../../server/test/call-page.js';
import type { RoomStats } from '../src/index.js';

const callDist = new URL('../dist/call/index.html', import.meta.url).pathname;

/** What the call page exposes as `window.parleyCall` (see call/call.ts). */
interface CallHandle {
  client: { dropConnection(): void } | null;
  room: { roomId: string; getStats(): Promise<RoomStats> } | null;
  events: string[];
}
type CallWindow = { parleyCall: CallHandle };

interface SignedApp {
  app: CallApp;
  privateKeyPem: string;
}

describe('call page in Chromium', () => {
  let server: TestServer;
  let owner: ApiClient;
  let browser: Browser;
  let main: SignedApp;
  let other: SignedApp;
  const contexts: BrowserContext[] = [];

  async function callApp(name: string): Promise<SignedApp> {
    const created = await owner.post<CallApp>(callAppsUrl(), { name });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const app = created.body;
    return { app, privateKeyPem: await revealKey(app) };
  }

  async function revealKey(app: CallApp): Promise<string> {
    const res = await owner.post<RevealedKey>(`${callAppsUrl()}/${app.bizName}/keys/reveal`, {
      password: adminPassword,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.privateKeyPem;
  }

  function credential(signed: SignedApp, uid: string, over: Partial<Parameters<typeof sign>[0]> = {}) {
    return sign({
      bizName: signed.app.bizName,
      appId: 'default',
      workspaceId: 'default',
      uid,
      expireTime: Date.now() + 10 * 60_000,
      privateKeyPem: signed.privateKeyPem,
      ...over,
    });
  }

  const openCall = (cred: unknown, query = ''): Promise<Page> =>
    openCallPage(browser, contexts, server.url, cred, query);

  async function errorCode(page: Page): Promise<string> {
    const error = page.getByTestId('error');
    await error.waitFor({ state: 'visible' });
    return (await error.getAttribute('data-code')) ?? '';
  }

  async function createRoom(page: Page): Promise<string> {
    const roomId = await createCallRoom(page);
    assert.match(roomId, /^\d{10}$/);
    return roomId;
  }

  async function joinRoom(page: Page, roomId: string): Promise<void> {
    await waitStatus(page, 'connected');
    await page.getByTestId('join-room-input').fill(roomId);
    await page.getByTestId('join-room').click();
    await waitStatus(page, 'in-room');
  }

  const events = pageEvents;
  before(async () => {
    assert.ok(existsSync(callDist), `build the client first (npm run build): ${callDist} is missing`);
    server = await startTestServer();
    owner = await ownerClient(server);
    main = await callApp('Browser calls');
    other = await callApp('Another scene');
    browser = await launchChromium([...fakeMediaFlags, '--autoplay-policy=no-user-gesture-required']);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  it('serves the call page and the SDK bundle', async () => {
    const page = await fetch(`${server.url}/call/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /data-testid="create-room"/);
    const sdk = await fetch(`${server.url}/sdk/parley-client.js`);
    assert.equal(sdk.status, 200);
    assert.match(sdk.headers.get('content-type') ?? '', /javascript/);
    const code = await sdk.text();
    assert.ok(code.includes('ParleyClient') && code.includes('/signal/v1'), 'the bundle holds the SDK');
  });

  it('shows its own error code for each credential failure', async () => {
    const good = credential(main, 'alice');
    const rotated = await callApp('Rotated key');
    const oldKeyCredential = credential(rotated, 'alice');
    const rotate = await owner.post(`${callAppsUrl()}/${rotated.app.bizName}/keys/rotate`, { graceHours: 1 });
    assert.equal(rotate.status, 200, JSON.stringify(rotate.body));
    const retire = await owner.post(
      `${callAppsUrl()}/${rotated.app.bizName}/keys/${rotated.app.key.keyId}/retire`,
      {},
    );
    assert.equal(retire.status, 200, JSON.stringify(retire.body));
    const cases: [string, unknown, string][] = [
      ['expired', credential(main, 'alice', { expireTime: Date.now() - 1000 }), 'CREDENTIAL_EXPIRED'],
      ['bad signature', { ...good, uid: 'mallory' }, 'CREDENTIAL_SIGNATURE_INVALID'],
      ['unknown bizName', { ...good, bizName: 'nosuchbizname000' }, 'CREDENTIAL_BIZNAME_UNKNOWN'],
      ['scope mismatch', { ...good, appId: 'another_app' }, 'CREDENTIAL_SCOPE_MISMATCH'],
      ['uid invalid', { ...good, uid: 'alice-1' }, 'CREDENTIAL_UID_INVALID'],
      ['retired key', oldKeyCredential, 'CREDENTIAL_KEY_RETIRED'],
    ];
    const seen = new Set<string>();
    for (const [label, cred, code] of cases) {
      const page = await openCall(cred);
      assert.equal(await errorCode(page), code, label);
      assert.match(await page.getByTestId('error').innerText(), new RegExp(code), label);
      seen.add(code);
      await page.context().close();
    }
    assert.equal(seen.size, cases.length, 'every failure has its own code');
  });

  it('refuses a room of another bizName with ROOM_NOT_FOUND', async () => {
    const alice = await openCall(credential(main, 'alice'));
    const roomId = await createRoom(alice);
    const outsider = await openCall(credential(other, 'olga'), `?room=${roomId}`);
    await waitStatus(outsider, 'connected');
    assert.equal(
      await outsider.getByTestId('join-room-input').inputValue(),
      roomId,
      '?room= pre-fills the id',
    );
    await outsider.getByTestId('join-room').click();
    assert.equal(await errorCode(outsider), 'ROOM_NOT_FOUND');
    await alice.getByTestId('leave').click();
    await waitStatus(alice, 'connected');
  });

  describe('a three-way call', () => {
    let roomId: string;
    let alice: Page;
    let bob: Page;
    let carol: Page;
    const pages = () =>
      [
        ['alice', alice],
        ['bob', bob],
        ['carol', carol],
      ] as const;

    before(async () => {
      alice = await openCall(credential(main, 'alice'));
      roomId = await createRoom(alice);
      bob = await openCall(credential(main, 'bob'), `?room=${roomId}`);
      await joinRoom(bob, roomId);
      carol = await openCall(credential(main, 'carol'), `?room=${roomId}&join=1`);
      await waitStatus(carol, 'in-room'); // joined by itself
    });

    it('shows the room id, a share link, the local video and a tile per participant', async () => {
      assert.equal((await bob.getByTestId('room-id').innerText()).trim(), roomId);
      const share = await alice.locator('#share-link').getAttribute('href');
      assert.equal(share, `${server.url}/call/?room=${roomId}`);
      assert.ok(!(share ?? '').includes('credential'), 'the share link carries no credential');
      assert.ok(!alice.url().includes('credential='), 'the credential is removed from the address bar');
      for (const [uid, page] of pages()) {
        await page.getByTestId('local-video').waitFor();
        for (const [otherUid] of pages()) {
          if (otherUid !== uid) await page.getByTestId(`remote-video-${otherUid}`).waitFor();
        }
      }
    });

    it('every page decodes the video and receives the audio of the other two', async () => {
      for (const [uid, page] of pages()) {
        for (const [otherUid] of pages()) {
          if (otherUid !== uid) await assertReceives(page, otherUid, uid);
        }
      }
    });

    it('each page holds two peer connections: one to publish, one that receives everyone', async () => {
      for (const [uid, page] of pages()) {
        assert.equal(await openPeerConnections(page), 2, `${uid}: peer connections in the page`);
        const stats = await page.evaluate(() =>
          (window as unknown as CallWindow).parleyCall.room!.getStats(),
        );
        assert.equal(stats.peerConnections, 2, `${uid}: getStats().peerConnections`);
        // Both others' tracks arrive on the one receiving connection.
        assert.deepEqual(
          stats.subscriptions.map((s) => s.inbound.length).sort(),
          [2, 2],
          `${uid}: audio and video from each of the two others`,
        );
      }
    });

    it('mute shows on the other pages as tracksChanged', async () => {
      await bob.getByTestId('mute-audio').click();
      await alice.locator('figure[data-testid="tile-bob"][data-audio="muted"]').waitFor();
      await bob.locator('[data-testid="mute-audio"][aria-pressed="true"]').waitFor();
      await bob.getByTestId('mute-audio').click();
      await alice.locator('figure[data-testid="tile-bob"][data-audio="on"]').waitFor();
    });

    it('unpublishing video re-subscribes the others to audio only; publishing again brings it back', async () => {
      await carol.evaluate(() =>
        (
          window as unknown as { parleyCall: { room: { unpublish(kind: string): Promise<void> } } }
        ).parleyCall.room.unpublish('video'),
      );
      await alice.locator('figure[data-testid="tile-carol"][data-video="none"]').waitFor();
      await bob.locator('figure[data-testid="tile-carol"][data-video="none"]').waitFor();
      await carol.evaluate(() =>
        (
          window as unknown as { parleyCall: { room: { publish(o: object): Promise<unknown> } } }
        ).parleyCall.room.publish({ audio: true, video: true }),
      );
      await alice.locator('figure[data-testid="tile-carol"][data-video="on"]').waitFor();
      await assertReceives(alice, 'carol', 'alice after carol published again');
      await assertReceives(bob, 'carol', 'bob after carol published again');
      // Carol's video left and came back on the same receiving connection.
      for (const page of [alice, bob]) assert.equal(await openPeerConnections(page), 2);
    });

    it('a dropped WebSocket resumes without anyone seeing a leave', async () => {
      await bob.evaluate(() => (window as unknown as CallWindow).parleyCall.client?.dropConnection());
      await bob.waitForFunction(() =>
        (window as unknown as CallWindow).parleyCall.events.includes('reconnected'),
      );
      await waitStatus(bob, 'in-room');
      const bobEvents = await events(bob);
      assert.ok(bobEvents.includes('reconnecting'), bobEvents.join(' '));
      assert.ok(
        !bobEvents.some((e) => e.startsWith('left:') || e.startsWith('closed:')),
        bobEvents.join(' '),
      );
      for (const page of [alice, carol]) {
        const seen = await events(page);
        assert.ok(!seen.some((e) => e.startsWith('left:bob')), `no leave for bob: ${seen.join(' ')}`);
      }
      await assertReceives(alice, 'bob', 'alice after bob resumed');
      await assertReceives(bob, 'carol', 'bob after resuming');
    });

    it('one leaves and the others see it; they rejoin and media flows again', async () => {
      await carol.getByTestId('leave').click();
      await waitStatus(carol, 'connected');
      for (const page of [alice, bob]) {
        await page.getByTestId('remote-video-carol').waitFor({ state: 'detached' });
        assert.ok((await events(page)).includes('left:carol:left'));
      }
      await joinRoom(carol, roomId);
      for (const page of [alice, bob]) await page.getByTestId('remote-video-carol').waitFor();
      await carol.getByTestId('remote-video-alice').waitFor();
      await assertReceives(alice, 'carol', 'alice after carol rejoined');
      await assertReceives(carol, 'bob', 'carol after rejoining');
      for (const page of [alice, bob, carol]) assert.equal(await openPeerConnections(page), 2);
    });

    it('reported no error on any page along the way', async () => {
      for (const [uid, page] of pages()) {
        const errors = (await events(page)).filter(
          (e) => e.startsWith('error:') || e.startsWith('client-error:'),
        );
        assert.deepEqual(errors, [], `${uid}: ${errors.join(' ')}`);
        assert.ok(!(await page.getByTestId('error').isVisible()), `${uid} shows no error`);
      }
    });
  });

  it('fetches the credential from ?credentialUrl= (CORS with the user cookies)', async () => {
    const cred = credential(main, 'frank');
    let cookieSeen = '';
    const business = createServer((req, res) => {
      const origin = req.headers.origin ?? '';
      cookieSeen = req.headers.cookie ?? '';
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
      if (req.url?.startsWith('/parley-credential')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(cred));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => business.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = business.address() as AddressInfo;
      const context = await browser.newContext();
      contexts.push(context);
      await context.addCookies([{ name: 'session', value: 'frank-session', domain: '127.0.0.1', path: '/' }]);
      const page = await context.newPage();
      const credentialUrl = `http://127.0.0.1:${port}/parley-credential`;
      await page.goto(`${server.url}/call/?credentialUrl=${encodeURIComponent(credentialUrl)}`);
      await waitStatus(page, 'connected');
      assert.match(await page.locator('#who').innerText(), /^frank /);
      assert.equal(cookieSeen, 'session=frank-session', 'the user cookie goes to the business server');
      await page.getByTestId('create-room').click();
      await waitStatus(page, 'in-room');
      const share = await page.locator('#share-link').getAttribute('href');
      assert.ok(share?.includes(`credentialUrl=${encodeURIComponent(credentialUrl)}`), share ?? '');
      await page.getByTestId('leave').click();
      await waitStatus(page, 'connected');
    } finally {
      business.close();
    }
  });
});
