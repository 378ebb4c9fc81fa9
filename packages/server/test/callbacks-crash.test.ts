import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { CallApp, FeatureConfigResponse, LiveRoom } from '@parley/protocol';
import { ApiClient, callAppsUrl } from './helpers.js';
import { Receiver } from './receiver.js';

const cli = new URL('../dist/cli.js', import.meta.url).pathname;

function startServer(dataDir: string) {
  const child = spawn(process.execPath, [cli, 'start'], {
    env: {
      ...process.env,
      PARLEY_DATA_DIR: dataDir,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: '0',
      PARLEY_ADMIN_EMAIL: 'owner@example.com',
      PARLEY_ADMIN_PASSWORD: 'owner-password-1234',
      PARLEY_CALLBACK_ALLOW_LOOPBACK: 'true',
      PARLEY_CALLBACK_RETRY_SCHEDULE: '0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2',
      PARLEY_CALLBACK_RETRY_JITTER: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { url?: string; msg?: string };
      if (entry.url && entry.msg?.startsWith('Parley is listening')) {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { child, url, exited };
}

it('delivers every pending callback after kill -9 and a restart, and closes the rooms the crash left open', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-crash-'));
  // Find a port, then free it: the receiver is "down" (connection refused) until the restart.
  const probe = await new Receiver().start();
  const port = probe.port;
  await probe.stop();

  const first = startServer(dataDir);
  const owner = new ApiClient(await first.url);
  await owner.login('owner@example.com', 'owner-password-1234');
  const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Crash' })).body;
  const configUrl = `${callAppsUrl()}/${app.bizName}/config`;
  const current = (await owner.get<FeatureConfigResponse>(configUrl)).body;
  await owner.put(configUrl, {
    version: current.version,
    config: { ...current.config, roomCallbackUrl: `http://127.0.0.1:${port}/cb` },
  });
  const rooms: string[] = [];
  for (let i = 0; i < 3; i += 1)
    rooms.push((await owner.post<LiveRoom>(`${callAppsUrl()}/${app.bizName}/rooms`, {})).body.roomId);
  for (const roomId of rooms.slice(0, 2))
    assert.equal((await owner.delete(`${callAppsUrl()}/${app.bizName}/rooms/${roomId}`)).status, 204);
  await new Promise((r) => setTimeout(r, 300)); // a retry or two happens (refused)
  first.child.kill('SIGKILL');
  assert.equal(await first.exited, 'SIGKILL');

  const receiver = await new Receiver().start(port);
  const second = startServer(dataDir);
  try {
    await second.url;
    await receiver.waitForSuccesses(6, 15_000);
    const got = receiver
      .successes()
      .map((r) => `${r.body['roomId']}:${r.body['eventCode']}`)
      .sort();
    const expected = [
      `${rooms[0]}:1`,
      `${rooms[0]}:4`,
      `${rooms[1]}:1`,
      `${rooms[1]}:4`,
      `${rooms[2]}:1`,
      `${rooms[2]}:4`,
    ].sort();
    assert.deepEqual(got, expected);
    for (const roomId of rooms) {
      const order = receiver
        .successes()
        .filter((r) => r.body['roomId'] === roomId)
        .map((r) => r.body['eventCode']);
      assert.deepEqual(order, [1, 4], 'order kept across the restart');
    }
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
    await receiver.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
