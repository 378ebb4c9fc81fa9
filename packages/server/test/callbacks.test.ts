import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyCallback } from '@parley/server-sdk';
import type {
  CallApp,
  CallbackDeliveryList,
  CallbackSecret,
  LiveRoom,
  TestCallbackResult,
} from '@parley/protocol';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  setRoomCallbackUrl,
  startTestServer,
  type ApiClient,
  type TestServer,
} from './helpers.js';
import { Receiver, type Behaviour } from './receiver.js';
import { SignalClient } from './signal-client.js';

const fastRetries = {
  callbackRetrySchedule: [0.05, 0.05, 0.05],
  callbackRetryJitter: 0,
  callbackTimeoutSeconds: 0.5,
};

async function callAppWithCallback(
  owner: ApiClient,
  name: string,
  roomCallbackUrl: string,
): Promise<CallApp> {
  const app = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
  await setRoomCallbackUrl(owner, app.bizName, roomCallbackUrl);
  return app;
}

const codes = (r: Receiver, roomId: string) =>
  r
    .successes()
    .filter((x) => x.body['roomId'] === roomId)
    .map((x) => x.body['eventCode']);

describe('room-status callbacks', () => {
  let server: TestServer;
  let owner: ApiClient;
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
    server = await startTestServer({
      overrides: { ...fastRetries, callbackAllowLoopback: true, emptyRoomGraceSeconds: 0.1 },
    });
    owner = await ownerClient(server);
  });
  after(async () => {
    await server.stop();
    await receiver.stop();
  });

  it('sends 1, 2, 2, 3, 3, 4 for a two-user call, every field typed per the contract', async () => {
    const app = await callAppWithCallback(owner, 'Two users', receiver.url());
    const cred = await credentialSigner(owner, app.bizName);
    const alice = await SignalClient.open(server.url);
    await alice.hello(cred('alice'));
    const roomId = String((await alice.request({ type: 'createRoom' })).data?.['roomId']);
    const bob = await SignalClient.open(server.url);
    await bob.hello(cred('bob'));
    await bob.request({ type: 'joinRoom', roomId });
    await bob.request({ type: 'leaveRoom' });
    await alice.request({ type: 'leaveRoom' });
    await receiver.waitForSuccesses(6);
    const mine = receiver.successes().filter((r) => r.body['roomId'] === roomId);
    assert.deepEqual(
      mine.map((r) => r.body['eventCode']),
      [1, 2, 2, 3, 3, 4],
    );
    assert.deepEqual(
      mine.map((r) => r.body['uid']),
      ['alice', 'alice', 'bob', 'bob', 'alice', 'alice'],
    );
    for (const { body, headers } of mine) {
      assert.deepEqual(Object.keys(body).sort(), [
        'appId',
        'bizName',
        'bizRequestId',
        'eventCode',
        'roomId',
        'time',
        'uid',
        'workspaceId',
      ]);
      assert.equal(typeof body['bizRequestId'], 'string');
      assert.match(body['bizRequestId'] as string, /^\d{16}$/);
      assert.ok(Number.isSafeInteger(Number(body['bizRequestId'])));
      assert.ok(Number.isInteger(body['eventCode']));
      assert.ok(Number.isInteger(body['time']) && Math.abs((body['time'] as number) - Date.now()) < 60_000);
      assert.equal(body['bizName'], app.bizName);
      assert.equal(body['appId'], 'default');
      assert.equal(body['workspaceId'], 'default');
      assert.equal(typeof body['roomId'], 'string');
      assert.equal(headers['content-type'], 'application/json');
    }
    assert.equal(new Set(mine.map((r) => r.body['bizRequestId'])).size, 6, 'one id per event');
    alice.close();
    bob.close();
  });

  it('retries every kind of failed answer and then succeeds, with the same bizRequestId', async () => {
    const failures: Behaviour[] = [
      'wrongCode',
      'wrongId',
      'notJson',
      'redirect',
      'status404',
      'status500',
      'timeout',
      'destroy',
    ];
    const app = await callAppWithCallback(owner, 'Flaky', receiver.url('/flaky'));
    for (const failure of failures) {
      receiver.behave = (body, attempt) =>
        body['bizName'] === app.bizName && attempt === 1 ? failure : 'ok';
      const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
      await receiver.waitForSuccess((b) => b['roomId'] === room.roomId);
      const tries = receiver.received.filter((r) => r.body['roomId'] === room.roomId);
      assert.deepEqual(
        tries.map((t) => t.answered),
        [failure, 'ok'],
        failure,
      );
      assert.equal(tries[0]?.body['bizRequestId'], tries[1]?.body['bizRequestId']);
      await new Promise((r) => setTimeout(r, 100)); // the outcome is recorded after the answer
      const log = await owner.get<CallbackDeliveryList>(
        `${callAppsUrl()}/${app.bizName}/callbacks?roomId=${room.roomId}&eventCode=1`,
      );
      const delivery = log.body.items[0];
      assert.equal(delivery?.status, 'succeeded', failure);
      assert.equal(delivery?.attemptLog.length, 2);
      assert.equal(delivery?.attemptLog[0]?.success, false);
      assert.ok(delivery?.attemptLog[0]?.error, `${failure} has an error recorded`);
      assert.equal(delivery?.attemptLog[1]?.statusCode, 200);
      await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${room.roomId}`);
    }
    receiver.behave = () => 'ok';
  });

  it('accepts a numeric bizRequestId echoed back, as in the mPaaS example', async () => {
    const app = await callAppWithCallback(owner, 'Numeric echo', receiver.url('/numeric'));
    receiver.behave = () => 'numericId';
    const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    await receiver.waitForSuccess((b) => b['roomId'] === room.roomId);
    await new Promise((r) => setTimeout(r, 100)); // the outcome is recorded after the answer
    const log = await owner.get<CallbackDeliveryList>(
      `${callAppsUrl()}/${app.bizName}/callbacks?roomId=${room.roomId}`,
    );
    assert.equal(log.body.items[0]?.status, 'succeeded');
    receiver.behave = () => 'ok';
  });

  it('honours Retry-After', async () => {
    const app = await callAppWithCallback(owner, 'Busy', receiver.url('/busy'));
    receiver.behave = (body, attempt) =>
      body['bizName'] === app.bizName && attempt === 1 ? 'retryAfter' : 'ok';
    const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    await receiver.waitForSuccess((b) => b['roomId'] === room.roomId, 5000);
    const tries = receiver.received.filter((r) => r.body['roomId'] === room.roomId);
    assert.ok(
      (tries[1]?.at ?? 0) - (tries[0]?.at ?? 0) >= 900,
      'waited about the 1 s the receiver asked for',
    );
    receiver.behave = () => 'ok';
  });

  it('marks an event failed after the last retry and shows it, then redelivers it on request', async () => {
    const app = await callAppWithCallback(owner, 'Never', receiver.url('/never'));
    receiver.behave = (body) => (body['bizName'] === app.bizName ? 'status500' : 'ok');
    const room = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    const url = `${callAppsUrl()}/${app.bizName}/callbacks?status=failed`;
    let failed: CallbackDeliveryList | null = null;
    for (let i = 0; i < 50 && !failed?.items.length; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      failed = (await owner.get<CallbackDeliveryList>(url)).body;
    }
    const event = failed?.items[0];
    assert.ok(event, 'the event is marked failed');
    assert.equal(event.attempts, 4, 'first try + 3 retries');
    assert.equal(event.lastError, 'the receiver answered HTTP 500');
    assert.deepEqual(
      event.attemptLog.map((a) => a.statusCode),
      [500, 500, 500, 500],
    );
    assert.match(event.attemptLog[0]?.responseExcerpt ?? '', /boom/);
    assert.equal(event.roomId, room.roomId);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /parley_callback_failures_total [1-9]/);
    receiver.behave = () => 'ok';
    const again = await owner.post(
      `${callAppsUrl()}/${app.bizName}/callbacks/${event.eventId}/redeliver`,
      {},
    );
    assert.equal(again.status, 200);
    for (let i = 0; i < 50; i += 1) {
      const log = await owner.get<CallbackDeliveryList>(
        `${callAppsUrl()}/${app.bizName}/callbacks?roomId=${room.roomId}&eventCode=1`,
      );
      if (log.body.items[0]?.status === 'succeeded') {
        assert.equal(log.body.items[0].attempts, 5);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('redelivered event did not succeed');
  });

  it("keeps a room's events in order under retries while another room's events flow", async () => {
    const app = await callAppWithCallback(owner, 'Ordered', receiver.url('/ordered'));
    const slow = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    // The slow room's first event fails twice; its destroy event must wait for it.
    receiver.behave = (body, attempt) =>
      body['roomId'] === slow.roomId && body['eventCode'] === 1 && attempt <= 2 ? 'status500' : 'ok';
    await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${slow.roomId}`);
    const fast = (await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body;
    await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${fast.roomId}`);
    for (let i = 0; i < 100 && codes(receiver, slow.roomId).length < 2; i += 1)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(codes(receiver, slow.roomId), [1, 4]);
    assert.deepEqual(codes(receiver, fast.roomId), [1, 4]);
    const slowRequests = receiver.received.filter((r) => r.body['roomId'] === slow.roomId);
    assert.deepEqual(
      slowRequests.map((r) => `${r.body['eventCode']}:${r.answered}`),
      ['1:status500', '1:status500', '1:ok', '4:ok'],
    );
    const fastDone = Math.max(
      ...receiver.received.filter((r) => r.body['roomId'] === fast.roomId).map((r) => r.at),
    );
    const slowDone = Math.max(...slowRequests.map((r) => r.at));
    assert.ok(fastDone <= slowDone, 'the other room did not wait for the slow one');
    receiver.behave = () => 'ok';
  });

  it('signs every request; verifyCallback accepts it and refuses an altered body; rotation signs with both', async () => {
    const app = await callAppWithCallback(owner, 'Signed', receiver.url('/signed'));
    const secretsUrl = `${callAppsUrl()}/${app.bizName}/callback-secrets`;
    const secrets = (await owner.get<{ items: CallbackSecret[] }>(secretsUrl)).body.items;
    assert.equal(secrets.length, 1);
    assert.match(secrets[0]?.secret ?? '', /^whsec_/);
    const before = receiver.successes().length;
    await owner.post(`${callAppsUrl()}/${app.bizName}/rooms`, {});
    await receiver.waitForSuccesses(before + 1);
    const request = receiver.successes().at(-1);
    assert.ok(request);
    assert.equal(request.headers['webhook-id'], request.body['bizRequestId']);
    const verified = verifyCallback({
      secret: secrets[0]?.secret as string,
      headers: request.headers,
      body: request.raw,
    });
    assert.equal(verified['eventCode'], 1);
    assert.throws(
      () =>
        verifyCallback({
          secret: secrets[0]?.secret as string,
          headers: request.headers,
          body: request.raw.replace('"eventCode":1', '"eventCode":4'),
        }),
      /no signature matches/,
    );
    assert.throws(
      () =>
        verifyCallback({
          secret: secrets[0]?.secret as string,
          headers: request.headers,
          body: request.raw,
          now: () => Date.now() + 3600_000,
        }),
      /outside the allowed/,
    );
    const rotated = (await owner.post<{ items: CallbackSecret[] }>(`${secretsUrl}/rotate`, {})).body.items;
    assert.deepEqual(rotated.map((s) => s.status).sort(), ['active', 'retiring']);
    await owner.post(`${callAppsUrl()}/${app.bizName}/rooms`, {});
    await receiver.waitForSuccesses(before + 2);
    const next = receiver.successes().at(-1);
    assert.ok(next);
    assert.equal(
      String(next.headers['webhook-signature']).split(' ').length,
      2,
      'both secrets sign during the overlap',
    );
    for (const s of rotated) verifyCallback({ secret: s.secret, headers: next.headers, body: next.raw });
  });

  it('sends a test callback on request and shows the answer', async () => {
    const app = await callAppWithCallback(owner, 'Tested', receiver.url('/tested'));
    const res = await owner.post<TestCallbackResult>(`${callAppsUrl()}/${app.bizName}/callbacks/test`, {
      kind: 'room',
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.success, true);
    assert.equal(res.body.statusCode, 200);
    assert.match(res.body.responseExcerpt ?? '', /"code":0/);
    const noRecordingUrl = await owner.post(`${callAppsUrl()}/${app.bizName}/callbacks/test`, {
      kind: 'recording',
    });
    assert.equal(noRecordingUrl.status, 409);
    assert.equal(noRecordingUrl.body['code'], 'CALLBACK_URL_NOT_SET');
  });
});

describe('outbound safety', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
  });
  after(() => receiver.stop());

  it('refuses private and loopback addresses unless allow-listed', async () => {
    const strict = await startTestServer({ overrides: fastRetries });
    try {
      const owner = await ownerClient(strict);
      for (const url of [receiver.url('/ip'), `http://localhost:${receiver.port}/name`]) {
        const app = await callAppWithCallback(owner, `Blocked ${url}`, url);
        const test = await owner.post<TestCallbackResult>(`${callAppsUrl()}/${app.bizName}/callbacks/test`, {
          kind: 'room',
        });
        assert.equal(test.body.success, false);
        assert.match(test.body.error ?? '', /blocked address/);
      }
      assert.equal(receiver.received.length, 0, 'nothing reached the private receiver');
    } finally {
      await strict.stop();
    }
    const allowed = await startTestServer({
      overrides: { ...fastRetries, callbackAllowNetworks: ['127.0.0.1/32'] },
    });
    try {
      const owner = await ownerClient(allowed);
      const app = await callAppWithCallback(owner, 'Allowed', receiver.url('/allowed'));
      const test = await owner.post<TestCallbackResult>(`${callAppsUrl()}/${app.bizName}/callbacks/test`, {
        kind: 'room',
      });
      assert.equal(test.body.success, true, JSON.stringify(test.body));
      assert.equal(receiver.received.length, 1);
    } finally {
      await allowed.stop();
    }
  });
});
