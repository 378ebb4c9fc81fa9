/**
 * A subscriber in a child process, driven over IPC by sfu.test.ts. Being a separate process, it
 * can be stopped (SIGSTOP) while the SFU keeps sending, so that its UDP socket buffer overflows
 * and packets are really lost between the SFU and it; it then NACKs them like a browser would.
 *
 * Messages in: { type: 'offer', sdp, videoSsrc } → { type: 'answer', sdp }, later { type: 'open' }
 *              { type: 'received' } → { type: 'received', seqs }
 *              { type: 'nack', seqs } → { type: 'nacked' }
 *              { type: 'get', seqs } → { type: 'packets', packets: (base64 | null)[] }
 *              { type: 'close' } → closes everything and lets the process end
 */
import { PeerConnection, type Track } from 'node-datachannel';
import { buildNack, isRtcp } from '../../src/rtp/rtcp.js';

type Message =
  | { type: 'offer'; sdp: string; videoSsrc: number }
  | { type: 'received' }
  | { type: 'nack'; seqs: number[] }
  | { type: 'get'; seqs: number[] }
  | { type: 'close' };

const send = (m: object) => process.send?.(m);
const pc = new PeerConnection('nack-subscriber', { iceServers: [], bindAddress: '127.0.0.1' });
pc.onStateChange(() => undefined);
const tracks: Track[] = [];
const received = new Map<number, Buffer>();
let videoSsrc = 0;
let expectedTracks = Infinity;

pc.onTrack((track) => {
  tracks.push(track);
  track.onClosed(() => undefined);
  track.onOpen(() => {
    if (tracks.length === expectedTracks && tracks.every((t) => t.isOpen())) send({ type: 'open' });
  });
  track.onMessage((msg) => {
    if (isRtcp(msg) || msg.readUInt32BE(8) !== videoSsrc) return;
    received.set(msg.readUInt16BE(2), Buffer.from(msg));
  });
});

process.on('message', (raw) => {
  const m = raw as Message;
  switch (m.type) {
    case 'offer': {
      videoSsrc = m.videoSsrc;
      expectedTracks = (m.sdp.match(/^m=/gm) ?? []).length;
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
    case 'received':
      send({ type: 'received', seqs: [...received.keys()] });
      break;
    case 'nack':
      tracks[0]?.sendMessageBinary(buildNack(0x4e41434b, videoSsrc, m.seqs));
      send({ type: 'nacked' });
      break;
    case 'get':
      send({ type: 'packets', packets: m.seqs.map((s) => received.get(s)?.toString('base64') ?? null) });
      break;
    case 'close':
      for (const t of tracks) t.close();
      pc.close();
      process.disconnect();
      break;
  }
});
