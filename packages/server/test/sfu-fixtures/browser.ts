/** Real Chromium for the SFU tests (Debian's /usr/bin/chromium through playwright-core). */
import type { Browser, Page } from 'playwright-core';
import type { PublishedTrack } from '../../src/sfu/index.js';
import { fakeMediaFlags, launchChromium } from '../chromium.js';

const sfuFlags = [
  ...fakeMediaFlags,
  // Lets Chrome gather a 127.0.0.1 candidate, so that the media path can stay on loopback.
  '--allow-loopback-in-peer-connection',
  // No mDNS names for local candidates: the tests use 127.0.0.1 only.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export function launchSfuChromium(): Promise<Browser> {
  return launchChromium(sfuFlags);
}

export interface PageStats {
  subscriptions: Record<
    string,
    {
      connectionState: string;
      firstFrameMs: number | null;
      connectedMs: number | null;
      trackIds: string[];
      video: {
        framesDecoded?: number;
        frameWidth?: number;
        packetsReceived?: number;
        nackCount?: number;
        pliCount?: number;
      } | null;
      audio: { packetsReceived?: number; totalSamplesReceived?: number } | null;
      senderReports: { audio: number; video: number };
    }
  >;
  publishers: {
    transportId: string;
    connectionState: string;
    availableOutgoingBitrate?: number;
    video: {
      framesEncoded?: number;
      keyFramesEncoded?: number;
      frameWidth?: number;
      qualityLimitationReason?: string;
      pliCount?: number;
      mimeType?: string;
      targetBitrate?: number;
    } | null;
    audio: { packetsSent?: number } | null;
  }[];
}

/** A page of the harness, with typed wrappers around window.sfu. */
export class SfuPage {
  constructor(readonly page: Page) {}

  static async open(browser: Browser, url: string): Promise<SfuPage> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(url);
    return new SfuPage(page);
  }

  publish(participantId: string, opts: { audio?: boolean; video?: boolean; codec?: string } = {}) {
    return this.page.evaluate(
      ([id, o]) =>
        (
          window as unknown as {
            sfu: {
              publish(i: string, o: object): Promise<{ transportId: string; tracks: PublishedTrack[] }>;
            };
          }
        ).sfu.publish(id, o),
      [participantId, opts] as const,
    );
  }

  subscribe(subscriberId: string, publisherId: string) {
    return this.page.evaluate(
      ([s, p]) =>
        (
          window as unknown as { sfu: { subscribe(s: string, p: string): Promise<{ transportId: string }> } }
        ).sfu.subscribe(s, p),
      [subscriberId, publisherId] as const,
    );
  }

  stats(): Promise<PageStats> {
    return this.page.evaluate(() =>
      (window as unknown as { sfu: { stats(): Promise<PageStats> } }).sfu.stats(),
    );
  }

  unsubscribe(publisherId: string): Promise<void> {
    return this.page.evaluate(
      (p) => (window as unknown as { sfu: { unsubscribe(p: string): void } }).sfu.unsubscribe(p),
      publisherId,
    );
  }

  closeAll(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as { sfu: { closeAll(): void } }).sfu.closeAll());
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
