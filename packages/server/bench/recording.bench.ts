/**
 * bench:recording — what a recorded call costs and how soon its result arrives.
 * Run: node --import tsx packages/server/bench/recording.bench.ts
 *
 * A whole server (SQLite) with auto-recording on and a real HTTP receiver for the recording
 * callbacks; two in-process participants publish ffmpeg-encoded VP8 (640x480, 15 fps) + Opus in
 * real time for BENCH_RECORDING_SECONDS (default 60), then leave. Reported:
 * - recorder CPU per recorded participant: CPU time (user + system, from /proc) of the
 *   recording's process group (its Node.js child and every ffmpeg it runs, those that already
 *   exited included) over the call, from
 *   the 10 callback to the participants leaving, as % of one core, divided by the participants;
 * - finalizeSeconds: from the room's destruction (the call's end) to the 99 callback reaching the
 *   receiver (composing the final MP4 and storing it included);
 * - the file's size and duration (ffprobe).
 * Last line: one JSON object.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CallApp, FeatureConfigResponse } from '@parley/protocol';
import { callAppsUrl, credentialSigner, ownerClient, startTestServer } from '../test/helpers.js';
import { ffprobe } from '../test/media-probe.js';
import { Receiver } from '../test/receiver.js';
import { SignalClient } from '../test/signal-client.js';
import { makeClips } from '../test/recorder-fixtures/media.js';
import { ReplayPublisher } from '../test/recorder-fixtures/publisher.js';

const seconds = Number(process.env['BENCH_RECORDING_SECONDS'] ?? 60);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticksPerSecond = 100; // USER_HZ on Linux

/**
 * CPU seconds (user + system) of every live process in process group `pgid`, plus what the
 * group leader (the recorder's Node.js process) has collected from children that already exited
 * (its short-lived ffmpeg runs that compose windows during the call).
 */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue; // pgrp
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    if (Number(entry) === pgid) ticks += Number(fields[13]) + Number(fields[14]); // cutime, cstime
  }
  return ticks / ticksPerSecond;
}

console.log(`making ${seconds + 5} s clips for two participants...`);
const clips = [
  await makeClips({ seconds: seconds + 5, video: 'vp8', picture: 'testsrc', tone: 440 }),
  await makeClips({ seconds: seconds + 5, video: 'vp8', picture: 'testsrc2', tone: 660 }),
];

const receiver = await new Receiver().start();
const server = await startTestServer({
  overrides: { callbackAllowLoopback: true, emptyRoomGraceSeconds: 0.2 },
});
const figures: Record<string, number> = {};
try {
  const owner = await ownerClient(server);
  const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Recording bench' })).body;
  const configUrl = `${callAppsUrl()}/${app.bizName}/config`;
  const current = (await owner.get<FeatureConfigResponse>(configUrl)).body;
  await owner.put(configUrl, {
    version: current.version,
    config: { ...current.config, autoRecord: true, recordingCallbackUrl: receiver.url('/rec') },
  });
  const sign = await credentialSigner(owner, app.bizName);

  let destroyedAt = 0;
  server.rooms.on('roomDestroyed', () => (destroyedAt = performance.now()));
  const terminals: { client: SignalClient; publisher: ReplayPublisher }[] = [];
  let roomId = '';
  for (const [i, uid] of ['alice', 'bob'].entries()) {
    const client = await SignalClient.open(server.url);
    await client.hello(sign(uid));
    const res = roomId
      ? await client.request({ type: 'joinRoom', roomId })
      : await client.request({ type: 'createRoom' });
    roomId = String(res.data?.['roomId']);
    const publisher = new ReplayPublisher(String(res.data?.['self']), clips[i]!);
    await publisher.publish(
      server.calls
        .list()
        .find((c) => c.roomId === roomId)!
        .router(),
    );
    publisher.play();
    terminals.push({ client, publisher });
  }
  await receiver.waitForSuccess((b) => b['roomId'] === roomId && b['eventCode'] === 10, 30_000);
  const active = server.recordings.activeRecording(app.bizName, roomId);
  if (!active?.pid) throw new Error('no recorder process');
  const cpu0 = groupCpuSeconds(active.pid);
  const wall0 = performance.now();
  await sleep(seconds * 1000);
  const cpu1 = groupCpuSeconds(active.pid);
  const wall1 = performance.now();
  for (const t of terminals) {
    await t.client.request({ type: 'leaveRoom' });
    t.publisher.close();
    t.client.ws.close();
  }
  const result = await receiver.waitForSuccess(
    (b) => b['roomId'] === roomId && b['eventCode'] === 99,
    300_000,
  );
  const finalizeSeconds = (result.at - (performance.timeOrigin + destroyedAt)) / 1000;
  const recordResult = result.body['recordResult'] as { status: number; filePath: string };
  if (recordResult.status !== 2) throw new Error(`recording failed: ${JSON.stringify(result.body)}`);
  const file = path.join(server.dataDir, 'recordings', app.bizName, `${active.recordId}.mp4`);
  const probe = await ffprobe(file);
  const cpuPercent = ((cpu1 - cpu0) / ((wall1 - wall0) / 1000)) * 100;
  figures['callSeconds'] = seconds;
  figures['participants'] = 2;
  figures['recorderCpuPercent'] = Math.round(cpuPercent * 100) / 100;
  figures['recorderCpuPercentPerParticipant'] = Math.round((cpuPercent / 2) * 100) / 100;
  figures['finalizeSeconds'] = Math.round(finalizeSeconds * 100) / 100;
  figures['fileMB'] = Math.round((Number(readFileSync(file).length) / 1e6) * 100) / 100;
  figures['fileSeconds'] = Math.round(Number(probe.format.duration) * 100) / 100;
  console.log(
    `recorder CPU during a ${seconds} s two-person call: ${figures['recorderCpuPercent']}% of a core, ` +
      `${figures['recorderCpuPercentPerParticipant']}% per participant`,
  );
  console.log(
    `end of call (room destroyed) → 99 callback: ${figures['finalizeSeconds']} s ` +
      `(file ${figures['fileMB']} MB, ${figures['fileSeconds']} s, ${probe.streams.map((s) => s.codec_name).join('+')})`,
  );
} finally {
  await server.stop();
  await receiver.stop();
}
console.log(JSON.stringify(figures));
