/**
 * bench:sfu — the media plane under load. Run: node --import tsx packages/server/bench/sfu.bench.ts
 *
 * 1. Forwarding cost: the SFU runs alone in a child process (sfu-bench-server.ts); in this
 *    process, node-datachannel peers publish pre-made RTP (no encoder: 1100-byte "video" packets
 *    and 100-byte "audio" packets) and subscribe. For 1 publisher × 8 / 32 / 64 subscribers it
 *    reports the server's CPU time (process.cpuUsage: all its threads, user + system) per
 *    forwarded RTP packet and the forwarded packets per second. Most subscribers set no message
 *    callback (libdatachannel decrypts and drops), two count what they get, to check delivery.
 * 2. Memory: a fresh server process; an 8-participant room where everyone publishes audio+video
 *    at a realistic packet rate and subscribes to the 7 others (8 publisher + 56 subscriber
 *    connections); server RSS growth (after GC) divided by 8.
 * 3. Join latency with real Chromium: a page publishes its fake camera through an in-process
 *    router; another page subscribes, waits for its first decoded frame (getStats framesDecoded),
 *    unsubscribes, and does it again; p50/p95 of subscribe-request-to-first-decoded-frame.
 *
 * Environment: BENCH_SFU_RATE (packets/s the publisher sends, default 500), BENCH_SFU_SECONDS
 * (measured seconds per scenario, default 8), BENCH_SFU_JOINS (default 20).
 * Last line: one JSON object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { MediaRouter } from '../src/sfu/index.js';
import { TestPublisher, TestSubscriber, type Negotiator } from '../test/sfu-fixtures/peers.js';
import { startHarness } from '../test/sfu-fixtures/harness.js';
import { launchSfuChromium, SfuPage } from '../test/sfu-fixtures/browser.js';

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

/** The SFU in its own process, spoken to over IPC; negotiates like a MediaRouter. */
class ServerProcess implements Negotiator {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (raw) => {
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

const join = await chromiumJoins(joins);
console.log(
  `Chromium join-to-first-decoded-frame over ${join.joins} joins: p50 ${join.joinFirstFrameP50Ms} ms, p95 ${join.joinFirstFrameP95Ms} ms, max ${join.joinFirstFrameMaxMs} ms`,
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
    joinFirstFrameP50Ms: join.joinFirstFrameP50Ms,
    joinFirstFrameP95Ms: join.joinFirstFrameP95Ms,
    memoryPerParticipantMB: memory.memoryPerParticipantMB,
    memoryPerSubscriberTransportMB: at(64).memoryPerSubscriberTransportMB,
  }),
);
