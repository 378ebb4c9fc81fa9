/**
 * SDP helpers for the SFU: trimming a publisher's offer down to what the SFU forwards, describing
 * the tracks it carries, and rewriting ICE candidates to announced addresses.
 *
 * Why trim: libdatachannel's answer echoes every codec and header extension of the offer. If the
 * answer accepted RTX, RED/ULPFEC or transport-cc, Chrome would send (and expect feedback for)
 * things the SFU never handles, and its bandwidth estimate would collapse. So the offer is cut to
 * Opus for audio and VP8 / H.264 (packetization-mode=1) for video, the RTCP feedback the SFU
 * answers (nack, nack pli, ccm fir, goog-remb), and a short list of header extensions that are
 * safe to forward byte for byte.
 */
import { SfuError } from './errors.js';
import type { MediaKind, RtpCodec, RtpHeaderExtension, VideoCodecName } from './types.js';

/** Header extensions kept on the publisher leg and re-declared (same ids) to subscribers. */
export const FORWARDED_EXTENSIONS: ReadonlySet<string> = new Set([
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'urn:3gpp:video-orientation',
  'urn:ietf:params:rtp-hdrext:toffset',
]);

const KEPT_FEEDBACK: ReadonlySet<string> = new Set(['nack', 'nack pli', 'ccm fir', 'goog-remb']);

interface MediaSection {
  kind: string;
  port: number;
  proto: string;
  fmts: string[];
  lines: string[];
}

interface ParsedSdp {
  session: string[];
  media: MediaSection[];
}

export function parseSdp(sdp: string): ParsedSdp {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const out: ParsedSdp = { session: [], media: [] };
  let current: MediaSection | null = null;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const parts = line.slice(2).split(' ');
      const [kind, port, proto, ...fmts] = parts;
      if (kind === undefined || port === undefined || proto === undefined) {
        throw new SfuError('invalid-sdp', `malformed media line: ${line}`);
      }
      current = { kind, port: Number(port), proto, fmts, lines: [] };
      out.media.push(current);
    } else if (current) {
      current.lines.push(line);
    } else {
      out.session.push(line);
    }
  }
  if (!out.session.some((l) => l.startsWith('v=')))
    throw new SfuError('invalid-sdp', 'not an SDP (no v= line)');
  return out;
}

export function serializeSdp(sdp: ParsedSdp): string {
  const lines = [...sdp.session];
  for (const m of sdp.media) {
    lines.push(`m=${m.kind} ${m.port} ${m.proto} ${m.fmts.join(' ')}`, ...m.lines);
  }
  return lines.join('\r\n') + '\r\n';
}

function attr(line: string): { key: string; value: string } | null {
  if (!line.startsWith('a=')) return null;
  const body = line.slice(2);
  const colon = body.indexOf(':');
  return colon < 0 ? { key: body, value: '' } : { key: body.slice(0, colon), value: body.slice(colon + 1) };
}

/** Splits "pt rest" (rtpmap, fmtp, rtcp-fb values). */
function ptAndRest(value: string): [string, string] {
  const sp = value.indexOf(' ');
  return sp < 0 ? [value, ''] : [value.slice(0, sp), value.slice(sp + 1)];
}

function fmtpParams(fmtp: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (fmtp ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0)
      m.set(
        part.slice(0, eq).trim().toLowerCase(),
        part
          .slice(eq + 1)
          .trim()
          .toLowerCase(),
      );
  }
  return m;
}

/** A sending media section of a publisher's offer, as the SFU will forward it. */
export interface OfferedTrack {
  mid: string;
  kind: MediaKind;
  ssrc: number;
  cname: string;
  /** The publisher's own msid (stream id, track id), informational. */
  msid: { streamId: string; trackId: string } | null;
  codecs: RtpCodec[];
  headerExtensions: RtpHeaderExtension[];
}

export interface TrimmedOffer {
  sdp: string;
  tracks: OfferedTrack[];
}

interface CodecCandidate {
  pt: number;
  name: string;
  clockRate: number;
  channels?: number;
  fmtp?: string;
}

function pickCodecs(kind: MediaKind, candidates: CodecCandidate[], videoCodecs: readonly VideoCodecName[]) {
  if (kind === 'audio') {
    const opus = candidates.find((c) => c.name === 'opus' && c.clockRate === 48000 && c.channels === 2);
    return opus ? [opus] : [];
  }
  const picked: CodecCandidate[] = [];
  for (const want of videoCodecs) {
    if (want === 'VP8') {
      const vp8 = candidates.find((c) => c.name === 'vp8' && c.clockRate === 90000);
      if (vp8) picked.push(vp8);
    } else {
      // H.264: packetization-mode=1 only; prefer Constrained Baseline 3.1, then Baseline, then
      // any other profile, so that every browser that decodes H.264 can decode what we forward.
      const h264 = candidates.filter(
        (c) => c.name === 'h264' && fmtpParams(c.fmtp).get('packetization-mode') === '1',
      );
      const rank = (c: CodecCandidate) => {
        const p = fmtpParams(c.fmtp).get('profile-level-id') ?? '';
        if (p === '42e01f') return 0;
        if (p.startsWith('42e0')) return 1;
        if (p.startsWith('4200')) return 2;
        return 3;
      };
      const best = h264.sort((a, b) => rank(a) - rank(b))[0];
      if (best) picked.push(best);
    }
  }
  return picked;
}

/**
 * Cuts a publisher's offer to what the SFU forwards and describes the tracks it sends.
 * Media sections with no usable codec are rejected (port 0). Throws SfuError('invalid-sdp') for an
 * unusable offer and SfuError('no-media') when nothing is left to publish.
 */
export function trimPublisherOffer(offerSdp: string, videoCodecs: readonly VideoCodecName[]): TrimmedOffer {
  const parsed = parseSdp(offerSdp);
  const tracks: OfferedTrack[] = [];
  const rejectedMids: string[] = [];

  // Mixed one-/two-byte header extensions are not needed by anything we keep; without this line
  // Chrome only uses the one-byte form, which every receiver parses.
  parsed.session = parsed.session.filter((l) => l !== 'a=extmap-allow-mixed');

  for (const m of parsed.media) {
    if (m.kind !== 'audio' && m.kind !== 'video') continue;
    if (m.port === 0) continue;
    const kind: MediaKind = m.kind;
    const mid = m.lines.map(attr).find((a) => a?.key === 'mid')?.value;
    if (mid === undefined) throw new SfuError('invalid-sdp', `${kind} media section has no a=mid`);

    const rtpmap = new Map<string, string>();
    const fmtp = new Map<string, string>();
    const fb = new Map<string, string[]>();
    let direction = 'sendrecv';
    for (const line of m.lines) {
      const a = attr(line);
      if (!a) continue;
      if (a.key === 'rtpmap') {
        const [pt, rest] = ptAndRest(a.value);
        rtpmap.set(pt, rest);
      } else if (a.key === 'fmtp') {
        const [pt, rest] = ptAndRest(a.value);
        fmtp.set(pt, rest);
      } else if (a.key === 'rtcp-fb') {
        const [pt, rest] = ptAndRest(a.value);
        fb.set(pt, [...(fb.get(pt) ?? []), rest]);
      } else if (['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a.key)) {
        direction = a.key;
      }
    }

    const candidates: CodecCandidate[] = [];
    for (const pt of m.fmts) {
      const map = rtpmap.get(pt);
      if (!map) continue;
      const [name = '', clock = '0', channels] = map.split('/');
      const c: CodecCandidate = { pt: Number(pt), name: name.toLowerCase(), clockRate: Number(clock) };
      if (channels !== undefined) c.channels = Number(channels);
      const f = fmtp.get(pt);
      if (f !== undefined) c.fmtp = f;
      candidates.push(c);
    }
    const kept = pickCodecs(kind, candidates, videoCodecs);
    if (kept.length === 0) {
      // Nothing we can forward: reject the section (RFC 3264: port 0 in offer and answer).
      m.port = 0;
      rejectedMids.push(mid);
      continue;
    }
    const keptPts = new Set(kept.map((c) => String(c.pt)));

    // SSRCs: the primary one is the first SSRC that is not the secondary of an FID/FEC-FR group.
    const secondary = new Set<string>();
    for (const line of m.lines) {
      const a = attr(line);
      if (a?.key === 'ssrc-group') {
        const [, , ...rest] = a.value.split(' ');
        for (const s of rest) secondary.add(s);
      }
      if (a?.key === 'rid' || a?.key === 'simulcast') {
        throw new SfuError('invalid-sdp', 'simulcast (a=rid / a=simulcast) is not supported');
      }
    }
    const ssrcLines = m.lines.map(attr).filter((a): a is { key: string; value: string } => a?.key === 'ssrc');
    const primary = ssrcLines.map((a) => a.value.split(' ')[0] ?? '').find((s) => s && !secondary.has(s));

    const headerExtensions: RtpHeaderExtension[] = [];
    const lines: string[] = [];
    for (const line of m.lines) {
      const a = attr(line);
      if (!a) {
        lines.push(line);
        continue;
      }
      switch (a.key) {
        case 'rtpmap':
        case 'fmtp': {
          if (keptPts.has(ptAndRest(a.value)[0])) lines.push(line);
          break;
        }
        case 'rtcp-fb': {
          const [pt, rest] = ptAndRest(a.value);
          if (keptPts.has(pt) && KEPT_FEEDBACK.has(rest)) lines.push(line);
          break;
        }
        case 'extmap': {
          const [idDir, uri = ''] = a.value.split(' ');
          if (FORWARDED_EXTENSIONS.has(uri)) {
            lines.push(line);
            headerExtensions.push({ id: Number((idDir ?? '').split('/')[0]), uri });
          }
          break;
        }
        case 'ssrc': {
          if (a.value.split(' ')[0] === primary) lines.push(line);
          break;
        }
        case 'ssrc-group':
        case 'rtcp-xr':
          break;
        default:
          lines.push(line);
      }
    }
    m.fmts = kept.map((c) => String(c.pt));
    m.lines = lines;

    if (direction !== 'sendonly' && direction !== 'sendrecv') continue;
    if (primary === undefined) {
      throw new SfuError('invalid-sdp', `${kind} media section mid=${mid} declares no a=ssrc`);
    }
    const cname =
      ssrcLines.map((a) => /^(\d+) cname:(\S+)/.exec(a.value)).find((r) => r?.[1] === primary)?.[2] ??
      'parley';
    const msidAttr = m.lines
      .map(attr)
      .find((a) => a?.key === 'msid')
      ?.value.split(' ');
    tracks.push({
      mid,
      kind,
      ssrc: Number(primary),
      cname,
      msid: msidAttr?.[0] ? { streamId: msidAttr[0], trackId: msidAttr[1] ?? msidAttr[0] } : null,
      codecs: kept.map((c) => {
        const codec: RtpCodec = {
          payloadType: c.pt,
          mimeType: `${kind}/${c.name === 'vp8' ? 'VP8' : c.name === 'h264' ? 'H264' : c.name}`,
          clockRate: c.clockRate,
          rtcpFeedback: (fb.get(String(c.pt)) ?? []).filter((f) => KEPT_FEEDBACK.has(f)),
        };
        if (c.channels !== undefined) codec.channels = c.channels;
        if (c.fmtp !== undefined) codec.fmtp = c.fmtp;
        return codec;
      }),
      headerExtensions,
    });
  }

  if (rejectedMids.length > 0) {
    parsed.session = parsed.session.map((l) =>
      l.startsWith('a=group:BUNDLE ')
        ? [
            'a=group:BUNDLE',
            ...l
              .slice(15)
              .split(' ')
              .filter((mid) => !rejectedMids.includes(mid)),
          ].join(' ')
        : l,
    );
  }
  if (tracks.length === 0)
    throw new SfuError('no-media', 'the offer sends no audio (Opus) or video we can forward');
  return { sdp: serializeSdp(parsed), tracks };
}

/**
 * Rewrites host candidates to the announced addresses (one candidate per announced address, same
 * port and transport). Input and output are candidate attribute values, with or without "a=".
 * Returns the input unchanged when nothing is announced or the candidate is not a host candidate.
 */
export function rewriteCandidate(candidate: string, announcedIps: readonly string[]): string[] {
  const body = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
  if (announcedIps.length === 0) return [body];
  const parts = body.split(' ');
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
  if (parts.length < 8 || parts[6] !== 'typ' || parts[7] !== 'host') return [body];
  return announcedIps.map((ip, i) => {
    const copy = [...parts];
    copy[0] = i === 0 ? (parts[0] ?? 'candidate:1') : `${parts[0]}${i}`;
    copy[3] = String(Math.max(1, Number(parts[3]) - i));
    copy[4] = ip;
    return copy.join(' ');
  });
}

/** Rewrites the candidates of a whole SDP (see rewriteCandidate); duplicates are dropped. */
export function rewriteSdpCandidates(sdp: string, announcedIps: readonly string[]): string {
  if (announcedIps.length === 0) return sdp;
  const out: string[] = [];
  const seen = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('a=candidate:')) {
      for (const c of rewriteCandidate(line, announcedIps)) {
        const key = candidateKey(c);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(`a=${c}`);
      }
    } else if (line.startsWith('m=')) {
      seen.clear();
      out.push(line);
    } else if (/^c=IN IP[46] /.test(line)) {
      const ip = announcedIps[0] ?? '';
      out.push(`c=IN ${ip.includes(':') ? 'IP6' : 'IP4'} ${ip}`);
    } else {
      out.push(line);
    }
  }
  return out.join('\r\n');
}

/** address/port/transport of a candidate: what makes two candidates the same path. */
export function candidateKey(candidate: string): string {
  const parts = (candidate.startsWith('a=') ? candidate.slice(2) : candidate).split(' ');
  return `${parts[2]?.toLowerCase()} ${parts[4]} ${parts[5]}`;
}

/** The candidate lines ("candidate:...") of an SDP. */
export function sdpCandidates(sdp: string): string[] {
  return sdp
    .split(/\r?\n/)
    .filter((l) => l.startsWith('a=candidate:'))
    .map((l) => l.slice(2));
}

/**
 * An SDP without its candidate lines (and end-of-candidates), and those candidates with the mid
 * of their media section, ready to be sent as trickled candidates.
 */
export function splitSdpCandidates(sdp: string): { sdp: string; candidates: [string, string][] } {
  const kept: string[] = [];
  const candidates: [string, string][] = [];
  let sectionStart = -1;
  const sectionCandidates: string[] = [];
  const flushSection = (): void => {
    if (sectionStart < 0) return;
    const midLine = kept.slice(sectionStart).find((l) => l.startsWith('a=mid:'));
    const mid = midLine ? midLine.slice('a=mid:'.length).trim() : String(sectionStart);
    for (const c of sectionCandidates.splice(0)) candidates.push([c, mid]);
  };
  const lines = sdp.split(/\r?\n/);
  for (const line of lines) {
    if (line.startsWith('m=')) {
      flushSection();
      sectionStart = kept.length;
    }
    if (line.startsWith('a=candidate:')) sectionCandidates.push(line.slice(2));
    else if (line !== 'a=end-of-candidates') kept.push(line);
  }
  flushSection();
  return { sdp: kept.join('\r\n'), candidates };
}
