/**
 * The few RTP/RTCP wire helpers the SFU and the recorder need (RFC 3550, 4585, 5104,
 * draft-alvestrand-rmcat-remb). Everything works on Buffers, without copies on the parsing side,
 * and without native dependencies: the recorder's child process uses them too.
 */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_RTPFB = 205;
export const RTCP_PSFB = 206;

/** RFC 5761: RTP payload types 64-95 (with the marker bit masked) are RTCP packet types 192-223. */
export function isRtcp(buf: Buffer): boolean {
  if (buf.length < 4) return false;
  const pt = buf[1]! & 0x7f;
  return pt >= 64 && pt <= 95;
}

export interface RtcpPacketView {
  /** Packet type (200 SR, 201 RR, 205 RTPFB, 206 PSFB, ...). */
  type: number;
  /** Report count, or FMT for feedback packets. */
  count: number;
  offset: number;
  /** Bytes, header included. */
  length: number;
}

/** The packets of a (possibly compound) RTCP buffer; stops at the first malformed header. */
export function rtcpPackets(buf: Buffer): RtcpPacketView[] {
  const out: RtcpPacketView[] = [];
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const b0 = buf[offset]!;
    if (b0 >> 6 !== 2) break;
    const length = (buf.readUInt16BE(offset + 2) + 1) * 4;
    if (offset + length > buf.length) break;
    out.push({ type: buf[offset + 1]!, count: b0 & 0x1f, offset, length });
    offset += length;
  }
  return out;
}

/** Media source SSRC of a feedback packet (RTPFB / PSFB); for FIR, the SSRCs in its FCI. */
export function feedbackMediaSsrcs(buf: Buffer, p: RtcpPacketView): number[] {
  if (p.length < 12) return [];
  if (p.type === RTCP_PSFB && p.count === 4) {
    const ssrcs: number[] = [];
    for (let o = p.offset + 12; o + 8 <= p.offset + p.length; o += 8) ssrcs.push(buf.readUInt32BE(o));
    return ssrcs;
  }
  return [buf.readUInt32BE(p.offset + 8)];
}

/** Sequence numbers a generic NACK asks for. */
export function nackSequenceNumbers(buf: Buffer, p: RtcpPacketView): number[] {
  const seqs: number[] = [];
  for (let o = p.offset + 12; o + 4 <= p.offset + p.length; o += 4) {
    const pid = buf.readUInt16BE(o);
    const blp = buf.readUInt16BE(o + 2);
    seqs.push(pid);
    for (let i = 0; i < 16; i++) if (blp & (1 << i)) seqs.push((pid + i + 1) & 0xffff);
  }
  return seqs;
}

export interface SenderReportInfo {
  ssrc: number;
  ntpMsw: number;
  ntpLsw: number;
  rtpTimestamp: number;
}

export function parseSenderReport(buf: Buffer, p: RtcpPacketView): SenderReportInfo | null {
  if (p.type !== RTCP_SR || p.length < 28) return null;
  return {
    ssrc: buf.readUInt32BE(p.offset + 4),
    ntpMsw: buf.readUInt32BE(p.offset + 8),
    ntpLsw: buf.readUInt32BE(p.offset + 12),
    rtpTimestamp: buf.readUInt32BE(p.offset + 16),
  };
}

/** A standalone copy of an SR without its report blocks (which describe the publisher's own
 * receiving, meaningless to a subscriber). */
export function senderReportOnly(buf: Buffer, p: RtcpPacketView): Buffer {
  const out = Buffer.allocUnsafe(28);
  buf.copy(out, 0, p.offset, p.offset + 28);
  out[0] = 0x80; // V=2, P=0, RC=0
  out.writeUInt16BE(6, 2);
  return out;
}

function header(buf: Buffer, count: number, type: number, totalBytes: number): void {
  buf[0] = 0x80 | (count & 0x1f);
  buf[1] = type;
  buf.writeUInt16BE(totalBytes / 4 - 1, 2);
}

export interface ReportBlock {
  ssrc: number;
  /** 0..255: fraction of packets lost since the previous report, in 1/256. */
  fractionLost: number;
  /** Cumulative packets lost (24-bit signed). */
  cumulativeLost: number;
  extendedHighestSeq: number;
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received, 0 if none. */
  lastSr: number;
  /** Delay since that SR, in 1/65536 s. */
  delaySinceLastSr: number;
}

export function buildReceiverReport(senderSsrc: number, blocks: ReportBlock[]): Buffer {
  const size = 8 + 24 * blocks.length;
  const buf = Buffer.alloc(size);
  header(buf, blocks.length, RTCP_RR, size);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  let o = 8;
  for (const b of blocks) {
    buf.writeUInt32BE(b.ssrc >>> 0, o);
    const lost = Math.max(-0x800000, Math.min(0x7fffff, b.cumulativeLost)) & 0xffffff;
    // (<< 24 of a byte >= 128 is negative in JS; >>> 0 makes it unsigned again)
    buf.writeUInt32BE((((b.fractionLost & 0xff) << 24) | lost) >>> 0, o + 4);
    buf.writeUInt32BE(b.extendedHighestSeq >>> 0, o + 8);
    buf.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.round(b.jitter))) >>> 0, o + 12);
    buf.writeUInt32BE(b.lastSr >>> 0, o + 16);
    buf.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.round(b.delaySinceLastSr))) >>> 0, o + 20);
    o += 24;
  }
  return buf;
}

/** REMB (PSFB FMT=15): the receiver's estimate of the bitrate the sender may use. */
export function buildRemb(senderSsrc: number, bitrate: number, ssrcs: number[]): Buffer {
  const size = 20 + 4 * ssrcs.length;
  const buf = Buffer.alloc(size);
  header(buf, 15, RTCP_PSFB, size);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  buf.writeUInt32BE(0, 8);
  buf.write('REMB', 12, 'ascii');
  let mantissa = Math.max(0, Math.floor(bitrate));
  let exp = 0;
  while (mantissa > 0x3ffff) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  buf.writeUInt32BE((((ssrcs.length & 0xff) << 24) | (exp << 18) | mantissa) >>> 0, 16);
  ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, 20 + 4 * i));
  return buf;
}

/** Decodes the bitrate of a REMB packet, or null when it is not one. */
export function parseRemb(buf: Buffer, p: RtcpPacketView): number | null {
  if (p.type !== RTCP_PSFB || p.count !== 15 || p.length < 20) return null;
  if (buf.toString('ascii', p.offset + 12, p.offset + 16) !== 'REMB') return null;
  const v = buf.readUInt32BE(p.offset + 16);
  return (v & 0x3ffff) * 2 ** ((v >>> 18) & 0x3f);
}

/** Picture Loss Indication (PSFB FMT=1). */
export function buildPli(senderSsrc: number, mediaSsrc: number): Buffer {
  const buf = Buffer.alloc(12);
  header(buf, 1, RTCP_PSFB, 12);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  buf.writeUInt32BE(mediaSsrc >>> 0, 8);
  return buf;
}

/** Generic NACK (RTPFB FMT=1) for the given sequence numbers. */
export function buildNack(senderSsrc: number, mediaSsrc: number, seqs: number[]): Buffer {
  const items: [number, number][] = [];
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  for (const seq of sorted) {
    const last = items[items.length - 1];
    const diff = last ? (seq - last[0]) & 0xffff : 0;
    if (last && diff >= 1 && diff <= 16) last[1] |= 1 << (diff - 1);
    else items.push([seq, 0]);
  }
  const size = 12 + 4 * items.length;
  const buf = Buffer.alloc(size);
  header(buf, 1, RTCP_RTPFB, size);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  buf.writeUInt32BE(mediaSsrc >>> 0, 8);
  items.forEach(([pid, blp], i) => {
    buf.writeUInt16BE(pid, 12 + 4 * i);
    buf.writeUInt16BE(blp, 14 + 4 * i);
  });
  return buf;
}

/** BYE for the given SSRCs: tells a receiver those streams have ended. */
export function buildBye(ssrcs: number[]): Buffer {
  const size = 4 + 4 * ssrcs.length;
  const buf = Buffer.alloc(size);
  header(buf, ssrcs.length, RTCP_BYE, size);
  ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, 4 + 4 * i));
  return buf;
}

/** A minimal SR (used by test peers and the bench; the SFU forwards the publisher's own SRs). */
export function buildSenderReport(
  ssrc: number,
  ntpMs: number,
  rtpTimestamp: number,
  packets: number,
  octets: number,
): Buffer {
  const buf = Buffer.alloc(28);
  header(buf, 0, RTCP_SR, 28);
  buf.writeUInt32BE(ssrc >>> 0, 4);
  const ntp = msToNtp(ntpMs);
  buf.writeUInt32BE(ntp.msw, 8);
  buf.writeUInt32BE(ntp.lsw, 12);
  buf.writeUInt32BE(rtpTimestamp >>> 0, 16);
  buf.writeUInt32BE(packets >>> 0, 20);
  buf.writeUInt32BE(octets >>> 0, 24);
  return buf;
}

const NTP_EPOCH_OFFSET_S = 2208988800;

/** Unix milliseconds → 64-bit NTP timestamp halves. */
export function msToNtp(ms: number): { msw: number; lsw: number } {
  const seconds = Math.floor(ms / 1000);
  const frac = ms / 1000 - seconds;
  return { msw: (seconds + NTP_EPOCH_OFFSET_S) >>> 0, lsw: Math.floor(frac * 2 ** 32) >>> 0 };
}

// ---- RTP -------------------------------------------------------------------------------------

export interface RtpHeaderView {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
}

export function parseRtpHeader(buf: Buffer): RtpHeaderView | null {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return null;
  return {
    payloadType: buf[1]! & 0x7f,
    marker: (buf[1]! & 0x80) !== 0,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
  };
}

/** Builds an RTP packet (test peers and the bench send pre-made packets with it). */
export function buildRtp(opts: {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  payload: Buffer;
}): Buffer {
  const buf = Buffer.alloc(12 + opts.payload.length);
  buf[0] = 0x80;
  buf[1] = (opts.marker ? 0x80 : 0) | (opts.payloadType & 0x7f);
  buf.writeUInt16BE(opts.sequenceNumber & 0xffff, 2);
  buf.writeUInt32BE(opts.timestamp >>> 0, 4);
  buf.writeUInt32BE(opts.ssrc >>> 0, 8);
  opts.payload.copy(buf, 12);
  return buf;
}
