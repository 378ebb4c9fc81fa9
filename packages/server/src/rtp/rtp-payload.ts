/**
 * Just enough RTP payload parsing to tell where a video frame starts and whether it is a keyframe
 * (VP8, RFC 7741; H.264 packetization-mode 1, RFC 6184). Pure functions on Buffers, no native
 * dependency: the recorder's child process uses them too.
 */

export type VideoPayloadCodec = 'vp8' | 'h264';

/** Codec of a mime type ('video/VP8', 'video/H264'), or null for anything else. */
export function videoPayloadCodec(mimeType: string): VideoPayloadCodec | null {
  const m = mimeType.toLowerCase();
  if (m === 'video/vp8') return 'vp8';
  if (m === 'video/h264') return 'h264';
  return null;
}

/** [start, end) of the payload of an RTP packet (after CSRCs and header extension, before padding), or null if malformed. */
export function rtpPayloadBounds(packet: Buffer): [number, number] | null {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return null;
  const b0 = packet[0]!;
  let start = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (packet.length < start + 4) return null;
    start += 4 + packet.readUInt16BE(start + 2) * 4;
  }
  let end = packet.length;
  if (b0 & 0x20) end -= packet[packet.length - 1]!;
  return start < end ? [start, end] : null;
}

export interface FrameStartInfo {
  /** This packet carries the beginning of a frame (VP8: S=1, PID=0; H.264: not a FU-A continuation). */
  start: boolean;
  /** ...and that frame is a keyframe (VP8 key frame; H.264 IDR slice or SPS). */
  keyFrame: boolean;
}

const NOT_START: FrameStartInfo = { start: false, keyFrame: false };

/** Whether a video RTP packet starts a frame, and a keyframe. */
export function frameStartInfo(codec: VideoPayloadCodec, packet: Buffer): FrameStartInfo {
  const bounds = rtpPayloadBounds(packet);
  if (!bounds) return NOT_START;
  const [s, e] = bounds;
  return codec === 'vp8' ? vp8FrameStart(packet, s, e) : h264FrameStart(packet, s, e);
}

function vp8FrameStart(p: Buffer, s: number, e: number): FrameStartInfo {
  const b0 = p[s]!;
  const startOfPartition = (b0 & 0x10) !== 0;
  const partitionId = b0 & 0x0f;
  if (!startOfPartition || partitionId !== 0) return NOT_START;
  let i = s + 1;
  if (b0 & 0x80) {
    if (i >= e) return NOT_START;
    const x = p[i++]!;
    if (x & 0x80) {
      if (i >= e) return NOT_START;
      i += p[i]! & 0x80 ? 2 : 1; // PictureID, 7 or 15 bits
    }
    if (x & 0x40) i++; // TL0PICIDX
    if (x & 0x30) i++; // TID/Y/KEYIDX
  }
  if (i >= e) return NOT_START;
  return { start: true, keyFrame: (p[i]! & 0x01) === 0 };
}

function h264FrameStart(p: Buffer, s: number, e: number): FrameStartInfo {
  const type = p[s]! & 0x1f;
  if (type >= 1 && type <= 23) return { start: true, keyFrame: type === 5 || type === 7 };
  if (type === 24) {
    // STAP-A: 16-bit size + NAL unit, repeated.
    let keyFrame = false;
    for (let i = s + 1; i + 2 < e;) {
      const size = p.readUInt16BE(i);
      const nal = p[i + 2]! & 0x1f;
      if (nal === 5 || nal === 7) keyFrame = true;
      i += 2 + size;
    }
    return { start: true, keyFrame };
  }
  if (type === 28 && s + 1 < e) {
    const fu = p[s + 1]!;
    const start = (fu & 0x80) !== 0;
    return { start, keyFrame: start && (fu & 0x1f) === 5 };
  }
  return NOT_START;
}
