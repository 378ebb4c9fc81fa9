/**
 * The per-pair subscriber side: a SubscriberTransport sends one publisher's tracks to one
 * subscriber (its own PeerConnection, negotiated once, never renegotiated). Its SinkTracks declare
 * the publisher's SSRC, payload types and header extension ids, so forwarded packets need no
 * rewriting; a RtcpNackResponder on each video sink answers the subscriber's NACKs; PLI/FIR from
 * the subscriber become keyframe requests to the publisher. The RTCP reading is shared with the
 * BUNDLE model (subscriber-connection.ts).
 */
import { Audio, RtcpNackResponder, Video, type Track } from 'node-datachannel';
import { SfuError } from './errors.js';
import {
  buildBye,
  feedbackMediaSsrcs,
  isRtcp,
  parseRemb,
  RTCP_PSFB,
  RTCP_RR,
  RTCP_RTPFB,
  RTCP_SR,
  rtcpPackets,
} from '../rtp/rtcp.js';
import type { PacketSink, SourceTrack } from './publisher.js';
import { Transport, watchTrack, type Counters, type RouterContext } from './transport.js';
import type { RtpCodec, RtpHeaderExtension } from './types.js';

/** What RTCP from a subscriber updates: one forwarded stream. */
export interface SubscriberFeedback {
  readonly source: SourceTrack;
  /** Latest REMB estimate from the subscriber (bits/s), 0 if none. */
  remb: number;
  /** Latest fraction lost (0..1) the subscriber reported for this stream. */
  fractionLost: number;
}

/**
 * Reads RTCP a subscriber sent about one forwarded stream: PLI/FIR for its SSRC become keyframe
 * requests to the publisher, NACKs are counted (a RtcpNackResponder answers them), REMB and the
 * report block for its SSRC are recorded. Packets about other SSRCs are ignored: on a connection
 * with several tracks libdatachannel hands a compound packet to every track it names.
 */
export function readSubscriberRtcp(target: SubscriberFeedback, msg: Buffer, counters: Counters): void {
  const ssrc = target.source.info.ssrc;
  for (const p of rtcpPackets(msg)) {
    if (p.type === RTCP_PSFB && (p.count === 1 || p.count === 4)) {
      if (feedbackMediaSsrcs(msg, p).includes(ssrc)) {
        counters.keyFrameRequestsReceived++;
        target.source.requestKeyFrame();
      }
    } else if (p.type === RTCP_RTPFB && p.count === 1) {
      if (feedbackMediaSsrcs(msg, p).includes(ssrc)) counters.nacksReceived++;
    } else if (p.type === RTCP_PSFB && p.count === 15) {
      target.remb = parseRemb(msg, p) ?? target.remb;
    } else if (p.type === RTCP_RR) {
      for (let o = p.offset + 8; o + 24 <= p.offset + p.length; o += 24) {
        if (msg.readUInt32BE(o) === ssrc) target.fractionLost = msg[o + 4]! / 256;
      }
    }
  }
}

/** Sends one packet on a native track, counting it as forwarded or dropped. */
export function sendCounted(track: Track, packet: Buffer, counters: Counters): void {
  try {
    if (track.sendMessageBinary(packet)) {
      counters.forwardedPackets++;
      counters.forwardedBytes += packet.length;
    } else {
      counters.droppedPackets++;
    }
  } catch {
    counters.droppedPackets++;
  }
}

/** Sends RTCP on a native track (sender reports are counted); errors mean it is closing. */
export function sendRtcpOn(track: Track, packet: Buffer, counters: Counters): void {
  try {
    if (track.sendMessageBinary(packet) && packet[1] === RTCP_SR) counters.senderReportsForwarded++;
  } catch {
    // closing
  }
}

/**
 * A sendonly media description that declares a source as the publisher sends it: its SSRC (with
 * cname and msid), these payload types and these header extension ids.
 */
export function sendingMedia(
  mid: string,
  source: SourceTrack,
  codecs: readonly RtpCodec[],
  extensions: readonly RtpHeaderExtension[],
): Audio | Video {
  const info = source.info;
  const media = info.kind === 'video' ? new Video(mid, 'SendOnly') : new Audio(mid, 'SendOnly');
  for (const codec of codecs) {
    const name = codec.mimeType.split('/')[1] ?? '';
    if (media instanceof Video) {
      // addVideoCodec declares nack, nack pli and goog-remb. Not "ccm fir": a FIR carries its
      // target SSRC only in its FCI, and libdatachannel 0.24 drops RTCP it cannot map to a
      // track by its header SSRCs (on a connection with more than one track), so
      // subscribers must use PLI.
      if (codec.fmtp !== undefined) media.addVideoCodec(codec.payloadType, name, codec.fmtp);
      else media.addVideoCodec(codec.payloadType, name);
    } else {
      const enc = `${name}/${codec.clockRate}/${codec.channels ?? 2}`;
      if (codec.fmtp !== undefined) media.addAudioCodec(codec.payloadType, enc, codec.fmtp);
      else media.addAudioCodec(codec.payloadType, enc);
    }
  }
  for (const ext of extensions) media.parseSdpLine(`a=extmap:${ext.id} ${ext.uri}`);
  media.addSSRC(info.ssrc, source.cname, info.streamId, info.id);
  return media;
}

export class SinkTrack implements PacketSink, SubscriberFeedback {
  open = false;
  ended = false;
  /** Latest REMB estimate from the subscriber (bits/s), 0 if none. */
  remb = 0;
  /** Latest fraction lost (0..1) the subscriber reported for this stream. */
  fractionLost = 0;

  constructor(
    readonly source: SourceTrack,
    readonly native: Track,
    private readonly transport: SubscriberTransport,
    private readonly counters: Counters,
    /** Kept referenced for as long as the track lives. */
    readonly nackResponder: RtcpNackResponder | null,
  ) {}

  sendRtp(packet: Buffer): void {
    if (!this.open || !this.transport.mayCarryMedia()) {
      this.counters.droppedPackets++;
      return;
    }
    sendCounted(this.native, packet, this.counters);
  }

  sendRtcp(packet: Buffer): void {
    if (this.open) sendRtcpOn(this.native, packet, this.counters);
  }

  onOpen(): void {
    this.open = true;
    if (this.ended) return;
    if (this.source.lastSenderReport) this.sendRtcp(this.source.lastSenderReport);
    // A new subscriber needs a keyframe to start decoding: ask now rather than wait for its PLI.
    this.source.requestKeyFrame();
  }

  onRtcp(msg: Buffer): void {
    if (!this.ended) readSubscriberRtcp(this, msg, this.counters);
  }

  sourceEnded(emit: boolean): void {
    if (this.ended) return;
    this.ended = true;
    // Tell the subscriber's browser the stream is over, then let the transport decide whether
    // anything is left to carry.
    this.sendRtcp(buildBye([this.source.info.ssrc]));
    this.transport.sinkEnded(emit);
  }
}

export class SubscriberTransport extends Transport {
  readonly role = 'subscriber' as const;
  readonly sinks: SinkTrack[] = [];

  constructor(
    ctx: RouterContext,
    id: string,
    participantId: string,
    readonly publisherId: string,
  ) {
    super(ctx, id, participantId);
  }

  /** Adds one sending track per source (same SSRC, payload types and extension ids). */
  addSources(sources: SourceTrack[]): void {
    const ctx = this.ctx;
    sources.forEach((source, index) => {
      const mid = String(index);
      const info = source.info;
      const media = sendingMedia(mid, source, info.codecs, source.headerExtensions);
      const track = this.pc.addTrack(media);
      this.nativeTracks.push(track);
      watchTrack(track);
      let responder: RtcpNackResponder | null = null;
      if (info.kind === 'video') {
        responder = new RtcpNackResponder(this.ctx.config.nackBufferPackets);
        track.setMediaHandler(responder);
      }
      const sink = new SinkTrack(source, track, this, ctx.counters, responder);
      track.onOpen(() => sink.onOpen());
      track.onMessage((msg) => {
        if (isRtcp(msg)) sink.onRtcp(msg);
      });
      this.sinks.push(sink);
      source.sinks.add(sink);
    });
  }

  trackIds(): string[] {
    return this.sinks.filter((s) => !s.ended).map((s) => s.source.info.id);
  }

  /** Creates the offer (libdatachannel is the offerer on this leg). */
  async offer(): Promise<string> {
    try {
      this.pc.setLocalDescription();
    } catch (err) {
      throw new SfuError('negotiation-failed', `could not create the offer: ${String(err)}`);
    }
    return this.localSdp();
  }

  setAnswer(answerSdp: string): void {
    if (this.pc.remoteDescription() !== null) {
      throw new SfuError('negotiation-failed', 'this transport already has an answer');
    }
    try {
      this.pc.setRemoteDescription(answerSdp, 'answer');
    } catch (err) {
      throw new SfuError('invalid-sdp', `answer refused: ${String(err)}`);
    }
    this.remoteDescriptionSet();
  }

  sinkEnded(emit: boolean): void {
    if (this.sinks.every((s) => s.ended)) this.close('transport-closed', emit);
  }

  protected onClose(): void {
    for (const sink of this.sinks) {
      sink.ended = true;
      sink.source.sinks.delete(sink);
    }
  }
}
