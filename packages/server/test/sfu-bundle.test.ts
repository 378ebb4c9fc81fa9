/**
 * The subscriber connection (MediaRouter.openSubscriber): one BUNDLE PeerConnection per
 * participant carrying every remote track, renegotiated by the SFU. First with in-process
 * node-datachannel peers (offer/answer sequencing, exact bytes, RTCP routing on a reused m-line,
 * payload-type clashes, process exit), then real Chromium pages that publish their fake camera and
 * microphone and must decode each other through one receiving connection each. Everything binds
 * 127.0.0.1; every wait is bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Browser } from 'playwright-core';
import {
  MediaRouter,
  sfuNativeStats,
  type SfuConfig,
  type SfuLogger,
  type SubscriberOfferEvent,
  type TransportStateEvent,
} from '../src/sfu/index.js';
import { buildPli, buildSenderReport, RTCP_PSFB, RTCP_SR } from '../src/rtp/rtcp.js';
import { TestPublisher, waitFor, type RtcpSeen } from './sfu-fixtures/peers.js';
import {
  BundlePage,
  BundleTestSubscriber,
  CodecPublisher,
  startBundleHarness,
  type BundleHarness,
  type BundleStats,
} from './sfu-fixtures/bundle.js';
import { launchSfuChromium } from './sfu-fixtures/browser.js';
import { BundleSink } from '../src/sfu/subscriber-connection.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fixture = (name: string) => new URL(`./sfu-fixtures/${name}`, import.meta.url).pathname;

/** The lines of the media section with a=mid:`mid`. */
function section(sdp: string, mid: string): string[] {
  const parts = sdp.split(/\r\n(?=m=)/);
  const found = parts.find((p) => p.split('\r\n').includes(`a=mid:${mid}`));
  assert.ok(found, `a media section with mid ${mid}`);
  return found.split('\r\n');
}

function mediaLines(sdp: string): string[] {
  return sdp.split('\r\n').filter((l) => /^m=(audio|video) /.test(l));
}

function carried(offer: SubscriberOfferEvent): string[] {
  return offer.tracks.map((t) => `${t.publisherId} ${t.kind}`).sort();
}

function midOf(offer: SubscriberOfferEvent, publisherId: string, kind: string): string {
  const t = offer.tracks.find((x) => x.publisherId === publisherId && x.kind === kind);
  assert.ok(t, `${publisherId}'s ${kind} in offer ${offer.version}`);
  return t.mid;
}

function plis(list: RtcpSeen[]): number {
  return list.filter((r) => r.type === RTCP_PSFB && r.count === 1).length;
}

async function withRouter(
  config: SfuConfig,
  fn: (
    router: MediaRouter,
    offers: SubscriberOfferEvent[],
    keep: <T extends { close(): void }>(p: T) => T,
  ) => Promise<void>,
  log: SfuLogger = silent,
): Promise<void> {
  const router = new MediaRouter({ bindAddress: '127.0.0.1', ...config }, log);
  const offers: SubscriberOfferEvent[] = [];
  router.on('subscriberOffer', (e) => offers.push(e));
  const peers: { close(): void }[] = [];
  try {
    await fn(router, offers, (p) => {
      peers.push(p);
      return p;
    });
  } finally {
    router.close();
    for (const p of peers) p.close();
  }
}

describe('sfu: subscriber connection with in-process peers', () => {
  it('batches every change made while an offer waits into exactly one next offer, and refuses stale answers', async () => {
    await withRouter({}, async (router, offers, keep) => {
      const a = keep(new TestPublisher('A'));
      await a.publish(router);
      const sub = keep(new BundleTestSubscriber('S'));
      const { transportId } = router.openSubscriber('S');
      assert.deepEqual(router.openSubscriber('S'), { transportId }, 'one connection per participant');
      await waitFor('the first offer', () => offers.length === 1);
      const o1 = offers[0]!;
      assert.equal(o1.version, 1);
      assert.equal(o1.participantId, 'S');
      assert.equal(o1.transportId, transportId);
      assert.deepEqual(carried(o1), ['A audio', 'A video']);
      assert.match(o1.offerSdp, /^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel/m);
      assert.deepEqual(router.pendingSubscriberOffer('S'), o1);

      // Changes while offer 1 waits for its answer: two publishers arrive, A's video ends.
      const b = keep(new TestPublisher('B'));
      await b.publish(router);
      const c = keep(new TestPublisher('C', ['audio']));
      await c.publish(router);
      router.unpublish('A', 'video');
      await sleep(300);
      assert.equal(offers.length, 1, 'no offer while one waits for its answer');

      const answer1 = await sub.answer(router, o1);
      await waitFor('the next offer', () => offers.length === 2);
      await sleep(300);
      assert.equal(offers.length, 2, 'all of it in one next offer');
      const o2 = offers[1]!;
      assert.equal(o2.version, 2);
      assert.deepEqual(carried(o2), ['A audio', 'B audio', 'B video', 'C audio']);
      const aVideo = section(o2.offerSdp, midOf(o1, 'A', 'video'));
      assert.ok(aVideo.includes('a=inactive'), "A's ended video m-line is inactive");
      assert.ok(!aVideo.some((l) => l.startsWith('a=ssrc:') || l.startsWith('a=msid:')), 'without SSRC');
      assert.ok(
        section(o2.offerSdp, midOf(o2, 'B', 'video')).includes(`a=ssrc:${b.ssrc.video} cname:cname-B`),
      );

      // Answers to any offer but the one waiting are refused.
      await assert.rejects(router.setSubscriberAnswer(transportId, 1, answer1), { code: 'offer-superseded' });
      await assert.rejects(router.setSubscriberAnswer(transportId, 3, answer1), { code: 'offer-superseded' });
      await assert.rejects(router.setAnswer(transportId, answer1), { code: 'wrong-transport-role' });
      const answer2 = await sub.answer(router, o2);
      await assert.rejects(router.setSubscriberAnswer(transportId, 2, answer2), { code: 'offer-superseded' });
      assert.equal(router.pendingSubscriberOffer('S'), null);

      // A publisher's audio and video arrive in one tick: one offer. The new video takes the m-line
      // A's video left; the audio needs a new one.
      const d = keep(new TestPublisher('D'));
      await d.publish(router);
      await waitFor('the offer for D', () => offers.length === 3);
      await sleep(300);
      assert.equal(offers.length, 3, "D's audio and video in one offer");
      const o3 = offers[2]!;
      assert.deepEqual(carried(o3), ['A audio', 'B audio', 'B video', 'C audio', 'D audio', 'D video']);
      assert.equal(midOf(o3, 'D', 'video'), midOf(o1, 'A', 'video'), "D's video reuses A's video m-line");
      assert.equal(mediaLines(o3.offerSdp).filter((l) => l.startsWith('m=video')).length, 2);
      await sub.answer(router, o3);

      const stats = router.stats();
      assert.equal(stats.subscriberTransports, 1);
      const t = stats.perTransport.find((x) => x.transportId === transportId)!;
      assert.equal(t.role, 'subscriber');
      assert.deepEqual([...t.publisherIds!].sort(), ['A', 'B', 'C', 'D']);
      assert.equal(t.trackIds.length, 6);
    });
  });

  it("forwards byte for byte, and routes a subscriber's PLI to that track's publisher only, on a reused m-line too", async () => {
    await withRouter({ keyFrameRequestMinIntervalMs: 100 }, async (router, offers, keep) => {
      const a = keep(new TestPublisher('A'));
      const b = keep(new TestPublisher('B'));
      await a.publish(router);
      await b.publish(router);
      // A sender report before anyone subscribes: replayed to the subscriber as its track starts.
      a.send('video');
      const sr = buildSenderReport(a.ssrc.video, Date.now(), 123456, 1, 200);
      a.sendRaw('video', sr);
      await sleep(200);
      const sub = keep(new BundleTestSubscriber('S'));
      router.openSubscriber('S');
      await waitFor('the first offer', () => offers.length === 1);
      await sub.answer(router, offers[0]!);
      await waitFor(
        'tracks open',
        () => sub.tracks.size === 4 && [...sub.tracks.values()].every((t) => t.isOpen()),
      );
      await waitFor("A's last sender report", () =>
        sub.rtcp.some((r) => r.type === RTCP_SR && r.bytes.readUInt32BE(4) === a.ssrc.video),
      );
      const replayed = sub.rtcp.find((r) => r.type === RTCP_SR)!.bytes;
      assert.deepEqual(replayed.subarray(8, 20), sr.subarray(8, 20), 'NTP and RTP timestamps unchanged');
      // Each track's start asked its publisher for a keyframe.
      await waitFor('start PLIs', () => plis(a.rtcp) >= 1 && plis(b.rtcp) >= 1);
      const sent: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        sent.push(a.send('video'), b.send('video'));
        a.send('audio');
      }
      await waitFor('every packet', () =>
        [a.ssrc.video, b.ssrc.video, a.ssrc.audio].every((s) => sub.received(s).length >= 20),
      );
      assert.deepEqual(
        sub.received(a.ssrc.video),
        sent.filter((_, i) => i % 2 === 0),
      );
      assert.deepEqual(
        sub.received(b.ssrc.video),
        sent.filter((_, i) => i % 2 === 1),
      );

      await sleep(300);
      const base = { a: plis(a.rtcp), b: plis(b.rtcp) };
      sub.sendRtcp(midOf(offers[0]!, 'B', 'video'), buildPli(0x5151, b.ssrc.video));
      await waitFor("B's PLI", () => plis(b.rtcp) > base.b);
      await sleep(300);
      assert.equal(plis(a.rtcp), base.a, 'A was not asked');

      // B's video ends; C's takes its m-line. Packets and PLIs of C go through the reused one.
      router.unpublish('B', 'video');
      await waitFor('offer 2', () => offers.length === 2);
      await sub.answer(router, offers[1]!);
      const c = keep(new TestPublisher('C', ['video']));
      await c.publish(router);
      await waitFor('offer 3', () => offers.length === 3);
      const mid = midOf(offers[2]!, 'C', 'video');
      assert.equal(mid, midOf(offers[0]!, 'B', 'video'));
      await sub.answer(router, offers[2]!);
      const fromC: Buffer[] = [];
      for (let i = 0; i < 20; i++) fromC.push(c.send('video'));
      await waitFor("C's packets", () => sub.received(c.ssrc.video).length >= 20);
      assert.deepEqual(sub.received(c.ssrc.video), fromC);
      await sleep(300);
      const base2 = { a: plis(a.rtcp), b: plis(b.rtcp), c: plis(c.rtcp) };
      sub.sendRtcp(mid, buildPli(0x5151, c.ssrc.video));
      await waitFor("C's PLI", () => plis(c.rtcp) > base2.c);
      await sleep(300);
      assert.deepEqual([plis(a.rtcp), plis(b.rtcp)], [base2.a, base2.b], 'only C was asked');
      assert.ok(router.stats().keyFrameRequestsReceived >= 2);
    });
  });

  it("repairs a subscriber's real losses with NACK on a reused m-line (RtcpNackResponder per m-line)", async () => {
    await withRouter({}, async (router, offers, keep) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture('bundle-nack-subscriber.ts')], {
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
      const answer = async (o: SubscriberOfferEvent) => {
        child.send({ type: 'offer', sdp: o.offerSdp });
        await router.setSubscriberAnswer(
          o.transportId,
          o.version,
          (await next<{ sdp: string }>('answer')).sdp,
        );
      };
      try {
        // B's video takes an m-line, leaves it; A's video reuses it.
        const b = keep(new TestPublisher('B', ['video']));
        await b.publish(router);
        router.openSubscriber('X');
        await waitFor('offer 1', () => offers.length === 1);
        await answer(offers[0]!);
        router.unpublish('B');
        await waitFor('offer 2', () => offers.length === 2);
        await answer(offers[1]!);
        const a = keep(new TestPublisher('A'));
        await a.publish(router);
        await waitFor('offer 3', () => offers.length === 3);
        assert.equal(midOf(offers[2]!, 'A', 'video'), midOf(offers[0]!, 'B', 'video'));
        await answer(offers[2]!);
        child.send({ type: 'watch', ssrc: a.ssrc.video });
        await next('watching');
        const flowing = Date.now() + 10_000;
        while (Date.now() < flowing) {
          a.send('video');
          child.send({ type: 'received' });
          if ((await next<{ seqs: number[] }>('received')).seqs.length > 0) break;
          await sleep(50);
        }

        const sent = new Map<number, Buffer>();
        const receivedBefore = router.stats().receivedPackets;
        child.kill('SIGSTOP');
        const payload = Buffer.alloc(1100, 0x5a);
        for (let i = 0; i < 6000; i++) {
          const p = a.send('video', { payload });
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

  it('leaves out a track whose payload type already means another codec on the connection', async () => {
    const warnings: string[] = [];
    const log: SfuLogger = {
      ...silent,
      warn: (_o: object, msg?: string) => {
        warnings.push(msg ?? '');
      },
    };
    await withRouter(
      {},
      async (router, offers, keep) => {
        const x = keep(new CodecPublisher('X', { codec: 'VP8', payloadType: 96 }));
        const y = keep(new CodecPublisher('Y', { codec: 'H264', payloadType: 96 }));
        await x.publish(router);
        await y.publish(router);
        assert.equal(router.tracks('Y').find((t) => t.kind === 'video')!.codecs[0]!.payloadType, 96);
        const sub = keep(new BundleTestSubscriber('S'));
        router.openSubscriber('S');
        await waitFor('the first offer', () => offers.length === 1);
        const o1 = offers[0]!;
        assert.deepEqual(carried(o1), ['X audio', 'X video', 'Y audio']);
        assert.equal(o1.offerSdp.match(/^a=rtpmap:96 /gm)?.length, 1);
        assert.match(o1.offerSdp, /^a=rtpmap:96 VP8\/90000/m);
        assert.ok(warnings.some((w) => /payload type/.test(w)));
        // What is carried still flows.
        await sub.answer(router, o1);
        await waitFor(
          'tracks open',
          () => sub.tracks.size === 3 && [...sub.tracks.values()].every((t) => t.isOpen()),
        );
        for (let i = 0; i < 5; i++) {
          x.send('video');
          y.send('audio');
          y.send('video');
        }
        await waitFor(
          'packets',
          () => sub.received(x.ssrc.video).length === 5 && sub.received(y.ssrc.audio).length === 5,
        );
        await sleep(200);
        assert.equal(sub.received(y.ssrc.video).length, 0);
      },
      log,
    );
  });

  it('autoSubscribe false, setSubscribed, restart, and an offer never answered', async () => {
    await withRouter({ connectTimeoutMs: 1500 }, async (router, offers, keep) => {
      const closed: TransportStateEvent[] = [];
      router.on('transportState', (e) => e.state === 'closed' && closed.push(e));
      const a = keep(new TestPublisher('A'));
      const b = keep(new TestPublisher('B', ['audio']));
      await a.publish(router);
      await b.publish(router);
      const sub = keep(new BundleTestSubscriber('S'));
      const first = router.openSubscriber('S', { autoSubscribe: false });
      await waitFor('offer 1', () => offers.length === 1);
      assert.deepEqual(carried(offers[0]!), [], 'nobody yet: only the data channel');
      assert.equal(mediaLines(offers[0]!.offerSdp).length, 0);
      await sub.answer(router, offers[0]!);
      await waitFor('connected', () => sub.pc.state() === 'connected');
      router.setSubscribed('S', 'B', true);
      await waitFor('offer 2', () => offers.length === 2);
      assert.deepEqual(carried(offers[1]!), ['B audio']);
      await sub.answer(router, offers[1]!);

      // A restart replaces the connection (the old one closes) and keeps the choices.
      const second = router.openSubscriber('S', { restart: true });
      assert.notEqual(second.transportId, first.transportId);
      assert.ok(closed.some((e) => e.transportId === first.transportId && e.role === 'subscriber'));
      await waitFor('the new connection offers', () =>
        offers.some((o) => o.transportId === second.transportId),
      );
      const o = offers.find((x) => x.transportId === second.transportId)!;
      assert.equal(o.version, 1);
      assert.deepEqual(carried(o), ['B audio']);
      const sub2 = keep(new BundleTestSubscriber('S2'));
      await sub2.answer(router, o);
      await waitFor('connected', () => sub2.pc.state() === 'connected', 10_000);

      // An offer that is never answered closes the connection after connectTimeoutMs.
      router.setSubscribed('S', 'A', true);
      await waitFor('offer 2 of the new connection', () =>
        offers.some((x) => x.transportId === second.transportId && x.version === 2),
      );
      await waitFor(
        'closed for want of an answer',
        () => closed.some((e) => e.transportId === second.transportId),
        5000,
      );
      assert.equal(router.stats().subscriberTransports, 0);
    });
  });

  it('a process that used a subscriber connection exits by itself once the router and peers are closed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture('bundle-exit-check.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 40_000);
      child.on('exit', (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? String(signal));
      });
    });
    assert.equal(code, 0, `exit code (stderr: ${err})`);
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as {
      forwardedPackets: number;
      midReused: boolean;
      transportsAfterClose: number;
      native: { peerConnections: number; tracks: number };
    };
    assert.ok(report.forwardedPackets >= 20);
    assert.equal(report.midReused, true);
    assert.equal(report.transportsAfterClose, 0);
    assert.deepEqual(report.native, { peerConnections: 0, tracks: 0 });
  });
});

// ---- real Chromium ---------------------------------------------------------------------------

/** Polls the page until `check` accepts its stats (bounded). */
async function statsUntil(
  page: BundlePage,
  what: string,
  check: (s: BundleStats) => boolean,
  timeoutMs = 30_000,
): Promise<BundleStats> {
  const deadline = Date.now() + timeoutMs;
  let last: BundleStats | undefined;
  while (Date.now() < deadline) {
    last = await page.stats();
    if (check(last)) return last;
    await sleep(250);
  }
  const { events: _events, ...rest } = last ?? ({} as BundleStats);
  assert.fail(`timed out waiting for ${what} (${page.participantId}); last stats: ${JSON.stringify(rest)}`);
}

describe('sfu: subscriber connections with Chromium pages', { timeout: 400_000 }, () => {
  let browser: Browser;
  let router: MediaRouter;
  let harness: BundleHarness;
  const pages = new Map<string, BundlePage>();
  const transportIds = new Map<string, string>();
  const page = (id: string) => pages.get(id)!;
  const streamOf = (id: string) => router.tracks(id)[0]!.streamId;
  const trackOf = (id: string, kind: 'audio' | 'video') => router.tracks(id).find((t) => t.kind === kind)!.id;

  /** Every other participant's live tracks: decoded (video) / received (audio), by track and publisher. */
  function receivesAll(s: BundleStats, self: string, from: string[]): boolean {
    return from
      .filter((p) => p !== self)
      .every((p) => {
        const pub = s.byPublisher[p];
        if (!pub || pub.videoFrames === 0 || pub.audioPackets === 0) return false;
        return router.tracks(p).every((t) => {
          const f = s.byTrack[t.id];
          return f !== undefined && f.packetsReceived > 0 && (t.kind === 'audio' || f.framesDecoded > 0);
        });
      });
  }

  async function join(id: string): Promise<void> {
    const p = await BundlePage.open(browser, harness.url, id);
    pages.set(id, p);
    await p.publish();
    transportIds.set(id, (await p.openSubscriber()).transportId);
  }

  before(async () => {
    browser = await launchSfuChromium();
    router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
    harness = await startBundleHarness(router);
    for (const id of ['A', 'B', 'C']) await join(id);
  });

  after(async () => {
    for (const p of pages.values()) await p.close().catch(() => undefined);
    router?.close();
    await harness?.close();
    await browser?.close();
  });

  it(
    'three pages, one subscriber connection each: 2 PeerConnections per page, every other track decoded; 6 transports',
    { timeout: 90_000 },
    async () => {
      const ids = ['A', 'B', 'C'];
      const first = new Map<string, BundleStats>();
      for (const id of ids) {
        first.set(
          id,
          await statsUntil(
            page(id),
            'both others decoded',
            (s) => s.peerConnections === 2 && receivesAll(s, id, ids),
          ),
        );
      }
      await sleep(2000);
      for (const id of ids) {
        const s = await page(id).stats();
        assert.equal(s.peerConnections, 2, `${id}: one publisher and one subscriber connection`);
        assert.equal(s.connectionState, 'connected');
        assert.equal(s.channelOpen, true, "the SFU's data channel is open");
        assert.deepEqual(s.errors, []);
        for (const other of ids.filter((o) => o !== id)) {
          const a = first.get(id)!.byTrack[trackOf(other, 'video')]!;
          const b = s.byTrack[trackOf(other, 'video')]!;
          assert.ok(b.framesDecoded - a.framesDecoded >= 10, `${id}←${other} video frames keep coming`);
          const aa = first.get(id)!.byTrack[trackOf(other, 'audio')]!;
          const ba = s.byTrack[trackOf(other, 'audio')]!;
          assert.ok(ba.packetsReceived - aa.packetsReceived >= 40, `${id}←${other} audio keeps coming`);
          assert.deepEqual(s.streams[streamOf(other)], ['audio', 'video']);
        }
      }
      const stats = router.stats();
      assert.equal(stats.transports, 6);
      assert.equal(stats.subscriberTransports, 3);
      for (const id of ids) {
        const t = stats.perTransport.find((x) => x.transportId === transportIds.get(id))!;
        assert.deepEqual(
          [...t.publisherIds!].sort(),
          ids.filter((o) => o !== id),
        );
      }
    },
  );

  it(
    "a page's keyframe request (PLI) for one publisher's video reaches that publisher only",
    { timeout: 60_000 },
    async () => {
      // The SFU drops 700 ms of B's video on its way to A only (so it is never resent): A's decoder
      // asks for a keyframe of B's stream. B's publisher must get a PLI; C's must not.
      const bVideo = router.tracks('B').find((t) => t.kind === 'video')!.ssrc;
      const publisherPlis = async (id: string) =>
        (
          await page(id).page.evaluate(() =>
            (
              window as unknown as {
                sfu: { stats(): Promise<{ publishers: { video: { pliCount?: number } | null }[] }> };
              }
            ).sfu.stats(),
          )
        ).publishers[0]!.video!.pliCount ?? 0;
      await sleep(1000);
      const before = {
        A: await publisherPlis('A'),
        B: await publisherPlis('B'),
        C: await publisherPlis('C'),
      };
      const plisAtA = (await page('A').stats()).byTrack[trackOf('B', 'video')]!.pliCount;
      const original = BundleSink.prototype.sendRtp;
      let dropped = 0;
      BundleSink.prototype.sendRtp = function (this: BundleSink, packet: Buffer) {
        const to = (this as unknown as { connection: { participantId: string } }).connection.participantId;
        if (to === 'A' && this.source.info.ssrc === bVideo) {
          dropped++;
          return;
        }
        original.call(this, packet);
      };
      try {
        await sleep(700);
      } finally {
        BundleSink.prototype.sendRtp = original;
      }
      assert.ok(dropped > 10, `dropped ${dropped} packets`);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (await publisherPlis('B')) === before.B) await sleep(250);
      assert.ok((await publisherPlis('B')) > before.B, "B's publisher was asked for a keyframe");
      assert.ok(
        (await page('A').stats()).byTrack[trackOf('B', 'video')]!.pliCount > plisAtA,
        'A sent the PLI',
      );
      await sleep(1500);
      assert.equal(await publisherPlis('C'), before.C, "C's publisher was not asked");
      assert.equal(await publisherPlis('A'), before.A, "A's publisher was not asked");
    },
  );

  it(
    'a fourth page joins later: the others receive it on their same connection, and it receives them',
    { timeout: 90_000 },
    async () => {
      await join('D');
      const ids = ['A', 'B', 'C', 'D'];
      for (const id of ids) {
        const s = await statsUntil(page(id), 'every other decoded', (x) => receivesAll(x, id, ids));
        assert.equal(s.peerConnections, 2, `${id} still has 2 PeerConnections`);
        assert.equal(s.transportId, transportIds.get(id));
      }
      assert.equal(router.stats().transports, 8);
    },
  );

  it(
    "unpublish(video): every subscriber sees A's video leave, audio goes on; a new video reuses the m-line",
    { timeout: 120_000 },
    async () => {
      const subscribers = ['B', 'C', 'D'];
      const oldVideo = trackOf('A', 'video');
      const before = new Map<string, BundleStats>();
      for (const id of subscribers) before.set(id, await page(id).stats());
      const oldMid = (id: string) => before.get(id)!.byTrack[oldVideo]!.mid;
      router.unpublish('A', 'video');
      for (const id of subscribers) {
        // removetrack fires when the offer is applied; the direction once the answer is.
        const s = await statsUntil(
          page(id),
          "A's video to leave",
          (x) =>
            x.events.some(
              (e) => e.type === 'removetrack' && e.streamId === streamOf('A') && e.kind === 'video',
            ) && x.transceivers.find((t) => t.mid === oldMid(id))?.currentDirection === 'inactive',
        );
        assert.deepEqual(s.streams[streamOf('A')], ['audio'], "A's stream keeps its audio only");
        assert.equal(s.byMid[oldMid(id)], undefined);
      }
      const mid1 = new Map<string, BundleStats>();
      for (const id of subscribers) mid1.set(id, await page(id).stats());
      await sleep(2000);
      for (const id of subscribers) {
        const s = await page(id).stats();
        const audio = trackOf('A', 'audio');
        assert.ok(s.byTrack[audio]!.packetsReceived - mid1.get(id)!.byTrack[audio]!.packetsReceived >= 40);
        assert.equal(
          s.byTrack[oldVideo]?.framesDecoded ?? 0,
          mid1.get(id)!.byTrack[oldVideo]?.framesDecoded ?? 0,
          'no more frames of the ended video',
        );
      }

      await page('A').publish({ audio: false, video: true });
      const newVideo = trackOf('A', 'video');
      assert.notEqual(newVideo, oldVideo);
      for (const id of subscribers) {
        const s = await statsUntil(
          page(id),
          "A's new video decoded",
          (x) => (x.byTrack[newVideo]?.framesDecoded ?? 0) > 0,
        );
        assert.equal(s.mlines, before.get(id)!.mlines, 'no m-line added');
        assert.equal(s.byTrack[newVideo]!.mid, oldMid(id), 'the m-line of the ended video carries it');
        assert.equal(s.byMid[oldMid(id)]!.trackId, newVideo);
        assert.deepEqual(s.streams[streamOf('A')], ['audio', 'video']);
        assert.equal(s.peerConnections, 2);
      }
    },
  );

  it(
    'setSubscribed(false / true) drops and restores one publisher for one subscriber only',
    { timeout: 120_000 },
    async () => {
      const cVideo = trackOf('C', 'video');
      router.setSubscribed('B', 'C', false);
      await statsUntil(
        page('B'),
        "C's tracks to leave B",
        (x) =>
          (x.streams[streamOf('C')] ?? []).length === 0 &&
          !Object.values(x.byMid).some((t) => t.publisherId === 'C'),
      );
      await sleep(1000);
      const b1 = await page('B').stats();
      const d1 = await page('D').stats();
      await sleep(2000);
      const b2 = await page('B').stats();
      const d2 = await page('D').stats();
      // (Chrome may drop the statistics of a stream whose m-line went inactive: no entry, 0 frames.)
      const frames = (x: BundleStats, trackId: string) => x.byTrack[trackId]?.framesDecoded ?? 0;
      assert.equal(frames(b2, cVideo), frames(b1, cVideo), 'B no longer gets C');
      assert.ok(
        d2.byTrack[cVideo]!.framesDecoded - d1.byTrack[cVideo]!.framesDecoded >= 10,
        'D still gets C',
      );
      assert.ok(b2.byPublisher['D']!.videoFrames > b1.byPublisher['D']!.videoFrames, 'B still gets D');

      router.setSubscribed('B', 'C', true);
      const stalled = frames(b2, cVideo);
      const again = await statsUntil(
        page('B'),
        `C's tracks back at B (C's video had ${stalled} frames)`,
        (x) => (x.streams[streamOf('C')] ?? []).length === 2 && frames(x, cVideo) > stalled + 10,
      );
      assert.equal(again.mlines, b2.mlines, "C's tracks went back into the inactive m-lines");
    },
  );

  it(
    'removeParticipant(D) takes its tracks out of the other connections; router.close() ends everything, silently',
    { timeout: 120_000 },
    async () => {
      const dStream = streamOf('D');
      const versions = new Map<string, number>();
      for (const id of ['A', 'B', 'C']) versions.set(id, (await page(id).stats()).versions.at(-1)!);
      router.removeParticipant('D');
      assert.ok(router.stats().perTransport.every((t) => t.participantId !== 'D'));
      assert.equal(router.stats().subscriberTransports, 3);
      for (const id of ['A', 'B', 'C']) {
        const s = await statsUntil(
          page(id),
          "D's tracks to leave",
          (x) =>
            x.versions.at(-1)! > versions.get(id)! &&
            !Object.values(x.byMid).some((t) => t.publisherId === 'D') &&
            x.transceivers.filter((t) => t.currentDirection === 'recvonly').length === 4,
        );
        assert.deepEqual(s.streams[dStream], [], "D's stream has no track left");
        assert.equal(s.connectionState, 'connected');
      }

      const after: string[] = [];
      for (const event of [
        'trackPublished',
        'trackEnded',
        'subscriberOffer',
        'transportState',
        'localCandidate',
        'tapEnded',
        'remoteDenied',
      ] as const) {
        router.on(event, () => after.push(event));
      }
      router.close();
      router.close();
      assert.equal(router.stats().transports, 0);
      await waitFor('native PeerConnections closed', () => sfuNativeStats().peerConnections === 0, 10_000);
      assert.throws(() => router.openSubscriber('A'), { code: 'router-closed' });
      await sleep(1500);
      assert.deepEqual(after, [], 'no event after close()');
      await statsUntil(
        page('B'),
        'the subscriber connection to end',
        (x) => x.connectionState !== 'connected',
        30_000,
      );
    },
  );
});
