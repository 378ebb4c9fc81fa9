/**
 * An in-process publisher for the recorder tests: a node-datachannel peer that publishes Opus
 * and VP8 or H.264 to a MediaRouter and replays pre-made RTP clips (media.ts) in real time, paced
 * by their RTP timestamps, with its own SSRCs. It can pause (nothing sent: the SFU sees the
 * stream stop) and resume.
 */
import { Audio, PeerConnection, Video, type Track } from 'node-datachannel';
import { waitFor, type Negotiator } from '../sfu-fixtures/peers.js';
import type { RtpClip } from './media.js';

function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
}

interface Player {
  clip: RtpClip;
  track: Track;
  ssrc: number;
  index: number;
  startMs: number;
  ts0: number;
}

export class ReplayPublisher {
  readonly pc: PeerConnection;
  readonly tracks = new Map<'audio' | 'video', Track>();
  readonly ssrc = {
    audio: 0x3300_0000 + Math.floor(Math.random() * 0xffff),
    video: 0x4400_0000 + Math.floor(Math.random() * 0xffff),
  };
  sent = { audio: 0, video: 0 };
  #players: Player[] = [];
  #timer: NodeJS.Timeout | null = null;
  #paused = false;

  constructor(
    readonly id: string,
    readonly clips: { audio?: RtpClip; video?: RtpClip },
    readonly videoCodec: 'vp8' | 'h264' = 'vp8',
  ) {
    this.pc = new PeerConnection(`rec-pub-${id}`, { iceServers: [], bindAddress: '127.0.0.1' });
    this.pc.onStateChange(() => undefined);
    let mid = 0;
    for (const kind of ['audio', 'video'] as const) {
      const clip = clips[kind];
      if (!clip) continue;
      const media =
        kind === 'audio' ? new Audio(String(mid), 'SendOnly') : new Video(String(mid), 'SendOnly');
      mid++;
      if (media instanceof Audio) media.addOpusCodec(clip.payloadType);
      else if (videoCodec === 'vp8') media.addVP8Codec(clip.payloadType);
      else media.addH264Codec(clip.payloadType);
      media.addSSRC(this.ssrc[kind], `cname-${id}`, `stream-${id}`, `${kind}-${id}`);
      const track = this.pc.addTrack(media);
      track.onClosed(() => undefined);
      track.onMessage(() => undefined); // PLIs from the SFU: a replay cannot honour them
      this.tracks.set(kind, track);
    }
  }

  async publish(router: Negotiator): Promise<void> {
    this.pc.setLocalDescription();
    await waitFor('ICE gathering', () => this.pc.gatheringState() === 'complete');
    const offer = withoutCandidates(this.pc.localDescription()!.sdp);
    const res = await router.publish(this.id, offer);
    this.pc.setRemoteDescription(res.answerSdp, 'answer');
    await waitFor('publisher tracks open', () => [...this.tracks.values()].every((t) => t.isOpen()));
  }

  /** Starts (or restarts from the beginning) sending the clips in real time. */
  play(): void {
    const start = performance.now();
    this.#players = [];
    for (const kind of ['audio', 'video'] as const) {
      const clip = this.clips[kind];
      const track = this.tracks.get(kind);
      if (!clip || !track || clip.packets.length === 0) continue;
      this.#players.push({
        clip,
        track,
        ssrc: this.ssrc[kind],
        index: 0,
        startMs: start,
        ts0: clip.packets[0]!.readUInt32BE(4),
      });
    }
    this.#timer ??= setInterval(() => this.#tick(), 5);
  }

  #tick(): void {
    if (this.#paused) return;
    const now = performance.now();
    for (const p of this.#players) {
      const due = now - p.startMs;
      while (p.index < p.clip.packets.length) {
        const src = p.clip.packets[p.index]!;
        const at = (((src.readUInt32BE(4) - p.ts0) >>> 0) / p.clip.clockRate) * 1000;
        if (at > due) break;
        const pkt = Buffer.from(src);
        pkt.writeUInt32BE(p.ssrc, 8);
        try {
          p.track.sendMessageBinary(pkt);
          this.sent[p.clip.kind]++;
        } catch {
          // closed
        }
        p.index++;
      }
    }
  }

  /** Sends nothing until resume(); the clips' clock keeps running (the packets of the pause are skipped). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    const now = performance.now();
    // Skip what would have been sent during the pause, as a real sender's clock moves on.
    for (const p of this.#players) {
      const due = now - p.startMs;
      while (p.index < p.clip.packets.length) {
        const src = p.clip.packets[p.index]!;
        if ((((src.readUInt32BE(4) - p.ts0) >>> 0) / p.clip.clockRate) * 1000 > due) break;
        p.index++;
      }
    }
    this.#paused = false;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const t of this.tracks.values()) t.close();
    this.pc.close();
  }
}
