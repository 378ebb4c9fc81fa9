/**
 * A cheap receiving end for a subscriber connection (MediaRouter.openSubscriber), for bench:sfu:
 * a node-datachannel peer that answers every offer of its connection, one after another, and
 * only COUNTS the RTP packets it receives, per SSRC (no copy; RTCP is skipped). The test fixture
 * BundleTestSubscriber keeps a copy of every packet, too much for 16 × 15 × 2 tracks at a
 * realistic rate in one process.
 */
import { PeerConnection, type DataChannel, type Track } from 'node-datachannel';
import type { SubscriberOfferEvent } from '../src/sfu/index.js';
import { isRtcp } from '../src/rtp/rtcp.js';
import { waitFor as waitUntil } from '../test/sfu-fixtures/peers.js';

/** What the peer needs of the SFU: answering offers of its connection. */
export type AnswerSink = (transportId: string, version: number, answerSdp: string) => Promise<unknown>;

export class CountingBundleSubscriber {
  readonly pc: PeerConnection;
  readonly tracks = new Map<string, Track>();
  /** RTP packets received, by SSRC. */
  readonly packets = new Map<number, number>();
  channel: DataChannel | null = null;
  /** The version of the last offer answered (0: none yet). */
  answered = 0;
  /** Tracks listed by the last offer answered. */
  offeredTracks = 0;
  readonly errors: string[] = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(readonly id: string) {
    // forceMediaTransport: the first offer may carry only the data channel; media comes later.
    this.pc = new PeerConnection(`bcount-${id}`, {
      iceServers: [],
      bindAddress: '127.0.0.1',
      forceMediaTransport: true,
    });
    // node-datachannel releases a PeerConnection's native callbacks only from this callback.
    this.pc.onStateChange(() => undefined);
    this.pc.onDataChannel((dc) => {
      this.channel = dc;
      dc.onClosed(() => undefined);
    });
    this.pc.onTrack((track) => {
      this.tracks.set(track.mid(), track);
      track.onClosed(() => undefined);
      track.onMessage((msg) => {
        if (isRtcp(msg)) return; // the publishers' sender reports, BYEs: not counted
        const ssrc = msg.readUInt32BE(8);
        this.packets.set(ssrc, (this.packets.get(ssrc) ?? 0) + 1);
      });
    });
  }

  /** Answers `offer` once every earlier offer is answered (errors are kept in `errors`). */
  offer(offer: SubscriberOfferEvent, answer: AnswerSink): void {
    this.#chain = this.#chain
      .then(async () => {
        this.pc.setRemoteDescription(offer.offerSdp, 'offer');
        await waitUntil('ICE gathering', () => this.pc.gatheringState() === 'complete');
        const d = this.pc.localDescription();
        if (!d || d.type !== 'answer') throw new Error('no answer');
        await answer(offer.transportId, offer.version, d.sdp);
        this.answered = offer.version;
        this.offeredTracks = offer.tracks.length;
      })
      .catch((err: unknown) => {
        this.errors.push(`offer ${offer.version}: ${String(err)}`);
      });
  }

  addCandidate(candidate: string, mid: string): void {
    this.pc.addRemoteCandidate(candidate, mid);
  }

  /** Every track of the last answered offer is here and open. */
  ready(): boolean {
    return (
      this.offeredTracks > 0 &&
      this.tracks.size >= this.offeredTracks &&
      [...this.tracks.values()].every((t) => t.isOpen())
    );
  }

  received(ssrc: number): number {
    return this.packets.get(ssrc) ?? 0;
  }

  close(): void {
    for (const t of this.tracks.values()) t.close();
    this.channel?.close();
    this.pc.close();
  }
}
