/**
 * The media plane (packages/server/src/sfu): SDP trimming and the RTCP wire helpers (src/rtp),
 * then the router with in-process node-datachannel peers (exact bytes, RTCP routing, close
 * cascade, process exit), then real Chromium pages that publish their fake camera and microphone
 * through it and must decode each other. Everything binds 127.0.0.1; every wait is bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import {
  MediaRouter,
  resolveSfuConfig,
  SfuError,
  sfuNativeStats,
  type PublishedTrack,
  type RemoteDeniedEvent,
  type SfuConfig,
  type TransportStateEvent,
} from '../src/sfu/index.js';
import { rewriteCandidate, sdpCandidates, splitSdpCandidates, trimPublisherOffer } from '../src/sfu/sdp.js';
import {
  buildNack,
  buildPli,
  buildRemb,
  buildSenderReport,
  nackSequenceNumbers,
  parseRemb,
  rtcpPackets,
  RTCP_BYE,
  RTCP_PSFB,
  RTCP_RR,
  RTCP_RTPFB,
  RTCP_SR,
} from '../src/rtp/rtcp.js';
import { TestPublisher, TestSubscriber, waitFor } from './sfu-fixtures/peers.js';
import { startHarness, type Harness } from './sfu-fixtures/harness.js';
import { launchSfuChromium, SfuPage, type PageStats } from './sfu-fixtures/browser.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const fixture = (name: string) => new URL(`./sfu-fixtures/${name}`, import.meta.url).pathname;
const chromeOffer = readFileSync(fixture('chrome-offer.sdp'), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mediaSection(sdp: string, kind: 'audio' | 'video'): string[] {
  const lines = sdp.split('\r\n');
  const start = lines.findIndex((l) => l.startsWith(`m=${kind} `));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('m='));
  return lines.slice(start, end < 0 ? undefined : end);
}

describe('sfu: publisher offer trimming', () => {
  it("cuts Chrome's offer to Opus, VP8 and one H.264 profile, without RTX, RED/FEC, transport-cc or mid", () => {
    const { sdp, tracks } = trimPublisherOffer(chromeOffer, ['VP8', 'H264']);
    const audio = mediaSection(sdp, 'audio');
    const video = mediaSection(sdp, 'video');
    assert.match(audio[0]!, /^m=audio 9 UDP\/TLS\/RTP\/SAVPF 111$/);
    assert.match(video[0]!, /^m=video 9 UDP\/TLS\/RTP\/SAVPF 96 \d+$/);
    const h264Pt = video[0]!.split(' ')[4];
    assert.ok(video.includes(`a=rtpmap:${h264Pt} H264/90000`));
    assert.match(
      video.find((l) => l.startsWith(`a=fmtp:${h264Pt} `))!,
      /packetization-mode=1/,
    );
    assert.match(
      video.find((l) => l.startsWith(`a=fmtp:${h264Pt} `))!,
      /profile-level-id=42e01f/,
    );
    for (const gone of [
      'rtx/',
      'red/',
      'ulpfec',
      'transport-cc',
      'sdes:mid',
      'ssrc-group',
      'rtcp-xr',
      'VP9',
      'AV1',
    ]) {
      assert.ok(!sdp.includes(gone), `${gone} should be cut`);
    }
    assert.ok(!sdp.includes('a=extmap-allow-mixed'));
    assert.ok(video.includes('a=rtcp-fb:96 nack pli') && video.includes('a=rtcp-fb:96 goog-remb'));
    // Only the primary SSRC of each section is left.
    const videoSsrcs = new Set(video.filter((l) => l.startsWith('a=ssrc:')).map((l) => l.split(' ')[0]));
    assert.equal(videoSsrcs.size, 1);
    assert.deepEqual(
      tracks.map((t) => [t.kind, t.mid, t.codecs.map((c) => c.mimeType)]),
      [
        ['audio', '0', ['audio/opus']],
        ['video', '1', ['video/VP8', 'video/H264']],
      ],
    );
    assert.equal(`a=ssrc:${tracks[1]!.ssrc}`, [...videoSsrcs][0]);
    assert.deepEqual(
      tracks[0]!.headerExtensions.map((e) => e.uri),
      [
        'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
        'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
      ],
    );
  });

  it('puts H.264 first when the configuration prefers it, and drops VP8 when not accepted', () => {
    const h264First = trimPublisherOffer(chromeOffer, ['H264', 'VP8']).tracks[1]!;
    assert.deepEqual(
      h264First.codecs.map((c) => c.mimeType),
      ['video/H264', 'video/VP8'],
    );
    const onlyVp8 = trimPublisherOffer(chromeOffer, ['VP8']).tracks[1]!;
    assert.deepEqual(
      onlyVp8.codecs.map((c) => c.mimeType),
      ['video/VP8'],
    );
  });

  it('rejects a video section with no usable codec (port 0) and keeps the audio', () => {
    const noVideoCodec = chromeOffer
      .replace(/VP8\/90000/g, 'VP7/90000')
      .replace(/H264\/90000/g, 'H263/90000');
    const { sdp, tracks } = trimPublisherOffer(noVideoCodec, ['VP8', 'H264']);
    assert.deepEqual(
      tracks.map((t) => t.kind),
      ['audio'],
    );
    assert.match(mediaSection(sdp, 'video')[0]!, /^m=video 0 /);
    assert.match(sdp, /a=group:BUNDLE 0\r\n/);
  });

  it('refuses what it cannot forward with a coded error', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err instanceof SfuError ? err.code : 'other';
      }
      return 'none';
    };
    assert.equal(
      code(() => trimPublisherOffer('hello', ['VP8'])),
      'invalid-sdp',
    );
    assert.equal(
      code(() => trimPublisherOffer(chromeOffer.replace(/a=ssrc:.*\r\n/g, ''), ['VP8'])),
      'invalid-sdp',
    );
    assert.equal(
      code(() =>
        trimPublisherOffer(chromeOffer.replace('a=mid:1\r\n', 'a=mid:1\r\na=rid:h send\r\n'), ['VP8']),
      ),
      'invalid-sdp',
    );
    assert.equal(
      code(() => trimPublisherOffer(chromeOffer.replace(/a=sendonly/g, 'a=recvonly'), ['VP8'])),
      'no-media',
    );
  });

  it('rewrites host candidates to every announced address and leaves others alone', () => {
    const host = 'a=candidate:1 1 UDP 2114977791 10.0.0.5 40032 typ host';
    assert.deepEqual(rewriteCandidate(host, ['203.0.113.7', '198.51.100.9']), [
      'candidate:1 1 UDP 2114977791 203.0.113.7 40032 typ host',
      'candidate:11 1 UDP 2114977790 198.51.100.9 40032 typ host',
    ]);
    const srflx = 'candidate:2 1 UDP 1686052607 198.51.100.1 40032 typ srflx raddr 10.0.0.5 rport 40032';
    assert.deepEqual(rewriteCandidate(srflx, ['203.0.113.7']), [srflx]);
    assert.deepEqual(rewriteCandidate(host, []), [host.slice(2)]);
  });

  it('takes the candidates out of an SDP, each with the mid of its section', () => {
    const sdp = [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:0',
      'a=candidate:1 1 UDP 2114977791 10.0.0.5 40032 typ host',
      'a=end-of-candidates',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=candidate:2 1 UDP 2114977791 10.0.0.5 40034 typ host',
      'a=mid:1',
      '',
    ].join('\r\n');
    const split = splitSdpCandidates(sdp);
    assert.deepEqual(split.candidates, [
      ['candidate:1 1 UDP 2114977791 10.0.0.5 40032 typ host', '0'],
      ['candidate:2 1 UDP 2114977791 10.0.0.5 40034 typ host', '1'],
    ]);
    assert.deepEqual(sdpCandidates(split.sdp), []);
    assert.ok(!split.sdp.includes('end-of-candidates'));
    assert.ok(split.sdp.includes('a=mid:1'));
  });

  it('validates its configuration once and converts browser-style ICE servers', () => {
    const bad: SfuConfig[] = [
      { portRangeBegin: 50000 },
      { portRangeBegin: 50010, portRangeEnd: 50000 },
      { announcedIps: ['not-an-ip'] },
      { videoCodecs: [] },
      { maxIncomingBitrate: 10 },
      { iceServers: [{ urls: 'http://example.com' }] },
      { udpMux: true, portRangeBegin: 50000, portRangeEnd: 50010 },
    ];
    for (const c of bad)
      assert.throws(() => resolveSfuConfig(c), { code: 'invalid-config' }, JSON.stringify(c));
    const ok = resolveSfuConfig({
      portRangeBegin: 50000,
      portRangeEnd: 50100,
      iceServers: [
        'stun:stun.example.com:3478',
        {
          urls: ['turn:turn.example.com?transport=tcp', 'turns:turn.example.com:443'],
          username: 'u',
          credential: 'p',
        },
      ],
    });
    assert.deepEqual(ok.rtc.iceServers, [
      'stun:stun.example.com:3478',
      { hostname: 'turn.example.com', port: 3478, relayType: 'TurnTcp', username: 'u', password: 'p' },
      { hostname: 'turn.example.com', port: 443, relayType: 'TurnTls', username: 'u', password: 'p' },
    ]);
    assert.equal(ok.rtc.portRangeBegin, 50000);
    assert.ok(Object.isFrozen(ok));
  });
});

describe('sfu: RTCP wire helpers', () => {
  it('encodes NACK lists (with bitmask and sequence wrap) that decode to the same numbers', () => {
    const seqs = [65534, 65535, 0, 3, 17, 40];
    const nack = buildNack(1, 2, seqs);
    const [p] = rtcpPackets(nack);
    assert.equal(p!.type, RTCP_RTPFB);
    assert.deepEqual(
      nackSequenceNumbers(nack, p!).sort((a, b) => a - b),
      [...seqs].sort((a, b) => a - b),
    );
  });

  it('encodes REMB bitrates exactly when representable and close otherwise', () => {
    const remb = buildRemb(1, 2_000_000, [5, 6]);
    assert.equal(parseRemb(remb, rtcpPackets(remb)[0]!), 2_000_000);
    const odd = buildRemb(1, 3_333_333, [5]);
    const decoded = parseRemb(odd, rtcpPackets(odd)[0]!)!;
    assert.ok(decoded <= 3_333_333 && decoded > 3_333_333 * 0.999);
  });
});

/** A router plus test peers, all closed at the end whatever happens. */
async function withRouter(
  config: SfuConfig,
  fn: (router: MediaRouter, keep: <T extends { close(): void }>(p: T) => T) => Promise<void>,
): Promise<void> {
  const router = new MediaRouter({ bindAddress: '127.0.0.1', ...config }, silent);
  const peers: { close(): void }[] = [];
  try {
    await fn(router, (p) => {
      peers.push(p);
      return p;
    });
  } finally {
    router.close();
    for (const p of peers) p.close();
  }
}

function rtcpOf(list: { type: number; count: number; bytes: Buffer }[], type: number, count?: number) {
  return list.filter((r) => r.type === type && (count === undefined || r.count === count));
}

describe('sfu: router with in-process peers', () => {
  it('forwards every RTP packet byte for byte to each subscriber, and counts it', async () => {
    await withRouter({}, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const b = keep(new TestSubscriber('B'));
      const c = keep(new TestSubscriber('C'));
      await b.subscribe(router, 'A');
      await c.subscribe(router, 'A');
      const before = router.stats();
      const sent = { audio: [] as Buffer[], video: [] as Buffer[] };
      for (let i = 0; i < 30; i++) {
        sent.video.push(pub.send('video'));
        sent.audio.push(pub.send('audio'));
        if (i % 10 === 9) await sleep(5);
      }
      for (const sub of [b, c]) {
        await waitFor(
          'all packets',
          () => sub.received(pub.ssrc.video).length >= 30 && sub.received(pub.ssrc.audio).length >= 30,
        );
        assert.deepEqual(sub.received(pub.ssrc.video), sent.video);
        assert.deepEqual(sub.received(pub.ssrc.audio), sent.audio);
      }
      const after = router.stats();
      assert.equal(after.forwardedPackets - before.forwardedPackets, 120);
      const bytes = [...sent.audio, ...sent.video].reduce((n, p) => n + p.length, 0);
      assert.equal(after.forwardedBytes - before.forwardedBytes, 2 * bytes);
      assert.equal(after.receivedPackets - before.receivedPackets, 60);
      assert.equal(router.participantOf(b.transportId), 'B');
      assert.equal(router.participantOf(pub.transportId), 'A');
      assert.equal(router.participantOf('sub_nope'), undefined);
      // The subscriber SDP declares the publisher's SSRCs and payload types.
      assert.match(b.offerSdp, new RegExp(`a=ssrc:${pub.ssrc.video} `));
      assert.match(b.offerSdp, /a=rtpmap:96 VP8\/90000/);
      assert.match(b.offerSdp, /a=rtpmap:111 opus\/48000\/2/);
    });
  });

  it('takes and sends media only from and to the addresses of a remote-address policy', async () => {
    await withRouter({}, async (router, keep) => {
      const denied: RemoteDeniedEvent[] = [];
      router.on('remoteDenied', (e) => denied.push(e));
      router.setRemoteAddressPolicy(['::ffff:127.0.0.1', '192.0.2.10']);
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const b = keep(new TestSubscriber('B'));
      await b.subscribe(router, 'A');
      for (let i = 0; i < 5; i++) pub.send('video');
      await waitFor('packets through an allowed address', () => b.received(pub.ssrc.video).length === 5);
      assert.deepEqual(denied, []);
      // The rule changes: the publisher's transport is cut at once and reported; the subscriber's,
      // left with nothing to carry, closes with it.
      router.setRemoteAddressPolicy(['192.0.2.10']);
      assert.deepEqual(
        denied.map((e) => [e.participantId, e.role, e.address]),
        [['A', 'publisher', '127.0.0.1']],
      );
      assert.equal(router.stats().remoteDenied, 1);
      assert.equal(router.stats().transports, 0);
      // A peer connecting from an address outside the rule is closed as it connects, and nothing
      // it sends is taken.
      const c = keep(new TestPublisher('C'));
      await c.publish(router).catch(() => undefined);
      await waitFor('C denied', () => denied.some((e) => e.participantId === 'C'));
      const received = router.stats().receivedPackets;
      for (let i = 0; i < 5; i++) {
        try {
          c.send('audio');
        } catch {
          // its side may already have seen the SFU close the connection
        }
      }
      await sleep(200);
      assert.equal(router.stats().receivedPackets, received);
      assert.equal(router.tracks('C').length, 0);
    });
  });

  it("routes a subscriber's PLI to the publisher, merging requests closer than the interval", async () => {
    await withRouter({ keyFrameRequestMinIntervalMs: 300 }, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      pub.send('video');
      const sub = keep(new TestSubscriber('B'));
      await sub.subscribe(router, 'A');
      // Attaching a subscriber already asks for a keyframe.
      await waitFor('PLI on attach', () => rtcpOf(pub.rtcp, RTCP_PSFB, 1).length >= 1);
      await sleep(400);
      const base = rtcpOf(pub.rtcp, RTCP_PSFB, 1).length;
      for (let i = 0; i < 5; i++) sub.sendRtcp(buildPli(0x5151, pub.ssrc.video));
      await waitFor('first PLI', () => rtcpOf(pub.rtcp, RTCP_PSFB, 1).length >= base + 1);
      await sleep(600);
      const plis = rtcpOf(pub.rtcp, RTCP_PSFB, 1);
      assert.equal(plis.length, base + 2, 'five requests → one PLI now, one when the interval ends');
      assert.equal(plis.at(-1)!.bytes.readUInt32BE(8), pub.ssrc.video);
      assert.ok(router.stats().keyFrameRequestsReceived >= 5);
    });
  });

  it("answers a subscriber's NACK for a really lost packet with the original bytes (RtcpNackResponder)", async () => {
    // The subscriber runs in a child process that is stopped while the SFU sends: its socket
    // buffer overflows and packets are lost between the SFU and it, as on a lossy network.
    await withRouter({}, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const child = spawn(process.execPath, ['--import', 'tsx', fixture('nack-subscriber.ts')], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const inbox: { type: string; [k: string]: unknown }[] = [];
      child.on('message', (m) => inbox.push(m as { type: string }));
      const next = async <T>(type: string): Promise<T> => {
        await waitFor(`child message ${type}`, () => inbox.some((m) => m.type === type), 10_000);
        return inbox.splice(
          inbox.findIndex((m) => m.type === type),
          1,
        )[0] as T;
      };
      try {
        const offer = await router.subscribe('X', 'A');
        child.send({ type: 'offer', sdp: offer.offerSdp, videoSsrc: pub.ssrc.video });
        await router.setAnswer(offer.transportId, (await next<{ sdp: string }>('answer')).sdp);
        await next('open');
        const sent = new Map<number, Buffer>();
        const receivedBefore = router.stats().receivedPackets;
        child.kill('SIGSTOP');
        const payload = Buffer.alloc(1100, 0x5a);
        for (let i = 0; i < 6000; i++) {
          const p = pub.send('video', { payload });
          sent.set(p.readUInt16BE(2), p);
          if (i % 50 === 49) await sleep(1);
        }
        await waitFor(
          'the SFU got every packet',
          () => router.stats().receivedPackets - receivedBefore === 6000,
          10_000,
        );
        await sleep(200);
        child.kill('SIGCONT');
        await sleep(500);
        child.send({ type: 'received' });
        const got = new Set((await next<{ seqs: number[] }>('received')).seqs);
        const lost = [...sent.keys()].filter((seq) => !got.has(seq));
        assert.ok(lost.length > 0, 'stopping the subscriber made it lose packets');
        const asked = lost.slice(-40);
        child.send({ type: 'nack', seqs: asked });
        await next('nacked');
        const deadline = Date.now() + 5000;
        let packets: (string | null)[] = [];
        while (Date.now() < deadline) {
          child.send({ type: 'get', seqs: asked });
          packets = (await next<{ packets: (string | null)[] }>('packets')).packets;
          if (packets.every((p) => p !== null)) break;
          await sleep(50);
        }
        assert.deepEqual(
          packets.map((p) => (p === null ? null : Buffer.from(p, 'base64'))),
          asked.map((seq) => sent.get(seq)),
          'every NACKed packet arrived, byte for byte',
        );
        assert.ok(router.stats().nacksReceived >= 1);
      } finally {
        child.kill('SIGCONT');
        if (child.connected) child.send({ type: 'close' });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 5000);
          child.on('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (child.exitCode !== null) resolve();
        });
      }
    });
  });

  it("forwards the publisher's sender reports, and hands the last one to a new subscriber at once", async () => {
    await withRouter({}, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const b = keep(new TestSubscriber('B'));
      await b.subscribe(router, 'A');
      pub.send('video');
      const sr = buildSenderReport(pub.ssrc.video, Date.now(), 123456, 1, 200);
      pub.sendRaw('video', sr);
      await waitFor('SR at B', () => rtcpOf(b.rtcp, RTCP_SR).length >= 1);
      const got = rtcpOf(b.rtcp, RTCP_SR)[0]!.bytes;
      assert.equal(got.readUInt32BE(4), pub.ssrc.video);
      assert.deepEqual(got.subarray(8, 20), sr.subarray(8, 20), 'NTP and RTP timestamps unchanged');
      const c = keep(new TestSubscriber('C'));
      await c.subscribe(router, 'A');
      await waitFor('SR at the late subscriber', () => rtcpOf(c.rtcp, RTCP_SR).length >= 1);
      assert.deepEqual(rtcpOf(c.rtcp, RTCP_SR)[0]!.bytes.subarray(8, 20), sr.subarray(8, 20));
    });
  });

  it('sends the publisher receiver reports and a REMB of maxIncomingBitrate, and NACKs packets lost on the way in', async () => {
    await withRouter({ maxIncomingBitrate: 2_000_000 }, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      await waitFor('early REMB', () => rtcpOf(pub.rtcp, RTCP_PSFB, 15).length >= 1, 2000);
      const remb = rtcpOf(pub.rtcp, RTCP_PSFB, 15)[0]!.bytes;
      assert.equal(parseRemb(remb, rtcpPackets(remb)[0]!), 2_000_000);
      for (let i = 0; i < 3; i++) pub.send('video');
      const afterGap = pub.send('video', { skip: 2 });
      const missing = [(afterGap.readUInt16BE(2) - 2) & 0xffff, (afterGap.readUInt16BE(2) - 1) & 0xffff];
      await waitFor('NACK', () => rtcpOf(pub.rtcp, RTCP_RTPFB, 1).length >= 1, 2000);
      const nack = rtcpOf(pub.rtcp, RTCP_RTPFB, 1)[0]!.bytes;
      assert.equal(nack.readUInt32BE(8), pub.ssrc.video);
      assert.deepEqual(nackSequenceNumbers(nack, rtcpPackets(nack)[0]!), missing);
      await waitFor('RR with a report block', () => rtcpOf(pub.rtcp, RTCP_RR).some((r) => r.count > 0), 3000);
      const rr = rtcpOf(pub.rtcp, RTCP_RR).find((r) => r.count > 0)!.bytes;
      const blocks = new Map<number, Buffer>();
      for (let o = 8; o + 24 <= rr.length; o += 24) blocks.set(rr.readUInt32BE(o), rr.subarray(o, o + 24));
      const video = blocks.get(pub.ssrc.video);
      assert.ok(video, 'a report block for the video SSRC');
      assert.equal(
        video.readUInt32BE(8) & 0xffff,
        afterGap.readUInt16BE(2),
        'extended highest sequence number',
      );
      assert.ok(router.stats().nacksSent >= 1 && router.stats().receiverReportsSent >= 1);
    });
  });

  it('unpublish(video) ends only the video track: event, BYE to subscribers, audio still forwarded', async () => {
    await withRouter({}, async (router, keep) => {
      const ended: [PublishedTrack, string][] = [];
      router.on('trackEnded', (t, reason) => ended.push([t, reason]));
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const sub = keep(new TestSubscriber('B'));
      await sub.subscribe(router, 'A');
      router.unpublish('A', 'video');
      assert.deepEqual(
        ended.map(([t, r]) => [t.kind, r]),
        [['video', 'unpublished']],
      );
      await waitFor('BYE', () => rtcpOf(sub.rtcp, RTCP_BYE).length >= 1);
      assert.equal(rtcpOf(sub.rtcp, RTCP_BYE)[0]!.bytes.readUInt32BE(4), pub.ssrc.video);
      for (let i = 0; i < 10; i++) {
        pub.send('video');
        pub.send('audio');
      }
      await waitFor('audio', () => sub.received(pub.ssrc.audio).length >= 10);
      await sleep(100);
      assert.equal(sub.received(pub.ssrc.video).length, 0);
      assert.deepEqual(
        router.tracks('A').map((t) => t.kind),
        ['audio'],
      );
      assert.equal(router.stats().subscriberTransports, 1, 'the subscription still carries audio');
      router.unpublish('A');
      assert.equal(router.stats().transports, 0, 'no live track left: both transports closed');
      await assert.rejects(router.subscribe('C', 'A'), { code: 'no-tracks' });
    });
  });

  it('removeParticipant closes its transports and the subscriptions to it, in the documented order', async () => {
    await withRouter({}, async (router, keep) => {
      const a = keep(new TestPublisher('A'));
      const b = keep(new TestPublisher('B'));
      await a.publish(router);
      await b.publish(router);
      const bSubA = keep(new TestSubscriber('B'));
      await bSubA.subscribe(router, 'A');
      const aSubB = keep(new TestSubscriber('A'));
      await aSubB.subscribe(router, 'B');
      assert.equal(router.stats().transports, 4);
      const events: string[] = [];
      router.on('trackEnded', (t, reason) =>
        events.push(`trackEnded ${t.participantId} ${t.kind} ${reason}`),
      );
      router.on('transportState', (e: TransportStateEvent) => {
        if (e.state === 'closed') events.push(`closed ${e.transportId}`);
      });
      router.removeParticipant('A');
      assert.deepEqual(events, [
        'trackEnded A audio participant-removed',
        'trackEnded A video participant-removed',
        `closed ${bSubA.transportId}`,
        `closed ${a.transportId}`,
        `closed ${aSubB.transportId}`,
      ]);
      const left = router.stats();
      assert.equal(left.transports, 1);
      assert.equal(left.perTransport[0]!.transportId, b.transportId);
      router.removeParticipant('A'); // nothing left: no error, no event
      assert.equal(events.length, 5);
    });
  });

  it('close() is idempotent and silent, leaves no transport and no native PeerConnection, and refuses later calls', async () => {
    const router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
    const pub = new TestPublisher('A');
    const sub = new TestSubscriber('B');
    try {
      await pub.publish(router);
      await sub.subscribe(router, 'A');
      assert.equal(sfuNativeStats().peerConnections, 2);
      let events = 0;
      router.on('trackEnded', () => events++);
      router.on('transportState', () => events++);
      router.close();
      router.close();
      assert.equal(events, 0);
      assert.equal(router.stats().transports, 0);
      assert.equal(router.stats().tracks, 0);
      await waitFor('native PeerConnections closed', () => sfuNativeStats().peerConnections === 0, 5000);
      await waitFor('native Tracks closed', () => sfuNativeStats().tracks === 0, 5000);
      await assert.rejects(router.publish('C', chromeOffer), { code: 'router-closed' });
      assert.throws(() => router.removeParticipant('A'), { code: 'router-closed' });
    } finally {
      router.close();
      pub.close();
      sub.close();
    }
  });

  it("delivers every local candidate exactly once; an offer's candidates wait for the answer", async () => {
    await withRouter({ iceGatheringTimeoutMs: 0 }, async (router, keep) => {
      const events = new Map<string, string[]>();
      router.on('localCandidate', (e) =>
        events.set(e.transportId, [...(events.get(e.transportId) ?? []), e.candidate]),
      );
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const sub = keep(new TestSubscriber('B'));
      const res = await router.subscribe('B', 'A');
      await sleep(300);
      // The SFU offers on this leg: nothing lets the peer reach it before it holds the answer.
      assert.deepEqual(sdpCandidates(res.offerSdp), [], 'no candidate in the offer');
      assert.deepEqual(events.get(res.transportId) ?? [], [], 'no candidate before the answer');
      sub.pc.setRemoteDescription(res.offerSdp, 'offer');
      const answer = await new Promise<string>((resolve) => {
        sub.pc.onGatheringStateChange((st) => st === 'complete' && resolve(sub.pc.localDescription()!.sdp));
        if (sub.pc.gatheringState() === 'complete') resolve(sub.pc.localDescription()!.sdp);
      });
      await router.setAnswer(res.transportId, answer);
      await waitFor('the held candidate', () => (events.get(res.transportId) ?? []).length > 0);
      await sleep(300);
      const trickled = events.get(res.transportId) ?? [];
      // Bound to 127.0.0.1: exactly one host candidate, delivered once.
      assert.equal(trickled.length, 1, JSON.stringify(trickled));
      assert.match(trickled[0]!, /^candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/);
      await waitFor(
        'the subscriber transport to connect',
        () =>
          router.stats().perTransport.find((t) => t.transportId === res.transportId)?.state === 'connected',
      );
      // The publisher transport's candidate went out too (in its answer or as an event), and the
      // peer connected with it.
      assert.equal(
        router.stats().perTransport.find((t) => t.transportId === pub.transportId)?.state,
        'connected',
      );
    });
  });

  it('closes a transport whose peer never answers, after connectTimeoutMs', async () => {
    await withRouter({ connectTimeoutMs: 1000 }, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const closed: string[] = [];
      router.on('transportState', (e) => e.state === 'closed' && closed.push(e.transportId));
      const { transportId } = await router.subscribe('B', 'A'); // no answer ever comes
      await waitFor('the unanswered transport to close', () => closed.includes(transportId), 3000);
      assert.deepEqual(
        router.stats().perTransport.map((t) => t.transportId),
        [pub.transportId],
        'the connected publisher transport stays',
      );
      router.addRemoteCandidate(transportId, 'candidate:1 1 UDP 1 127.0.0.1 9 typ host', '0'); // ignored
    });
  });

  it('announces the configured public address instead of the local one', async () => {
    await withRouter({ announcedIps: ['203.0.113.7'] }, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      pub.pc.setLocalDescription();
      await waitFor('gathering', () => pub.pc.gatheringState() === 'complete');
      const offer = pub.pc.localDescription()!.sdp.replace(/a=candidate:.*\r\n/g, '');
      const { answerSdp } = await router.publish('A', offer);
      const candidates = answerSdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
      assert.ok(candidates.length > 0);
      for (const c of candidates) assert.match(c, / 203\.0\.113\.7 \d+ typ host/);
      assert.ok(!answerSdp.includes('127.0.0.1 '), 'no local address left');
      // (No connection is attempted: 203.0.113.7 is a documentation address.)
    });
  });

  it('a process that used the SFU exits by itself once the router and peers are closed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture('exit-check.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const started = Date.now();
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 30_000);
      child.on('exit', (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? String(signal));
      });
    });
    assert.equal(code, 0, `exit code (stderr: ${err})`);
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as {
      forwardedPackets: number;
      transportsAfterClose: number;
      native: { peerConnections: number; tracks: number };
    };
    assert.ok(report.forwardedPackets >= 40);
    assert.equal(report.transportsAfterClose, 0);
    assert.deepEqual(report.native, { peerConnections: 0, tracks: 0 });
    assert.ok(Date.now() - started < 30_000);
  });
});

// ---- real Chromium ---------------------------------------------------------------------------

function sub(stats: PageStats, publisherId: string) {
  const s = stats.subscriptions[publisherId];
  assert.ok(s, `a subscription to ${publisherId}`);
  return s;
}

/** A UDP port that was free a moment ago (bound on 127.0.0.1, then released). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

interface Room {
  router: MediaRouter;
  harness: Harness;
  pages: SfuPage[];
}

async function openRoom(browser: Browser, config: SfuConfig, pageCount: number): Promise<Room> {
  const router = new MediaRouter({ bindAddress: '127.0.0.1', ...config }, silent);
  const harness = await startHarness(router);
  const pages: SfuPage[] = [];
  for (let i = 0; i < pageCount; i++) pages.push(await SfuPage.open(browser, harness.url));
  return { router, harness, pages };
}

async function closeRoom(room: Room | undefined): Promise<void> {
  if (!room) return;
  for (const p of room.pages) await p.close().catch(() => undefined);
  room.router.close();
  await room.harness.close();
}

/** Polls the page until `check` accepts its stats (bounded). */
async function statsUntil(page: SfuPage, what: string, check: (s: PageStats) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last: PageStats | undefined;
  while (Date.now() < deadline) {
    last = await page.stats();
    if (check(last)) return last;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}; last stats: ${JSON.stringify(last)}`);
}

describe('sfu: Chromium pages through the router', { timeout: 240_000 }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchSfuChromium();
  });
  after(async () => {
    await browser?.close();
  });

  describe('three pages that all publish and all subscribe to each other (trickle ICE)', () => {
    const ids = ['A', 'B', 'C'];
    let room: Room;
    before(async () => {
      room = await openRoom(browser, { iceGatheringTimeoutMs: 0 }, 3);
      for (const [i, p] of room.pages.entries()) await p.publish(ids[i]!);
      for (const [i, p] of room.pages.entries()) {
        for (const other of ids) if (other !== ids[i]) await p.subscribe(ids[i]!, other);
      }
    });
    after(() => closeRoom(room));

    it(
      'every page decodes video and receives audio from both others, with sender reports',
      { timeout: 60_000 },
      async () => {
        const first: PageStats[] = [];
        for (const [i, page] of room.pages.entries()) {
          first.push(
            await statsUntil(page, `page ${ids[i]} decoding both others`, (s) =>
              ids
                .filter((o) => o !== ids[i])
                .every((o) => {
                  const x = s.subscriptions[o];
                  return (
                    (x?.video?.framesDecoded ?? 0) > 0 &&
                    (x?.audio?.packetsReceived ?? 0) > 0 &&
                    x!.senderReports.audio > 0 &&
                    x!.senderReports.video > 0
                  );
                }),
            ),
          );
        }
        await sleep(2000);
        for (const [i, page] of room.pages.entries()) {
          const later = await page.stats();
          for (const other of ids.filter((o) => o !== ids[i])) {
            const a = sub(first[i]!, other);
            const b = sub(later, other);
            assert.equal(b.connectionState, 'connected');
            assert.ok(
              b.video!.framesDecoded! - a.video!.framesDecoded! >= 10,
              `${ids[i]}←${other} video frames keep coming`,
            );
            assert.ok(
              b.audio!.packetsReceived! - a.audio!.packetsReceived! >= 40,
              `${ids[i]}←${other} audio keeps coming`,
            );
            assert.deepEqual(
              [...b.trackIds].sort(),
              room.router
                .tracks(other)
                .map((t) => t.id)
                .sort(),
              'MediaStreamTrack.id is the PublishedTrack id',
            );
          }
        }
        const stats = room.router.stats();
        assert.equal(stats.transports, 9);
        assert.ok(stats.senderReportsForwarded > 0);
      },
    );

    it(
      "the SFU's REMB lets every publisher use its full bitrate (not bandwidth-limited)",
      { timeout: 30_000 },
      async () => {
        for (const page of room.pages) {
          const s = await statsUntil(
            page,
            'a bandwidth estimate',
            (x) => x.publishers[0]?.availableOutgoingBitrate !== undefined,
          );
          const p = s.publishers[0]!;
          assert.ok(p.availableOutgoingBitrate! >= 1_500_000, `estimate ${p.availableOutgoingBitrate}`);
          assert.notEqual(p.video!.qualityLimitationReason, 'bandwidth');
          assert.equal(p.video!.mimeType, 'video/VP8');
        }
      },
    );

    it(
      'removeParticipant(A) closes its 5 transports; B and C keep receiving each other',
      { timeout: 30_000 },
      async () => {
        room.router.removeParticipant('A');
        const stats = room.router.stats();
        assert.equal(stats.transports, 4);
        assert.ok(stats.perTransport.every((t) => t.participantId !== 'A' && t.publisherId !== 'A'));
        const b0 = sub(await room.pages[1]!.stats(), 'C').video!.framesDecoded!;
        await sleep(1500);
        assert.ok(sub(await room.pages[1]!.stats(), 'C').video!.framesDecoded! > b0 + 5);
        // The browser notices the server side is gone (no more packets, no consent answers).
        await statsUntil(
          room.pages[1]!,
          "B's subscription to A to end",
          (s) => sub(s, 'A').connectionState !== 'connected',
          20_000,
        );
      },
    );

    it(
      'router.close() leaves no transport and no native PeerConnection; the pages see their connections end',
      { timeout: 40_000 },
      async () => {
        room.router.close();
        assert.equal(room.router.stats().transports, 0);
        await waitFor('native PeerConnections closed', () => sfuNativeStats().peerConnections === 0, 5000);
        for (const page of room.pages.slice(1)) {
          await statsUntil(
            page,
            'every connection to end',
            (s) =>
              Object.values(s.subscriptions).every((x) => x.connectionState !== 'connected') &&
              s.publishers.every((p) => p.connectionState !== 'connected'),
            25_000,
          );
        }
      },
    );
  });

  describe('one publisher, subscribers that join later', () => {
    let room: Room;
    before(async () => {
      room = await openRoom(browser, {}, 3);
      await room.pages[0]!.publish('P');
    });
    after(() => closeRoom(room));

    it(
      'a late subscriber decodes its first frame quickly: the SFU asks the publisher for a keyframe',
      { timeout: 40_000 },
      async () => {
        await sleep(3000); // the publisher's first keyframe is long gone
        const before = await statsUntil(
          room.pages[0]!,
          'publisher stats',
          (s) => s.publishers[0]?.video?.framesEncoded !== undefined,
        );
        const plisBefore = before.publishers[0]!.video!.pliCount ?? 0;
        await room.pages[1]!.subscribe('L', 'P');
        const s = await statsUntil(
          room.pages[1]!,
          'a first decoded frame',
          (x) => sub(x, 'P').firstFrameMs !== null,
          10_000,
        );
        const firstFrameMs = sub(s, 'P').firstFrameMs!;
        console.log(`# join-to-first-decoded-frame: ${firstFrameMs.toFixed(0)} ms`);
        assert.ok(firstFrameMs < 2000, `first frame after ${firstFrameMs} ms`);
        const after = await room.pages[0]!.stats();
        assert.ok((after.publishers[0]!.video!.pliCount ?? 0) > plisBefore, 'the publisher received a PLI');
        assert.ok(room.router.stats().keyFrameRequestsSent >= 1);
        // Full resolution on a clean network.
        const full = await statsUntil(
          room.pages[1]!,
          'full resolution',
          (x) => sub(x, 'P').video?.frameWidth === 640,
          10_000,
        );
        assert.equal(sub(full, 'P').video!.frameWidth, 640);
      },
    );

    it(
      'unpublish(video) stops video frames at subscribers while audio goes on',
      { timeout: 40_000 },
      async () => {
        await room.pages[2]!.subscribe('M', 'P');
        await statsUntil(room.pages[2]!, 'decoding', (x) => (sub(x, 'P').video?.framesDecoded ?? 0) > 5);
        const ended: string[] = [];
        room.router.on('trackEnded', (t, reason) => ended.push(`${t.participantId} ${t.kind} ${reason}`));
        room.router.unpublish('P', 'video');
        assert.deepEqual(ended, ['P video unpublished']);
        await sleep(700); // frames already in flight or in the jitter buffer
        const a = await room.pages[2]!.stats();
        await sleep(2000);
        const b = await room.pages[2]!.stats();
        assert.equal(
          sub(b, 'P').video!.framesDecoded,
          sub(a, 'P').video!.framesDecoded,
          'no more video frames',
        );
        assert.ok(
          sub(b, 'P').audio!.packetsReceived! - sub(a, 'P').audio!.packetsReceived! >= 40,
          'audio goes on',
        );
        assert.equal(sub(b, 'P').connectionState, 'connected');
        // The publisher's browser still sends video; the SFU drops it.
        assert.deepEqual(
          room.router.tracks('P').map((t) => t.kind),
          ['audio'],
        );
      },
    );
  });

  describe('one UDP port for every transport (udpMux)', () => {
    let room: Room;
    after(() => closeRoom(room));

    it(
      'two pages publish and subscribe to each other through a single port',
      { timeout: 40_000 },
      async () => {
        const port = await freeUdpPort();
        room = await openRoom(browser, { udpMux: true, portRangeBegin: port, portRangeEnd: port }, 2);
        await room.pages[0]!.publish('X');
        await room.pages[1]!.publish('Y');
        await room.pages[0]!.subscribe('X', 'Y');
        await room.pages[1]!.subscribe('Y', 'X');
        for (const [page, other] of [
          [room.pages[0]!, 'Y'],
          [room.pages[1]!, 'X'],
        ] as const) {
          await statsUntil(page, `decoding ${other}`, (x) => (sub(x, other).video?.framesDecoded ?? 0) > 10);
        }
        assert.equal(room.router.stats().transports, 4);
        const ports = new Set<string>();
        for (const page of room.pages) {
          const sdps = await page.page.evaluate(
            () => (window as unknown as { sfuRemoteSdps: string[] }).sfuRemoteSdps,
          );
          for (const sdp of sdps)
            for (const m of sdp.matchAll(/a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 (\d+) typ host/g))
              ports.add(m[1]!);
        }
        assert.deepEqual([...ports], [String(port)]);
      },
    );
  });

  describe('H.264', () => {
    let room: Room;
    after(() => closeRoom(room));

    it('is forwarded when the SFU prefers it', { timeout: 40_000 }, async () => {
      room = await openRoom(browser, { videoCodecs: ['H264', 'VP8'] }, 2);
      const { tracks } = await room.pages[0]!.publish('H', { codec: 'H264' });
      assert.equal(tracks.find((t) => t.kind === 'video')!.codecs[0]!.mimeType, 'video/H264');
      await room.pages[1]!.subscribe('S', 'H');
      const s = await statsUntil(
        room.pages[1]!,
        'H.264 frames decoded',
        (x) => (sub(x, 'H').video?.framesDecoded ?? 0) > 10,
      );
      assert.ok(sub(s, 'H').video!.framesDecoded! > 10);
      const p = await room.pages[0]!.stats();
      assert.equal(p.publishers[0]!.video!.mimeType, 'video/H264');
    });
  });
});
