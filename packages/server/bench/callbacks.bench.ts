/**
 * bench:callbacks: sustained room-status callback delivery to a healthy receiver on
 * 127.0.0.1, through the real path (room model → outbox → dispatcher → HTTP), on SQLite and
 * PostgreSQL. Figures:
 * - callbacksPerSecond: a burst of events delivered as fast as possible;
 * - latency p50/p99: event time → request arrival at the receiver, at an offered 1,000 events/s;
 * - memory: heap after GC at the start and end of a long run (SQLite: 100,000 events).
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

if (!gc) console.log('(run with node --expose-gc for exact heap figures)');
const sqlite = await run('sqlite', memoryEvents);
const postgres = await run('postgres', 0);
console.log(
  `bench:callbacks — burst of ${burst} events; latency at ${offeredRate}/s for ${latencySeconds} s; memory over ${memoryEvents} events (SQLite)`,
);
for (const r of [sqlite, postgres]) {
  console.log(
    `${r.kind.padEnd(9)} ${r.callbacksPerSecond} callbacks/s | event→request p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms (${r.latencySamples} samples)` +
      (Number.isNaN(r.memStartMB) ? '' : ` | heap ${r.memStartMB} MB → ${r.memEndMB} MB`),
  );
}
console.log('targets (SQLite): ≥ 1000 callbacks/s, p99 < 100 ms, memory flat');
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
  }),
);
