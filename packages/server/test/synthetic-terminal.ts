/**
 * A synthetic terminal for tests: signaling over WebSocket (SignalClient), a node-datachannel
 * publisher (pre-made RTP) and a node-datachannel receiving connection that answers the server's
 * offers one after another, as the browser SDK does.
 */
import assert from 'node:assert/strict';
import type { Msg } from './signal-client.js';
import { SignalClient } from './signal-client.js';
import { TestPublisher } from './sfu-fixtures/peers.js';
import { BundleTestSubscriber } from './sfu-fixtures/bundle.js';

/** One synthetic terminal: its signaling, its publisher and its receiving connection. */
export class Terminal {
  participantId = '';
  publisher: TestPublisher | null = null;
  receiver: BundleTestSubscriber | null = null;
  receiverTransportId = '';
  offersAnswered = 0;
  /** Offers are answered strictly one after another. */
  #chain: Promise<void> = Promise.resolve();
  readonly errors: string[] = [];
  /** Every ICE candidate the server sent (publishing and receiving transports). */
  readonly serverCandidates: string[] = [];
  /** The server's publish answer. */
  publishAnswerSdp = '';

  /** A terminal in a room: hello with its credential, then joinRoom (createRoom without roomId). */
  static async join(baseUrl: string, uid: string, credential: unknown, roomId?: string): Promise<Terminal> {
    const t = new Terminal(uid, await SignalClient.open(baseUrl));
    const welcome = await t.client.hello(credential);
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    const res = await t.client.request(roomId ? { type: 'joinRoom', roomId } : { type: 'createRoom' });
    assert.equal(res.ok, true, JSON.stringify(res));
    t.roomId = String(res.data?.['roomId']);
    t.participantId = String(res.data?.['self']);
    return t;
  }

  roomId = '';

  constructor(
    readonly uid: string,
    readonly client: SignalClient,
  ) {
    client.ws.on('message', (data) => this.#onEvent(JSON.parse(data.toString()) as Msg));
  }

  #onEvent(m: Msg): void {
    if (m.type === 'subscriberOffer') {
      const offer = m as Msg & { transportId: string; version: number; sdp: string; tracks: unknown[] };
      this.#chain = this.#chain
        .then(() => this.#answer(offer))
        .catch((err: unknown) => {
          this.errors.push(String(err));
        });
    } else if (m.type === 'candidate') {
      const c = m as Msg & { transportId: string; candidate: string; mid: string };
      this.serverCandidates.push(c.candidate);
      if (c.transportId === this.receiverTransportId)
        this.receiver?.pc.addRemoteCandidate(c.candidate, c.mid);
    } else if (m.type === 'error') {
      this.errors.push(JSON.stringify(m));
    }
  }

  async #answer(offer: { transportId: string; version: number; sdp: string }): Promise<void> {
    const receiver = this.receiver;
    if (!receiver) throw new Error('an offer before the receiving connection');
    const sdp = await receiver.answerFor({
      participantId: this.participantId,
      transportId: offer.transportId,
      version: offer.version,
      offerSdp: offer.sdp,
      tracks: [],
    });
    const res = await this.client.request({
      type: 'subscriberAnswer',
      transportId: offer.transportId,
      version: offer.version,
      sdp,
    });
    if (!res.ok) throw new Error(`answer ${offer.version} refused: ${JSON.stringify(res.error)}`);
    this.offersAnswered = offer.version;
  }

  async publish(): Promise<void> {
    const publisher = new TestPublisher(this.participantId);
    this.publisher = publisher;
    await publisher.publish({
      publish: async (_participantId, offerSdp) => {
        const res = await this.client.request({ type: 'publish', sdp: offerSdp });
        if (!res.ok) throw new Error(`publish refused: ${JSON.stringify(res.error)}`);
        this.publishAnswerSdp = String(res.data?.['sdp']);
        return { transportId: String(res.data?.['transportId']), answerSdp: this.publishAnswerSdp };
      },
      subscribe: () => Promise.reject(new Error('not used')),
      setAnswer: () => Promise.reject(new Error('not used')),
    });
  }

  async openReceiver(): Promise<void> {
    this.receiver = new BundleTestSubscriber(this.participantId);
    const res = await this.client.request({ type: 'openSubscriber' });
    assert.equal(res.ok, true, JSON.stringify(res));
    this.receiverTransportId = String(res.data?.['transportId']);
  }

  close(): void {
    this.publisher?.close();
    this.receiver?.close();
    this.client.close();
  }
}

/** The (receiver, sender, kind) pairs of which the receiver has no packet yet, as "a<-b:kind". */
export function missingPairs(receivers: readonly Terminal[], senders: readonly Terminal[]): string[] {
  const out: string[] = [];
  for (const receiver of receivers) {
    for (const sender of senders) {
      if (sender === receiver) continue;
      for (const kind of ['audio', 'video'] as const) {
        if (receiver.receiver!.received(sender.publisher!.ssrc[kind]).length === 0)
          out.push(`${receiver.uid}<-${sender.uid}:${kind}`);
      }
    }
  }
  return out;
}
