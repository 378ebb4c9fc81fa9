/**
 * The media-stream proxy across real network boundaries. Run by scripts/proxy-test.mjs (npm run
 * test:proxy) inside the server-zone namespace it builds; see that script for the topology:
 * Chromium in the isolated zone reaches Parley's web and signaling only through a TCP forwarder
 * in the DMZ and its media only through coturn in the DMZ; a Chromium peer sits in the server
 * zone with Parley.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import type { CallApp, FeatureConfigResponse, ProxySecret, ProxyTestResult } from '@parley/protocol';
import { baseChromiumFlags, fakeMediaFlags } from '../chromium.js';
import { startCoturn, type Coturn } from '../coturn.js';
import {
  callAppsUrl,
  credentialSigner,
  ownerClient,
  startTestServer,
  type ApiClient,
  type TestServer,
} from '../helpers.js';
import { assertReceives, createRoom, openCallPage, pageError, pageEvents, waitStatus } from '../call-page.js';

const net = JSON.parse(process.env['PROXY_NET'] ?? '{}') as {
  iso: string;
  dmzIso: string;
  dmzSrv: string;
  srv: string;
};
const dmzNs = process.env['PROXY_NS_DMZ'] ?? '';
const isolatedChromium = process.env['PROXY_CHROMIUM_ISOLATED'] ?? '';
const parleyPort = 7880;
/** The isolated zone reaches Parley's web and signaling through the DMZ forwarder only. */
const isolatedUrl = `http://${net.dmzIso}:8080`;
const serverZoneUrl = `http://${net.srv}:${parleyPort}`;
const proxyPort = 3478;
const proxyAddress = `${net.dmzIso}:${proxyPort}`;

describe('media-stream proxy across network namespaces', { timeout: 300_000 }, () => {
  let server: TestServer;
  let owner: ApiClient;
  let isolated: Browser;
  let serverZone: Browser;
  let turn: Coturn | null = null;
  const contexts: BrowserContext[] = [];

  before(async () => {
    assert.ok(
      net.srv && dmzNs && isolatedChromium,
      'run through scripts/proxy-test.mjs (npm run test:proxy)',
    );
    server = await startTestServer({
      overrides: {
        host: '0.0.0.0',
        port: parleyPort,
        rtcBindAddress: net.srv,
        emptyRoomGraceSeconds: 0.3,
        logLevel: process.env['PROXY_TEST_LOG'] === '1' ? 'debug' : 'silent',
      },
    });
    owner = await ownerClient(server);
    // Names never resolve; the test's own addresses are used as they are.
    const flags = [
      ...baseChromiumFlags.filter((f) => !f.startsWith('--host-resolver-rules')),
      `--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE ${net.dmzIso} , EXCLUDE ${net.srv}`,
      ...fakeMediaFlags,
      '--autoplay-policy=no-user-gesture-required',
    ];
    isolated = await chromium.launch({
      executablePath: isolatedChromium,
      args: [...flags, `--unsafely-treat-insecure-origin-as-secure=${isolatedUrl}`],
    });
    serverZone = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [...flags, `--unsafely-treat-insecure-origin-as-secure=${serverZoneUrl}`],
    });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await isolated?.close();
    await serverZone?.close();
    await turn?.stop();
    await server?.stop();
  });

  async function callApp(name: string, config: { proxyAddress: string; proxyEgressIps: string }) {
    const app = (await owner.post<CallApp>(callAppsUrl(), { name })).body;
    const url = `${callAppsUrl()}/${app.bizName}/config`;
    const current = (await owner.get<FeatureConfigResponse>(url)).body;
    const saved = await owner.put(url, {
      version: current.version,
      config: { ...current.config, ...config },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    return { app, sign: await credentialSigner(owner, app.bizName) };
  }

  async function secretOf(bizName: string): Promise<string> {
    const res = await owner.get<ProxySecret>(`${callAppsUrl()}/${bizName}/proxy-secret`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.secret;
  }

  it('the isolated zone has no route to the server zone', async () => {
    const context = await isolated.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${isolatedUrl}/healthz`);
    assert.match(await page.content(), /ok/);
    const direct = await page.evaluate(async (url) => {
      try {
        await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
        return 'reached';
      } catch (err) {
        return String(err);
      }
    }, serverZoneUrl);
    assert.notEqual(direct, 'reached', 'Parley is not reachable directly from the isolated zone');
  });

  it('a call from the isolated zone through the proxy: frames decoded both ways', async () => {
    const { app, sign } = await callApp('Isolated branch', { proxyAddress, proxyEgressIps: net.dmzSrv });
    turn = await startCoturn({
      secret: await secretOf(app.bizName),
      listenIp: net.dmzIso,
      relayIp: net.dmzSrv,
      port: proxyPort,
      netns: dmzNs,
    });
    const test = await owner.post<ProxyTestResult>(`${callAppsUrl()}/${app.bizName}/proxy/test`, {});
    assert.equal(test.status, 200, JSON.stringify(test.body));
    assert.equal(test.body.stage, 'ok', test.body.message);
    assert.match(String(test.body.relayedAddress), new RegExp(`^${net.dmzSrv.replace(/\./g, '\\.')}:`));

    const alice = await openCallPage(isolated, contexts, isolatedUrl, sign('alice'));
    const roomId = await createRoom(alice);
    const bob = await openCallPage(
      serverZone,
      contexts,
      serverZoneUrl,
      sign('bob'),
      `?room=${roomId}&join=1`,
    );
    await waitStatus(bob, 'in-room');
    try {
      await assertReceives(bob, 'alice', 'server zone ← isolated zone', 30_000);
      await assertReceives(alice, 'bob', 'isolated zone ← server zone', 30_000);
    } catch (err) {
      const events = { alice: await pageEvents(alice), bob: await pageEvents(bob) };
      throw new Error(`${String(err)}\npage events: ${JSON.stringify(events)}\ncoturn: ${turn.logTail(30)}`);
    }
    const denied = await egressDenied(app.bizName);
    assert.equal(denied, 0, 'nothing was denied: all media came from the proxy');
    await bob.getByTestId('leave').click();
    await alice.getByTestId('leave').click();
  });

  it('without the proxy configured, the same call fails to connect with a clear ICE error', async () => {
    const { sign } = await callApp('Direct only', { proxyAddress: '', proxyEgressIps: '' });
    const alice = await openCallPage(isolated, contexts, isolatedUrl, sign('alice'));
    await createRoom(alice);
    const error = await pageError(alice, 60_000);
    assert.equal(error.code, 'ICE_FAILED', error.text);
    assert.match(error.text, /could not connect/i);
  });

  it('media from an address outside the egress list is dropped, counted and logged', async () => {
    const { app, sign } = await callApp('Wrong egress', { proxyAddress, proxyEgressIps: '10.199.2.77' });
    await turn?.stop();
    turn = await startCoturn({
      secret: await secretOf(app.bizName),
      listenIp: net.dmzIso,
      relayIp: net.dmzSrv,
      port: proxyPort,
      netns: dmzNs,
    });
    const alice = await openCallPage(isolated, contexts, isolatedUrl, sign('alice'));
    await createRoom(alice);
    const deadline = Date.now() + 30_000;
    while ((await egressDenied(app.bizName)) === 0 && Date.now() < deadline) await alice.waitForTimeout(250);
    assert.ok((await egressDenied(app.bizName)) > 0, 'the connection from the proxy relay was denied');
    // The terminal is told why, naming the address its media came from (the proxy's relay).
    const error = await pageError(alice, 30_000);
    assert.equal(error.code, 'MEDIA_ADDRESS_DENIED', error.text);
    assert.ok(error.text.includes(net.dmzSrv), `the error names the address: ${error.text}`);
  });

  it('an unreachable proxy address gives the page an ICE error naming it, and Test proxy says refused', async () => {
    const unreachable = `${net.dmzIso}:3999`;
    const { app, sign } = await callApp('Proxy down', {
      proxyAddress: unreachable,
      proxyEgressIps: net.dmzSrv,
    });
    const test = await owner.post<ProxyTestResult>(`${callAppsUrl()}/${app.bizName}/proxy/test`, {});
    assert.equal(test.body.ok, false);
    assert.equal(test.body.stage, 'refused', test.body.message);
    const alice = await openCallPage(isolated, contexts, isolatedUrl, sign('alice'));
    await createRoom(alice);
    const error = await pageError(alice, 60_000);
    assert.equal(error.code, 'ICE_FAILED', error.text);
    assert.ok(error.text.includes(unreachable), `the error names the proxy: ${error.text}`);
  });

  async function egressDenied(bizName: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('parley_media_egress_denied_total') && l.includes(`bizName="${bizName}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }
});
