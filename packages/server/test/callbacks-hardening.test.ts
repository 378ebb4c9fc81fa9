/**
 * The callback delivery points of the outside audit (issue 10): real receivers on 127.0.0.1,
 * real PostgreSQL (a fresh schema per server; write failures forced with a trigger on the
 * server's own schema), and the real dispatcher.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type {
  AuditList,
  CallApp,
  CallbackDelivery,
  CallbackDeliveryList,
  CallbackSecret,
  LiveRoom,
  TestCallbackResult,
} from '@parley/protocol';
import { compilePolicy } from '../src/callbacks/outbound-guard.js';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  setRoomCallbackUrl,
  startTestServer,
  type ApiClient,
  type TestServer,
} from './helpers.js';
import { Receiver } from './receiver.js';
import { SignalClient } from './signal-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function callAppWithCallback(owner: ApiClient, name: string, url: string): Promise<CallApp> {
  const app = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
  await setRoomCallbackUrl(owner, app.bizName, url);
  return app;
}

/** Polls the delivery log until `done` holds for the room's deliveries (bounded). */
async function deliveriesOf(
  owner: ApiClient,
  bizName: string,
  roomId: string,
  done: (items: CallbackDelivery[]) => boolean,
  timeoutMs = 10_000,
): Promise<CallbackDelivery[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = (
      await owner.get<CallbackDeliveryList>(`${callAppsUrl()}/${bizName}/callbacks?roomId=${roomId}`)
    ).body.items;
    if (done(items)) return items;
    if (Date.now() > deadline)
      assert.fail(`deliveries of ${roomId} not as expected in ${timeoutMs} ms: ${JSON.stringify(items)}`);
    await sleep(100);
  }
}

/** Runs SQL on the server's own database (its PostgreSQL schema is first on the search path). */
const exec = (server: TestServer, text: string) => sql.raw(text).execute(server.db.db);

describe('the outbox on PostgreSQL when writes fail', () => {
  let server: TestServer;
  let owner: ApiClient;
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
    server = await startTestServer({
      db: 'postgres',
      overrides: {
        callbackAllowLoopback: true,
        callbackRetrySchedule: [0.2, 0.2],
        callbackRetryJitter: 0,
        callbackTimeoutSeconds: 0.5,
        emptyRoomGraceSeconds: 0.2,
      },
    });
    owner = await ownerClient(server);
    await exec(
      server,
      `create function refuse_write() returns trigger language plpgsql as $$
       begin raise exception 'forced failure of the test'; end $$`,
    );
  });
  after(async () => {
    await server.stop();
    await receiver.stop();
  });

  it('never acknowledges an event it could not write: STORE_UNAVAILABLE, /readyz 503, then 1, 2, 3, 4 in order once the database recovers', async () => {
    const app = await callAppWithCallback(owner, 'Outbox down', receiver.url('/down'));
    const cred = await credentialSigner(owner, app.bizName);
    const alice = await SignalClient.open(server.url);
    await alice.hello(cred('alice'));
    await exec(
      server,
      'create trigger refuse_outbox before insert on callback_events for each row execute function refuse_write()',
    );
    const refused = await alice.request({ type: 'createRoom' });
    assert.equal(refused.ok, false, 'the terminal is not told ok');
    assert.equal(refused.error?.code, 'STORE_UNAVAILABLE');
    assert.match(refused.error?.message ?? '', /retryable/i);
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 503);
    const readyBody = (await ready.json()) as { code: string; message: string };
    assert.equal(readyBody.code, 'STORE_UNAVAILABLE');
    assert.match(readyBody.message, /forced failure of the test/);
    assert.equal(receiver.received.length, 0, 'nothing was sent while nothing was written');

    await exec(server, 'drop trigger refuse_outbox on callback_events');
    // The events waiting in memory are written in order; the undone join gives 3, the empty room 4.
    await receiver.waitForSuccesses(4, 15_000);
    assert.deepEqual(
      receiver.successes().map((r) => r.body['eventCode']),
      [1, 2, 3, 4],
    );
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'ready again after a write succeeded');
    const retried = await alice.request({ type: 'createRoom' });
    assert.equal(retried.ok, true, 'the retry of the request succeeds');
    alice.close();
  });

  it('reclaims a lease whose outcome could not be saved, while the server runs', async () => {
    const app = await callAppWithCallback(owner, 'Lost outcome', receiver.url('/lost'));
    await exec(
      server,
      'create trigger refuse_attempt before insert on callback_attempts for each row execute function refuse_write()',
    );
    const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    await receiver.waitForSuccess((b) => b['roomId'] === room.roomId);
    await sleep(300); // the outcome write fails meanwhile
    const stuck = await deliveriesOf(owner, app.bizName, room.roomId, (items) => items.length === 1);
    assert.equal(stuck[0]?.status, 'delivering', 'the outcome was not saved: the event is still leased');
    await exec(server, 'drop trigger refuse_attempt on callback_attempts');
    // Lease = attempt timeout (0.5 s) + margin (5 s): reclaimed and sent again well before a restart.
    const done = await deliveriesOf(
      owner,
      app.bizName,
      room.roomId,
      (items) => items[0]?.status === 'succeeded',
      12_000,
    );
    const sent = receiver.received.filter((r) => r.body['roomId'] === room.roomId);
    assert.equal(sent.length, 2, 'sent again after the lease expired');
    assert.equal(sent[0]?.body['bizRequestId'], sent[1]?.body['bizRequestId']);
    assert.equal(done[0]?.attemptLog.length, 1, 'the attempt whose outcome was lost is not in the log');
  });
});

describe('apps and rooms do not wait for each other (PostgreSQL)', () => {
  let server: TestServer;
  let owner: ApiClient;
  let slow: Receiver;
  let healthy: Receiver;
  before(async () => {
    slow = await new Receiver().start();
    slow.behave = () => 'timeout';
    healthy = await new Receiver().start();
    server = await startTestServer({
      db: 'postgres',
      overrides: {
        callbackAllowLoopback: true,
        // The audit's 19 s receiver, scaled down: attempts to the slow app time out after 4 s.
        callbackTimeoutSeconds: 4,
        callbackRetrySchedule: [1, 1, 1, 1],
        callbackRetryJitter: 0,
        callbackConcurrency: 8,
        callbackConcurrencyPerApp: 4,
      },
    });
    owner = await ownerClient(server);
  });
  after(async () => {
    await server.stop();
    await slow.stop();
    await healthy.stop();
  });

  it("sends another app's retries within 1 s of their due time while one app's receiver hangs", async () => {
    const hanging = await callAppWithCallback(owner, 'Hanging', slow.url('/hang'));
    for (let i = 0; i < 16; i += 1) await owner.post(`${callAppsUrl()}/${hanging.bizName}/rooms`, {});
    await sleep(500); // the hanging app's attempts are in flight
    // Each healthy event fails once (answered at once), so its retry is due 1 s later.
    healthy.behave = (_body, attempt) => (attempt === 1 ? 'status500' : 'ok');
    const rooms: string[] = [];
    for (let a = 0; a < 3; a += 1) {
      const app = await callAppWithCallback(owner, `Healthy ${a}`, healthy.url(`/h${a}`));
      for (let i = 0; i < 2; i += 1)
        rooms.push((await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body.roomId);
    }
    const deadline = Date.now() + 20_000;
    while (healthy.successes().length < rooms.length && Date.now() < deadline) await sleep(50);
    const lateness = rooms.map((roomId) => {
      const tries = healthy.received.filter((r) => r.body['roomId'] === roomId);
      assert.equal(tries.length, 2, `room ${roomId}: one failure, then the retry`);
      return (tries[1]?.at ?? 0) - (tries[0]?.at ?? 0) - 1000;
    });
    assert.ok(Math.max(...lateness) < 1000, `retries sent late by ${lateness.join(', ')} ms`);
    assert.ok(slow.received.length > 0, 'the hanging receiver was being called meanwhile');
  });
});

describe('where and when an attempt goes', () => {
  let server: TestServer;
  let owner: ApiClient;
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
    server = await startTestServer({
      db: 'postgres',
      overrides: {
        callbackAllowLoopback: true,
        callbackRetrySchedule: [300, 300],
        callbackRetryJitter: 0,
        callbackTimeoutSeconds: 0.5,
      },
    });
    owner = await ownerClient(server);
  });
  after(async () => {
    await server.stop();
    await receiver.stop();
  });

  it('sends a waiting retry to the corrected URL on "retry now", and each attempt shows its URL', async () => {
    const app = await callAppWithCallback(owner, 'Wrong URL', receiver.url('/wrong'));
    const wrong = new Receiver();
    await wrong.start();
    wrong.behave = () => 'status404';
    try {
      await setRoomCallbackUrl(owner, app.bizName, wrong.url('/wrong'));
      const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
      const waiting = await deliveriesOf(
        owner,
        app.bizName,
        room.roomId,
        (items) => items[0]?.attempts === 1 && items[0].status === 'pending',
      );
      assert.ok((waiting[0]?.nextAttemptAt ?? 0) > Date.now() + 200_000, 'the next retry is minutes away');

      await setRoomCallbackUrl(owner, app.bizName, receiver.url('/fixed'));
      const base = `${callAppsUrl()}/${app.bizName}/callbacks/retry-now`;
      const none = await owner.post(base, {});
      assert.equal(none.status, 400);
      assert.equal(none.body['code'], 'VALIDATION_FAILED');
      const missing = await owner.post(base, { roomId: 'no-such-room' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body['code'], 'CALLBACK_NOT_FOUND');

      const now = await owner.post<{ items: CallbackDelivery[] }>(base, { roomId: room.roomId });
      assert.equal(now.status, 200, JSON.stringify(now.body));
      assert.equal(now.body.items[0]?.eventId, waiting[0]?.eventId);
      const arrived = await receiver.waitForSuccess((b) => b['roomId'] === room.roomId, 3000);
      assert.equal(arrived.body['bizRequestId'], waiting[0]?.bizRequestId, 'the same event, the same id');

      const done = await deliveriesOf(
        owner,
        app.bizName,
        room.roomId,
        (items) => items[0]?.status === 'succeeded',
      );
      assert.deepEqual(
        done[0]?.attemptLog.map((a) => a.url),
        [wrong.url('/wrong'), receiver.url('/fixed')],
      );
      assert.equal(done[0]?.url, receiver.url('/fixed'));
      const audit = await owner.get<AuditList>(`/api/v1/workspaces/default/audit?action=callback.retryNow`);
      assert.equal(audit.body.items[0]?.targetId, app.bizName);
    } finally {
      await wrong.stop();
    }
  });

  it('marks test callbacks with X-Parley-Test: 1, and real ones without it', async () => {
    const app = await callAppWithCallback(owner, 'Test header', receiver.url('/marked'));
    const test = await owner.post<TestCallbackResult>(`${callAppsUrl()}/${app.bizName}/callbacks/test`, {
      kind: 'room',
    });
    assert.equal(test.body.success, true);
    const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    const real = await receiver.waitForSuccess((b) => b['roomId'] === room.roomId);
    const sample = receiver.received.find(
      (r) => r.body['roomId'] === 'test_room' && r.body['bizName'] === app.bizName,
    );
    assert.equal(sample?.headers['x-parley-test'], '1');
    assert.equal(real.headers['x-parley-test'], undefined);
  });

  it('creates the signing secret with the call app, never on GET, and audits reads', async () => {
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Secrets' })).body;
    const url = `${callAppsUrl()}/${app.bizName}/callback-secrets`;
    const first = await owner.get<{ items: CallbackSecret[] }>(url);
    assert.equal(first.body.items.length, 1, 'a new call app has its secret');
    const audit = await owner.get<AuditList>(
      `/api/v1/workspaces/default/audit?action=callback.secret.read&targetId=${app.bizName}`,
    );
    assert.equal(audit.body.items.length, 1, 'the read is in the audit log');

    // A call application from before secrets came with it.
    await exec(server, `delete from callback_secrets where biz_name = '${app.bizName}'`);
    const empty = await owner.get<{ items: CallbackSecret[] }>(url);
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.items, []);
    assert.deepEqual((await owner.get<{ items: CallbackSecret[] }>(url)).body.items, [], 'GET created none');
    const created = await owner.post<{ items: CallbackSecret[] }>(url, {});
    assert.equal(created.status, 201);
    assert.deepEqual(
      created.body.items.map((s) => s.status),
      ['active'],
    );
    const again = await owner.post<{ items: CallbackSecret[] }>(url, {});
    assert.equal(again.status, 200, 'nothing to create');
    assert.equal(again.body.items[0]?.secretId, created.body.items[0]?.secretId);
  });

  it('stays idle (under 3 % of a core) while 1,000 events wait behind failing ones', async () => {
    const failing = new Receiver();
    await failing.start();
    failing.behave = () => 'status500';
    try {
      const app = await callAppWithCallback(owner, 'Blocked', failing.url('/blocked'));
      // Retries 5 min apart: the four heads wait, the 996 events behind them are not due.
      const keys = ['a', 'b', 'c', 'd'];
      const writes: Promise<void>[] = [];
      for (const key of keys)
        for (let i = 0; i < 250; i += 1)
          writes.push(
            server.dispatcher.enqueue({
              kind: 'room',
              workspaceId: 'default',
              bizName: app.bizName,
              eventCode: 2,
              roomId: `blocked-${key}`,
              uid: `u${i}`,
              orderKey: `room:${app.bizName}:blocked-${key}`,
              url: { setting: 'room_callback_url' },
              payload: { uid: `u${i}`, roomId: `blocked-${key}`, eventCode: 2, time: Date.now() },
              time: Date.now(),
            }),
          );
      await Promise.all(writes);
      for (let i = 0; i < 100 && failing.received.length < keys.length; i += 1) await sleep(50);
      assert.equal(failing.received.length, keys.length, 'each head was tried once');
      await sleep(500); // the outcomes are saved
      const start = process.cpuUsage();
      const t0 = performance.now();
      await sleep(3000);
      const used = process.cpuUsage(start);
      const percent = ((used.user + used.system) / 1000 / (performance.now() - t0)) * 100;
      assert.ok(percent < 3, `the idle dispatcher used ${percent.toFixed(2)} % of a core`);
      assert.equal(failing.received.length, keys.length, 'nothing behind the heads was sent');
    } finally {
      await failing.stop();
    }
  });
});

describe('outbound guard', () => {
  it('fails a refused URL at once, naming the allow-list settings', async () => {
    const receiver = await new Receiver().start();
    const server = await startTestServer({
      overrides: {
        callbackRetrySchedule: [0.2, 0.2, 0.2],
        callbackRetryJitter: 0,
        callbackTimeoutSeconds: 0.5,
      },
    });
    try {
      const owner = await ownerClient(server);
      for (const url of [receiver.url('/ip'), `http://localhost:${receiver.port}/name`]) {
        const app = await callAppWithCallback(owner, `Refused ${url}`, url);
        const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
        const [failed] = await deliveriesOf(
          owner,
          app.bizName,
          room.roomId,
          (items) => items[0]?.status === 'failed',
          3000,
        );
        assert.equal(failed?.attempts, 1, `${url}: no retries`);
        assert.equal(failed?.attemptLog.length, 1);
        assert.match(failed?.lastError ?? '', /blocked address/);
        assert.match(failed?.lastError ?? '', /callbackAllowNetworks/);
        assert.match(failed?.lastError ?? '', /callbackAllowLoopback/);
      }
      assert.equal(receiver.received.length, 0);
    } finally {
      await server.stop();
      await receiver.stop();
    }
  });

  it('blocks IPv4-compatible (::/96) addresses and 6to4 addresses (2002::/16) carrying a blocked IPv4', () => {
    const permitted = compilePolicy({ allow: [], allowLoopback: false });
    for (const address of [
      '::7f00:1',
      '::127.0.0.1',
      '::a00:1',
      '::a9fe:a9fe',
      '2002:7f00:1::',
      '2002:a9fe:a9fe::1',
      '2002:c0a8:101::',
      '::ffff:127.0.0.1',
      '::1',
      '::',
    ])
      assert.equal(permitted(address), false, address);
    for (const address of ['2002:808:808::1', '8.8.8.8', '2001:4860:4860::8888', '::ffff:8.8.8.8'])
      assert.equal(permitted(address), true, address);
    const loopback = compilePolicy({ allow: [], allowLoopback: true });
    assert.equal(loopback('2002:7f00:1::'), true, '6to4 of loopback follows callbackAllowLoopback');
    assert.equal(loopback('::a00:1'), false);
  });
});
