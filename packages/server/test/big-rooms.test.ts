/**
 * Big rooms through the whole server, with synthetic terminals (node-datachannel peers on
 * 127.0.0.1, speaking signaling over WebSocket):
 * - 16 people all publishing audio and video, each receiving every other on its one receiving
 *   connection, counted per (receiver, track);
 * - 50 people (the default cap): 49 synthetic terminals, 4 of them publishing, and the call
 *   page in Chromium as the 50th, publishing its camera: everyone receives every publisher.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignalClient } from './signal-client.js';
import { callAppsUrl, credentialSigner, ownerClient, startTestServer, type TestServer } from './helpers.js';
import type { CallApp } from '@parley/protocol';
import type { Browser, BrowserContext } from 'playwright-core';
import { waitFor } from './sfu-fixtures/peers.js';
import { missingPairs, Terminal } from './synthetic-terminal.js';
import { fakeMediaFlags, launchChromium } from './chromium.js';
import { openCallPage, openPeerConnections, waitStatus } from './call-page.js';

const size = 16;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`a ${size}-person room, everyone publishing`, { timeout: 180_000 }, () => {
  let server: TestServer;
  const terminals: Terminal[] = [];

  before(async () => {
    server = await startTestServer({ overrides: { maxParticipants: size } });
  });
  after(async () => {
    for (const t of terminals) t.close();
    await server?.stop();
  });

  it('each of 16 terminals receives the audio and video of the 15 others on its one receiving connection', async () => {
    const owner = await ownerClient(server);
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Sixteen' })).body;
    const sign = await credentialSigner(owner, app.bizName);
    let roomId = '';
    for (let i = 0; i < size; i++) {
      const t = await Terminal.join(server.url, `user${i}`, sign(`user${i}`), roomId || undefined);
      terminals.push(t);
      roomId = t.roomId;
      // Half open their receiving connection before publishing, half after: both orders work.
      if (i % 2 === 0) await t.openReceiver();
      await t.publish();
      if (i % 2 === 1) await t.openReceiver();
    }
    // A 17th is refused: the cap holds.
    const extra = await SignalClient.open(server.url);
    await extra.hello(sign('user_extra'));
    const full = await extra.request({ type: 'joinRoom', roomId });
    assert.equal(full.error?.code, 'ROOM_FULL');
    extra.close();

    const call = server.calls.list().find((c) => c.roomId === roomId)!;
    await waitFor(
      'every receiving connection carries the 30 tracks of the others',
      () =>
        call
          .router()
          .stats()
          .perTransport.filter(
            (t) => t.role === 'subscriber' && t.state === 'connected' && t.trackIds.length === 30,
          ).length === size,
      60_000,
    );
    const stats = call.router().stats();
    assert.equal(stats.transports, 2 * size, 'two transports per participant');
    assert.equal(stats.publisherTransports, size);
    assert.equal(stats.subscriberTransports, size);

    // Every publisher sends for ~3 s (audio every 20 ms, video every 40 ms).
    for (let round = 0; round < 150; round++) {
      for (const t of terminals) {
        t.publisher!.send('audio');
        if (round % 2 === 0) t.publisher!.send('video');
      }
      await sleep(20);
    }
    const missing = () => missingPairs(terminals, terminals);
    await waitFor('every (receiver, track) pair has packets', () => missing().length === 0, 10_000).catch(
      () => assert.deepEqual(missing(), [], 'pairs with no packet'),
    );
    // Byte for byte: what user3 sent is what user12 got.
    const sent = terminals[3]!.publisher!.send('video');
    await waitFor('the last packet', () =>
      terminals[12]!.receiver!.received(terminals[3]!.publisher!.ssrc.video).some((p) => p.equals(sent)),
    );
    for (const t of terminals) assert.deepEqual(t.errors, [], `${t.uid}: no error`);
    assert.ok(
      terminals.every((t) => t.offersAnswered >= 1),
      'every terminal answered its offers',
    );
  });
});

interface PageStats {
  peerConnections: number;
  subscriptions: { participantId: string; inbound: { kind: string; packetsReceived: number }[] }[];
}

describe('a 50-person room (the default cap) with the call page as the 50th', { timeout: 240_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const terminals: Terminal[] = [];

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium([...fakeMediaFlags, '--autoplay-policy=no-user-gesture-required']);
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    for (const t of terminals) t.close();
    await server?.stop();
  });

  it('49 synthetic terminals (4 publishing) and a Chromium call page all receive every publisher', async () => {
    const owner = await ownerClient(server);
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Fifty' })).body;
    const sign = await credentialSigner(owner, app.bizName);
    let roomId = '';
    for (let i = 0; i < 49; i++) {
      const t = await Terminal.join(server.url, `user${i}`, sign(`user${i}`), roomId || undefined);
      terminals.push(t);
      roomId = t.roomId;
      await t.openReceiver();
      if (i % 12 === 0 && i < 48) await t.publish();
    }
    const publishers = terminals.filter((t) => t.publisher);
    assert.equal(publishers.length, 4);
    const page = await openCallPage(
      browser,
      contexts,
      server.url,
      sign('page_user'),
      `?room=${roomId}&join=1`,
    );
    await waitStatus(page, 'in-room', 30_000);
    // The room is full now.
    const late = await SignalClient.open(server.url);
    await late.hello(sign('user_late'));
    assert.equal((await late.request({ type: 'joinRoom', roomId })).error?.code, 'ROOM_FULL');
    late.close();

    const call = server.calls.list().find((c) => c.roomId === roomId)!;
    const pagePid = [...call.room.participants.values()].find((p) => p.uid === 'page_user')!.participantId;
    await waitFor(
      'the page publishes audio and video',
      () => call.router().tracks(pagePid).length === 2,
      30_000,
    );
    const pageSsrcs = call
      .router()
      .tracks(pagePid)
      .map((t) => t.ssrc);
    assert.equal(call.router().stats().transports, 50 + 5, 'one receiving connection each, 5 publishing');

    let sending = true;
    const pump = (async () => {
      for (let round = 0; sending; round++) {
        for (const t of publishers) {
          t.publisher!.send('audio');
          if (round % 2 === 0) t.publisher!.send('video');
        }
        await sleep(20);
      }
    })();
    try {
      // Every synthetic terminal receives the other synthetic publishers and the page.
      const missing = (): string[] => [
        ...missingPairs(terminals, publishers),
        ...terminals.flatMap((r) =>
          pageSsrcs
            .filter((ssrc) => r.receiver!.received(ssrc).length === 0)
            .map((ssrc) => `${r.uid}<-page:${ssrc}`),
        ),
      ];
      await waitFor(
        'every synthetic terminal receives every publisher',
        () => missing().length === 0,
        30_000,
      ).catch(() => assert.deepEqual(missing(), [], 'pairs with no packet'));
      // The page: its two connections, and packets of both tracks of each of the 4 publishers.
      const pageStats = () =>
        page.evaluate(() =>
          (
            window as unknown as { parleyCall: { room: { getStats(): Promise<PageStats> } } }
          ).parleyCall.room.getStats(),
        );
      await waitFor2(async () => {
        const stats = await pageStats();
        const receiving = stats.subscriptions.filter(
          (s) => s.inbound.length === 2 && s.inbound.every((i) => i.packetsReceived > 0),
        );
        return receiving.length === publishers.length;
      }, 30_000);
      assert.equal(await openPeerConnections(page), 2);
      assert.equal((await pageStats()).peerConnections, 2);
      assert.equal(
        await page.locator('[data-testid^="remote-video-"]').count(),
        49,
        'a video per other participant',
      );
      for (const t of terminals) assert.deepEqual(t.errors, [], `${t.uid}: no error`);
    } finally {
      sending = false;
      await pump;
    }
  });
});

async function waitFor2(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await sleep(250);
  }
}
