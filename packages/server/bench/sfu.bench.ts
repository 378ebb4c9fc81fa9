/**
 * bench:sfu — the media plane under load. Run: node --import tsx packages/server/bench/sfu.bench.ts
 *
 * Run in the order 2, 1, 4, 5, 3. Scenarios 1, 2 and 4 run the SFU alone in a child process
 * (sfu-bench-server.ts, driven over IPC; it relays the router's subscriberOffer / localCandidate
 * events), so that its CPU time (process.cpuUsage: all its threads, user + system) and RSS are
 * its own. Their peers are node-datachannel PeerConnections in this process that send pre-made
 * RTP (no encoder): 1100-byte "video" and 100-byte "audio" packets. Scenarios 3 and 5 use real
 * Chromium pages (fake camera and microphone) against a router in this process.
 *
 * 1. Per-pair forwarding cost (subscribe(): one transport per (subscriber, publisher) pair): for
 *    1 publisher × 8 / 32 / 64 subscribers, the server's CPU time per forwarded RTP packet and the
 *    forwarded packets per second, at BENCH_SFU_RATE packets/s (one in ten audio). Most
 *    subscribers set no message callback (libdatachannel decrypts and drops), two count what they
 *    get, to check delivery.
 * 2. Per-pair memory: a fresh server process; an 8-participant room where everyone publishes
 *    audio+video (~170 packets/s) and subscribes to the 7 others per pair (8 publisher + 56
 *    subscriber transports); server RSS growth (after GC) divided by 8.
 * 3. Per-pair join with Chromium: a page publishes; another subscribes per pair, waits for the
 *    first decoded frame (getStats framesDecoded), unsubscribes, again; p50/p95 of
 *    subscribe-request-to-first-decoded-frame (joinFirstFramePerPair*).
 * 4. A 16-person room on subscriber connections (openSubscriber: ONE BUNDLE connection per
 *    participant, renegotiated by the SFU), in a fresh server process: 16 participants join one
 *    after another, each publishes audio+video and opens its subscriber connection, whose offers
 *    (carrying the 15 others' tracks, re-offered as later ones publish) are answered by a
 *    counting peer (bundle-counter.ts). Everyone sends 50 audio packets/s and 100 video
 *    packets/s (1100 bytes, ~0.9 Mbit/s) in a paced loop. Reported: transports (expect 32), the
 *    server's CPU % over BENCH_SFU_SECONDS of that traffic (and per forwarded packet), its RSS
 *    growth per participant (after GC, the room running, against the fresh process before it),
 *    and delivery: packets received by the 16 subscribers against 15 × what each other sent, and
 *    per-track coverage: how many of the 16 × 15 × 2 (subscriber, track) pairs got packets.
 * 5. Joins on the subscriber connection with Chromium (bundle-join-harness.ts: the test pages,
 *    offers pushed through a long poll). Warm (joinFirstFrameP50Ms / P95Ms): a page whose
 *    subscriber connection is open and connected (receiving another page's audio) sees a new
 *    participant publish audio+video (a new id each time, from another page); measured from the
 *    router's trackPublished for that video to the first decoded frame of it on the warm
 *    connection (new offer, answer, the new publisher's own ICE/DTLS, its first keyframe); then
 *    that participant is removed (its m-lines go inactive, the next newcomer reuses them). Cold
 *    (joinFirstFrameCold*): a publisher is live; a page opens its subscriber connection; measured
 *    from the page's openSubscriber request to its first decoded frame of that publisher (first
 *    offer, answer, ICE, DTLS, keyframe): the same page each time, as a new participant after
 *    closing its previous connection (like scenario 3's subscriber page), and a fresh page each
 *    time (joinFirstFrameColdFreshPage*: its first RTCPeerConnection, ~150 ms more in Chromium).
 *    Timed on this machine's clock (Date.now() in the pages and here), first frame polled in the
 *    page every ~5 ms; the offer, answer and connected times are printed as a breakdown.
 *
 * Environment: BENCH_SFU_RATE (packets/s the scenario-1 publisher sends, default 500),
 * BENCH_SFU_SECONDS (measured seconds per scenario, default 8), BENCH_SFU_JOINS (joins per
 * Chromium case, default 20).
 * Last line: one JSON object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { MediaRouter, type LocalCandidateEvent, type SubscriberOfferEvent } from '../src/sfu/index.js';
import { TestPublisher, TestSubscriber, type Negotiator } from '../test/sfu-fixtures/peers.js';
import { startHarness } from '../test/sfu-fixtures/harness.js';
import { launchSfuChromium, SfuPage } from '../test/sfu-fixtures/browser.js';
import { BundlePage, type BundleStats } from '../test/sfu-fixtures/bundle.js';
import { CountingBundleSubscriber } from './bundle-counter.js';
import { startJoinHarness } from './bundle-join-harness.js';

const rate = Number(process.env['BENCH_SFU_RATE'] ?? 500);
const seconds = Number(process.env['BENCH_SFU_SECONDS'] ?? 8);
const joins = Number(process.env['BENCH_SFU_JOINS'] ?? 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

interface Sample {
  /** performance.now() in the server process */
  atMs: number;
  cpuUs: number;
  rssBytes: number;
  heapBytes: number;
  stats: {
    forwardedPackets: number;
    receivedPackets: number;
    droppedPackets: number;
    transports: number;
  } | null;
}

interface ServerEvents {
  subscriberOffer: SubscriberOfferEvent;
  localCandidate: LocalCandidateEvent;
}

/** The SFU in its own process, spoken to over IPC; negotiates like a MediaRouter. */
class ServerProcess implements Negotiator {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Map<string, ((data: unknown) => void)[]>();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const e = raw as { event?: string; data?: unknown };
      if (e.event !== undefined) {
        for (const l of this.#listeners.get(e.event) ?? []) l(e.data);
        return;
      }
      const m = raw as { id: number; result?: unknown; error?: string };
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
  }

  static async start(): Promise<ServerProcess> {
    const script = new URL('./sfu-bench-server.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const server = new ServerProcess(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bench server did not start')), 20_000);
      server.#pending.set(0, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject,
      });
    });
    return server;
  }

  call<T>(op: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench server: ${op} timed out`)), 30_000);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, op, args });
    });
  }

  publish(participantId: string, offerSdp: string) {
    return this.call<{ transportId: string; answerSdp: string }>('publish', participantId, offerSdp);
  }
  subscribe(subscriberId: string, publisherId: string) {
    return this.call<{ transportId: string; offerSdp: string; tracks: unknown[] }>(
      'subscribe',
      subscriberId,
      publisherId,
    );
  }
  setAnswer(transportId: string, answerSdp: string) {
    return this.call<void>('setAnswer', transportId, answerSdp);
  }
  openSubscriber(participantId: string) {
    return this.call<{ transportId: string }>('openSubscriber', participantId);
  }
  setSubscriberAnswer(transportId: string, version: number, answerSdp: string) {
    return this.call<void>('setSubscriberAnswer', transportId, version, answerSdp);
  }
  transports() {
    return this.call<{ participantId: string; role: string; state: string; tracks: number }[]>('transports');
  }
  /** The router's events, relayed by the server process. */
  on<K extends keyof ServerEvents>(event: K, listener: (data: ServerEvents[K]) => void): void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as (data: unknown) => void);
    this.#listeners.set(event, list);
  }
  reset(config: object = {}) {
    return this.call<null>('reset', config);
  }
  sample(gc = false) {
    return this.call<Sample>('sample', gc);
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      this.child.on('exit', () => resolve());
    });
    await this.call('exit').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

const videoPayload = Buffer.alloc(1100, 0x42);
const audioPayload = Buffer.alloc(100, 0x17);

/** Sends `perSecond` packets/s (one in ten is audio) for `ms` milliseconds from every publisher. */
async function drive(publishers: TestPublisher[], perSecond: number, ms: number): Promise<number> {
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond);
    for (; sent < due; sent++) {
      for (const p of publishers) {
        if (sent % 10 === 9) p.send('audio', { payload: audioPayload });
        else p.send('video', { payload: videoPayload, marker: sent % 10 === 8 });
      }
    }
    await sleep(5);
  }
  return sent;
}

async function forwarding(server: ServerProcess, subscriberCount: number) {
  await server.reset();
  const peers: { close(): void }[] = [];
  try {
    const pub = new TestPublisher('P');
    peers.push(pub);
    await pub.publish(server);
    const before = await server.sample(true);
    const subs: TestSubscriber[] = [];
    for (let i = 0; i < subscriberCount; i++) {
      const s = new TestSubscriber(`S${i}`, i < 2 ? 'count' : 'ignore');
      peers.push(s);
      await s.subscribe(server, 'P');
      subs.push(s);
    }
    const connected = await server.sample(true);
    await drive([pub], rate, 1000); // warm-up
    await sleep(200);
    const a = await server.sample();
    const counted0 = subs[0]!.packets;
    const t0 = performance.now();
    const sent = await drive([pub], rate, seconds * 1000);
    await sleep(300);
    const b = await server.sample();
    const elapsed = (performance.now() - t0) / 1000;
    const forwarded = b.stats!.forwardedPackets - a.stats!.forwardedPackets;
    return {
      subscribers: subscriberCount,
      usPerForwardedPacket: round((b.cpuUs - a.cpuUs) / forwarded, 3),
      forwardedPacketsPerSecond: Math.round(forwarded / elapsed),
      offeredPacketsPerSecond: Math.round((sent * subscriberCount) / elapsed),
      serverCpuPercent: round(((b.cpuUs - a.cpuUs) / 1e6 / elapsed) * 100, 1),
      deliveredToSample: round((subs[0]!.packets - counted0) / sent, 4),
      memoryPerSubscriberTransportMB: round(
        (connected.rssBytes - before.rssBytes) / subscriberCount / 2 ** 20,
        3,
      ),
    };
  } finally {
    for (const p of peers) p.close();
    await server.reset();
  }
}

async function meshMemory(participants: number) {
  const server = await ServerProcess.start();
  const peers: { close(): void }[] = [];
  try {
    await server.reset();
    const base = await server.sample(true);
    const pubs: TestPublisher[] = [];
    for (let i = 0; i < participants; i++) {
      const p = new TestPublisher(`M${i}`);
      peers.push(p);
      await p.publish(server);
      pubs.push(p);
    }
    for (let i = 0; i < participants; i++) {
      for (let j = 0; j < participants; j++) {
        if (i === j) continue;
        const s = new TestSubscriber(`M${i}`, 'ignore');
        peers.push(s);
        await s.subscribe(server, `M${j}`);
      }
    }
    // Realistic rate per publisher: ~150 video + ~17 audio packets/s (pre-made, ~1.3 Mbit/s).
    await drive(pubs, 170, 3000);
    const after = await server.sample(true);
    return {
      participants,
      transports: after.stats!.transports,
      memoryPerParticipantMB: round((after.rssBytes - base.rssBytes) / participants / 2 ** 20, 2),
      heapPerParticipantMB: round((after.heapBytes - base.heapBytes) / participants / 2 ** 20, 3),
    };
  } finally {
    for (const p of peers) p.close();
    await server.stop();
  }
}

async function chromiumJoins(count: number) {
  const router = new MediaRouter(
    { bindAddress: '127.0.0.1' },
    { debug() {}, info() {}, warn() {}, error() {} },
  );
  const harness = await startHarness(router);
  const browser = await launchSfuChromium();
  const times: number[] = [];
  const connectedTimes: number[] = [];
  try {
    const publisher = await SfuPage.open(browser, harness.url);
    const subscriber = await SfuPage.open(browser, harness.url);
    await publisher.publish('P');
    await sleep(2000);
    for (let k = 0; k < count; k++) {
      await subscriber.subscribe(`L${k}`, 'P');
      const deadline = Date.now() + 10_000;
      let first: number | null = null;
      while (Date.now() < deadline && first === null) {
        first = (await subscriber.stats()).subscriptions['P']?.firstFrameMs ?? null;
        if (first === null) await sleep(20);
      }
      if (first === null) throw new Error(`join ${k}: no decoded frame within 10 s`);
      times.push(first);
      const connected = (await subscriber.stats()).subscriptions['P']?.connectedMs;
      if (connected !== null && connected !== undefined) connectedTimes.push(connected);
      await subscriber.unsubscribe('P');
      router.unsubscribe(`L${k}`, 'P');
      await sleep(700);
    }
  } finally {
    await browser.close();
    router.close();
    await harness.close();
  }
  return {
    joins: times.length,
    joinFirstFrameP50Ms: Math.round(percentile(times, 50)),
    joinFirstFrameP95Ms: Math.round(percentile(times, 95)),
    joinFirstFrameMaxMs: Math.round(Math.max(...times)),
    connected: summary(connectedTimes),
  };
}

/**
 * Sends, from every publisher, `audioPerSecond` audio packets (100 bytes) and `videoPerSecond`
 * video packets (1100 bytes, a marker on every fourth: 4 packets a frame) per second, paced on
 * 5 ms ticks, for `ms` milliseconds. Returns the packets of each kind each publisher sent.
 */
async function driveAv(
  publishers: TestPublisher[],
  audioPerSecond: number,
  videoPerSecond: number,
  ms: number,
): Promise<{ audio: number; video: number }> {
  const start = performance.now();
  const sent = { audio: 0, video: 0 };
  while (performance.now() - start < ms) {
    const elapsed = (performance.now() - start) / 1000;
    const dueAudio = Math.floor(elapsed * audioPerSecond);
    const dueVideo = Math.floor(elapsed * videoPerSecond);
    for (; sent.audio < dueAudio; sent.audio++) {
      for (const p of publishers) p.send('audio', { payload: audioPayload });
    }
    for (; sent.video < dueVideo; sent.video++) {
      for (const p of publishers) p.send('video', { payload: videoPayload, marker: sent.video % 4 === 3 });
    }
    await sleep(5);
  }
  return sent;
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const ROOM_AUDIO_PPS = 50;
const ROOM_VIDEO_PPS = 100;

/** Scenario 4: n participants, all publishing, each receiving the others on one connection. */
async function bundleRoom(n: number) {
  const server = await ServerProcess.start();
  const pubs: TestPublisher[] = [];
  const subs: CountingBundleSubscriber[] = [];
  const byParticipant = new Map<string, CountingBundleSubscriber>();
  const byTransport = new Map<string, CountingBundleSubscriber>();
  const answer = (transportId: string, version: number, sdp: string) =>
    server.setSubscriberAnswer(transportId, version, sdp);
  server.on('subscriberOffer', (e) => byParticipant.get(e.participantId)?.offer(e, answer));
  server.on('localCandidate', (e) => byTransport.get(e.transportId)?.addCandidate(e.candidate, e.mid));
  try {
    await server.reset();
    const base = await server.sample(true);
    // They join one after another: publish, then open the subscriber connection (so the earlier
    // ones are re-offered every later publisher's tracks, as in a call that fills up).
    const setupStart = performance.now();
    for (let i = 0; i < n; i++) {
      const id = `R${i}`;
      const pub = new TestPublisher(id);
      pubs.push(pub);
      await pub.publish(server);
      const sub = new CountingBundleSubscriber(id);
      subs.push(sub);
      byParticipant.set(id, sub);
      const { transportId } = await server.openSubscriber(id);
      byTransport.set(transportId, sub);
    }
    const tracksEach = (n - 1) * 2;
    await waitUntil(
      `${n} subscriber connections connected with ${tracksEach} tracks each`,
      async () => {
        if (!subs.every((s) => s.offeredTracks === tracksEach && s.ready())) return false;
        const ts = await server.transports();
        return (
          ts.filter((t) => t.role === 'subscriber' && t.state === 'connected' && t.tracks === tracksEach)
            .length === n
        );
      },
      90_000,
    );
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const offersAnswered = subs.reduce((a, s) => a + s.answered, 0);

    // Warm-up with traffic; the memory sample (after GC) is taken with the room running.
    const warm = driveAv(pubs, ROOM_AUDIO_PPS, ROOM_VIDEO_PPS, 3000);
    await sleep(2000);
    const withRoom = await server.sample(true);
    await warm;
    await sleep(300);

    const snapshot = subs.map((s) => new Map(s.packets));
    const a = await server.sample();
    const benchCpu0 = process.cpuUsage();
    const t0 = performance.now();
    const sent = await driveAv(pubs, ROOM_AUDIO_PPS, ROOM_VIDEO_PPS, seconds * 1000);
    const b = await server.sample();
    const benchCpu = process.cpuUsage(benchCpu0);
    const benchSeconds = (performance.now() - t0) / 1000;
    await sleep(500); // packets in flight
    const c = await server.sample();

    let covered = 0;
    let received = 0;
    const missing: string[] = [];
    subs.forEach((s, i) => {
      pubs.forEach((p, j) => {
        if (i === j) return;
        for (const kind of ['audio', 'video'] as const) {
          const got = s.received(p.ssrc[kind]) - (snapshot[i]!.get(p.ssrc[kind]) ?? 0);
          received += got;
          if (got > 0) covered++;
          else missing.push(`${s.id}<-${p.id}:${kind}`);
        }
      });
    });
    const pairs = n * (n - 1) * 2;
    const expected = n * (n - 1) * (sent.audio + sent.video);
    const cpuMs = (b.cpuUs - a.cpuUs) / 1000;
    const windowMs = b.atMs - a.atMs;
    const forwarded = c.stats!.forwardedPackets - a.stats!.forwardedPackets;
    return {
      participants: n,
      transports: withRoom.stats!.transports,
      setupSeconds: round(setupSeconds, 1),
      offersAnswered,
      serverCpuPercent: round((cpuMs / windowMs) * 100, 1),
      usPerForwardedPacket: round(
        (b.cpuUs - a.cpuUs) / (b.stats!.forwardedPackets - a.stats!.forwardedPackets),
        3,
      ),
      benchProcessCpuPercent: round(
        ((benchCpu.user + benchCpu.system) / 1000 / (benchSeconds * 1000)) * 100,
        1,
      ),
      rssPerParticipantMB: round((withRoom.rssBytes - base.rssBytes) / n / 2 ** 20, 2),
      heapPerParticipantMB: round((withRoom.heapBytes - base.heapBytes) / n / 2 ** 20, 3),
      sentPerPublisher: sent,
      forwardedPacketsPerSecond: Math.round(forwarded / (windowMs / 1000)),
      forwardedOfExpected: round(forwarded / expected, 4),
      droppedBySfu: c.stats!.droppedPackets - a.stats!.droppedPackets,
      delivered: round(received / expected, 4),
      coveredPairs: covered,
      pairs,
      trackCoverage: round(covered / pairs, 4),
      missing: missing.slice(0, 10),
      errors: subs.flatMap((s) => s.errors).slice(0, 5),
    };
  } finally {
    for (const s of subs) s.close();
    for (const p of pubs) p.close();
    await server.stop();
  }
}

type PageWindow = {
  sfu: {
    publish(id: string, o: object): Promise<{ transportId: string }>;
    closeAll(): void;
  };
  bundle: {
    openSubscriber(id: string): Promise<{ transportId: string }>;
    stats(): Promise<BundleStats>;
    closeSubscriber(): void;
  };
};

/**
 * In the page: polls its subscriber connection's stats every ~5 ms until a frame of
 * `publisherId`'s video is decoded; resolves to Date.now() then (null after `timeoutMs`).
 */
function firstFrameAt(page: BundlePage, publisherId: string, timeoutMs: number): Promise<number | null> {
  return page.page.evaluate(
    async ([pid, ms]) => {
      const w = window as unknown as PageWindow;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const s = await w.bundle.stats();
        if ((s.byPublisher[pid]?.videoFrames ?? 0) > 0) return Date.now();
        await new Promise((r) => setTimeout(r, 5));
      }
      return null;
    },
    [publisherId, timeoutMs] as const,
  );
}

function summary(values: number[]) {
  return {
    p50: Math.round(percentile(values, 50)),
    p95: Math.round(percentile(values, 95)),
    max: Math.round(Math.max(...values)),
  };
}

/** Milliseconds from a page's openSubscriber request: first decoded frame, and the steps. */
interface ColdFigures {
  frame: number[];
  offer: number[];
  answer: number[];
  connected: number[];
}

const coldSummary = (c: ColdFigures) => ({
  frame: summary(c.frame),
  offerSent: summary(c.offer),
  answerSet: summary(c.answer),
  connected: summary(c.connected),
});

/** Scenario 5: joins on the subscriber connection, warm and cold, with Chromium. */
async function bundleJoins(count: number) {
  const router = new MediaRouter(
    { bindAddress: '127.0.0.1' },
    { debug() {}, info() {}, warn() {}, error() {} },
  );
  const harness = await startJoinHarness(router);
  const publishedAt = new Map<string, number>();
  const publisherConnectedAt = new Map<string, number>();
  router.on('trackPublished', (t) => {
    if (t.kind === 'video') publishedAt.set(t.participantId, Date.now());
  });
  const subscriberConnectedAt = new Map<string, number>();
  router.on('transportState', (e) => {
    if (e.role === 'subscriber' && e.state === 'connected')
      subscriberConnectedAt.set(e.transportId, Date.now());
    if (e.role === 'publisher' && e.state === 'connected')
      publisherConnectedAt.set(e.participantId, Date.now());
  });
  const browser = await launchSfuChromium();
  const warm: number[] = [];
  const warmFromRequest: number[] = [];
  const warmOffer: number[] = [];
  const warmAnswer: number[] = [];
  const warmPublisherConnected: number[] = [];
  const cold: ColdFigures = { frame: [], offer: [], answer: [], connected: [] };
  const fresh: ColdFigures = { frame: [], offer: [], answer: [], connected: [] };
  try {
    // ---- warm: a page already in the room, its subscriber connection open -------------------
    const talker = await BundlePage.open(browser, harness.url, 'A');
    await talker.publish({ audio: true, video: false });
    const watcher = await BundlePage.open(browser, harness.url, 'W');
    const { transportId: watcherTransport } = await watcher.openSubscriber();
    await waitUntil(
      "the watcher's subscriber connection connected, receiving A's audio",
      async () => {
        const s = await watcher.stats();
        return (
          s.connectionState === 'connected' && s.channelOpen && (s.byPublisher['A']?.audioPackets ?? 0) > 0
        );
      },
      20_000,
    );
    const newcomer = await BundlePage.open(browser, harness.url, 'N');
    await sleep(1000);
    for (let k = 0; k < count; k++) {
      const pid = `N${k}`;
      const frame = firstFrameAt(watcher, pid, 15_000);
      const requested = Date.now();
      await newcomer.page.evaluate(
        (id) => (window as unknown as PageWindow).sfu.publish(id, { audio: true, video: true }),
        pid,
      );
      const at = await frame;
      const published = publishedAt.get(pid);
      if (at === null || published === undefined)
        throw new Error(`warm join ${k}: no decoded frame within 15 s`);
      warm.push(at - published);
      warmFromRequest.push(at - requested);
      const offer = harness.offers(watcherTransport).find((o) => o.offeredAt >= published);
      if (offer) {
        warmOffer.push(offer.offeredAt - published);
        if (offer.answeredAt !== null) warmAnswer.push(offer.answeredAt - published);
      }
      const connected = publisherConnectedAt.get(pid);
      if (connected !== undefined) warmPublisherConnected.push(connected - published);
      // The newcomer leaves; wait until the watcher has answered the offer that drops it.
      await newcomer.page.evaluate(() => (window as unknown as PageWindow).sfu.closeAll());
      router.removeParticipant(pid);
      await waitUntil(
        'the offer without the newcomer to be answered',
        () => {
          const list = harness.offers(watcherTransport);
          return (
            list.length > 0 &&
            list.at(-1)!.offeredAt >= published &&
            list.at(-1)!.answeredAt !== null &&
            router.pendingSubscriberOffer('W') === null &&
            list.at(-1)!.version > (offer?.version ?? 0)
          );
        },
        10_000,
      );
      await sleep(500);
    }
    await newcomer.close();
    await watcher.close();
    router.removeParticipant('W');

    // ---- cold: the publisher is live; a page opens its subscriber connection -----------------
    const live = await BundlePage.open(browser, harness.url, 'P');
    await live.publish({ audio: true, video: true });
    await sleep(2000);
    const coldJoin = async (page: BundlePage, pid: string, into: ColdFigures) => {
      const r = await page.page.evaluate(
        async ([id, publisher, ms]) => {
          const w = window as unknown as PageWindow;
          const t0 = Date.now();
          const { transportId } = await w.bundle.openSubscriber(id);
          const end = performance.now() + ms;
          while (performance.now() < end) {
            const s = await w.bundle.stats();
            if ((s.byPublisher[publisher]?.videoFrames ?? 0) > 0) return { t0, at: Date.now(), transportId };
            await new Promise((res) => setTimeout(res, 5));
          }
          return { t0, at: null, transportId };
        },
        [pid, 'P', 15_000] as const,
      );
      if (r.at === null) throw new Error(`cold join ${pid}: no decoded frame within 15 s`);
      into.frame.push(r.at - r.t0);
      const first = harness.offers(r.transportId)[0];
      if (first) {
        into.offer.push(first.offeredAt - r.t0);
        if (first.answeredAt !== null) into.answer.push(first.answeredAt - r.t0);
      }
      const connected = subscriberConnectedAt.get(r.transportId);
      if (connected !== undefined) into.connected.push(connected - r.t0);
    };
    // The same page each time (as a new participant), like the per-pair scenario's subscriber:
    // closes its connection, and waits out its poll loop (1 s long poll) before the next join.
    const again = await BundlePage.open(browser, harness.url, 'C');
    for (let k = 0; k < count; k++) {
      await coldJoin(again, `C${k}`, cold);
      await again.page.evaluate(() => (window as unknown as PageWindow).bundle.closeSubscriber());
      router.removeParticipant(`C${k}`);
      await sleep(1300);
    }
    await again.close();
    // A fresh page (browser context) each time: its first RTCPeerConnection is this one.
    for (let k = 0; k < count; k++) {
      const page = await BundlePage.open(browser, harness.url, `F${k}`);
      try {
        await coldJoin(page, `F${k}`, fresh);
      } finally {
        await page.close();
        router.removeParticipant(`F${k}`);
      }
      await sleep(300);
    }
  } finally {
    await browser.close();
    router.close();
    await harness.close();
  }
  return {
    joins: warm.length,
    warm: summary(warm),
    warmFromPublishRequest: summary(warmFromRequest),
    warmOfferSent: summary(warmOffer),
    warmAnswerSet: summary(warmAnswer),
    warmPublisherConnected: summary(warmPublisherConnected),
    cold: coldSummary(cold),
    coldFreshPage: coldSummary(fresh),
  };
}

const memory = await meshMemory(8);
console.log(
  `mesh of ${memory.participants} (${memory.transports} connections): ${memory.memoryPerParticipantMB} MB RSS per participant, ${memory.heapPerParticipantMB} MB JS heap`,
);

const server = await ServerProcess.start();
const runs: Awaited<ReturnType<typeof forwarding>>[] = [];
try {
  for (const n of [8, 32, 64]) {
    const r = await forwarding(server, n);
    runs.push(r);
    console.log(
      `1 publisher × ${String(n).padStart(2)} subscribers: ${r.usPerForwardedPacket} µs CPU per forwarded packet, ${r.forwardedPacketsPerSecond} packets/s forwarded (offered ${r.offeredPacketsPerSecond}), server CPU ${r.serverCpuPercent}%, sample delivery ${r.deliveredToSample}, ${r.memoryPerSubscriberTransportMB} MB per subscriber connection`,
    );
  }
} finally {
  await server.stop();
}

const room = await bundleRoom(16);
console.log(
  `${room.participants}-person room on subscriber connections (${room.transports} transports, joined in ${room.setupSeconds} s, ${room.offersAnswered} offers answered): server CPU ${room.serverCpuPercent}% (${room.usPerForwardedPacket} µs per forwarded packet, ${room.forwardedPacketsPerSecond} packets/s forwarded, ${room.forwardedOfExpected} of expected, ${room.droppedBySfu} dropped), RSS ${room.rssPerParticipantMB} MB per participant (JS heap ${room.heapPerParticipantMB} MB), delivery ${room.delivered} of ${room.participants}×${room.participants - 1}×(${room.sentPerPublisher.audio} audio + ${room.sentPerPublisher.video} video) packets, track coverage ${room.coveredPairs}/${room.pairs}; this process (all 32 peers) ${room.benchProcessCpuPercent}% CPU`,
);
if (room.missing.length > 0) console.log(`  pairs with no packet (first 10): ${room.missing.join(' ')}`);
if (room.errors.length > 0) console.log(`  subscriber errors: ${room.errors.join('; ')}`);

const bundle = await bundleJoins(joins);
const fmt = (x: { p50: number; p95: number; max: number }) =>
  `p50 ${x.p50} ms, p95 ${x.p95} ms, max ${x.max} ms`;
console.log(
  `Chromium, subscriber connection, warm (page connected, a new participant publishes), over ${bundle.joins} joins: trackPublished → first decoded frame ${fmt(bundle.warm)}; from the publish request ${fmt(bundle.warmFromPublishRequest)}; after trackPublished: offer sent ${fmt(bundle.warmOfferSent)}, answer set ${fmt(bundle.warmAnswerSet)}, publisher connected ${fmt(bundle.warmPublisherConnected)}`,
);
const coldLine = (label: string, c: ReturnType<typeof coldSummary>) =>
  console.log(
    `Chromium, subscriber connection, cold, ${label}: openSubscriber → first decoded frame ${fmt(c.frame)}; after the request: first offer sent ${fmt(c.offerSent)}, answer set ${fmt(c.answerSet)}, connected (DTLS, the SFU's view) ${fmt(c.connected)}`,
  );
coldLine('publisher live, the same page joins again', bundle.cold);
coldLine('publisher live, a fresh page joins', bundle.coldFreshPage);

const join = await chromiumJoins(joins);
console.log(
  `Chromium, per-pair subscribe, join-to-first-decoded-frame over ${join.joins} joins: p50 ${join.joinFirstFrameP50Ms} ms, p95 ${join.joinFirstFrameP95Ms} ms, max ${join.joinFirstFrameMaxMs} ms; connected (the page's connectionState) ${fmt(join.connected)}`,
);

const at = (n: number) => runs.find((r) => r.subscribers === n)!;
console.log(
  JSON.stringify({
    usPerForwardedPacket: at(64).usPerForwardedPacket,
    usPerForwardedPacket8: at(8).usPerForwardedPacket,
    usPerForwardedPacket32: at(32).usPerForwardedPacket,
    usPerForwardedPacket64: at(64).usPerForwardedPacket,
    forwardedPacketsPerSecond8: at(8).forwardedPacketsPerSecond,
    forwardedPacketsPerSecond32: at(32).forwardedPacketsPerSecond,
    forwardedPacketsPerSecond64: at(64).forwardedPacketsPerSecond,
    publisherPacketsPerSecond: rate,
    joinFirstFrameP50Ms: bundle.warm.p50,
    joinFirstFrameP95Ms: bundle.warm.p95,
    joinFirstFrameColdP50Ms: bundle.cold.frame.p50,
    joinFirstFrameColdP95Ms: bundle.cold.frame.p95,
    joinFirstFrameColdFreshPageP50Ms: bundle.coldFreshPage.frame.p50,
    joinFirstFrameColdFreshPageP95Ms: bundle.coldFreshPage.frame.p95,
    joinFirstFramePerPairP50Ms: join.joinFirstFrameP50Ms,
    joinFirstFramePerPairP95Ms: join.joinFirstFrameP95Ms,
    memoryPerParticipantMB: memory.memoryPerParticipantMB,
    memoryPerSubscriberTransportMB: at(64).memoryPerSubscriberTransportMB,
    transportsRoom16: room.transports,
    rssPerParticipantMB: room.rssPerParticipantMB,
    room16ServerCpuPercent: room.serverCpuPercent,
    room16TrackCoverage: room.trackCoverage,
  }),
);
