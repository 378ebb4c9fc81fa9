/**
 * bench:callbacks: sustained room-status callback delivery to a healthy receiver on
 * 127.0.0.1, through the real path (room model → outbox → dispatcher → HTTP), on SQLite and
 * PostgreSQL. Figures:
 * - callbacksPerSecond: a burst of events delivered as fast as possible;
 * - latency p50/p99: event time → request arrival at the receiver, at an offered 1,000 events/s;
 * - memory: heap after GC at the start and end of a long run (SQLite: 100,000 events);
 * - blockedIdleCpuPercent: CPU of the server process while 1,000 events wait behind failing
 *   events of their rooms (target < 1 % of a core);
 * - retryLatenessP99Ms: how late retries of healthy call applications are sent while another
 *   application's receiver hangs for the whole 19 s attempt timeout (target < 1,000 ms).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CallApp, FeatureConfigResponse } from '@parley/protocol';
import { callAppsUrl, ownerClient, startTestServer, type DbKind } from '../test/helpers.js';

const burst = Number(process.env['BENCH_BURST'] ?? 20_000);
const offeredRate = 1000;
const latencySeconds = Number(process.env['BENCH_LATENCY_SECONDS'] ?? 10);
const memoryEvents = Number(process.env['BENCH_MEMORY_EVENTS'] ?? 100_000);

const gc = (globalThis as { gc?: () => void }).gc;
function heapMB(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}
const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;

/** A lean receiver: answers {code:0}, records only arrival latency. */
async function startReceiver() {
  let count = 0;
  let latencies: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { bizRequestId: string; time: number };
      latencies.push(Date.now() - body.time);
      count += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"bizRequestId":"${body.bizRequestId}","code":0}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`,
    count: () => count,
    takeLatencies: () => {
      const l = latencies;
      latencies = [];
      return l;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function waitFor(cond: () => boolean, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for deliveries');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function run(kind: DbKind, memoryRun: number) {
  const receiver = await startReceiver();
  const server = await startTestServer({
    db: kind,
    overrides: { callbackAllowLoopback: true, emptyRoomGraceSeconds: 0 },
  });
  try {
    const owner = await ownerClient(server);
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Bench' })).body;
    const url = `${callAppsUrl()}/${app.bizName}/config`;
    const cfg = (await owner.get<FeatureConfigResponse>(url)).body;
    await owner.put(url, { version: cfg.version, config: { ...cfg.config, roomCallbackUrl: receiver.url } });
    const scope = { bizName: app.bizName, appId: 'default', workspaceId: 'default' };
    // Each room gives two events: created (1) and destroyed (4).
    const emitPairs = (n: number) => {
      for (let i = 0; i < n; i += 1) server.rooms.create(scope, 'bench').close('bench', 'bench');
    };

    // Warm-up.
    emitPairs(100);
    await waitFor(() => receiver.count() >= 200, 30_000);
    receiver.takeLatencies();

    // Throughput: a burst, delivered as fast as possible.
    let base = receiver.count();
    const t0 = performance.now();
    emitPairs(burst / 2);
    await waitFor(() => receiver.count() >= base + burst, 300_000);
    const callbacksPerSecond = burst / ((performance.now() - t0) / 1000);
    receiver.takeLatencies();

    // Latency at the offered rate.
    base = receiver.count();
    const total = offeredRate * latencySeconds;
    const start = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * offeredRate));
      if (due - sent >= 2) {
        const pairs = Math.floor((due - sent) / 2);
        emitPairs(pairs);
        sent += pairs * 2;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => receiver.count() >= base + sent, 120_000);
    const lat = receiver.takeLatencies();

    // Memory over a long run.
    let memStart = NaN;
    let memEnd = NaN;
    if (memoryRun > 0) {
      memStart = heapMB();
      base = receiver.count();
      let made = 0;
      while (made < memoryRun) {
        const chunk = Math.min(2000, memoryRun - made);
        emitPairs(chunk / 2);
        made += chunk;
        await waitFor(() => receiver.count() >= base + made - 4000, 300_000);
      }
      await waitFor(() => receiver.count() >= base + memoryRun, 300_000);
      receiver.takeLatencies();
      memEnd = heapMB();
    }
    return {
      kind,
      callbacksPerSecond: Math.round(callbacksPerSecond),
      latencyP50Ms: round(pct(lat, 50)),
      latencyP99Ms: round(pct(lat, 99)),
      latencySamples: lat.length,
      memStartMB: round(memStart),
      memEndMB: round(memEnd),
    };
  } finally {
    await server.stop();
    await receiver.close();
  }
}

/**
 * A receiver whose answer depends on the path: /hang never answers, /fail answers 500, /flaky
 * answers 500 to the first attempt of each event and then {code:0}, recording when each came.
 */
async function startStallReceiver() {
  const tries = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/hang')) return; // holds the attempt until Parley's timeout
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { bizRequestId: string };
      const seen = tries.get(body.bizRequestId) ?? [];
      seen.push(performance.now());
      tries.set(body.bizRequestId, seen);
      const ok = req.url?.startsWith('/flaky') && seen.length > 1;
      res.writeHead(ok ? 200 : 500, { 'content-type': 'application/json' });
      res.end(ok ? `{"bizRequestId":"${body.bizRequestId}","code":0}` : '{"error":"boom"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: (path: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    tries,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function callAppAt(
  owner: Awaited<ReturnType<typeof ownerClient>>,
  name: string,
  roomCallbackUrl: string,
) {
  const app = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
  const url = `${callAppsUrl()}/${app.bizName}/config`;
  const cfg = (await owner.get<FeatureConfigResponse>(url)).body;
  await owner.put(url, { version: cfg.version, config: { ...cfg.config, roomCallbackUrl } });
  return { bizName: app.bizName, appId: 'default', workspaceId: 'default' };
}

/** Retries of six healthy apps (each event fails once, retry due 1 s later) while one app's receiver hangs. */
async function retryLateness(kind: DbKind) {
  const receiver = await startStallReceiver();
  const server = await startTestServer({
    db: kind,
    overrides: {
      callbackAllowLoopback: true,
      callbackTimeoutSeconds: 19,
      callbackRetrySchedule: [1, 30, 300],
      callbackRetryJitter: 0,
      emptyRoomGraceSeconds: 0,
    },
  });
  try {
    const owner = await ownerClient(server);
    const hanging = await callAppAt(owner, 'Hanging', receiver.url('/hang'));
    for (let i = 0; i < 200; i += 1) server.rooms.create(hanging, 'slow');
    const healthy = [];
    for (let a = 0; a < 6; a += 1)
      healthy.push(await callAppAt(owner, `Healthy ${a}`, receiver.url(`/flaky${a}`)));
    // One room per healthy app every 500 ms, over a whole 19 s hang.
    const end = performance.now() + 22_000;
    while (performance.now() < end) {
      for (const scope of healthy) server.rooms.create(scope, 'ok');
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const lateness = [...receiver.tries.values()]
      .filter((t) => t.length >= 2)
      .map((t) => (t[1] as number) - (t[0] as number) - 1000);
    return { retryLatenessP99Ms: round(pct(lateness, 99)), retrySamples: lateness.length };
  } finally {
    await server.stop();
    await receiver.close();
  }
}

/** Process CPU over `ms`, in % of a core, once the work before it (compilation, garbage) has settled. */
async function idleCpuPercent(ms: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 2000));
  gc?.();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(cpu);
  return round(((used.user + used.system) / 1000 / (performance.now() - t0)) * 100);
}

/** Process CPU while 1,000 events wait behind the failing first events of four rooms. */
async function blockedIdleCpu(kind: DbKind) {
  const receiver = await startStallReceiver();
  const server = await startTestServer({
    db: kind,
    overrides: { callbackAllowLoopback: true, callbackRetrySchedule: [300, 3000], callbackRetryJitter: 0 },
  });
  try {
    const owner = await ownerClient(server);
    const scope = await callAppAt(owner, 'Blocked', receiver.url('/fail'));
    // The same server with nothing waiting: what the process costs anyway (the media library's
    // native threads, timers of other parts), so the figure below can be read against it.
    const baseline = await idleCpuPercent(10_000);
    const writes: Promise<void>[] = [];
    for (let room = 0; room < 4; room += 1)
      for (let i = 0; i < 251; i += 1)
        writes.push(
          server.dispatcher.enqueue({
            kind: 'room',
            ...scope,
            eventCode: 2,
            roomId: `blocked${room}`,
            uid: `u${i}`,
            orderKey: `room:${scope.bizName}:blocked${room}`,
            url: { setting: 'room_callback_url' },
            payload: { uid: `u${i}`, roomId: `blocked${room}`, eventCode: 2, time: Date.now() },
            time: Date.now(),
          }),
        );
    await Promise.all(writes);
    await waitFor(() => receiver.tries.size >= 4, 30_000);
    return { blockedIdleCpuPercent: await idleCpuPercent(10_000), idleBaselineCpuPercent: baseline };
  } finally {
    await server.stop();
    await receiver.close();
  }
}

if (!gc) console.log('(run with node --expose-gc for exact heap figures)');
// The idle figure first, while the process is fresh: after the throughput runs its heap and
// the pools and sockets they leave behind cost CPU of their own.
const idle = await blockedIdleCpu('sqlite');
const sqlite = await run('sqlite', memoryEvents);
const postgres = await run('postgres', 0);
const stall = await retryLateness('sqlite');
console.log(
  `bench:callbacks — burst of ${burst} events; latency at ${offeredRate}/s for ${latencySeconds} s; memory over ${memoryEvents} events (SQLite)`,
);
for (const r of [sqlite, postgres]) {
  console.log(
    `${r.kind.padEnd(9)} ${r.callbacksPerSecond} callbacks/s | event→request p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms (${r.latencySamples} samples)` +
      (Number.isNaN(r.memStartMB) ? '' : ` | heap ${r.memStartMB} MB → ${r.memEndMB} MB`),
  );
}
console.log(
  `blocked: ${idle.blockedIdleCpuPercent} % of a core with 1,000 events waiting behind failing ones (same server idle: ${idle.idleBaselineCpuPercent} %) | retries of healthy apps while one hangs: p99 ${stall.retryLatenessP99Ms} ms late (${stall.retrySamples} samples)`,
);
console.log(
  'targets (SQLite): ≥ 1000 callbacks/s, p99 < 100 ms, memory flat, blocked idle CPU < 1 %, retry lateness p99 < 1000 ms',
);
console.log(
  JSON.stringify({
    callbacksPerSecond: sqlite.callbacksPerSecond,
    latencyP50Ms: sqlite.latencyP50Ms,
    latencyP99Ms: sqlite.latencyP99Ms,
    heapStartMB: sqlite.memStartMB,
    heapEndMB: sqlite.memEndMB,
    memoryEvents,
    callbacksPerSecondPostgres: postgres.callbacksPerSecond,
    latencyP50MsPostgres: postgres.latencyP50Ms,
    latencyP99MsPostgres: postgres.latencyP99Ms,
    blockedIdleCpuPercent: idle.blockedIdleCpuPercent,
    idleBaselineCpuPercent: idle.idleBaselineCpuPercent,
    retryLatenessP99Ms: stall.retryLatenessP99Ms,
  }),
);
