/**
 * Measures the recorder (not a test; run by hand or from a bench): N participants publish
 * ffmpeg-encoded VP8 640x480 + Opus at about a browser's bitrate into a MediaRouter for S seconds
 * while one recording captures them; prints the CPU the recording's process group (the recorder
 * child, its ffmpeg captures and the windows it composes during the call) used per participant
 * while recording, its memory (PSS), the extra CPU the taps cost this (server) process, and the
 * time from stop() to the final file. The last line is a JSON object of the figures
 * (finalizeSeconds, recorderCpuPercentPerParticipant, ...). KEEP_PARTS=1
 * keeps the captures and the compose command (printed directory); COMPOSE_WINDOW_MS sets the
 * recording's composeWindowMs (0: everything composed at stop), PRESET its libx264 preset.
 *
 *   node --import tsx packages/server/test/recorder-fixtures/measure.ts [seconds=60] [participants=2] [ffmpegPath]
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MediaRouter } from '../../src/sfu/index.js';
import { startRecording } from '../../src/recorder/index.js';
import { makeClips } from './media.js';
import { ReplayPublisher } from './publisher.js';

const seconds = Number(process.argv[2] ?? 60);
const participants = Number(process.argv[3] ?? 2);
const ffmpegPath = process.argv[4] ?? '/usr/bin/ffmpeg';
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticks = 100; // USER_HZ on Linux

/**
 * CPU seconds used so far by every process of the group `pgid`, including its processes that have
 * ended (the windows composed during the call: they count in their parent's cutime + cstime).
 */
function groupCpuSeconds(pgid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue; // field 5: pgrp
      // utime + stime + cutime + cstime
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticks;
    } catch {
      // gone
    }
  }
  return total;
}

/** Proportional memory (PSS, MB: shared libraries split among their users) of every process of the group `pgid`. */
function groupPssMb(pgid: number): number {
  let kb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      kb += Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return Math.round(kb / 1024);
}

const pictures = ['testsrc', 'testsrc2', 'smptebars', 'rgbtestsrc'];
const clips = [];
for (let i = 0; i < participants; i++) {
  clips.push(
    await makeClips({
      seconds: seconds + 5,
      video: 'vp8',
      picture: pictures[i % pictures.length]!,
      tone: 300 + 110 * i,
      width: 640,
      height: 480,
      fps: 20,
      videoBitrate: 900_000,
    }),
  );
}
const outputDir = mkdtempSync(path.join(os.tmpdir(), 'parley-measure-'));
const router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
const rec = await startRecording({
  recordId: 'measure',
  outputDir,
  mediaType: 0,
  ffmpegPath,
  router,
  keepParts: !!process.env['KEEP_PARTS'],
  ...(process.env['COMPOSE_WINDOW_MS'] ? { composeWindowMs: Number(process.env['COMPOSE_WINDOW_MS']) } : {}),
  ...(process.env['PRESET'] ? { layout: { preset: process.env['PRESET'] } } : {}),
});
const pubs: ReplayPublisher[] = [];
for (let i = 0; i < participants; i++) {
  const p = new ReplayPublisher(`P${i}`, clips[i]!);
  await p.publish(router);
  p.play();
  pubs.push(p);
}
// This process (publishers + SFU) without taps, then with them: the difference is the taps' cost.
const window = Math.min(5, Math.max(1, (seconds - 4) / 2));
const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
let c = ownCpu();
await sleep(window * 1000);
const serverWithoutTaps = (ownCpu() - c) / window;
for (let i = 0; i < participants; i++) rec.addParticipant(`P${i}`, `uid${i}`);
await sleep(2000); // captures started
const pgid = rec.pid!;
const cpu0 = groupCpuSeconds(pgid);
const t0 = performance.now();
c = ownCpu();
await sleep(window * 1000);
const serverWithTaps = (ownCpu() - c) / window;
await sleep(Math.max(0, seconds - 2 - window) * 1000);
const cpuSeconds = groupCpuSeconds(pgid) - cpu0;
const recorderPssMb = groupPssMb(pgid);
const wallSeconds = (performance.now() - t0) / 1000;
const stopAt = performance.now();
const result = await rec.stop();
const finalizeSeconds = (performance.now() - stopAt) / 1000;
for (const p of pubs) p.close();
router.close();
if (process.env['KEEP_PARTS']) console.log(outputDir);
else rmSync(outputDir, { recursive: true, force: true });
const figures = {
  seconds,
  participants,
  ffmpegPath,
  recordedMs: result.durationMs,
  fileBytes: result.bytes,
  recorderCpuPercent: Math.round((cpuSeconds / wallSeconds) * 1000) / 10,
  recorderCpuPercentPerParticipant: Math.round((cpuSeconds / wallSeconds / participants) * 1000) / 10,
  recorderPssMb,
  tapCpuPercentPerParticipant: Math.round(((serverWithTaps - serverWithoutTaps) / participants) * 1000) / 10,
  finalizeSeconds: Math.round(finalizeSeconds * 100) / 100,
  captureStopSeconds: result.captureStopMs / 1000,
  composedBeforeStopSeconds: (result.composedBeforeStopMs ?? 0) / 1000,
  composeWindows: result.composeWindows ?? 1,
};
console.log(
  `recorder CPU while recording: ${figures.recorderCpuPercent}% of one core (${figures.recorderCpuPercentPerParticipant}% per participant)`,
);
console.log(
  `stop → final file: ${figures.finalizeSeconds} s for ${result.durationMs} ms recorded (${result.bytes} bytes)`,
);
console.log(JSON.stringify(figures));
