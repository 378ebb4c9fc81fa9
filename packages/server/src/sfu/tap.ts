/**
 * RTP taps: a copy of one published track's packets, sent byte for byte as plain UDP (no SRTP,
 * no ICE) to an address and port, for a local consumer such as the recorder's ffmpeg. Internal to
 * the SFU: the public surface is MediaRouter.addTap() / removeTap() (router.ts).
 *
 * A tap is one more PacketSink of its SourceTrack: the hot path is the same loop that feeds
 * subscribers. Sender reports (RTCP SR) of the track go to the same port (RFC 5761 mux: the
 * consumer tells them apart by the packet type), so that the consumer can map RTP timestamps to
 * the publisher's clock (lip sync). Video taps ask the publisher for keyframes when they start
 * and a few times after (a consumer that starts decoding needs one; the first request can come
 * before the publisher is ready to answer it).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { frameStartInfo, videoPayloadCodec, type VideoPayloadCodec } from '../rtp/rtp-payload.js';
import { SfuError } from './errors.js';
import type { PacketSink, SourceTrack } from './publisher.js';
import type { TapStats, TapTarget, TrackEndReason } from './types.js';

/**
 * Where to send to `target` from (validated: an IP address and a port): the target's loopback
 * address for a loopback target, else the configured bind address of the target's family, else
 * the wildcard address.
 */
export function tapBindAddress(
  target: TapTarget,
  configuredBind: string | undefined,
): { bind: string; family: 4 | 6 } {
  const family = isIP(target.address);
  if (family === 0)
    throw new SfuError('invalid-config', `tap address must be an IP address: ${target.address}`);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new SfuError('invalid-config', `tap port must be 1-65535: ${target.port}`);
  }
  const loopback = family === 4 ? target.address.startsWith('127.') : target.address === '::1';
  const bind = loopback
    ? target.address
    : configuredBind !== undefined && isIP(configuredBind) === family
      ? configuredBind
      : family === 6
        ? '::'
        : '0.0.0.0';
  return { bind, family: family === 6 ? 6 : 4 };
}

/** Sockets the taps of one router send from, one per local address. */
export class TapSockets {
  readonly #sockets = new Map<string, Socket>();
  #closed = false;

  constructor(private readonly onError: (err: Error) => void) {}

  /** A socket bound to `bindAddress` (loopback targets are sent from loopback). */
  get(bindAddress: string, family: 4 | 6): Socket {
    const key = `${family}/${bindAddress}`;
    let socket = this.#sockets.get(key);
    if (!socket) {
      socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
      socket.on('error', (err) => this.onError(err));
      // Sends made before the bind completes are queued by node.
      socket.bind({ port: 0, address: bindAddress });
      socket.unref();
      this.#sockets.set(key, socket);
    }
    return socket;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#sockets.values()) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.#sockets.clear();
  }
}

export interface TapKeyFramePolicy {
  intervalMs: number;
  forMs: number;
}

export class RtpTap implements PacketSink {
  ended = false;
  #packets = 0;
  #bytes = 0;
  #frames = 0;
  #keyFrames = 0;
  #lastKeyFrameTs = -1;
  #senderReports = 0;
  #lastPacketMono: number | null = null;
  readonly #codec: VideoPayloadCodec | null;
  readonly #createdMono = performance.now();
  #keyFrameTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    readonly source: SourceTrack,
    private readonly socket: Socket,
    readonly address: string,
    readonly port: number,
    private readonly forwardSenderReports: boolean,
    keyFrames: TapKeyFramePolicy | null,
    private readonly onSourceEnded: (tap: RtpTap, reason: TrackEndReason, emit: boolean) => void,
  ) {
    this.#codec =
      source.info.kind === 'video' ? videoPayloadCodec(source.info.codecs[0]?.mimeType ?? '') : null;
    if (source.info.kind === 'video' && keyFrames) {
      source.requestKeyFrame();
      let elapsed = 0;
      if (keyFrames.intervalMs > 0 && keyFrames.forMs >= keyFrames.intervalMs) {
        this.#keyFrameTimer = setInterval(() => {
          elapsed += keyFrames.intervalMs;
          if (this.ended || elapsed > keyFrames.forMs) {
            this.#stopKeyFrameTimer();
            return;
          }
          source.requestKeyFrame();
        }, keyFrames.intervalMs);
        this.#keyFrameTimer.unref();
      }
    }
    // A consumer that starts now needs the publisher's clock mapping at once, not in 1-5 s.
    if (forwardSenderReports && source.lastSenderReport) this.sendRtcp(source.lastSenderReport);
  }

  #stopKeyFrameTimer(): void {
    if (this.#keyFrameTimer) clearInterval(this.#keyFrameTimer);
    this.#keyFrameTimer = null;
  }

  sendRtp(packet: Buffer): void {
    if (this.ended) return;
    this.#packets++;
    this.#bytes += packet.length;
    this.#lastPacketMono = performance.now();
    if (this.#codec) {
      if (packet[1]! & 0x80) this.#frames++;
      const info = frameStartInfo(this.#codec, packet);
      if (info.keyFrame) {
        const ts = packet.readUInt32BE(4);
        if (ts !== this.#lastKeyFrameTs) {
          this.#lastKeyFrameTs = ts;
          this.#keyFrames++;
        }
      }
    }
    this.socket.send(packet, this.port, this.address);
  }

  sendRtcp(packet: Buffer): void {
    if (this.ended || !this.forwardSenderReports) return;
    this.#senderReports++;
    this.socket.send(packet, this.port, this.address);
  }

  sourceEnded(emit: boolean): void {
    if (this.ended) return;
    this.end();
    this.onSourceEnded(this, this.source.endReason ?? 'transport-closed', emit);
  }

  /** Stops forwarding (idempotent); the caller detaches it from its source. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.#stopKeyFrameTimer();
    this.source.sinks.delete(this);
  }

  stats(): TapStats {
    const info = this.source.info;
    return {
      tapId: this.id,
      trackId: info.id,
      participantId: info.participantId,
      kind: info.kind,
      address: this.address,
      port: this.port,
      packets: this.#packets,
      bytes: this.#bytes,
      frames: this.#frames,
      keyFrames: this.#keyFrames,
      senderReports: this.#senderReports,
      lastPacketAt:
        this.#lastPacketMono === null ? null : Math.round(performance.timeOrigin + this.#lastPacketMono),
      ageMs: Math.round(performance.now() - this.#createdMono),
    };
  }
}
