/**
 * One signaling socket owns at most one session (issue 10), on PostgreSQL where the credential
 * checks of a hello await the database long enough for more messages to arrive meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Credential } from '@parley/server-sdk';
import type { CallApp } from '@parley/protocol';
import { callAppsUrl, credentialSigner, ownerClient, startTestServer, type TestServer } from './helpers.js';
import { SignalClient } from './signal-client.js';

/** Polls `read` until it returns `want` or `ms` pass; returns the last value. */
async function settle<T>(read: () => T, want: T, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let value = read();
  while (value !== want && Date.now() < end) {
    await sleep(50);
    value = read();
  }
  return value;
}

describe('one session per signaling socket (postgres)', () => {
  let server: TestServer;
  let credential: (uid: string) => Credential;
  const clients: SignalClient[] = [];

  before(async () => {
    server = await startTestServer({ db: 'postgres', overrides: { reconnectGraceSeconds: 0.5 } });
    const owner = await ownerClient(server);
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Hello twice' })).body;
    credential = await credentialSigner(owner, app.bizName);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  it('answers the first of several back-to-back hellos and refuses the rest, creating one session', async () => {
    const sessionsBefore = server.signaling.stats().sessions;
    const c = await SignalClient.open(server.url);
    clients.push(c);
    const cred = credential('hello_many');
    for (let i = 0; i < 6; i += 1) c.send({ type: 'hello', v: 1, credential: cred });

    const welcome = await c.waitType('welcome');
    assert.equal(welcome['uid'], 'hello_many');
    const refusals = [];
    for (let i = 0; i < 5; i += 1) {
      const e = await c.waitType('error');
      refusals.push((e['error'] as { code: string }).code);
    }
    assert.deepEqual(refusals, Array(5).fill('HELLO_ALREADY_RECEIVED'));
    await sleep(300); // any late welcome of a second session would have arrived by now
    assert.equal(c.messages.filter((m) => m.type === 'welcome').length, 0, 'exactly one welcome');
    assert.equal(server.signaling.stats().sessions, sessionsBefore + 1);

    c.close();
    await c.closed;
    assert.equal(
      await settle(() => server.signaling.stats().sessions, sessionsBefore, 5000),
      sessionsBefore,
      'the session ends after the reconnect grace',
    );
  });

  it('leaves no session behind when the terminal hangs up before its hello is answered', async () => {
    const sessionsBefore = server.signaling.stats().sessions;
    for (let i = 0; i < 5; i += 1) {
      const c = await SignalClient.open(server.url);
      c.send({ type: 'hello', v: 1, credential: credential(`hangup_${i}`) });
      c.ws.terminate();
    }
    // Past the reconnect grace (0.5 s), nothing may remain resumable.
    await sleep(1500);
    assert.equal(server.signaling.stats().sessions, sessionsBefore);
  });
});
