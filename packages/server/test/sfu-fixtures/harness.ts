/**
 * Stand-in signaling for the SFU browser tests: a throwaway HTTP server on 127.0.0.1 that serves
 * one page and relays SDP and ICE candidates between that page and a MediaRouter over plain
 * fetch() POSTs. The page script (page.js beside this file) drives RTCPeerConnections.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SfuError, type MediaRouter } from '../../src/sfu/index.js';

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

  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(pageHtml);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, string>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string>;
      } catch {
        res.writeHead(400).end('bad json');
        return;
      }
      handle(req.url ?? '/', body).then(
        (out) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(out));
        },
        (err: unknown) => {
          res.writeHead(err instanceof SfuError ? 409 : 500, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ error: String(err), code: err instanceof SfuError ? err.code : 'internal' }),
          );
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    pending,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
