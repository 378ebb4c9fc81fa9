import { it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { CallApp } from '@parley/protocol';
import { openDb } from '../src/store/db.js';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  setRoomCallbackUrl,
  startTestServer,
} from './helpers.js';
import { SignalClient } from './signal-client.js';

it('a server shutting down says goodbye, closes its rooms and keeps their leave/destroy callbacks (close is idempotent)', async () => {
  const server = await startTestServer({ overrides: { callbackAllowLoopback: true } });
  const owner = await ownerClient(server);
  const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Shutdown' })).body;
  // Nothing listens on this port: the events stay in the outbox.
  await setRoomCallbackUrl(owner, app.bizName, 'http://127.0.0.1:9/cb');
  const cred = await credentialSigner(owner, app.bizName);
  const alice = await SignalClient.open(server.url);
  await alice.hello(cred('alice'));
  const roomId = String((await alice.request({ type: 'createRoom' })).data?.['roomId']);
  const bob = await SignalClient.open(server.url);
  await bob.hello(cred('bob'));
  await bob.request({ type: 'joinRoom', roomId });

  const first = server.close();
  const second = server.close();
  assert.equal(first, second, 'close() returns the same promise');
  await first;
  const bye = await alice.waitType('bye');
  assert.equal(bye['code'], 'SERVER_SHUTTING_DOWN');
  assert.equal(await alice.closed, 4001);
  assert.equal(server.rooms.list().length, 0);

  const reopened = await openDb({ databaseUrl: '', dataDir: server.dataDir });
  try {
    const rows = await reopened.db
      .selectFrom('callback_events')
      .select(['event_code', 'uid'])
      .where('room_id', '=', roomId)
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((r) => `${r.event_code}:${r.uid}`),
      ['1:alice', '2:alice', '2:bob', '3:alice', '3:bob', '4:bob'],
    );
    const presence = await reopened.db.selectFrom('room_presence').selectAll().execute();
    assert.equal(presence.length, 0, 'nothing left for crash recovery to close');
  } finally {
    await reopened.close();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});
