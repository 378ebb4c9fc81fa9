/**
 * bench:api: fills a workspace with 10,000 call applications and measures list and search
 * latency (p50/p95) through the REST API, on SQLite and on PostgreSQL.
 *
 * 200 call applications are created through the API (that path includes RSA-2048 key
 * generation, ~tens of ms each, reported as createP95Ms); the rest are inserted through the
 * store with keys sealed from a pool of 16 real key pairs, because generating 10,000 RSA
 * keys would take minutes and is not what list/search latency depends on.
 */
import { performance } from 'node:perf_hooks';
import type { CallAppList, CreatedToken } from '@parley/protocol';
import { generateRsaKeyPair, keyFingerprint } from '../src/security/keys.js';
import { newBizName, newKeyId } from '../src/security/ids.js';
import { ownerClient, startTestServer, type DbKind, type TestServer } from '../test/helpers.js';

const total = Number(process.env['BENCH_CALL_APPS'] ?? 10_000);
const viaApi = 200;
const samples = Number(process.env['BENCH_SAMPLES'] ?? 300);
const pageSize = 50;

const words = ['sales', 'support', 'clinic', 'bank', 'school', 'retail', 'hotel', 'travel', 'game', 'media'];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const round = (n: number) => Math.round(n * 100) / 100;

async function fill(server: TestServer, bearer: string): Promise<number[]> {
  const createMs: number[] = [];
  for (let i = 0; i < viaApi; i += 1) {
    const t0 = performance.now();
    const res = await fetch(`${server.url}/api/v1/workspaces/default/apps/default/call-apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${words[i % words.length]} line ${i}` }),
    });
    createMs.push(performance.now() - t0);
    if (res.status !== 201) throw new Error(`create failed: ${res.status}`);
  }
  const pool = await Promise.all(Array.from({ length: 16 }, () => generateRsaKeyPair()));
  const { db, vault } = server.services;
  const start = Date.now() - total * 1000;
  for (let offset = viaApi; offset < total; offset += 500) {
    const n = Math.min(500, total - offset);
    const apps = [];
    const keys = [];
    for (let j = 0; j < n; j += 1) {
      const i = offset + j;
      const bizName = newBizName();
      const at = start + i * 1000;
      const pair = pool[i % pool.length] as { publicKeyPem: string; privateKeyPem: string };
      const keyId = newKeyId();
      apps.push({
        biz_name: bizName,
        workspace_id: 'default',
        app_id: 'default',
        name: `${words[i % words.length]} line ${i}`,
        auto_record: i % 3 === 0 ? 1 : 0,
        record_media_type: 0,
        record_max_mixed_streams: 9,
        recording_callback_url: '',
        room_callback_url: '',
        proxy_address: '',
        proxy_egress_ips: '',
        proxy_secret_enc: '',
        proxy_secret_at: null,
        config_version: 1,
        config_updated_at: at,
        created_at: at,
        updated_at: at,
      });
      keys.push({
        id: keyId,
        biz_name: bizName,
        status: 'active' as const,
        public_key_pem: pair.publicKeyPem,
        private_key_enc: vault.encrypt(pair.privateKeyPem, `${bizName}/${keyId}`),
        fingerprint: keyFingerprint(pair.publicKeyPem),
        created_at: at,
        retires_at: null,
      });
    }
    await db.transaction().execute(async (trx) => {
      // Chunks keep statements under SQLite's bound-parameter limit.
      for (let k = 0; k < apps.length; k += 50)
        await trx
          .insertInto('call_apps')
          .values(apps.slice(k, k + 50))
          .execute();
      for (let k = 0; k < keys.length; k += 100)
        await trx
          .insertInto('call_app_keys')
          .values(keys.slice(k, k + 100))
          .execute();
    });
  }
  return createMs;
}

async function timeRequests(server: TestServer, bearer: string, urls: string[]): Promise<number[]> {
  const times: number[] = [];
  for (const url of urls) {
    const t0 = performance.now();
    const res = await fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${bearer}` } });
    const body = (await res.json()) as CallAppList;
    times.push(performance.now() - t0);
    if (res.status !== 200 || !Array.isArray(body.items)) throw new Error(`list failed: ${res.status}`);
  }
  return times;
}

async function run(kind: DbKind) {
  const server = await startTestServer({ db: kind });
  try {
    const owner = await ownerClient(server);
    const token = await owner.post<CreatedToken>('/api/v1/workspaces/default/tokens', {
      name: 'bench',
      role: 'developer',
    });
    const bearer = token.body.secret;
    const fillStart = performance.now();
    const createMs = await fill(server, bearer);
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const base = '/api/v1/workspaces/default/apps/default/call-apps';
    const pages = Math.ceil(total / pageSize);
    const check = await fetch(`${server.url}${base}?pageSize=1`, {
      headers: { authorization: `Bearer ${bearer}` },
    });
    const count = ((await check.json()) as CallAppList).total;
    if (count !== total) throw new Error(`expected ${total} call applications, found ${count}`);
    const listUrls = Array.from(
      { length: samples },
      (_, i) => `${base}?pageSize=${pageSize}&page=${i % 5 === 0 ? 1 : 1 + ((i * 37) % pages)}`,
    );
    const searchUrls = Array.from({ length: samples }, (_, i) => {
      const term = i % 2 === 0 ? `${words[i % words.length]} line ${i * 13}` : words[i % words.length];
      return `${base}?pageSize=${pageSize}&search=${encodeURIComponent(term as string)}`;
    });
    await timeRequests(server, bearer, listUrls.slice(0, 20)); // warm-up
    const list = await timeRequests(server, bearer, listUrls);
    const search = await timeRequests(server, bearer, searchUrls);
    return {
      kind,
      fillSeconds: round(fillSeconds),
      createP50: round(percentile(createMs, 50)),
      createP95: round(percentile(createMs, 95)),
      listP50: round(percentile(list, 50)),
      listP95: round(percentile(list, 95)),
      searchP50: round(percentile(search, 50)),
      searchP95: round(percentile(search, 95)),
    };
  } finally {
    await server.stop();
  }
}

const sqlite = await run('sqlite');
const postgres = await run('postgres');
console.log(
  `bench:api — ${total} call applications in one app, ${samples} requests per figure, pages of ${pageSize}`,
);
for (const r of [sqlite, postgres]) {
  console.log(
    `${r.kind.padEnd(9)} list p50 ${r.listP50} ms  p95 ${r.listP95} ms | search p50 ${r.searchP50} ms  p95 ${r.searchP95} ms | create (with RSA keygen) p50 ${r.createP50} ms  p95 ${r.createP95} ms | fill ${r.fillSeconds} s`,
  );
}
console.log(`target: list p95 < 50 ms for a 50-row page`);
console.log(
  JSON.stringify({
    callApps: total,
    pageSize,
    listP50Ms: sqlite.listP50,
    listP95Ms: sqlite.listP95,
    searchP50Ms: sqlite.searchP50,
    searchP95Ms: sqlite.searchP95,
    createP95Ms: sqlite.createP95,
    listP50MsPostgres: postgres.listP50,
    listP95MsPostgres: postgres.listP95,
    searchP50MsPostgres: postgres.searchP50,
    searchP95MsPostgres: postgres.searchP95,
    createP95MsPostgres: postgres.createP95,
  }),
);
