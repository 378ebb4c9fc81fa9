/**
 * The UDP ports of the captures on 127.0.0.1: the relay hands each ffmpeg a free pair, and flushes
 * its buffered packets once ffmpeg has bound it (stream.ts).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';

function bindUdp(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind({ port, address: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

/** A port p with p and p+1 free (ffmpeg binds RTP on p and RTCP on p+1). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const a = await bindUdp(0);
    if (!a) continue;
    const p = a.address().port;
    if (p >= 65535) {
      a.close();
      continue;
    }
    const b = await bindUdp(p + 1);
    a.close();
    if (b) {
      b.close();
      return p;
    }
  }
  throw new Error('no free UDP port pair on 127.0.0.1');
}

/** Whether some socket is bound to UDP `port` (Linux: /proc/net/udp{,6}); null if unknown. */
export async function udpPortBound(port: number): Promise<boolean | null> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  let known = false;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      const text = await readFile(f, 'utf8');
      known = true;
      for (const line of text.split('\n')) {
        const local = line.trim().split(/\s+/)[1];
        if (local && `${local.slice(local.lastIndexOf(':'))} `.toUpperCase() === hex) return true;
      }
    } catch {
      // not Linux
    }
  }
  return known ? false : null;
}
