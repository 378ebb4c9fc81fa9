/**
 * SDP of a participant's subscriber connection (subscriber-connection.ts): the SFU owns what each
 * media m-line says, libdatachannel owns the rest.
 *
 * Why the text is rewritten rather than each native track's description updated: libdatachannel
 * updates a track's description when addTrack() is called again with its mid, but
 * node-datachannel 0.33 then wraps the same native track in a second Track object whose "closed"
 * callback can never fire (the native track keeps one closed callback, the last one set), and
 * that object's thread-safe function keeps the process alive for good (checked: a process that
 * did this once never exits, even with every object closed). So each m-line gets one native
 * track for the connection's lifetime, created with its first track's description, and every
 * offer's media sections are written here from what the connection carries now: direction, msid,
 * SSRC, payload types and header extensions. libdatachannel never looks at those to send (packets
 * go out as they are) and learns the SSRC of a reused m-line from the answer (see
 * registerAnswerSsrcs), which is all it needs to route the subscriber's RTCP.
 *
 * One BUNDLE is one RTP session: a payload type must mean one codec across all its m-lines, and a
 * header extension id one URI (Chrome refuses an offer that breaks this). PayloadRegistry checks
 * both for the tracks a connection carries.
 */
import { parseSdp, serializeSdp } from './sdp.js';
import type { MediaKind, RtpCodec, RtpHeaderExtension } from './types.js';

/**
 * Codecs whose fmtp parameters do not change what is on the wire in a way the decoder must know
 * (Opus: stereo, minptime, useinbandfec are hints; VP8/VP9/AV1 as browsers offer them). Two
 * publishers' offers differ there (Chrome and a native client, or two Chrome versions), and
 * refusing one of them would cut a participant off; H.264's packetization-mode and profile do
 * matter, so its parameters stay part of its identity.
 */
const HINT_ONLY_FMTP = new Set(['audio/opus', 'video/vp8', 'video/vp9', 'video/av1']);

/**
 * A codec's identity for payload-type agreement: name, clock rate, channels and, where they
 * matter (see HINT_ONLY_FMTP), the fmtp parameters.
 */
export function codecKey(c: RtpCodec): string {
  const mime = c.mimeType.toLowerCase();
  if (HINT_ONLY_FMTP.has(mime)) return `${mime}/${c.clockRate}/${c.channels ?? ''}`;
  const params = (c.fmtp ?? '')
    .split(';')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '')
    .sort()
    .join(';');
  return `${c.mimeType.toLowerCase()}/${c.clockRate}/${c.channels ?? ''}/${params}`;
}

/** Payload types and header extension ids in use on one connection, and what they mean. */
export class PayloadRegistry {
  readonly #codecs = new Map<number, { key: string; codec: RtpCodec }>();
  readonly #extensions = new Map<number, string>();

  /** Whether `codec` can be declared: its payload type is free or already means this codec. */
  fits(codec: RtpCodec): boolean {
    const known = this.#codecs.get(codec.payloadType);
    return known === undefined || known.key === codecKey(codec);
  }

  /**
   * The codec as this connection declares it: one that fits takes the description already
   * declared under its payload type (Chrome refuses a BUNDLE whose m-lines give one payload type
   * different fmtp lines).
   */
  declared(codec: RtpCodec): RtpCodec {
    return this.#codecs.get(codec.payloadType)?.codec ?? codec;
  }

  extensionFits(ext: RtpHeaderExtension): boolean {
    const uri = this.#extensions.get(ext.id);
    return uri === undefined || uri === ext.uri;
  }

  add(codecs: readonly RtpCodec[], extensions: readonly RtpHeaderExtension[] = []): void {
    for (const c of codecs) {
      if (!this.#codecs.has(c.payloadType)) this.#codecs.set(c.payloadType, { key: codecKey(c), codec: c });
    }
    for (const e of extensions) if (!this.#extensions.has(e.id)) this.#extensions.set(e.id, e.uri);
  }

  /**
   * Codecs for an m-line that sends nothing (it must still list one): the previous ones that still
   * fit, else one of the same kind already declared, else the previous first codec under a free
   * dynamic payload type.
   */
  filler(kind: MediaKind, previous: readonly RtpCodec[]): RtpCodec[] {
    const fit = previous.filter((c) => this.fits(c));
    if (fit.length > 0) return fit;
    for (const { codec } of this.#codecs.values()) {
      if (codec.mimeType.toLowerCase().startsWith(`${kind}/`)) return [codec];
    }
    for (let pt = 96; pt <= 127; pt++) {
      if (!this.#codecs.has(pt)) return [{ ...previous[0]!, payloadType: pt }];
    }
    return [...previous];
  }
}

/** What one media m-line of a subscriber offer declares. */
export interface OfferedSection {
  kind: MediaKind;
  /** At least one. */
  codecs: readonly RtpCodec[];
  /** The track it sends, or null: inactive, no SSRC. */
  sender: {
    ssrc: number;
    cname: string;
    streamId: string;
    trackId: string;
    extensions: readonly RtpHeaderExtension[];
  } | null;
  /** The subscriber rejected it (port 0 in an answer): it stays rejected, out of the BUNDLE. */
  rejected: boolean;
}

const OWNED_ATTRIBUTES =
  /^a=(sendrecv|sendonly|recvonly|inactive|ssrc:|ssrc-group:|msid:|rtpmap:|fmtp:|rtcp-fb:|extmap:|extmap-allow-mixed)/;

function sectionLines(s: OfferedSection): string[] {
  const out = [s.sender ? 'a=sendonly' : 'a=inactive'];
  const sender = s.sender;
  if (sender) out.push(`a=msid:${sender.streamId} ${sender.trackId}`);
  for (const e of sender?.extensions ?? []) out.push(`a=extmap:${e.id} ${e.uri}`);
  for (const c of s.codecs) {
    const name = c.mimeType.split('/')[1] ?? '';
    out.push(`a=rtpmap:${c.payloadType} ${name}/${c.clockRate}${c.channels ? `/${c.channels}` : ''}`);
    if (c.fmtp !== undefined) out.push(`a=fmtp:${c.payloadType} ${c.fmtp}`);
    // As the per-pair transports declare them (see sendingMedia in subscriber.ts): no "ccm fir".
    if (s.kind === 'video') {
      for (const fb of ['nack', 'nack pli', 'goog-remb']) out.push(`a=rtcp-fb:${c.payloadType} ${fb}`);
    }
  }
  if (sender) {
    out.push(
      `a=ssrc:${sender.ssrc} cname:${sender.cname}`,
      `a=ssrc:${sender.ssrc} msid:${sender.streamId} ${sender.trackId}`,
    );
  }
  return out;
}

function midOf(lines: readonly string[]): string | undefined {
  return lines.find((l) => l.startsWith('a=mid:'))?.slice(6);
}

/**
 * libdatachannel's offer with every media m-line listed in `sections` rewritten as described
 * there, its lip-sync groups dropped (the msid stream ids group the tracks), and a stable origin
 * line (same session id, version = offer version; libdatachannel picks a new session id each time).
 */
export function writeSubscriberOffer(
  sdp: string,
  sections: ReadonlyMap<string, OfferedSection>,
  origin: { sessionId: string; version: number },
): string {
  const parsed = parseSdp(sdp);
  const rejected = new Set<string>();
  for (const m of parsed.media) {
    if (m.kind !== 'audio' && m.kind !== 'video') continue;
    const mid = midOf(m.lines);
    const section = mid === undefined ? undefined : sections.get(mid);
    if (mid === undefined || !section) continue;
    if (section.rejected) {
      m.port = 0;
      rejected.add(mid);
    }
    m.fmts = section.codecs.map((c) => String(c.payloadType));
    const kept = m.lines.filter((l) => !OWNED_ATTRIBUTES.test(l));
    const at = kept.findIndex((l) => l.startsWith('a=mid:'));
    kept.splice(at + 1, 0, ...sectionLines(section));
    m.lines = kept;
  }
  parsed.session = parsed.session
    .filter((l) => !l.startsWith('a=group:LS'))
    .map((l) => {
      if (l.startsWith('o=')) {
        const parts = l.split(' ');
        parts[1] = origin.sessionId;
        parts[2] = String(origin.version);
        return parts.join(' ');
      }
      if (l.startsWith('a=group:BUNDLE ') && rejected.size > 0) {
        return l
          .split(' ')
          .filter((x) => !rejected.has(x))
          .join(' ');
      }
      return l;
    });
  return serializeSdp(parsed);
}

/** The session id of an SDP's origin line. */
export function originSessionId(sdp: string): string {
  return /^o=\S+ (\S+) /m.exec(sdp)?.[1] ?? '1';
}

/**
 * The answer as libdatachannel is given it: each m-line that sends a track also names that
 * track's SSRC. libdatachannel routes the subscriber's RTCP (PLI, NACK, reports) to a track by the
 * SSRCs the descriptions name; a reused m-line's native track only had its first SSRC in the
 * local description, and without this the feedback about its later tracks would be dropped.
 */
export function registerAnswerSsrcs(answerSdp: string, ssrcs: ReadonlyMap<string, number>): string {
  const parsed = parseSdp(answerSdp);
  for (const m of parsed.media) {
    const mid = midOf(m.lines);
    const ssrc = mid === undefined ? undefined : ssrcs.get(mid);
    if (ssrc !== undefined && m.port !== 0) m.lines.push(`a=ssrc:${ssrc} cname:parley-sfu`);
  }
  return serializeSdp(parsed);
}

/** The mids of media m-lines an answer rejects (port 0). */
export function rejectedMids(answerSdp: string): string[] {
  return parseSdp(answerSdp)
    .media.filter((m) => m.port === 0 && (m.kind === 'audio' || m.kind === 'video'))
    .map((m) => midOf(m.lines))
    .filter((mid): mid is string => mid !== undefined);
}
