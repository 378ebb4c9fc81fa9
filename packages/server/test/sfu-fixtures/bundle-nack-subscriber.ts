/**
 * The answering side of a subscriber connection in a child process, driven over IPC by
 * sfu-bundle.test.ts. Being a separate process, it can be stopped (SIGSTOP) while the SFU keeps
 * sending, so that its UDP socket buffer overflows and packets are really lost between the SFU
 * and it (a retransmission of a packet it did receive would be dropped by its SRTP replay check).
 *
 * Messages in: { type: 'offer', sdp } → { type: 'answer', sdp }   (any number of offers)
 *              { type: 'watch', ssrc } → { type: 'watching' }      (record that SSRC's packets)
 *              { type: 'received' } → { type: 'received', seqs }
 *              { type: 'nack', seqs } → { type: 'nacked' }
 *              { type: 'get', seqs } → { type: 'packets', packets: (base64 | null)[] }
 *              { type: 'close' } → closes everything and lets the process end
 */
import { PeerConnection, type DataChannel, type Track } from 'node-datachannel';
import { buildNack, isRtcp } from '../../src/rtp/rtcp.js';

type Message =
  | { type: 'offer'; sdp: string }
  | { type: 'watch'; ssrc: number }
  | { type: 'received' }
  | { type: 'nack'; seqs: number[] }
  | { type: 'get'; seqs: number[] }
  | { type: 'close' };

const send = (m: object) => process.send?.(m);
const pc = new PeerConnection('bundle-nack-subscriber', {
  iceServers: [],
  bindAddress: '127.0.0.1',
  forceMediaTransport: true,
});
pc.onStateChange(() => undefined);
const tracks: Track[] = [];
let channel: DataChannel | null = null;
const received = new Map<number, Buffer>();
let watched = 0;

pc.onDataChannel((dc) => {
  channel = dc;
  dc.onClosed(() => undefined);
});
pc.onTrack((track) => {
  tracks.push(track);
  track.onClosed(() => undefined);
  track.onMessage((msg) => {
    if (isRtcp(msg) || msg.readUInt32BE(8) !== watched) return;
    received.set(msg.readUInt16BE(2), Buffer.from(msg));
  });
});

process.on('message', (raw) => {
  const m = raw as Message;
  switch (m.type) {
    case 'offer': {
      pc.setRemoteDescription(m.sdp, 'offer');
      const deadline = Date.now() + 5000;
      const poll = () => {
        if (pc.gatheringState() === 'complete' || Date.now() > deadline) {
          send({ type: 'answer', sdp: pc.localDescription()?.sdp ?? '' });
        } else setTimeout(poll, 5);
      };
      poll();
      break;
    }
    case 'watch':
      watched = m.ssrc;
      received.clear();
      send({ type: 'watching' });
      break;
    case 'received':
      send({ type: 'received', seqs: [...received.keys()] });
      break;
    case 'nack':
      // Through any track: the SFU routes it by the SSRC it names.
      tracks[0]?.sendMessageBinary(buildNack(0x4e41434b, watched, m.seqs));
      send({ type: 'nacked' });
      break;
    case 'get':
      send({ type: 'packets', packets: m.seqs.map((s) => received.get(s)?.toString('base64') ?? null) });
      break;
    case 'close':
      for (const t of tracks) t.close();
      channel?.close();
      pc.close();
      process.disconnect();
      break;
  }
});
