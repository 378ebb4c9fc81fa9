/**
 * Fixtures for the subscriber-connection tests (sfu-bundle.test.ts):
 * - BundleTestSubscriber: a node-datachannel peer that answers a subscriber connection's offers
 *   and records what it receives, by SSRC and by mid;
 * - CodecPublisher: a node-datachannel publisher whose video codec and payload type are chosen
 *   (to make two publishers disagree on a payload type);
 * - startBundleHarness(): stand-in signaling for Chromium pages (page.js + bundle-page.js):
 *   publish, trickle, open the subscriber connection, hand out its offers and take the answers;
 * - BundlePage: typed wrappers around the page's window.sfu / window.bundle.
 */
import { readFileSync } from 'node:fs';
import { Audio, PeerConnection, Video, type DataChannel, type Track } from 'node-datachannel';
import type { Browser, Page } from 'playwright-core';
import type { MediaRouter, SubscriberOfferEvent } from '../../src/sfu/index.js';
import { buildRtp, isRtcp, rtcpPackets } from '../../src/rtp/rtcp.js';
import { waitFor, type RtcpSeen } from './peers.js';
import { startPageServer } from './page-server.js';

// ---- node-datachannel peers ------------------------------------------------------------------

async function gathered(pc: PeerConnection): Promise<void> {
  await waitFor('ICE gathering', () => pc.gatheringState() === 'complete');
}

/** Answers a subscriber connection's offers; records RTP by SSRC and RTCP it receives. */
export class BundleTestSubscriber {
  readonly pc: PeerConnection;
  readonly tracks = new Map<string, Track>();
  readonly rtp = new Map<number, Buffer[]>();
  readonly rtcp: RtcpSeen[] = [];
  channel: DataChannel | null = null;
  answered = 0;

  constructor(readonly id: string) {
    // forceMediaTransport: the first offer may carry only the data channel; media comes later.
    this.pc = new PeerConnection(`bsub-${id}`, {
      iceServers: [],
      bindAddress: '127.0.0.1',
      forceMediaTransport: true,
    });
    this.pc.onStateChange(() => undefined);
    this.pc.onDataChannel((dc) => {
      this.channel = dc;
      dc.onClosed(() => undefined);
    });
    this.pc.onTrack((track) => {
      this.tracks.set(track.mid(), track);
      track.onClosed(() => undefined);
      track.onMessage((msg) => {
        if (isRtcp(msg)) {
          for (const p of rtcpPackets(msg)) {
            this.rtcp.push({
              type: p.type,
              count: p.count,
              bytes: Buffer.from(msg.subarray(p.offset, p.offset + p.length)),
            });
          }
          return;
        }
        const ssrc = msg.readUInt32BE(8);
        let list = this.rtp.get(ssrc);
        if (!list) this.rtp.set(ssrc, (list = []));
        list.push(Buffer.from(msg));
      });
    });
  }

  /** This peer's answer to an offer (the SFU's offer set as remote description). */
  async answerFor(offer: SubscriberOfferEvent): Promise<string> {
    this.pc.setRemoteDescription(offer.offerSdp, 'offer');
    await gathered(this.pc);
    const d = this.pc.localDescription();
    if (!d || d.type !== 'answer') throw new Error('no answer');
    return d.sdp;
  }

  async answer(router: MediaRouter, offer: SubscriberOfferEvent): Promise<string> {
    const sdp = await this.answerFor(offer);
    await router.setSubscriberAnswer(offer.transportId, offer.version, sdp);
    this.answered = offer.version;
    return sdp;
  }

  received(ssrc: number): Buffer[] {
    return this.rtp.get(ssrc) ?? [];
  }

  /** Sends raw RTCP to the SFU through the track of `mid` (one transport: any track would do). */
  sendRtcp(mid: string, bytes: Buffer): void {
    const track = this.tracks.get(mid) ?? [...this.tracks.values()][0];
    track?.sendMessageBinary(bytes);
  }

  close(): void {
    for (const t of this.tracks.values()) t.close();
    this.channel?.close();
    this.pc.close();
  }
}

/** A publisher (audio Opus 111 and/or video of a chosen codec and payload type), pre-made RTP. */
export class CodecPublisher {
  readonly pc: PeerConnection;
  readonly tracks = new Map<'audio' | 'video', Track>();
  readonly rtcp: RtcpSeen[] = [];
  readonly ssrc = {
    audio: 0x3333_0000 + Math.floor(Math.random() * 0xffff),
    video: 0x4444_0000 + Math.floor(Math.random() * 0xffff),
  };
  #seq = 100;
  transportId = '';

  constructor(
    readonly id: string,
    readonly video: { codec: 'VP8' | 'H264'; payloadType: number } | null,
    withAudio = true,
  ) {
    this.pc = new PeerConnection(`cpub-${id}`, { iceServers: [], bindAddress: '127.0.0.1' });
    this.pc.onStateChange(() => undefined);
    const kinds = [...(withAudio ? (['audio'] as const) : []), ...(video ? (['video'] as const) : [])];
    kinds.forEach((kind, i) => {
      let media: Audio | Video;
      if (kind === 'audio') {
        media = new Audio(String(i), 'SendOnly');
        media.addOpusCodec(111);
      } else {
        media = new Video(String(i), 'SendOnly');
        if (video!.codec === 'VP8') media.addVP8Codec(video!.payloadType);
        else media.addH264Codec(video!.payloadType);
      }
      media.addSSRC(this.ssrc[kind], `cname-${id}`, `stream-${id}`, `${kind}-${id}`);
      const track = this.pc.addTrack(media);
      track.onClosed(() => undefined);
      track.onMessage((msg) => {
        if (!isRtcp(msg)) return;
        for (const p of rtcpPackets(msg)) {
          this.rtcp.push({
            type: p.type,
            count: p.count,
            bytes: Buffer.from(msg.subarray(p.offset, p.offset + p.length)),
          });
        }
      });
      this.tracks.set(kind, track);
    });
  }

  async publish(router: MediaRouter): Promise<void> {
    this.pc.setLocalDescription();
    await gathered(this.pc);
    // No candidates in the offer (see TestPublisher.publish in peers.ts).
    const offer = this.pc
      .localDescription()!
      .sdp.split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
      .join('\r\n');
    const res = await router.publish(this.id, offer);
    this.transportId = res.transportId;
    this.pc.setRemoteDescription(res.answerSdp, 'answer');
    await waitFor('publisher tracks open', () => [...this.tracks.values()].every((t) => t.isOpen()));
  }

  send(kind: 'audio' | 'video'): Buffer {
    const seq = ++this.#seq & 0xffff;
    const packet = buildRtp({
      payloadType: kind === 'audio' ? 111 : this.video!.payloadType,
      sequenceNumber: seq,
      timestamp: seq * 3000,
      ssrc: this.ssrc[kind],
      marker: true,
      payload: Buffer.from(`${this.id} ${kind} ${seq} `.padEnd(120, '.')),
    });
    this.tracks.get(kind)?.sendMessageBinary(packet);
    return packet;
  }

  close(): void {
    for (const t of this.tracks.values()) t.close();
    this.pc.close();
  }
}

// ---- Chromium pages --------------------------------------------------------------------------

const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>sfu bundle test</title></head>
<body><div id="media"></div>
<script>${readFileSync(new URL('./page.js', import.meta.url), 'utf8')}</script>
<script>${readFileSync(new URL('./bundle-page.js', import.meta.url), 'utf8')}</script></body></html>`;

export interface BundleHarness {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the page and relays for it over fetch() POSTs: /publish, /candidate, /candidates (as
 * harness.ts does for page.js), /open-subscriber, /poll (the subscriber connection's offers and
 * trickled candidates, queued from the router's events) and /subscriber-answer.
 */
export async function startBundleHarness(router: MediaRouter): Promise<BundleHarness> {
  const candidates = new Map<string, { candidate: string; sdpMid: string }[]>();
  const offers = new Map<string, SubscriberOfferEvent[]>();
  router.on('localCandidate', (e) => {
    const list = candidates.get(e.transportId) ?? [];
    list.push({ candidate: e.candidate, sdpMid: e.mid });
    candidates.set(e.transportId, list);
  });
  router.on('subscriberOffer', (e) => {
    const list = offers.get(e.transportId) ?? [];
    list.push(e);
    offers.set(e.transportId, list);
  });
  const take = <T>(map: Map<string, T[]>, key: string): T[] => {
    const list = map.get(key) ?? [];
    map.delete(key);
    return list;
  };

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
        return {
          offers: take(offers, body['transportId']!),
          candidates: take(candidates, body['transportId']!),
        };
      case '/subscriber-answer':
        await router.setSubscriberAnswer(body['transportId']!, Number(body['version']), body['sdp']!);
        return {};
      default:
        throw new Error(`no route ${path}`);
    }
  }

  const page = await startPageServer(pageHtml, handle);
  return {
    url: page.url,
    close: async () => {
      await page.close();
    },
  };
}

export interface TrackFigures {
  kind: 'audio' | 'video';
  mid: string;
  ssrc: number;
  publisherId: string;
  packetsReceived: number;
  framesDecoded: number;
  frameWidth?: number;
  totalSamplesReceived: number;
  pliCount: number;
}

export interface PageEvent {
  type: 'track' | 'mute' | 'unmute' | 'ended' | 'removetrack';
  at: number;
  mid?: string | null;
  kind?: string;
  trackId?: string;
  publisherId?: string;
  streamId?: string;
}

export interface BundleStats {
  peerConnections: number;
  transportId: string | null;
  connectionState: string | null;
  channelOpen: boolean;
  versions: number[];
  errors: string[];
  events: PageEvent[];
  mlines: number;
  transceivers: { mid: string | null; currentDirection: string | null }[];
  byMid: Record<
    string,
    { mid: string; trackId: string; publisherId: string; kind: string; streamId: string }
  >;
  streams: Record<string, string[]>;
  byTrack: Record<string, TrackFigures>;
  byPublisher: Record<string, { audioPackets: number; videoFrames: number; videoPackets: number }>;
}

type PageApi = {
  sfu: { publish(id: string, o: object): Promise<{ transportId: string }> };
  bundle: {
    openSubscriber(id: string): Promise<{ transportId: string }>;
    stats(): Promise<BundleStats>;
    closeSubscriber(): void;
  };
};

export class BundlePage {
  constructor(
    readonly page: Page,
    readonly participantId: string,
  ) {}

  static async open(browser: Browser, url: string, participantId: string): Promise<BundlePage> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(url);
    return new BundlePage(page, participantId);
  }

  publish(opts: { audio?: boolean; video?: boolean } = {}): Promise<{ transportId: string }> {
    return this.page.evaluate(([id, o]) => (window as unknown as PageApi).sfu.publish(id, o), [
      this.participantId,
      opts,
    ] as const);
  }

  openSubscriber(): Promise<{ transportId: string }> {
    return this.page.evaluate(
      (id) => (window as unknown as PageApi).bundle.openSubscriber(id),
      this.participantId,
    );
  }

  stats(): Promise<BundleStats> {
    return this.page.evaluate(() => (window as unknown as PageApi).bundle.stats());
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
