/**
 * Where a NUT capture chunk starts: the timestamp of its first packet, read from the file's first
 * syncpoint (NUT spec: main header → time bases; syncpoint → global_key_pts), so that the composer
 * learns the start of a chunk still being written without starting a process (it needs it every
 * window). The nut muxer writes a syncpoint before the first packet, with that packet's timestamp
 * (its dts: our captures have no B-frames). null if the file does not have one yet or is not as
 * expected: the caller then asks ffmpeg.
 */
import { open } from 'node:fs/promises';

const MAIN_STARTCODE = Buffer.from([0x4e, 0x4d, 0x7a, 0x56, 0x1f, 0x5f, 0x04, 0xad]);
const SYNCPOINT_STARTCODE = Buffer.from([0x4e, 0x4b, 0xe4, 0xad, 0xee, 0xca, 0x45, 0x69]);

/** The first timestamp of a NUT file, ms (see the header). */
export async function nutFirstTimestampMs(file: string): Promise<number | null> {
  let head: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
  return firstTimestampMs(head);
}

/** Same, from the first bytes of the file. */
export function firstTimestampMs(b: Buffer): number | null {
  let p = 0;
  /** NUT's variable-length unsigned integer: 7 bits a byte, most significant first. */
  const v = (): number => {
    let x = 0;
    for (let i = 0; i < 8; i++) {
      if (p >= b.length) throw new RangeError('truncated');
      const c = b[p++]!;
      x = x * 128 + (c & 127);
      if (!(c & 128)) return x;
    }
    throw new RangeError('varint too long');
  };
  /** Moves past a packet's startcode and header; false if there is none. */
  const packet = (code: Buffer): boolean => {
    const at = b.indexOf(code, p);
    if (at < 0) return false;
    p = at + 8;
    if (v() > 4096) p += 4; // forward_ptr; a header checksum follows a long one
    return true;
  };
  try {
    if (!packet(MAIN_STARTCODE)) return null;
    if (v() > 3) v(); // version, minor_version
    v(); // stream_count
    v(); // max_distance
    const count = v();
    if (count < 1 || count > 64) return null;
    const timeBases: [number, number][] = [];
    for (let i = 0; i < count; i++) timeBases.push([v(), v()]);
    if (!packet(SYNCPOINT_STARTCODE)) return null;
    const t = v(); // global_key_pts: timestamp * count + time base index
    const [num, den] = timeBases[t % count]!;
    if (!num || !den) return null;
    return (Math.floor(t / count) * num * 1000) / den;
  } catch {
    return null;
  }
}
