/**
 * The stand-in signaling of the SFU's browser fixtures: GET serves the test page, every POST is a
 * JSON request routed to `handle(path, body)`; an SfuError answers 409 with its code.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SfuError } from '../../src/sfu/index.js';

export type RouteHandler = (path: string, body: Record<string, string>) => Promise<unknown>;

export interface PageServer {
  url: string;
  /** Idempotent enough for after(): drops open connections, then closes. */
  close(): Promise<void>;
}

export async function startPageServer(pageHtml: string, handle: RouteHandler): Promise<PageServer> {
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
