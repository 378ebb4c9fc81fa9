/**
 * Stand-in signaling for the SFU browser tests: a throwaway HTTP server on 127.0.0.1 that serves
 * one page and relays SDP and ICE candidates between that page and a MediaRouter over plain
 * fetch() POSTs. The page script (page.js beside this file) drives RTCPeerConnections.
 */
import { readFileSync } from 'node:fs';
import type { MediaRouter } from '../../src/sfu/index.js';
import { startPageServer } from './page-server.js';

const pageScript = readFileSync(new URL('./page.js', import.meta.url), 'utf8');
const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>sfu test</title></head>
<body><div id="media"></div><script>${pageScript}</script></body></html>`;

export interface Harness {
  url: string;
  /** Candidates the router emitted, waiting for the page to fetch them, by transport. */
  pending: Map<string, string[]>;
  close(): Promise<void>;
}

export async function startHarness(router: MediaRouter): Promise<Harness> {
  const pending = new Map<string, string[]>();
  router.on('localCandidate', (e) => {
    const list = pending.get(e.transportId) ?? [];
    list.push(JSON.stringify({ candidate: e.candidate, sdpMid: e.mid }));
    pending.set(e.transportId, list);
  });

  async function handle(path: string, body: Record<string, string>): Promise<unknown> {
    switch (path) {
      case '/publish': {
        const r = await router.publish(body['participantId']!, body['sdp']!);
        return { transportId: r.transportId, sdp: r.answerSdp, tracks: r.tracks };
      }
      case '/subscribe': {
        const r = await router.subscribe(body['subscriberId']!, body['publisherId']!);
        return { transportId: r.transportId, sdp: r.offerSdp, tracks: r.tracks };
      }
      case '/answer':
        await router.setAnswer(body['transportId']!, body['sdp']!);
        return {};
      case '/candidate':
        router.addRemoteCandidate(body['transportId']!, body['candidate']!, body['mid'] ?? '');
        return {};
      case '/candidates': {
        const list = pending.get(body['transportId']!) ?? [];
        pending.delete(body['transportId']!);
        return { candidates: list.map((c) => JSON.parse(c) as unknown) };
      }
      default:
        throw new Error(`no route ${path}`);
    }
  }

  const page = await startPageServer(pageHtml, handle);
  return {
    url: page.url,
    pending,
    close: async () => {
      await page.close();
    },
  };
}
