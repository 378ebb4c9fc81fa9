/**
 * A participant's subscriber connection (MediaRouter.openSubscriber): ONE PeerConnection that
 * carries every remote track the participant receives (BUNDLE), renegotiated by the SFU, which is
 * always the offerer on it, so there is no glare: the browser only ever answers.
 *
 * - The first offer carries a data channel ('parley') besides the tracks live at that moment, so
 *   the connection connects at once even with nothing to receive yet; a later track then costs one
 *   offer/answer, not an ICE/DTLS handshake. A data channel rather than a placeholder media
 *   m-line: it never changes, so it is a stable BUNDLE member, and the browser gets no fake
 *   transceiver. forceMediaTransport makes libdatachannel negotiate DTLS-SRTP keys in that first
 *   handshake even when the offer has no media yet (without it, media added later can never be
 *   sent: "The connection has no media transport"; checked).
 * - One media m-line (Slot) per track; a track that ends (or is unsubscribed) leaves its m-line
 *   inactive (no SSRC) in the next offer, and once an offer has said so, the m-line is reused for
 *   the next new track of its kind: the SDP grows with the most tracks carried at once, not with
 *   the call's history. Each m-line has one native track for the connection's lifetime; the offer
 *   text says what it carries now (see bundle-sdp.ts for why).
 * - At most one offer is outstanding: changes made while it waits for its answer (and changes
 *   made in the same tick, e.g. a publisher's audio and video) go into one next offer, which is
 *   made as soon as the answer is set. An answer to any other offer is refused ('offer-superseded').
 * - A track's packets flow once the answer to the offer that declared it is set and its m-line's
 *   native track is open (an m-line added by renegotiation opens when that answer is set; a reused
 *   one is open already). At that moment the publisher's last sender report is replayed and a
 *   keyframe requested. Packets are forwarded byte for byte (the SDP declares the publisher's SSRC,
 *   payload types and header extension ids); tracks whose payload types cannot agree with the
 *   others on the connection are handled in add().
 * - RTCP from the subscriber reaches the m-line whose track it names (libdatachannel routes by
 *   SSRC); a RtcpNackResponder per video m-line answers NACKs (a new one per track, so a reused
 *   m-line never resends the previous track's packets).
 */
import { RtcpNackResponder, type DataChannel, type Track } from 'node-datachannel';
import { buildBye, isRtcp } from '../rtp/rtcp.js';
import {
  originSessionId,
  PayloadRegistry,
  registerAnswerSsrcs,
  rejectedMids,
  writeSubscriberOffer,
  type OfferedSection,
} from './bundle-sdp.js';
import { SfuError } from './errors.js';
import type { PacketSink, SourceTrack } from './publisher.js';
import {
  readSubscriberRtcp,
  sendCounted,
  sendingMedia,
  sendRtcpOn,
  type SubscriberFeedback,
} from './subscriber.js';
import { closeQuietly, Transport, watchTrack, type Counters, type RouterContext } from './transport.js';
import type {
  MediaKind,
  RtpCodec,
  RtpHeaderExtension,
  SubscriberOfferEvent,
  TransportStats,
} from './types.js';

/** One media m-line of the connection. */
class Slot {
  /** The sink it carries now: what the next offer declares. */
  sink: BundleSink | null = null;
  /** What the latest offer sent declares (answered or not). */
  declared: BundleSink | null = null;
  /** What the latest answered offer declared: a sink forwards only once it is here. */
  answered: BundleSink | null = null;
  /** Native track open (DTLS-SRTP up and the m-line answered once). */
  open = false;
  /** The subscriber rejected it (port 0): never used again. */
  rejected = false;
  /** Kept referenced while set on the native track. */
  responder: RtcpNackResponder | null = null;

  constructor(
    readonly mid: string,
    readonly kind: MediaKind,
    /** Kept (and closed) by the connection for its whole life. */
    readonly native: Track,
    /** What it was last declared with (an inactive m-line still lists a codec). */
    public codecs: readonly RtpCodec[],
  ) {}
}

/** One forwarded track on a subscriber connection. */
export class BundleSink implements PacketSink, SubscriberFeedback {
  live = false;
  ended = false;
  remb = 0;
  fractionLost = 0;

  constructor(
    readonly source: SourceTrack,
    readonly slot: Slot,
    /** The source's codecs this connection declares (those whose payload types agree). */
    readonly codecs: readonly RtpCodec[],
    readonly extensions: readonly RtpHeaderExtension[],
    private readonly connection: SubscriberConnection,
    private readonly counters: Counters,
  ) {}

  sendRtp(packet: Buffer): void {
    if (!this.live || !this.connection.mayCarryMedia()) {
      this.counters.droppedPackets++;
      return;
    }
    sendCounted(this.slot.native, packet, this.counters);
  }

  sendRtcp(packet: Buffer): void {
    if (this.live) sendRtcpOn(this.slot.native, packet, this.counters);
  }

  /** Its m-line is answered and open: media flows from now on. */
  start(): void {
    this.live = true;
    if (this.source.lastSenderReport) this.sendRtcp(this.source.lastSenderReport);
    // The subscriber needs a keyframe to start decoding: ask now rather than wait for its PLI.
    this.source.requestKeyFrame();
  }

  sourceEnded(): void {
    this.connection.remove(this);
  }
}

export interface SubscriberConnectionHooks {
  offer(e: SubscriberOfferEvent): void;
  closed(c: SubscriberConnection): void;
}

interface Outstanding {
  version: number;
  /** What the offer declares for each m-line it has. */
  declared: Map<Slot, BundleSink | null>;
  /** Null until the offer went out (the first one waits for ICE gathering). */
  event: SubscriberOfferEvent | null;
}

export class SubscriberConnection extends Transport {
  readonly role = 'subscriber' as const;
  readonly #hooks: SubscriberConnectionHooks;
  readonly #slots: Slot[] = [];
  readonly #sinks = new Map<SourceTrack, BundleSink>();
  readonly #channel: DataChannel;
  #version = 0;
  #outstanding: Outstanding | null = null;
  #started = false;
  #dirty = false;
  #offerTimer: NodeJS.Immediate | null = null;
  #answerTimer: NodeJS.Timeout | null = null;
  #sessionId = '1';

  constructor(ctx: RouterContext, id: string, participantId: string, hooks: SubscriberConnectionHooks) {
    super(ctx, id, participantId, { disableAutoNegotiation: true, forceMediaTransport: true });
    this.#hooks = hooks;
    try {
      this.#channel = this.pc.createDataChannel('parley');
    } catch (err) {
      this.close('transport-closed', false);
      throw new SfuError('negotiation-failed', `could not create the data channel: ${String(err)}`);
    }
    // Also required by node-datachannel: a channel's native cleanup only runs from this callback.
    this.#channel.onClosed(() => undefined);
  }

  get publisherId(): string {
    return '';
  }

  trackIds(): string[] {
    return [...this.#sinks.keys()].map((s) => s.info.id);
  }

  override stats(): TransportStats {
    return {
      ...super.stats(),
      publisherIds: [...new Set([...this.#sinks.keys()].map((s) => s.info.participantId))],
    };
  }

  /** The offer waiting for its answer, once it went out. */
  get pendingOffer(): SubscriberOfferEvent | null {
    return this.#outstanding?.event ?? null;
  }

  carries(source: SourceTrack): boolean {
    return this.#sinks.has(source);
  }

  /**
   * Starts carrying a live source (in the next offer). A track whose first codec (the one its
   * publisher sends) has a payload type that means another codec on this connection cannot be
   * carried byte for byte in this BUNDLE: it is left out (logged). Its other codecs that clash,
   * and header extension ids that mean another URI here, are left out of its m-line.
   */
  add(source: SourceTrack): boolean {
    if (this.closed || source.ended || this.#sinks.has(source)) return false;
    const registry = new PayloadRegistry();
    for (const s of this.#sinks.values()) registry.add(s.codecs, s.extensions);
    const codecs = source.info.codecs.filter((c) => registry.fits(c)).map((c) => registry.declared(c));
    if (codecs.length === 0 || codecs[0]!.payloadType !== source.info.codecs[0]!.payloadType) {
      this.ctx.log.warn(
        {
          transportId: this.id,
          participantId: this.participantId,
          trackId: source.info.id,
          publisherId: source.info.participantId,
          payloadType: source.info.codecs[0]?.payloadType,
        },
        'sfu: payload type already means another codec on this subscriber connection; track not carried',
      );
      return false;
    }
    const extensions = source.headerExtensions.filter((e) => registry.extensionFits(e));
    const kind = source.info.kind;
    let slot = this.#slots.find((s) => s.kind === kind && !s.rejected && !s.sink && !s.declared);
    if (slot) {
      slot.responder = this.#newResponder(slot.native, kind);
    } else {
      slot = this.#newSlot(source, codecs, extensions);
    }
    const sink = new BundleSink(source, slot, codecs, extensions, this, this.ctx.counters);
    slot.sink = sink;
    this.#sinks.set(source, sink);
    source.sinks.add(sink);
    this.#changed();
    return true;
  }

  /**
   * Stops carrying a sink (its source ended, or the subscriber no longer wants it). The next
   * offer says so even when the source ended silently (`emit` false: a failed publish, or the
   * router closing, in which case this connection closes before that offer would go out).
   */
  remove(sink: BundleSink): void {
    if (sink.ended) return;
    // Tell the browser the stream is over; the next offer turns its m-line inactive.
    if (sink.live) sink.sendRtcp(buildBye([sink.source.info.ssrc]));
    sink.ended = true;
    sink.live = false;
    sink.source.sinks.delete(sink);
    this.#sinks.delete(sink.source);
    if (sink.slot.sink === sink) sink.slot.sink = null;
    this.#changed();
  }

  /** Stops carrying every track of one publisher. */
  removePublisher(publisherId: string): void {
    for (const sink of [...this.#sinks.values()]) {
      if (sink.source.info.participantId === publisherId) this.remove(sink);
    }
  }

  #newResponder(track: Track, kind: MediaKind): RtcpNackResponder | null {
    if (kind !== 'video') return null;
    const responder = new RtcpNackResponder(this.ctx.config.nackBufferPackets);
    track.setMediaHandler(responder);
    return responder;
  }

  #newSlot(
    source: SourceTrack,
    codecs: readonly RtpCodec[],
    extensions: readonly RtpHeaderExtension[],
  ): Slot {
    // mid 0 is left to the data channel (libdatachannel gives it the lowest free number).
    const mid = String(this.#slots.length + 1);
    const native = this.pc.addTrack(sendingMedia(mid, source, codecs, extensions));
    this.nativeTracks.push(native);
    watchTrack(native);
    const slot = new Slot(mid, source.info.kind, native, codecs);
    slot.responder = this.#newResponder(native, slot.kind);
    native.onOpen(() => {
      slot.open = true;
      this.#startIfReady(slot);
    });
    native.onMessage((msg) => {
      const sink = slot.sink;
      if (sink && !sink.ended && isRtcp(msg)) readSubscriberRtcp(sink, msg, this.ctx.counters);
    });
    this.#slots.push(slot);
    return slot;
  }

  #startIfReady(slot: Slot): void {
    const sink = slot.sink;
    if (this.closed || !sink || sink.live || sink.ended || slot.rejected) return;
    if (slot.open && slot.answered === sink) sink.start();
  }

  #changed(): void {
    this.#dirty = true;
    if (this.closed || !this.#started || this.#outstanding || this.#offerTimer) return;
    this.#offerTimer = setImmediate(() => {
      this.#offerTimer = null;
      this.#offer();
    });
  }

  /** Fixes what an offer declares: every m-line libdatachannel will put in it. */
  #snapshot(): Outstanding {
    this.#dirty = false;
    const declared = new Map<Slot, BundleSink | null>();
    for (const slot of this.#slots) {
      slot.declared = slot.sink;
      declared.set(slot, slot.sink);
    }
    return { version: ++this.#version, declared, event: null };
  }

  /** The first offer: waits for ICE gathering (bounded, as every transport's first SDP). */
  async begin(): Promise<void> {
    if (this.#started || this.closed) return;
    this.#started = true;
    const out = (this.#outstanding = this.#snapshot());
    let raw: string;
    try {
      this.pc.setLocalDescription();
      raw = await this.localSdp();
    } catch (err) {
      if (!this.closed) this.#fail('could not create the first offer', err);
      return;
    }
    if (this.closed) return;
    this.#sessionId = originSessionId(raw);
    this.#send(out, raw);
  }

  #offer(): void {
    if (this.closed || this.#outstanding || !this.#dirty) return;
    const out = (this.#outstanding = this.#snapshot());
    let raw: string;
    try {
      this.pc.setLocalDescription();
      raw = this.currentLocalSdp();
    } catch (err) {
      this.#fail('could not create an offer', err);
      return;
    }
    this.#send(out, raw);
    // A subscriber that stops answering can no longer be given tracks: do not keep it.
    this.#answerTimer = setTimeout(() => {
      this.#answerTimer = null;
      if (this.closed || this.#outstanding !== out) return;
      this.ctx.log.warn(
        { transportId: this.id, participantId: this.participantId, version: out.version },
        'sfu: subscriber connection offer not answered in time, closing it',
      );
      this.close('transport-closed', true);
    }, this.ctx.config.connectTimeoutMs);
    this.#answerTimer.unref();
  }

  #fail(what: string, err: unknown): void {
    this.ctx.log.warn(
      { transportId: this.id, participantId: this.participantId, err: String(err) },
      `sfu: ${what}, closing the subscriber connection`,
    );
    this.close('transport-closed', true);
  }

  #send(out: Outstanding, raw: string): void {
    // Payload types of the tracks sent agree (add() saw to it); inactive m-lines list a codec
    // that agrees with them too.
    const registry = new PayloadRegistry();
    for (const sink of out.declared.values()) if (sink) registry.add(sink.codecs, sink.extensions);
    const sections = new Map<string, OfferedSection>();
    for (const [slot, sink] of out.declared) {
      const codecs = sink ? sink.codecs : registry.filler(slot.kind, slot.codecs);
      if (!sink) registry.add(codecs);
      slot.codecs = codecs;
      const info = sink?.source.info;
      sections.set(slot.mid, {
        kind: slot.kind,
        codecs,
        rejected: slot.rejected,
        sender:
          sink && info
            ? {
                ssrc: info.ssrc,
                cname: sink.source.cname,
                streamId: info.streamId,
                trackId: info.id,
                extensions: sink.extensions,
              }
            : null,
      });
    }
    const offerSdp = writeSubscriberOffer(raw, sections, {
      sessionId: this.#sessionId,
      version: out.version,
    });
    const tracks = [...out.declared]
      .filter((e): e is [Slot, BundleSink] => e[1] !== null)
      .map(([slot, sink]) => ({
        mid: slot.mid,
        trackId: sink.source.info.id,
        publisherId: sink.source.info.participantId,
        kind: slot.kind,
        streamId: sink.source.info.streamId,
        ssrc: sink.source.info.ssrc,
      }));
    out.event = {
      participantId: this.participantId,
      transportId: this.id,
      version: out.version,
      offerSdp,
      tracks,
    };
    this.ctx.log.debug(
      {
        transportId: this.id,
        participantId: this.participantId,
        version: out.version,
        tracks: tracks.length,
      },
      'sfu: subscriber connection offer',
    );
    this.#hooks.offer(out.event);
  }

  /** The browser's answer to offer `version`. */
  setAnswer(version: number, answerSdp: string): void {
    const out = this.#outstanding;
    if (!out?.event || out.version !== version) {
      throw new SfuError(
        'offer-superseded',
        out?.event
          ? `answer to offer ${version} of ${this.id}, but offer ${out.version} is the one waiting for its answer`
          : `no offer of ${this.id} waits for an answer (this one answers offer ${version})`,
      );
    }
    const ssrcs = new Map<string, number>();
    for (const [slot, sink] of out.declared) if (sink) ssrcs.set(slot.mid, sink.source.info.ssrc);
    let rejected: string[];
    try {
      rejected = rejectedMids(answerSdp);
      this.pc.setRemoteDescription(registerAnswerSsrcs(answerSdp, ssrcs), 'answer');
    } catch (err) {
      throw err instanceof SfuError ? err : new SfuError('invalid-sdp', `answer refused: ${String(err)}`);
    }
    this.#outstanding = null;
    if (this.#answerTimer) clearTimeout(this.#answerTimer);
    this.#answerTimer = null;
    this.remoteDescriptionSet();
    for (const [slot, sink] of out.declared) {
      slot.answered = sink;
      if (rejected.includes(slot.mid) && !slot.rejected) {
        slot.rejected = true;
        this.ctx.log.warn(
          { transportId: this.id, participantId: this.participantId, mid: slot.mid },
          'sfu: the subscriber rejected an m-line; its track is not carried',
        );
        if (slot.sink) this.remove(slot.sink);
      }
      // An m-line added by this offer opens now (onOpen); a reused one is open already.
      if (!slot.open && slot.native.isOpen()) slot.open = true;
      this.#startIfReady(slot);
    }
    if (this.#dirty) this.#changed();
  }

  protected onClose(): void {
    if (this.#offerTimer) clearImmediate(this.#offerTimer);
    if (this.#answerTimer) clearTimeout(this.#answerTimer);
    this.#offerTimer = null;
    this.#answerTimer = null;
    this.#outstanding = null;
    for (const sink of this.#sinks.values()) {
      sink.ended = true;
      sink.live = false;
      sink.source.sinks.delete(sink);
    }
    this.#sinks.clear();
    for (const slot of this.#slots) slot.sink = null;
    closeQuietly(this.#channel);
    this.#hooks.closed(this);
  }
}
