/**
 * The media-stream proxy on one machine: what terminals are told (relay-only through the proxy,
 * time-limited TURN credentials a real coturn accepts), the shared secret's API, and Test proxy.
 * The same across real network boundaries: proxy-netns/ (npm run test:proxy); that coturn refuses
 * expired credentials: turn-probe.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { CallApp, FeatureConfigResponse, ProxySecret, ProxyTestResult } from '@parley/protocol';
import { startCoturn, type Coturn } from './coturn.js';
import {
  callAppsUrl,
  credentialSigner,
  memberClient,
  ownerClient,
  startTestServer,
  type ApiClient,
  type TestServer,
} from './helpers.js';
import { SignalClient } from './signal-client.js';

describe('media-stream proxy', { timeout: 60_000 }, () => {
  let server: TestServer;
  let owner: ApiClient;
  let turn: Coturn | null = null;
  const clients: SignalClient[] = [];

  before(async () => {
    server = await startTestServer({
      overrides: {
        iceServers: [{ urls: ['stun:stun.example.com:3478'] }],
        proxyCredentialTtlSeconds: 3600,
        // The coturn of these tests listens on loopback, which Test proxy refuses unless listed.
        proxyProbeAllowNetworks: ['127.0.0.0/8'],
      },
    });
    owner = await ownerClient(server);
  });
  after(async () => {
    for (const c of clients) c.ws.close();
    await turn?.stop();
    await server?.stop();
  });

  async function callApp(name: string, proxy: { proxyAddress: string; proxyEgressIps: string }) {
    const app = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
    const url = `${callAppsUrl()}/${app.bizName}/config`;
    const current = (await owner.get<FeatureConfigResponse>(url)).body;
    const saved = await owner.put(url, { version: current.version, config: { ...current.config, ...proxy } });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    return { app, sign: await credentialSigner(owner, app.bizName) };
  }

  async function welcome(sign: (uid: string) => unknown, uid: string) {
    const c = await SignalClient.open(server.url);
    clients.push(c);
    const w = await c.hello(sign(uid));
    assert.equal(w.type, 'welcome', JSON.stringify(w));
    return w as unknown as {
      iceServers: { urls: string[]; username?: string; credential?: string }[];
      iceTransportPolicy: string;
      mediaProxy: string | null;
    };
  }

  it('without a proxy, terminals get the deployment ICE servers and direct ICE', async () => {
    const { sign } = await callApp('Direct', { proxyAddress: '', proxyEgressIps: '' });
    const w = await welcome(sign, 'alice');
    assert.deepEqual(w.iceServers, [{ urls: ['stun:stun.example.com:3478'] }]);
    assert.equal(w.iceTransportPolicy, 'all');
    assert.equal(w.mediaProxy, null);
  });

  it('with a proxy, its only ICE server is the proxy, relay-only, with credentials coturn accepts', async () => {
    const { app, sign } = await callApp('Behind a proxy', {
      proxyAddress: 'placeholder.example.com',
      proxyEgressIps: '127.0.0.1',
    });
    const secret = (await owner.get<ProxySecret>(`${callAppsUrl()}/${app.bizName}/proxy-secret`)).body.secret;
    turn = await startCoturn({ secret });
    // Point the application at the real proxy.
    const url = `${callAppsUrl()}/${app.bizName}/config`;
    const current = (await owner.get<FeatureConfigResponse>(url)).body;
    await owner.put(url, {
      version: current.version,
      config: { ...current.config, proxyAddress: turn.address },
    });

    const before = Math.floor(Date.now() / 1000);
    const w = await welcome(sign, 'alice');
    assert.equal(w.iceTransportPolicy, 'relay');
    assert.equal(w.mediaProxy, turn.address);
    assert.equal(w.iceServers.length, 1);
    const ice = w.iceServers[0]!;
    assert.deepEqual(ice.urls, [`turn:${turn.address}?transport=udp`, `turn:${turn.address}?transport=tcp`]);
    const [expiry, uid] = ice.username!.split(':');
    assert.equal(uid, 'alice');
    assert.ok(Number(expiry) >= before + 3600 && Number(expiry) <= before + 3601, ice.username);
    assert.equal(ice.credential, createHmac('sha1', secret).update(ice.username!).digest('base64'));

    // coturn accepts exactly these credentials: Test proxy allocates with them.
    const test = await owner.post<ProxyTestResult>(`${callAppsUrl()}/${app.bizName}/proxy/test`, {});
    assert.equal(test.status, 200, JSON.stringify(test.body));
    assert.equal(test.body.ok, true, test.body.message);
    assert.equal(test.body.stage, 'ok');
    assert.match(String(test.body.relayedAddress), /^127\.0\.0\.1:\d+$/);

    // After a rotation, terminals get credentials from the new secret, which this coturn (still
    // on the old one) refuses: Test proxy says so.
    const rotated = await owner.post<ProxySecret>(`${callAppsUrl()}/${app.bizName}/proxy-secret/rotate`, {});
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.secret, secret);
    const w2 = await welcome(sign, 'bob');
    const ice2 = w2.iceServers[0]!;
    assert.equal(
      ice2.credential,
      createHmac('sha1', rotated.body.secret).update(ice2.username!).digest('base64'),
    );
    const refused = await owner.post<ProxyTestResult>(`${callAppsUrl()}/${app.bizName}/proxy/test`, {});
    assert.equal(refused.body.ok, false);
    assert.equal(refused.body.stage, 'credentials', refused.body.message);
  });

  it('Test proxy: an unsaved address, nothing to test, a bad address, and what fails', async () => {
    const { app } = await callApp('Testing addresses', { proxyAddress: '', proxyEgressIps: '' });
    const url = `${callAppsUrl()}/${app.bizName}/proxy/test`;
    const none = await owner.post(url, {});
    assert.equal(none.status, 409);
    assert.equal(none.body['code'], 'PROXY_NOT_SET');
    const bad = await owner.post(url, { proxyAddress: 'https://proxy.example.com' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['field'], 'proxyAddress');
    const refused = await owner.post<ProxyTestResult>(url, { proxyAddress: '127.0.0.1:9' });
    assert.equal(refused.status, 200);
    assert.equal(refused.body.stage, 'refused', refused.body.message);
    const dns = await owner.post<ProxyTestResult>(url, { proxyAddress: 'no-such-proxy.invalid' });
    assert.equal(dns.body.stage, 'dns', dns.body.message);
  });

  it('Test proxy refuses loopback, link-local and metadata addresses unless proxyProbeAllowNetworks lists them', async () => {
    const guarded = await startTestServer();
    try {
      const guardedOwner = await ownerClient(guarded);
      const app = (await guardedOwner.post<CallApp>(callAppsUrl(), { name: 'Probe guard' })).body;
      const url = `${callAppsUrl()}/${app.bizName}/proxy/test`;
      for (const proxyAddress of [
        '127.0.0.1:3478',
        '127.0.0.53',
        'localhost:3478',
        '0.0.0.0',
        '169.254.169.254',
        '169.254.169.254:80',
        '[::1]:3478',
        '::1',
        '[fe80::1]:3478',
        '[::ffff:127.0.0.1]:3478',
      ]) {
        const res = await guardedOwner.post(url, { proxyAddress });
        assert.equal(res.status, 400, `${proxyAddress}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body['code'], 'VALIDATION_FAILED');
        assert.equal(res.body['field'], 'proxyAddress');
        assert.equal(res.body['reason'], 'ADDRESS_NOT_ALLOWED');
        assert.match(String(res.body['message']), /proxyProbeAllowNetworks/, proxyAddress);
      }
    } finally {
      await guarded.stop();
    }
  });

  it('only developers and above see the secret or test the proxy; reading the secret is audited', async () => {
    const { app } = await callApp('Guarded secret', { proxyAddress: '', proxyEgressIps: '' });
    const viewer = await memberClient(server, owner, 'viewer');
    const base = `${callAppsUrl()}/${app.bizName}`;
    assert.equal((await viewer.get(`${base}/proxy-secret`)).status, 403);
    assert.equal((await viewer.post(`${base}/proxy-secret/rotate`, {})).status, 403);
    assert.equal((await viewer.post(`${base}/proxy/test`, { proxyAddress: '127.0.0.1:9' })).status, 403);
    const first = await owner.get<ProxySecret>(`${base}/proxy-secret`);
    const again = await owner.get<ProxySecret>(`${base}/proxy-secret`);
    assert.equal(first.body.secret, again.body.secret, 'made once, then the same');
    const audit = await owner.get<{ items: { action: string; targetId: string }[] }>(
      `/api/v1/workspaces/default/audit?action=proxy.secret.reveal`,
    );
    assert.ok(audit.body.items.some((e) => e.targetId === app.bizName));
  });
});
