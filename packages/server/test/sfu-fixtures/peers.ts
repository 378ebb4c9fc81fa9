/**
 * Test peers built on node-datachannel: a publisher that sends pre-made RTP (no encoder) and a
 * subscriber that records (or counts, or ignores) what it receives. They talk to a MediaRouter
 * directly, or to anything with the same three negotiation methods (the bench drives a router in
 * another process), with full ICE gathering on their side, everything on 127.0.0.1.
 */
import { Audio, PeerConnection, Video, type Track } from 'node-datachannel';
import { buildRtp, isRtcp, rtcpPackets } from '../../src/rtp/rtcp.js';

export const AUDIO_PT = 111;
export const VIDEO_PT = 96;

function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

async function gathered(pc: PeerConnection): Promise<string> {
  await waitFor('ICE gathering', () => pc.gatheringState() === 'complete');
  const d = pc.localDescription();
  if (!d) throw new Error('no local description');
  return d.sdp;
}

function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
}

/** The part of MediaRouter the peers negotiate with. */
export interface Negotiator {
  publish(participantId: string, offerSdp: string): Promise<{ transportId: string; answerSdp: string }>;
  subscribe(
    subscriberId: string,
    publisherId: string,
  ): Promise<{ transportId: string; offerSdp: string; tracks: unknown[] }>;
  setAnswer(transportId: string, answerSdp: string): Promise<void>;
}

export interface RtcpSeen {
  type: number;
  count: number;
  bytes: Buffer;
}

export class TestPublisher {
  readonly pc: PeerConnection;
  readonly tracks = new Map<'audio' | 'video', Track>();
  readonly rtcp: RtcpSeen[] = [];
  readonly ssrc = {
    audio: 0x1111_0000 + Math.floor(Math.random() * 0xffff),
    video: 0x2222_0000 + Math.floor(Math.random() * 0xffff),
  };
  seq = { audio: 1000, video: 5000 };
  ts = { audio: 0, video: 0 };
  transportId = '';

  constructor(
    readonly id: string,
    kinds: ('audio' | 'video')[] = ['audio', 'video'],
  ) {
    this.pc = new PeerConnection(`pub-${id}`, { iceServers: [], bindAddress: '127.0.0.1' });
    // node-datachannel releases a PeerConnection's native callbacks only from this callback.
    this.pc.onStateChange(() => undefined);
    kinds.forEach((kind, i) => {
      const media = kind === 'audio' ? new Audio(String(i), 'SendOnly') : new Video(String(i), 'SendOnly');
      if (media instanceof Audio) media.addOpusCodec(AUDIO_PT);
      else media.addVP8Codec(VIDEO_PT);
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

  async publish(router: Negotiator): Promise<void> {
    this.pc.setLocalDescription();
    // No candidates in the offer: the SFU finds this peer through its connectivity checks
    // (peer-reflexive), as it does for browsers that hide their addresses behind mDNS names. With
    // candidates, the SFU could finish ICE before this offerer has the answer, and libdatachannel
    // 0.24 then checks the DTLS fingerprint before it has stored the answer (handshake fails).
    const offer = withoutCandidates(await gathered(this.pc));
    const res = await router.publish(this.id, offer);
    this.transportId = res.transportId;
    this.pc.setRemoteDescription(res.answerSdp, 'answer');
    await waitFor('publisher tracks open', () => [...this.tracks.values()].every((t) => t.isOpen()));
  }

  /** Sends one RTP packet of `kind`; returns the exact bytes sent. */
  send(kind: 'audio' | 'video', opts: { skip?: number; payload?: Buffer; marker?: boolean } = {}): Buffer {
    this.seq[kind] = (this.seq[kind] + 1 + (opts.skip ?? 0)) & 0xffff;
    this.ts[kind] += kind === 'audio' ? 960 : 3000;
    const packet = buildRtp({
      payloadType: kind === 'audio' ? AUDIO_PT : VIDEO_PT,
      sequenceNumber: this.seq[kind],
      timestamp: this.ts[kind],
      ssrc: this.ssrc[kind],
      marker: opts.marker ?? true,
      payload: opts.payload ?? Buffer.from(`payload ${kind} ${this.seq[kind]} `.padEnd(200, '.')),
    });
    this.tracks.get(kind)?.sendMessageBinary(packet);
    return packet;
  }

  sendRaw(kind: 'audio' | 'video', bytes: Buffer): void {
    this.tracks.get(kind)?.sendMessageBinary(bytes);
  }

  close(): void {
    for (const t of this.tracks.values()) t.close();
    this.pc.close();
  }
}

export class TestSubscriber {
  readonly pc: PeerConnection;
  readonly tracks: Track[] = [];
  /** Every RTP packet received, by SSRC. */
  readonly rtp = new Map<number, Buffer[]>();
  readonly rtcp: RtcpSeen[] = [];
  /** RTP packets received (every mode but 'ignore'). */
  packets = 0;
  transportId = '';
  offerSdp = '';

  /**
   * mode 'record' keeps every packet; 'count' only counts them; 'ignore' sets no message callback
   * at all (libdatachannel then drops what it cannot queue), which keeps a bench's clients cheap.
   */
  constructor(
    readonly id: string,
    readonly mode: 'record' | 'count' | 'ignore' = 'record',
  ) {
    this.pc = new PeerConnection(`sub-${id}`, { iceServers: [], bindAddress: '127.0.0.1' });
    this.pc.onStateChange(() => undefined);
    this.pc.onTrack((track) => {
      this.tracks.push(track);
      track.onClosed(() => undefined);
      if (mode === 'ignore') return;
      track.onMessage((msg) => {
        if (mode === 'count') {
          if (!isRtcp(msg)) this.packets++;
          return;
        }
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
        this.packets++;
        const ssrc = msg.readUInt32BE(8);
        let list = this.rtp.get(ssrc);
        if (!list) this.rtp.set(ssrc, (list = []));
        list.push(Buffer.from(msg));
      });
    });
  }

  async subscribe(router: Negotiator, publisherId: string): Promise<void> {
    const res = await router.subscribe(this.id, publisherId);
    this.transportId = res.transportId;
    this.offerSdp = res.offerSdp;
    this.pc.setRemoteDescription(res.offerSdp, 'offer');
    const answer = await gathered(this.pc);
    await router.setAnswer(res.transportId, answer);
    await waitFor('subscriber tracks', () => this.tracks.length === res.tracks.length);
    await waitFor('subscriber tracks open', () => this.tracks.every((t) => t.isOpen()));
  }

  received(ssrc: number): Buffer[] {
    return this.rtp.get(ssrc) ?? [];
  }

  /** Sends raw RTCP to the SFU (through any track; they share one transport). */
  sendRtcp(bytes: Buffer): void {
    this.tracks[0]?.sendMessageBinary(bytes);
  }

  close(): void {
    for (const t of this.tracks) t.close();
    this.pc.close();
  }
}

export { waitFor };
