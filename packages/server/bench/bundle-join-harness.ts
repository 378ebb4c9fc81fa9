/**
 * Stand-in signaling for bench:sfu's Chromium join scenarios on the subscriber connection. It
 * serves the test pages (test/sfu-fixtures/page.js + bundle-page.js, as startBundleHarness does)
 * and takes the same POST routes, with one difference: /poll is a LONG poll. It answers as soon as
 * the SFU has an offer or a candidate for that connection (or after 1 s with nothing), so the
 * offer reaches the page about as fast as a WebSocket push would, not up to one polling interval
 * later: the join figures measure the SFU and the browser, not the stand-in.
 *
 * It also notes, per subscriber connection, when each offer left the router and when its answer
 * was set (Date.now(), this machine's clock, which the pages share), for a breakdown of a join.
 */
import { readFileSync } from 'node:fs';
import type { MediaRouter, SubscriberOfferEvent } from '../src/sfu/index.js';
import { startPageServer } from '../test/sfu-fixtures/page-server.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../test/sfu-fixtures/${name}`, import.meta.url), 'utf8');

const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>sfu bench</title></head>
<body><div id="media"></div>
<script>${fixture('page.js')}</script>
<script>${fixture('bundle-page.js')}</script></body></html>`;

export interface OfferTiming {
  version: number;
  tracks: number;
  offeredAt: number;
  answeredAt: number | null;
}

export interface JoinHarness {
  url: string;
  /** Offers of a subscriber connection, by transport id, in order. */
  offers(transportId: string): OfferTiming[];
  close(): Promise<void>;
}

const LONG_POLL_MS = 1000;

export async function startJoinHarness(router: MediaRouter): Promise<JoinHarness> {
  const candidates = new Map<string, { candidate: string; sdpMid: string }[]>();
  const offers = new Map<string, SubscriberOfferEvent[]>();
  const timings = new Map<string, OfferTiming[]>();
  const waiting = new Map<string, () => void>();
  const wake = (transportId: string) => {
    const w = waiting.get(transportId);
    waiting.delete(transportId);
    w?.();
  };
  router.on('localCandidate', (e) => {
    const list = candidates.get(e.transportId) ?? [];
    list.push({ candidate: e.candidate, sdpMid: e.mid });
    candidates.set(e.transportId, list);
    wake(e.transportId);
  });
  router.on('subscriberOffer', (e) => {
    const list = offers.get(e.transportId) ?? [];
    list.push(e);
    offers.set(e.transportId, list);
    const t = timings.get(e.transportId) ?? [];
    t.push({ version: e.version, tracks: e.tracks.length, offeredAt: Date.now(), answeredAt: null });
    timings.set(e.transportId, t);
    wake(e.transportId);
  });
  const take = <T>(map: Map<string, T[]>, key: string): T[] => {
    const list = map.get(key) ?? [];
    map.delete(key);
    return list;
  };
  const pending = (transportId: string) =>
    (offers.get(transportId)?.length ?? 0) + (candidates.get(transportId)?.length ?? 0) > 0;

  async function poll(transportId: string) {
    if (!pending(transportId)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (waiting.get(transportId) === done) waiting.delete(transportId);
          resolve();
        }, LONG_POLL_MS);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiting.get(transportId)?.(); // one page polls one connection: release an older poll
        waiting.set(transportId, done);
      });
    }
    return { offers: take(offers, transportId), candidates: take(candidates, transportId) };
  }

  async function handle(path: string, body: Record<string, string>): Promise<unknown> {
    switch (path) {
      case '/publish': {
        const r = await router.publish(body['participantId']!, body['sdp']!);
        return { transportId: r.transportId, sdp: r.answerSdp, tracks: r.tracks };
      }
      case '/candidate':
        router.addRemoteCandidate(body['transportId']!, body['candidate']!, body['mid'] ?? '');
        return {};
      case '/candidates':
        return { candidates: take(candidates, body['transportId']!) };
      case '/open-subscriber':
        return router.openSubscriber(body['participantId']!);
      case '/poll':
        return poll(body['transportId']!);
      case '/subscriber-answer': {
        const transportId = body['transportId']!;
        const version = Number(body['version']);
        await router.setSubscriberAnswer(transportId, version, body['sdp']!);
        const t = timings.get(transportId)?.find((x) => x.version === version);
        if (t) t.answeredAt = Date.now();
        return {};
      }
      default:
        throw new Error(`no route ${path}`);
    }
  }

  const page = await startPageServer(pageHtml, handle);
  return {
    url: page.url,
    offers: (transportId) => timings.get(transportId) ?? [],
    close: async () => {
      for (const w of waiting.values()) w();
      waiting.clear();
      await page.close();
    },
  };
}
