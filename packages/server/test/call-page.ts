/** Driving the call page (/call/, packages/client) in Chromium: join, and what a page receives. */
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

interface InboundStats {
  kind: string;
  framesDecoded?: number;
  packetsReceived?: number;
}
interface CallWindow {
  parleyCall: {
    room: {
      roomId: string;
      getStats(): Promise<{ subscriptions: { uid: string; inbound: InboundStats[] }[] }>;
    } | null;
    events: string[];
  };
}

/** Opens `${baseUrl}/call/${query}` with the credential in the fragment (never sent to a server). */
export async function openCallPage(
  browser: Browser,
  contexts: BrowserContext[],
  baseUrl: string,
  credential: unknown,
  query = '',
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 960, height: 640 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  // Counts the page's peer connections that are not closed, whatever the SDK says of itself.
  // A string: the test runner's transpiler may add helpers a function body would not find here.
  await page.addInitScript(`(() => {
    const Native = window.RTCPeerConnection;
    const open = new Set();
    class Counted extends Native {
      constructor(config) {
        super(config);
        open.add(this);
        this.addEventListener('connectionstatechange', () => {
          if (this.connectionState === 'closed') open.delete(this);
        });
      }
      close() {
        open.delete(this);
        super.close();
      }
    }
    window.RTCPeerConnection = Counted;
    window.openPeerConnections = () => open.size;
  })();`);
  await page.goto(`${baseUrl}/call/${query}#credential=${b64url(JSON.stringify(credential))}`);
  return page;
}

/** The page's RTCPeerConnections not closed (counted by openCallPage's init script). */
export function openPeerConnections(page: Page): Promise<number> {
  return page.evaluate(() =>
    (window as unknown as { openPeerConnections: () => number }).openPeerConnections(),
  );
}

export function waitStatus(page: Page, state: string, timeout?: number): Promise<void> {
  return page
    .locator(`[data-testid="status"][data-state="${state}"]`)
    .waitFor(timeout === undefined ? {} : { timeout });
}

export async function createRoom(page: Page): Promise<string> {
  await waitStatus(page, 'connected');
  await page.getByTestId('create-room').click();
  await waitStatus(page, 'in-room');
  return (await page.getByTestId('room-id').innerText()).trim();
}

export function pageEvents(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as CallWindow).parleyCall.events.slice());
}

/** What a page receives from `uid`: video frames decoded and audio packets received. */
export async function received(page: Page, uid: string): Promise<{ frames: number; audioPackets: number }> {
  const stats = await page.evaluate(async () => {
    const room = (window as unknown as CallWindow).parleyCall.room;
    return room ? room.getStats() : null;
  });
  const sub = stats?.subscriptions.find((x) => x.uid === uid);
  const video = sub?.inbound.find((i) => i.kind === 'video');
  const audio = sub?.inbound.find((i) => i.kind === 'audio');
  return { frames: video?.framesDecoded ?? 0, audioPackets: audio?.packetsReceived ?? 0 };
}

/** Passes when `page` decodes `uid`'s video and receives their audio, both still rising. */
export async function assertReceives(
  page: Page,
  uid: string,
  label: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let first = await received(page, uid);
  while (Date.now() < deadline && (first.frames === 0 || first.audioPackets === 0)) {
    await page.waitForTimeout(250);
    first = await received(page, uid);
  }
  assert.ok(first.frames > 0, `${label}: decodes video from ${uid} (framesDecoded ${first.frames})`);
  assert.ok(first.audioPackets > 0, `${label}: receives audio from ${uid}`);
  // Still flowing: both counters rise (a loaded machine may stall a stream for a moment).
  const until = Date.now() + 6000;
  let later = first;
  do {
    await page.waitForTimeout(500);
    later = await received(page, uid);
  } while (Date.now() < until && (later.frames <= first.frames || later.audioPackets <= first.audioPackets));
  assert.ok(
    later.frames > first.frames,
    `${label}: framesDecoded from ${uid} rises (${first.frames} → ${later.frames})`,
  );
  assert.ok(later.audioPackets > first.audioPackets, `${label}: audio from ${uid} keeps coming`);
}

/** The error the page shows: its code and text (waits for it). */
export async function pageError(page: Page, timeout = 45_000): Promise<{ code: string; text: string }> {
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout });
  return { code: (await error.getAttribute('data-code')) ?? '', text: await error.innerText() };
}
