/** A minimal signaling client for tests: requests with ids, and a queue of server messages to wait on. */
import WebSocket from 'ws';
import type { ServerMessage } from '@parley/protocol';

export type Msg = ServerMessage & Record<string, unknown>;

export class SignalClient {
  readonly messages: Msg[] = [];
  closeCode: number | null = null;
  readonly #waiters: { match: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  #nextId = 1;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Msg;
      this.messages.push(msg);
      for (const w of [...this.#waiters]) {
        if (w.match(msg)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  static async open(baseUrl: string): Promise<SignalClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/signal/v1`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new SignalClient(ws);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Resolves with the first message (already received or future) that matches. */
  waitFor(match: (m: Msg) => boolean, timeoutMs = 5000): Promise<Msg> {
    const seen = this.messages.find(match);
    if (seen) {
      this.messages.splice(this.messages.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          const i = this.messages.indexOf(m);
          if (i >= 0) this.messages.splice(i, 1);
          resolve(m);
        },
      });
    });
  }

  waitType(type: string, timeoutMs?: number): Promise<Msg> {
    return this.waitFor((m) => m.type === type, timeoutMs);
  }

  async request(message: Record<string, unknown>): Promise<{
    ok: boolean;
    data?: Record<string, unknown>;
    error?: { code: string; message: string; field?: string };
  }> {
    const id = this.#nextId++;
    this.send({ ...message, id });
    const res = await this.waitFor((m) => m.type === 'response' && m['id'] === id);
    return res as never;
  }

  async hello(credential: unknown, resume?: { sessionId: string; resumeToken: string }): Promise<Msg> {
    this.send({ type: 'hello', v: 1, credential, ...(resume ? { resume } : {}) });
    return this.waitFor((m) => m.type === 'welcome' || m.type === 'error');
  }

  close(): void {
    this.ws.close();
  }
}
