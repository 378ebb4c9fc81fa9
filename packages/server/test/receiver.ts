/** A real HTTP callback receiver on 127.0.0.1 that can answer badly on purpose. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | 'ok'
  | 'wrongCode'
  | 'wrongId'
  | 'numericId'
  | 'notJson'
  | 'redirect'
  | 'status404'
  | 'status500'
  | 'retryAfter'
  | 'timeout'
  | 'destroy';

export interface Received {
  body: Record<string, unknown>;
  raw: string;
  headers: IncomingHttpHeaders;
  at: number;
  answered: Behaviour;
}

export class Receiver {
  readonly received: Received[] = [];
  /** Decides each answer; default: always ok. */
  behave: (body: Record<string, unknown>, attemptOfThisId: number) => Behaviour = () => 'ok';
  #server: Server;
  #waiters: { n: number; resolve: () => void }[] = [];
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(raw) as Record<string, unknown>;
        const id = body['bizRequestId'];
        const attempt = this.received.filter((r) => r.body['bizRequestId'] === id).length + 1;
        const behaviour = this.behave(body, attempt);
        this.received.push({ body, raw, headers: req.headers, at: Date.now(), answered: behaviour });
        for (const w of [...this.#waiters]) {
          if (this.successes().length >= w.n) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(typeof value === 'string' ? value : JSON.stringify(value));
        };
        switch (behaviour) {
          case 'ok':
            return json(200, { bizRequestId: id, code: 0 });
          case 'numericId':
            return json(200, `{"bizRequestId":${String(id)},"code":0}`);
          case 'wrongCode':
            return json(200, { bizRequestId: id, code: 1 });
          case 'wrongId':
            return json(200, { bizRequestId: '1', code: 0 });
          case 'notJson':
            res.writeHead(200, { 'content-type': 'text/html' });
            return res.end('<html>ok</html>');
          case 'redirect':
            return json(
              302,
              { bizRequestId: id, code: 0 },
              { location: `http://127.0.0.1:${this.port}/elsewhere` },
            );
          case 'status404':
            return json(404, { error: 'not found' });
          case 'status500':
            return json(500, { error: 'boom' });
          case 'retryAfter':
            return json(503, { error: 'busy' }, { 'retry-after': '1' });
          case 'timeout':
            return; // never answers
          case 'destroy':
            return req.socket.destroy();
        }
      });
    });
  }

  /** Requests answered 'ok' (or 'numericId'): what the business server accepted. */
  successes(): Received[] {
    return this.received.filter((r) => r.answered === 'ok' || r.answered === 'numericId');
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/callback'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  waitForSuccesses(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.successes().length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`only ${this.successes().length} of ${n} callbacks accepted in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Waits until an accepted request matches. */
  async waitForSuccess(
    match: (body: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.successes().find((r) => match(r.body));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no accepted callback matched in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
