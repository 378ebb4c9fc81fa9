/**
 * rtcUdpPort: every WebRTC transport of the server on one UDP port (ICE UDP multiplexing), so a
 * firewall needs one port open. Synthetic terminals through the whole server; the settings'
 * conflict refused at start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { CallApp } from '@parley/protocol';
import { loadConfig } from '../src/config/config.js';
import { callAppsUrl, credentialSigner, ownerClient, startTestServer, type TestServer } from './helpers.js';
import { waitFor } from './sfu-fixtures/peers.js';
import { missingPairs, Terminal } from './synthetic-terminal.js';

/** A UDP port free right now on 127.0.0.1. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

const candidatePort = (candidate: string): number => Number(candidate.trim().split(/\s+/)[5]);

describe('one UDP port for all media (rtcUdpPort)', { timeout: 120_000 }, () => {
  let server: TestServer;
  let port: number;
  const terminals: Terminal[] = [];

  before(async () => {
    port = await freeUdpPort();
    server = await startTestServer({ overrides: { rtcUdpPort: port } });
  });
  after(async () => {
    for (const t of terminals) t.close();
    await server?.stop();
  });

  it('three terminals publish and receive each other, every server candidate on that one port', async () => {
    const owner = await ownerClient(server);
    const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'One port' })).body;
    const sign = await credentialSigner(owner, app.bizName);
    let roomId = '';
    for (let i = 0; i < 3; i++) {
      const t = await Terminal.join(server.url, `mux${i}`, sign(`mux${i}`), roomId || undefined);
      terminals.push(t);
      roomId = t.roomId;
      await t.openReceiver();
      await t.publish();
    }
    const missing = (): string[] => {
      for (const sender of terminals) {
        sender.publisher!.send('audio');
        sender.publisher!.send('video');
      }
      return missingPairs(terminals, terminals);
    };
    await waitFor('everyone receives everyone', () => missing().length === 0, 30_000).catch(() =>
      assert.deepEqual(missing(), [], 'pairs with no packet'),
    );
    const call = server.calls.list().find((c) => c.roomId === roomId)!;
    assert.equal(call.router().stats().transports, 6);
    const ports = new Set<number>();
    for (const t of terminals) {
      for (const line of t.publishAnswerSdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')))
        ports.add(candidatePort(line.slice(2)));
      for (const c of t.serverCandidates) ports.add(candidatePort(c));
    }
    assert.deepEqual([...ports], [port], 'every candidate of the server names the one port');
  });

  it('refuses rtcUdpPort together with a port range at start, naming both', () => {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { rtcUdpPort: 40000, rtcPortMin: 40001, rtcPortMax: 40100 } }),
      /rtcUdpPort: set it or rtcPortMin\/rtcPortMax, not both/,
    );
  });
});
