/**
 * The recorder core (packages/server/src/recorder) and the SFU tap it records from: the layout
 * plan (pure), finding ffmpeg, the tap itself (exact bytes on a UDP socket), then real recordings:
 * in-process publishers replaying RTP that ffmpeg encoded (VP8 / H.264 + Opus), and Chromium
 * pages publishing their fake camera and microphone. Every file is checked with ffprobe (and,
 * for the grid, with decoded frames). Everything binds 127.0.0.1; every wait is bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { MediaRouter, type SfuConfig } from '../src/sfu/index.js';
import { frameStartInfo } from '../src/rtp/rtp-payload.js';
import { buildSenderReport, RTCP_PSFB } from '../src/rtp/rtcp.js';
import {
  FfmpegNotFoundError,
  gridRects,
  concatList,
  layoutPeriods,
  locateFfmpeg,
  planCompose,
  planMux,
  planWindow,
  RecordingCodes,
  RecordingError,
  recoverRecording,
  startRecording,
  type Recording,
  type RecordingWarning,
  type StartRecordingOptions,
} from '../src/recorder/index.js';
import { TestPublisher, TestSubscriber, waitFor } from './sfu-fixtures/peers.js';
import { startHarness } from './sfu-fixtures/harness.js';
import { launchSfuChromium, SfuPage } from './sfu-fixtures/browser.js';
import { firstTimestampMs, nutFirstTimestampMs } from '../src/recorder/nut.js';
import { makeClips, type RtpClip } from './recorder-fixtures/media.js';
import { ffprobe, run } from './media-probe.js';
import { ReplayPublisher } from './recorder-fixtures/publisher.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FFMPEG = '/usr/bin/ffmpeg';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'parley-rec-'));
after(() => {
  if (!process.env['KEEP_PARTS']) rmSync(tmpRoot, { recursive: true, force: true });
});

/** The decoded frame at `t` seconds, scaled to w x h, as yuv420p planes. */
async function frameAt(
  file: string,
  t: number,
  w = 64,
  h = 36,
): Promise<{ y: Buffer; u: Buffer; v: Buffer; w: number }> {
  const out = await run(FFMPEG, [
    '-v',
    'error',
    '-ss',
    t.toFixed(2),
    '-i',
    file,
    '-frames:v',
    '1',
    '-vf',
    `scale=${w}:${h}:flags=area`,
    '-pix_fmt',
    'yuv420p',
    '-f',
    'rawvideo',
    '-',
  ]);
  const c = (w / 2) * (h / 2);
  assert.equal(out.length, w * h + 2 * c, `a frame at ${t}s`);
  return { y: out.subarray(0, w * h), u: out.subarray(w * h, w * h + c), v: out.subarray(w * h + c), w };
}

/**
 * How far a rectangle of a frame is from black: mean of |Y-16| + |U-128| + |V-128| (black is ~0).
 * Chroma counts too: Chrome's fake camera draws its picture in luma on a dark background with
 * U = V = 0 (it looks green), so luma alone would call it black.
 */
function energy(
  f: { y: Buffer; u: Buffer; v: Buffer; w: number },
  x0: number,
  y0: number,
  x1: number,
  y1: number,
) {
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const ci = (y >> 1) * (f.w / 2) + (x >> 1);
      sum += Math.abs(f.y[y * f.w + x]! - 16) + Math.abs(f.u[ci]! - 128) + Math.abs(f.v[ci]! - 128);
      n++;
    }
  }
  return sum / n;
}

/** For every frame in [from, to] s: mean absolute luma difference between its left and right halves. */
async function halvesDiffs(file: string, from: number, to: number): Promise<number[]> {
  const w = 128;
  const h = 72;
  const raw = await run(FFMPEG, [
    '-v',
    'error',
    '-ss',
    from.toFixed(2),
    '-t',
    (to - from).toFixed(2),
    '-i',
    file,
    '-vf',
    `scale=${w}:${h}:flags=area`,
    '-pix_fmt',
    'gray',
    '-f',
    'rawvideo',
    '-',
  ]);
  const out: number[] = [];
  for (let k = 0; (k + 1) * w * h <= raw.length; k++) {
    let sum = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w / 2; x++) {
        const i = k * w * h + y * w + x;
        sum += Math.abs(raw[i]! - raw[i + w / 2]!);
      }
    }
    out.push(sum / ((w / 2) * h));
  }
  return out;
}

/** Collects a recording's events. */
function watch(rec: Recording) {
  const log = {
    warnings: [] as RecordingWarning[],
    recorded: [] as { uid: string; kind: string }[],
    failed: [] as RecordingError[],
    crashed: 0,
  };
  rec.on('warning', (w) => log.warnings.push(w));
  rec.on('streamRecorded', (s) => log.recorded.push({ uid: s.uid, kind: s.kind }));
  rec.on('failed', (e) => log.failed.push(e));
  rec.on('crashed', () => log.crashed++);
  return log;
}

async function withRouter<T>(
  config: SfuConfig,
  fn: (router: MediaRouter, keep: <P extends { close(): void }>(p: P) => P) => Promise<T>,
): Promise<T> {
  const router = new MediaRouter({ bindAddress: '127.0.0.1', ...config }, silent);
  const peers: { close(): void }[] = [];
  try {
    return await fn(router, (p) => {
      peers.push(p);
      return p;
    });
  } finally {
    router.close();
    for (const p of peers) p.close();
  }
}

function recOptions(router: MediaRouter, recordId: string, extra: Partial<StartRecordingOptions> = {}) {
  const outputDir = path.join(tmpRoot, recordId);
  return { recordId, outputDir, mediaType: 0 as const, ffmpegPath: FFMPEG, router, ...extra };
}

/** Whether any process of the group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- pure planning ---------------------------------------------------------------------------

describe('recorder: layout plan', () => {
  it('lays n tiles in ceil(sqrt(n)) columns, last row centred, on even pixels', () => {
    assert.deepEqual(gridRects(1, 1280, 720), [{ x: 0, y: 0, w: 1280, h: 720 }]);
    assert.deepEqual(gridRects(2, 1280, 720), [
      { x: 0, y: 0, w: 640, h: 720 },
      { x: 640, y: 0, w: 640, h: 720 },
    ]);
    const three = gridRects(3, 1280, 720);
    assert.deepEqual(
      three.map((r) => [r.x, r.y, r.w, r.h]),
      [
        [0, 0, 640, 360],
        [640, 0, 640, 360],
        [320, 360, 640, 360],
      ],
    );
    for (const n of [5, 7, 10]) {
      for (const r of gridRects(n, 1280, 720)) {
        assert.ok(r.x % 2 === 0 && r.y % 2 === 0 && r.w % 2 === 0 && r.h % 2 === 0);
        assert.ok(r.x + r.w <= 1280 && r.y + r.h <= 720);
      }
    }
  });

  it('follows joins and leaves: one period per distinct set of tiles, earliest joiners first, at most maxMixed', () => {
    const v = (streamId: string, startMs: number, endMs: number) => ({
      streamId,
      kind: 'video' as const,
      segments: [{ file: `${streamId}.nut`, startMs, endMs }],
    });
    const periods = layoutPeriods(
      [v('a', 0, 10_000), v('b', 2000, 6000), v('c', 3000, 8000)],
      10_000,
      2,
      1280,
      720,
    );
    assert.deepEqual(
      periods.map((p) => [p.startMs, p.endMs, p.tiles.map((t) => t.streamId), p.dropped]),
      [
        [0, 2000, ['a'], []],
        [2000, 6000, ['a', 'b'], ['c']],
        [6000, 8000, ['a', 'c'], []],
        [8000, 10_000, ['a'], []],
      ],
    );
    // A stream whose segments have a gap keeps its tile through the gap.
    const gap = {
      streamId: 'g',
      kind: 'video' as const,
      segments: [
        { file: 'g0', startMs: 0, endMs: 3000 },
        { file: 'g1', startMs: 5000, endMs: 9000 },
      ],
    };
    assert.deepEqual(
      layoutPeriods([gap], 9000, 4, 1280, 720).map((p) => [p.startMs, p.endMs, p.tiles.length]),
      [[0, 9000, 1]],
    );
  });

  it('plans audio-only without video encoding, video-only without audio, and mixes n audio inputs at unit gain', () => {
    const streams = [
      { streamId: 'a1', kind: 'audio' as const, segments: [{ file: 'a1.nut', startMs: 0, endMs: 5000 }] },
      { streamId: 'a2', kind: 'audio' as const, segments: [{ file: 'a2.nut', startMs: 1500, endMs: 4000 }] },
      { streamId: 'v1', kind: 'video' as const, segments: [{ file: 'v1.nut', startMs: 20, endMs: 5000 }] },
    ];
    const layout = {
      width: 640,
      height: 360,
      fps: 15,
      preset: 'veryfast',
      crf: 23,
      audioBitrate: 96000,
      background: 'black',
    };
    const base = { streams, durationMs: 5000, maxMixedStreams: 4, layout, output: 'out.mp4' };
    const audioOnly = planCompose({ ...base, mediaType: 1 });
    assert.deepEqual(audioOnly.inputs, ['a1.nut', 'a2.nut']);
    assert.ok(!audioOnly.args.includes('libx264') && audioOnly.args.includes('aac'));
    assert.match(
      audioOnly.filter,
      /amix=inputs=2:duration=longest:dropout_transition=0,volume=2,atrim=end=5\.000/,
    );
    assert.equal(
      audioOnly.args[audioOnly.args.indexOf('-i', audioOnly.args.indexOf('a1.nut') + 1) - 1],
      '1.500',
    );
    const videoOnly = planCompose({ ...base, mediaType: 2 });
    assert.deepEqual(videoOnly.inputs, ['v1.nut']);
    assert.ok(videoOnly.args.includes('libx264') && !videoOnly.args.includes('aac'));
    const both = planCompose({ ...base, mediaType: 0 });
    assert.equal(both.inputs.length, 3);
    assert.match(both.filter, /color=c=black:s=640x360:r=15:d=5\.000/);
  });
});

describe('recorder: composing in windows (plan)', () => {
  const layout = {
    width: 1280,
    height: 720,
    fps: 15,
    preset: 'superfast',
    crf: 23,
    audioBitrate: 128000,
    background: 'black',
  };
  // A capture read from a chunk 1.5 s before the window (origin: where its timestamp 0 falls).
  const streams = [
    {
      streamId: 'v1',
      kind: 'video' as const,
      open: true,
      segments: [{ file: 'v1.ffconcat', concat: true, startMs: 0, endMs: 15_900, originMs: 6500 }],
    },
    {
      streamId: 'v2',
      kind: 'video' as const,
      segments: [
        { file: '', startMs: 1000, endMs: 4000 }, // before the window: counts for the layout only
        { file: 'v2.nut', startMs: 11_000, endMs: 13_000, originMs: 10_000 },
      ],
    },
    {
      streamId: 'a1',
      kind: 'audio' as const,
      segments: [{ file: 'a1.ffconcat', concat: true, startMs: 0, endMs: 15_900, originMs: 0 }],
    },
  ];

  it('places inputs by their own timestamps, and sizes the piece and the PCM to the window exactly', () => {
    const plan = planWindow({
      streams,
      fromMs: 8000,
      toMs: 16_000,
      mediaType: 0,
      maxMixedStreams: 9,
      layout,
      videoOutput: 'piece.mp4',
    });
    assert.deepEqual(plan.inputs, ['v1.ffconcat', 'v2.nut', 'a1.ffconcat']);
    assert.ok(plan.args.includes('-copyts'));
    const offsetOf = (file: string) =>
      plan.args[plan.args.lastIndexOf('-itsoffset', plan.args.indexOf(file)) + 1];
    assert.equal(offsetOf('v1.ffconcat'), '-1.500000');
    assert.equal(offsetOf('v2.nut'), '2.000000');
    assert.equal(offsetOf('a1.ffconcat'), '-8.000000');
    assert.equal(plan.args[plan.args.indexOf('v1.ffconcat') - 4], 'concat');
    assert.equal(plan.frames, 120);
    assert.equal(plan.samples, 8 * 48000);
    assert.match(plan.filter, /apad=whole_len=384000,atrim=end_sample=384000/);
    // v2 (a gap, then back) keeps its tile until its last packet; v1 is still recorded: its tile
    // goes on to the window's end. v1 joined first: first tile.
    assert.deepEqual(
      plan.periods.map((p) => [p.startMs, p.endMs, p.tiles.map((t) => t.streamId)]),
      [
        [8000, 13_000, ['v1', 'v2']],
        [13_000, 16_000, ['v1']],
      ],
    );
    // Shown in its period by x (at the canvas' time), never by 'enable'.
    assert.ok(!plan.filter.includes('enable='));
    assert.match(plan.filter, /overlay=x='if\(gte\(t,0\.000\)\*lt\(t,5\.000\),640\+/);
    assert.match(plan.filter, /overlay=x='if\(gte\(t,5\.000\)\*lt\(t,8\.000\),0\+/);
    // No B-frames in a piece; the mix goes to stdout as PCM.
    assert.equal(plan.args[plan.args.indexOf('-bf') + 1], '0');
    assert.deepEqual(plan.args.slice(-3), ['-f', 'f32le', 'pipe:1']);
  });

  it('reads where a NUT chunk starts from its first syncpoint, as ffmpeg does', async () => {
    const dir = path.join(tmpRoot, 'nut');
    mkdirSync(dir, { recursive: true });
    // Chunks of one timeline, like a capture's (the second at the first keyframe from 1.5 s on).
    await run(
      FFMPEG,
      ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=s=160x120:r=15:d=3'].concat([
        '-c:v',
        'libx264',
        '-g',
        '5',
        '-bf',
        '0',
        '-output_ts_offset',
        '0.5',
        '-f',
        'segment',
        '-segment_format',
        'nut',
        '-segment_time',
        '1.5',
        '-reset_timestamps',
        '0',
        path.join(dir, 'c.%05d.nut'),
      ]),
    );
    const ffmpegSays = async (file: string) => {
      const out = (
        await run(
          FFMPEG,
          ['-v', 'error', '-copyts', '-i', file, '-map', '0:0'].concat([
            '-c',
            'copy',
            '-frames:0',
            '1',
            '-f',
            'framecrc',
            '-',
          ]),
        )
      ).toString();
      const tb = /^#tb 0: (\d+)\/(\d+)/m.exec(out)!;
      return (Number(/^0,\s*(-?\d+),/m.exec(out)![1]) * Number(tb[1]) * 1000) / Number(tb[2]);
    };
    for (const [file, near] of [
      ['c.00000.nut', 500],
      ['c.00001.nut', 1500],
    ] as const) {
      const read = await nutFirstTimestampMs(path.join(dir, file));
      assert.ok(read !== null && Math.abs(read - near) < 1, `${file}: ${read}`);
      assert.equal(read, await ffmpegSays(path.join(dir, file)));
    }
    assert.equal(firstTimestampMs(Buffer.from('nut/multimedia container\0')), null);
    assert.equal(await nutFirstTimestampMs(path.join(dir, 'none.nut')), null);
  });

  it('joins pieces by their exact frame counts, and the AAC without its priming', () => {
    assert.equal(
      concatList(
        [
          { file: '/p/a.mp4', frames: 120 },
          { file: "/p/it's.mp4", frames: 61 },
        ],
        15,
      ),
      "ffconcat version 1.0\nfile '/p/a.mp4'\nduration 8.000000\nfile '/p/it'\\''s.mp4'\nduration 4.066667\n",
    );
    const mux = planMux({
      videoList: 'list.ffconcat',
      audioFile: 'audio.aac',
      audioOffsetS: -1024 / 48000,
      durationMs: 12_345,
      output: 'out.mp4',
    });
    assert.deepEqual(mux.slice(mux.indexOf('-itsoffset'), mux.indexOf('-itsoffset') + 4), [
      '-itsoffset',
      '-0.021333',
      '-i',
      'audio.aac',
    ]);
    assert.ok(mux.includes('+faststart') && mux.includes('12.345') && mux.includes('copy'));
  });
});

// ---- ffmpeg ----------------------------------------------------------------------------------

describe('recorder: finding ffmpeg', () => {
  it('takes the configured path when it works', async () => {
    const found = await locateFfmpeg({ configuredPath: FFMPEG });
    assert.equal(found.source, 'configured');
    assert.equal(found.path, FFMPEG);
    assert.match(found.version, /^ffmpeg version /);
  });

  it('falls back to the system ffmpeg, saying why the configured one was refused', async () => {
    const found = await locateFfmpeg({ configuredPath: path.join(tmpRoot, 'no-such-ffmpeg') });
    assert.equal(found.source, 'system');
    assert.deepEqual(found.attempts[0], {
      source: 'configured',
      path: path.join(tmpRoot, 'no-such-ffmpeg'),
      ok: false,
      reason: 'not found',
    });
  });

  it('looks for no ffmpeg beyond the configured one and the system one, and says what to install', async () => {
    const missing = path.join(tmpRoot, 'no-such-ffmpeg');
    await assert.rejects(
      // PATH without ffmpeg: nothing else (no binary from an npm package) may be taken.
      locateFfmpeg({ configuredPath: missing, env: { PATH: path.join(tmpRoot, 'empty-bin') } }),
      (err: unknown) => {
        assert.ok(err instanceof FfmpegNotFoundError);
        assert.deepEqual(
          err.attempts.map((a) => [a.source, a.path, a.reason]),
          [
            ['configured', missing, 'not found'],
            ['system', 'ffmpeg', 'not found'],
          ],
        );
        assert.match(err.message, /apt-get install ffmpeg/);
        assert.match(err.message, /PARLEY_FFMPEG_PATH/);
        return true;
      },
    );
  });

  it('reports every candidate and its reason when none is usable', async () => {
    const notFfmpeg = path.join(tmpRoot, 'fake-ffmpeg.sh');
    writeFileSync(notFfmpeg, '#!/bin/sh\necho "hello"\n');
    chmodSync(notFfmpeg, 0o755);
    await assert.rejects(
      locateFfmpeg({ configuredPath: notFfmpeg, sources: ['configured'] }),
      (err: unknown) =>
        err instanceof FfmpegNotFoundError &&
        err.attempts.length === 1 &&
        /does not look like ffmpeg/.test(err.attempts[0]!.reason ?? ''),
    );
    await assert.rejects(
      locateFfmpeg({
        configuredPath: FFMPEG,
        sources: ['configured'],
        requiredEncoders: ['no_such_encoder'],
      }),
      /lacks encoder\(s\) no_such_encoder/,
    );
  });
});

// ---- the SFU tap -----------------------------------------------------------------------------

describe('recorder: SFU RTP tap', () => {
  it('forwards a track byte for byte over plain UDP, with sender reports, until removeTap', async () => {
    await withRouter({}, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      const got: Buffer[] = [];
      const sock = createSocket('udp4');
      sock.on('message', (m, r) => r.address === '127.0.0.1' && got.push(Buffer.from(m)));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      try {
        const tapId = router.addTap('A', 'audio', { address: '127.0.0.1', port: sock.address().port });
        const sent: Buffer[] = [];
        for (let i = 0; i < 20; i++) sent.push(pub.send('audio'));
        const sr = buildSenderReport(pub.ssrc.audio, Date.now(), 1234, 20, 4000);
        pub.sendRaw('audio', sr);
        await waitFor('20 packets and the SR', () => got.length >= 21, 5000);
        assert.deepEqual(
          got.filter((b) => b[1] !== 200),
          sent,
          'RTP byte for byte, in order',
        );
        assert.equal(got.filter((b) => b[1] === 200).length, 1, 'the sender report too');
        const stats = router.tapStats(tapId)!;
        assert.equal(stats.packets, 20);
        assert.equal(stats.senderReports, 1);
        assert.ok(stats.lastPacketAt! <= Date.now() && stats.lastPacketAt! > Date.now() - 5000);
        const arrival = router.trackArrival(router.tracks('A').find((t) => t.kind === 'audio')!.id)!;
        assert.ok(arrival.packets >= 20);
        assert.equal(router.stats().taps, 1);
        assert.equal(router.removeTap(tapId), true);
        assert.equal(router.removeTap(tapId), false);
        const before = got.length;
        for (let i = 0; i < 5; i++) pub.send('audio');
        await sleep(200);
        assert.equal(got.length, before, 'nothing after removeTap');
        assert.throws(() => router.addTap('A', 'audio', { address: 'localhost', port: 9 }), /IP address/);
        assert.throws(
          () => router.addTap('nobody', 'audio', { address: '127.0.0.1', port: 9 }),
          /no live audio/,
        );
      } finally {
        sock.close();
      }
    });
  });

  it('asks the publisher for a keyframe when a video tap starts, describes the track, and ends with it', async () => {
    await withRouter({ keyFrameRequestMinIntervalMs: 0 }, async (router, keep) => {
      const pub = keep(new TestPublisher('A'));
      await pub.publish(router);
      pub.send('video');
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      try {
        const video = router.tracks('A').find((t) => t.kind === 'video')!;
        const desc = router.describeTrack(video.id)!;
        assert.equal(desc.ssrc, pub.ssrc.video);
        assert.equal(desc.codecs[0]!.mimeType, 'video/VP8');
        assert.equal(desc.codecs[0]!.payloadType, 96);
        const plis = () => pub.rtcp.filter((p) => p.type === RTCP_PSFB && p.count === 1).length;
        const before = plis();
        const tapId = router.addTap(
          'A',
          'video',
          { address: '127.0.0.1', port: sock.address().port },
          {
            keyFrames: { intervalMs: 300, forMs: 700 },
          },
        );
        // One at start and at least one repeat: the third (due at 600 ms of a 700 ms window) may
        // fall outside the window when timers slip on a loaded machine.
        await waitFor('PLI at start and repeated', () => plis() >= before + 2, 3000);
        await sleep(700);
        const settled = plis();
        await sleep(700);
        assert.equal(plis(), settled, 'no more PLIs after forMs');
        const ended: string[] = [];
        router.on('tapEnded', (e) => ended.push(`${e.tapId}:${e.reason}`));
        router.unpublish('A', 'video');
        assert.deepEqual(ended, [`${tapId}:unpublished`]);
        assert.equal(router.tapStats(tapId), undefined);
      } finally {
        sock.close();
      }
    });
  });

  it('tells VP8 and H.264 keyframe starts from other packets', () => {
    const rtp = (payload: number[]) => Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, ...payload]);
    // VP8: S=1 PID=0, no extension, P bit clear = keyframe; with X/I (15-bit picture id).
    assert.deepEqual(frameStartInfo('vp8', rtp([0x10, 0x00])), { start: true, keyFrame: true });
    assert.deepEqual(frameStartInfo('vp8', rtp([0x10, 0x01])), { start: true, keyFrame: false });
    assert.deepEqual(frameStartInfo('vp8', rtp([0x90, 0x80, 0x81, 0x23, 0x00])), {
      start: true,
      keyFrame: true,
    });
    assert.deepEqual(frameStartInfo('vp8', rtp([0x00, 0x00])), { start: false, keyFrame: false });
    // H.264: STAP-A with SPS; FU-A start of IDR; FU-A middle; a P slice.
    assert.deepEqual(frameStartInfo('h264', rtp([24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce])), {
      start: true,
      keyFrame: true,
    });
    assert.deepEqual(frameStartInfo('h264', rtp([28, 0x85, 0xaa])), { start: true, keyFrame: true });
    assert.deepEqual(frameStartInfo('h264', rtp([28, 0x05, 0xaa])), { start: false, keyFrame: false });
    assert.deepEqual(frameStartInfo('h264', rtp([0x41, 0x9a])), { start: true, keyFrame: false });
  });
});

// ---- recordings with in-process publishers ---------------------------------------------------

describe('recorder: recordings of in-process publishers (ffmpeg-encoded RTP)', { timeout: 150_000 }, () => {
  let clipsA: { audio: RtpClip; video: RtpClip };
  let clipsB: { audio: RtpClip; video: RtpClip };
  let clipsH264: { audio: RtpClip; video: RtpClip };
  let clipsLong: { audio: RtpClip; video: RtpClip };
  before(async () => {
    clipsA = await makeClips({ seconds: 14, video: 'vp8', picture: 'testsrc', tone: 440 });
    clipsB = await makeClips({ seconds: 14, video: 'vp8', picture: 'testsrc2', tone: 660 });
    clipsH264 = await makeClips({ seconds: 8, video: 'h264', picture: 'testsrc', tone: 550 });
    clipsLong = await makeClips({ seconds: 40, video: 'vp8', picture: 'testsrc', tone: 440 });
  });

  it(
    'audio+video: A all along, B joins late and leaves early → one MP4 (H.264 + AAC) whose grid follows them',
    { timeout: 60_000 },
    async () => {
      await withRouter({}, async (router, keep) => {
        const rec = await startRecording(recOptions(router, 'av-two', { maxMixedStreams: 4 }));
        const log = watch(rec);
        const a = keep(new ReplayPublisher('A', clipsA));
        await a.publish(router);
        rec.addParticipant('A', 'alice');
        a.play();
        const t0 = Date.now();
        await sleep(2500);
        const b = keep(new ReplayPublisher('B', clipsB));
        await b.publish(router);
        rec.addParticipant('B', 'bob');
        b.play();
        const bJoined = Date.now() - t0;
        await sleep(4000);
        router.removeParticipant('B'); // B leaves: its tracks end, the recording sees its taps end
        const bLeft = Date.now() - t0;
        await waitFor('B recorded', () => log.recorded.filter((r) => r.uid === 'bob').length === 2, 5000);
        await sleep(2500);
        const stopAt = Date.now();
        const result = await rec.stop();
        const stopMs = Date.now() - stopAt;

        assert.deepEqual(log.failed, []);
        assert.deepEqual(log.recorded.map((r) => `${r.uid}/${r.kind}`).sort(), [
          'alice/audio',
          'alice/video',
          'bob/audio',
          'bob/video',
        ]);
        const span = stopAt - result.recordStartTime;
        assert.ok(Math.abs(result.durationMs - span) < 1500, `duration ${result.durationMs} vs span ${span}`);
        assert.ok(result.recordStartTime >= t0 - 2000 && result.recordStartTime <= t0 + 1000);
        const bob = result.streams.filter((s) => s.uid === 'bob');
        for (const s of bob) {
          assert.ok(
            Math.abs(s.startMs! - bJoined) < 1200,
            `bob ${s.kind} starts at ${s.startMs} (joined ${bJoined})`,
          );
          assert.ok(Math.abs(s.endMs! - bLeft) < 1200, `bob ${s.kind} ends at ${s.endMs} (left ${bLeft})`);
        }

        const probe = await ffprobe(result.file);
        assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:aac',
          'video:h264',
        ]);
        assert.ok(
          Math.abs(Number(probe.format.duration) * 1000 - span) < 1500,
          `file ${probe.format.duration}s vs ${span}ms`,
        );
        const video = probe.streams.find((s) => s.codec_type === 'video')!;
        assert.deepEqual([video.width, video.height], [1280, 720]);
        assert.ok(existsSync(result.file));
        assert.deepEqual(
          readdirSync(path.dirname(result.file)),
          ['av-two.mp4'],
          'captures removed, nothing else left',
        );

        // The grid: alone, A (4:3) fills the height with black bands left and right; with B, two
        // 4:3 tiles side by side leave black bands above and below; alone again after B left.
        for (const t of [bJoined / 1000 - 1, (bLeft + 1500) / 1000]) {
          const f = await frameAt(result.file, t);
          const bands = { left: energy(f, 0, 0, 7, 36), topCentre: energy(f, 16, 0, 48, 5) };
          assert.ok(bands.left < 10 && bands.topCentre > 40, `t=${t}: one tile ${JSON.stringify(bands)}`);
        }
        const together = (bJoined + bLeft) / 2000;
        const f = await frameAt(result.file, together);
        const bands = {
          top: energy(f, 0, 0, 64, 5),
          left: energy(f, 0, 8, 7, 28),
          right: energy(f, 57, 8, 64, 28),
        };
        assert.ok(
          bands.top < 10 && bands.left > 40 && bands.right > 40,
          `t=${together}: two tiles ${JSON.stringify(bands)}`,
        );
        console.log(
          `# av-two: ${result.durationMs} ms recorded, stop→file ${stopMs} ms (finalize ${result.finalizeMs} ms), ${result.bytes} bytes`,
        );
      });
    },
  );

  it(
    'composes during the call: a 36 s recording is ready soon after stop, seamless across windows, its grid following B',
    { timeout: 90_000 },
    async () => {
      await withRouter({}, async (router, keep) => {
        const rec = await startRecording(recOptions(router, 'progressive'));
        const log = watch(rec);
        const a = keep(new ReplayPublisher('A', clipsLong));
        await a.publish(router);
        rec.addParticipant('A', 'alice');
        a.play();
        const t0 = Date.now();
        await sleep(6000);
        const b = keep(new ReplayPublisher('B', clipsB));
        await b.publish(router);
        rec.addParticipant('B', 'bob');
        b.play();
        const bJoined = Date.now() - t0;
        await sleep(12_000);
        router.removeParticipant('B');
        const bLeft = Date.now() - t0;
        await sleep(Math.max(0, 36_000 - (Date.now() - t0)));
        const stopAt = Date.now();
        const result = await rec.stop();
        const stopMs = Date.now() - stopAt;

        assert.deepEqual(log.failed, []);
        assert.equal(log.recorded.length, 4);
        const span = stopAt - result.recordStartTime;
        assert.ok(Math.abs(result.durationMs - span) < 1500, `duration ${result.durationMs} vs span ${span}`);
        // Most of the call was composed while it went on (8 s windows, each 1.5 s after its end):
        // stop had only the end left. Bounds loose enough for a busy machine.
        assert.ok(result.composeWindows! >= 4, `${result.composeWindows} windows`);
        assert.ok(
          result.composedBeforeStopMs! >= 16_000,
          `${result.composedBeforeStopMs} ms composed before stop`,
        );
        assert.ok(stopMs < result.durationMs * 0.3, `stop→file ${stopMs} ms for ${result.durationMs} ms`);

        const probe = await ffprobe(result.file);
        assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:aac',
          'video:h264',
        ]);
        const video = probe.streams.find((s) => s.codec_type === 'video')!;
        assert.deepEqual([video.width, video.height], [1280, 720]);
        assert.ok(
          Math.abs(Number(probe.format.duration) * 1000 - span) < 1500,
          `file ${probe.format.duration}s vs ${span}ms`,
        );

        // The grid follows B across windows: one tile, two, one again.
        const oneTile = async (t: number) => {
          const f = await frameAt(result.file, t);
          const bands = { left: energy(f, 0, 0, 7, 36), topCentre: energy(f, 16, 0, 48, 5) };
          assert.ok(bands.left < 10 && bands.topCentre > 40, `t=${t}: one tile ${JSON.stringify(bands)}`);
        };
        const twoTiles = async (t: number) => {
          const f = await frameAt(result.file, t);
          const bands = {
            top: energy(f, 0, 0, 64, 5),
            left: energy(f, 0, 8, 7, 28),
            right: energy(f, 57, 8, 64, 28),
          };
          assert.ok(
            bands.top < 10 && bands.left > 40 && bands.right > 40,
            `t=${t}: two tiles ${JSON.stringify(bands)}`,
          );
        };
        await oneTile(bJoined / 1000 - 1.5);
        await twoTiles((bJoined + bLeft) / 2000);
        await oneTile(bLeft / 1000 + 3);
        // No blank tile at the windows' seams (every 8 s), before or after.
        for (const seam of [8, 16, 24, 32]) {
          for (const t of [seam - 0.07, seam]) {
            if (t > result.durationMs / 1000 - 0.2) continue;
            const ms = t * 1000;
            if (ms > bJoined + 1000 && ms < bLeft - 1000) await twoTiles(t);
            else if (ms < bJoined - 1000 || ms > bLeft + 1000) await oneTile(t);
          }
        }
        // Nor in the sound: A's tone never drops (a seam would show as a gap or a dip).
        const pcm = await run(FFMPEG, [
          '-v',
          'error',
          '-i',
          result.file,
          '-ac',
          '1',
          '-ar',
          '8000',
          '-f',
          's16le',
          '-',
        ]);
        const rms: number[] = [];
        for (let i = 8000; i + 80 <= pcm.length / 2 - 8000; i += 80) {
          let sum = 0;
          for (let k = i; k < i + 80; k++) sum += pcm.readInt16LE(k * 2) ** 2;
          rms.push(Math.sqrt(sum / 80));
        }
        const median = [...rms].sort((x, y) => x - y)[Math.floor(rms.length / 2)]!;
        const low = rms.findIndex((r) => r < median * 0.5);
        assert.ok(
          median > 1000 && low === -1,
          `a dip at ${(1 + (low * 80) / 8000).toFixed(2)} s (median ${median})`,
        );
        console.log(
          `# progressive: ${result.durationMs} ms recorded in ${result.composeWindows} windows, ` +
            `${result.composedBeforeStopMs} ms composed before stop, stop→file ${stopMs} ms, ${result.bytes} bytes`,
        );
      });
    },
  );

  it(
    'audio only: one AAC stream; a publisher that stops sending raises 500301 and the recording goes on',
    { timeout: 40_000 },
    async () => {
      await withRouter({}, async (router, keep) => {
        const rec = await startRecording(
          recOptions(router, 'audio-only', { mediaType: 1, warnings: { disconnectAfterMs: 1000 } }),
        );
        const log = watch(rec);
        const a = keep(new ReplayPublisher('A', clipsA));
        const b = keep(new ReplayPublisher('B', clipsB));
        await a.publish(router);
        await b.publish(router);
        rec.addParticipant('A', 'alice');
        rec.addParticipant('B', 'bob');
        assert.deepEqual(
          rec.streams().map((s) => s.kind),
          ['audio', 'audio'],
          'only audio is tapped',
        );
        a.play();
        b.play();
        await sleep(1500);
        b.pause();
        await waitFor('500301 for bob', () => log.warnings.some((w) => w.code === 500301), 4000);
        b.resume();
        await sleep(1500);
        const stopAt = Date.now();
        const result = await rec.stop();
        const w = log.warnings.filter((x) => x.code === RecordingCodes.streamDisconnected);
        assert.equal(w.length, 1);
        assert.equal(w[0]!.uid, 'bob');
        assert.equal(w[0]!.kind, 'audio');
        assert.ok((w[0]!.detail['silentMs'] as number) >= 1000);
        const probe = await ffprobe(result.file);
        assert.deepEqual(
          probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`),
          ['audio:aac'],
        );
        const span = stopAt - result.recordStartTime;
        assert.ok(
          Math.abs(Number(probe.format.duration) * 1000 - span) < 1500,
          `${probe.format.duration}s vs ${span}ms`,
        );
        assert.equal(result.mediaType, 1);
      });
    },
  );

  it(
    'video only (H.264 publisher): one H.264 stream; a frame rate under the threshold raises 500302',
    { timeout: 40_000 },
    async () => {
      await withRouter({ videoCodecs: ['H264'] }, async (router, keep) => {
        const rec = await startRecording(
          recOptions(router, 'video-only', {
            mediaType: 2,
            warnings: { lowFrameRate: { fps: 20, forMs: 2000 } },
          }),
        );
        const log = watch(rec);
        const a = keep(new ReplayPublisher('H', clipsH264, 'h264'));
        await a.publish(router);
        assert.equal(router.tracks('H').find((t) => t.kind === 'video')!.codecs[0]!.mimeType, 'video/H264');
        rec.addParticipant('H', 'hana');
        assert.deepEqual(
          rec.streams().map((s) => s.kind),
          ['video'],
        );
        a.play();
        await waitFor('500302', () => log.warnings.some((w) => w.code === RecordingCodes.lowFrameRate), 8000);
        await sleep(500);
        const stopAt = Date.now();
        const result = await rec.stop();
        const w = log.warnings.find((x) => x.code === RecordingCodes.lowFrameRate)!;
        assert.equal(w.uid, 'hana');
        assert.ok(
          (w.detail['fps'] as number) < 20 && (w.detail['fps'] as number) > 10,
          `fps ${String(w.detail['fps'])}`,
        );
        const probe = await ffprobe(result.file);
        assert.deepEqual(
          probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`),
          ['video:h264'],
        );
        const span = stopAt - result.recordStartTime;
        assert.ok(
          Math.abs(Number(probe.format.duration) * 1000 - span) < 1500,
          `${probe.format.duration}s vs ${span}ms`,
        );
        assert.ok(result.streams[0]!.keyFrames >= 2);
      });
    },
  );

  it(
    'a killed recorder process gives crashed + 100105, kills its ffmpegs, and spares the router and the other recording',
    { timeout: 40_000 },
    async () => {
      await withRouter({}, async (router, keep) => {
        const a = keep(new ReplayPublisher('A', clipsA));
        await a.publish(router);
        const sub = keep(new TestSubscriber('S', 'count'));
        await sub.subscribe(router, 'A');
        const doomed = await startRecording(recOptions(router, 'doomed', { mediaType: 1 }));
        const other = await startRecording(recOptions(router, 'survivor', { mediaType: 1 }));
        const log = watch(doomed);
        for (const r of [doomed, other]) r.addParticipant('A', 'alice');
        a.play();
        await sleep(2000);
        const pid = doomed.pid!;
        assert.ok(groupAlive(pid));
        process.kill(pid, 'SIGKILL');
        await waitFor('the crash to be reported', () => log.failed.length === 1, 5000);
        assert.equal(log.crashed, 1);
        assert.equal(log.failed[0]!.code, RecordingCodes.processCrashed);
        await assert.rejects(doomed.stop(), (e: unknown) => e instanceof RecordingError && e.code === 100105);
        await waitFor('its ffmpeg processes gone', () => !groupAlive(pid), 5000);
        assert.equal(router.stats().taps, 1, "the dead recording's tap is removed, the other's stays");
        const before = sub.packets;
        await sleep(1000);
        assert.ok(sub.packets > before + 20, 'the subscriber still receives');
        const result = await other.stop();
        const probe = await ffprobe(result.file);
        assert.deepEqual(
          probe.streams.map((s) => s.codec_name),
          ['aac'],
        );
        assert.ok(Number(probe.format.duration) > 2.5);
      });
    },
  );

  it('an output directory that cannot be created fails with 100101 at start', async () => {
    await withRouter({}, async (router) => {
      const file = path.join(tmpRoot, 'a-file');
      writeFileSync(file, 'not a directory');
      await assert.rejects(
        startRecording({ ...recOptions(router, 'nowhere'), outputDir: path.join(file, 'sub') }),
        (e: unknown) => e instanceof RecordingError && e.code === RecordingCodes.fileCreationFailed,
      );
    });
  });

  it('an ffmpeg that fails to compose gives 100102; a recording with no media gives 100004', async () => {
    await withRouter({}, async (router, keep) => {
      // Captures work (real ffmpeg), the compose (the one with -filter_complex) fails.
      const wrapper = path.join(tmpRoot, 'ffmpeg-no-compose.sh');
      writeFileSync(
        wrapper,
        `#!/bin/sh\ncase "$*" in *-filter_complex*) echo "simulated failure" >&2; exit 1;; esac\nexec ${FFMPEG} "$@"\n`,
      );
      chmodSync(wrapper, 0o755);
      const a = keep(new ReplayPublisher('A', clipsA));
      await a.publish(router);
      const rec = await startRecording(
        recOptions(router, 'no-compose', { mediaType: 1, ffmpegPath: wrapper }),
      );
      const log = watch(rec);
      rec.addParticipant('A', 'alice');
      a.play();
      await sleep(1500);
      await assert.rejects(rec.stop(), (e: unknown) => e instanceof RecordingError && e.code === 100102);
      assert.equal(log.failed.length, 1);
      assert.match(String(log.failed[0]!.detail['stderr']), /simulated failure/);

      const empty = await startRecording(recOptions(router, 'empty', { mediaType: 2 }));
      empty.addParticipant('nobody-publishes', 'ghost');
      await assert.rejects(empty.stop(), (e: unknown) => e instanceof RecordingError && e.code === 100004);
    });
  });
});

// ---- recovery after a crash -------------------------------------------------------------------

describe('recorder: recovery of a recording whose server died', { timeout: 150_000 }, () => {
  let clips: { audio: RtpClip; video: RtpClip };
  before(async () => {
    clips = await makeClips({ seconds: 20, video: 'vp8', picture: 'testsrc', tone: 440 });
  });

  it(
    'a recorder killed with its ffmpeg processes mid-call is recovered from its journal and captures: the window composed during the call joined to the rest, up to the kill',
    { timeout: 90_000 },
    async () => {
      await withRouter({}, async (router, keep) => {
        const opts = recOptions(router, 'killed', { keepJournal: true });
        const rec = await startRecording(opts);
        watch(rec);
        const a = keep(new ReplayPublisher('A', clips));
        await a.publish(router);
        rec.addParticipant('A', 'alice');
        a.play();
        await sleep(15_000);
        // As a power loss would: the recorder and every capture at once, mid-packet maybe.
        const killedAt = Date.now();
        process.kill(-rec.pid!, 'SIGKILL');
        await rec.exited;
        assert.ok(existsSync(path.join(opts.outputDir, 'killed.parts', 'journal.json')));

        const result = await recoverRecording({
          recordId: 'killed',
          outputDir: opts.outputDir,
          ffmpegPath: FFMPEG,
        }).result;
        assert.equal(result.recovery, 'composed');
        assert.ok(
          (result.composedBeforeStopMs ?? 0) >= 8000,
          `the window composed during the call is reused (${result.composedBeforeStopMs} ms)`,
        );
        assert.deepEqual(result.streamsEnded.map((s) => `${s.uid}/${s.kind}`).sort(), [
          'alice/audio',
          'alice/video',
        ]);
        const captured = killedAt - result.recordStartTime;
        assert.ok(
          result.durationMs > captured - 2000 && result.durationMs <= captured + 500,
          `recovered ${result.durationMs} ms of ${captured} ms captured`,
        );
        const probe = await ffprobe(result.file);
        assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:aac',
          'video:h264',
        ]);
        const [audio, video] = ['audio', 'video'].map((k) =>
          Number(probe.streams.find((s) => s.codec_type === k)!.duration),
        );
        assert.ok(Math.abs(audio! - video!) < 0.5, `audio ${audio} s and video ${video} s end together`);
        assert.ok(Math.abs(Number(probe.format.duration) * 1000 - result.durationMs) < 1000);
        // The tone runs on across the seam of the composed window (8 s) without a gap.
        const pcm = await run(FFMPEG, [
          '-v',
          'error',
          '-ss',
          '7',
          '-t',
          '2',
          '-i',
          result.file,
          '-map',
          '0:a',
          '-ac',
          '1',
          '-ar',
          '8000',
          '-f',
          's16le',
          '-',
        ]);
        let quiet = 0;
        for (let i = 0; i + 160 <= pcm.length / 2; i += 80) {
          let peak = 0;
          for (let j = i; j < i + 80; j++) peak = Math.max(peak, Math.abs(pcm.readInt16LE(j * 2)));
          if (peak < 500) quiet++;
        }
        assert.ok(quiet <= 2, `no silence around the seam (${quiet} quiet 10 ms blocks)`);
      });
    },
  );

  it('a file made before the crash (only storing it was cut short) is handed over as it is', async () => {
    await withRouter({}, async (router, keep) => {
      const opts = recOptions(router, 'made', { keepJournal: true });
      const rec = await startRecording(opts);
      const a = keep(new ReplayPublisher('A', clips));
      await a.publish(router);
      rec.addParticipant('A', 'alice');
      a.play();
      await sleep(3000);
      const made = await rec.stop();
      assert.deepEqual(readdirSync(path.join(opts.outputDir, 'made.parts')), ['journal.json']);
      const again = await recoverRecording({
        recordId: 'made',
        outputDir: opts.outputDir,
        ffmpegPath: FFMPEG,
      }).result;
      assert.equal(again.recovery, 'already-complete');
      assert.equal(again.file, made.file);
      assert.equal(again.recordStartTime, made.recordStartTime);
      assert.equal(again.durationMs, made.durationMs);
      assert.deepEqual(again.streamsEnded, []);
    });
  });

  it('nothing to recover (no journal) is a RecordingError 100004', async () => {
    const outputDir = path.join(tmpRoot, 'nothing');
    mkdirSync(path.join(outputDir, 'nothing.parts'), { recursive: true });
    await assert.rejects(
      recoverRecording({ recordId: 'nothing', outputDir, ffmpegPath: FFMPEG }).result,
      (e: unknown) => e instanceof RecordingError && e.code === RecordingCodes.streamsMissing,
    );
  });
});

// ---- Chromium publishers ---------------------------------------------------------------------

describe('recorder: Chromium pages publishing their fake camera and microphone', { timeout: 120_000 }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchSfuChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it(
    'two pages, the second joining late and leaving early → H.264 + AAC MP4 of the whole span, lip-synced by sender reports',
    { timeout: 90_000 },
    async () => {
      const router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
      const harness = await startHarness(router);
      const pages: SfuPage[] = [];
      try {
        pages.push(await SfuPage.open(browser, harness.url), await SfuPage.open(browser, harness.url));
        const rec = await startRecording(
          recOptions(router, 'chromium', { keepParts: !!process.env['KEEP_PARTS'] }),
        );
        const log = watch(rec);
        await pages[0]!.publish('A');
        rec.addParticipant('A', 'alice');
        const t0 = Date.now();
        await sleep(2500);
        await pages[1]!.publish('B');
        rec.addParticipant('B', 'bob');
        const bJoined = Date.now() - t0;
        await sleep(4000);
        router.removeParticipant('B');
        await pages[1]!.closeAll();
        const bLeft = Date.now() - t0;
        await sleep(3000);
        const stopAt = Date.now();
        const result = await rec.stop();
        assert.deepEqual(log.failed, []);
        assert.deepEqual(log.recorded.map((r) => `${r.uid}/${r.kind}`).sort(), [
          'alice/audio',
          'alice/video',
          'bob/audio',
          'bob/video',
        ]);
        const probe = await ffprobe(result.file);
        assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
          'audio:aac',
          'video:h264',
        ]);
        const span = stopAt - result.recordStartTime;
        assert.ok(
          Math.abs(Number(probe.format.duration) * 1000 - span) < 1500,
          `file ${probe.format.duration}s vs ${span}ms`,
        );
        const aliceVideo = result.streams.find((s) => s.uid === 'alice' && s.kind === 'video')!;
        assert.ok(
          aliceVideo.keyFrames >= 1 && aliceVideo.frames > 50,
          `alice video ${aliceVideo.frames} frames`,
        );
        for (const s of result.streams) {
          assert.ok(Math.abs(s.syncCorrectionMs) < 1000);
        }
        // The grid changes: black bands left/right while A is alone, above/below while both are in.
        const alone = await frameAt(result.file, Math.max(0.8, bJoined / 1000 - 1));
        const aloneBands = { left: energy(alone, 0, 0, 7, 36), topCentre: energy(alone, 16, 0, 48, 5) };
        assert.ok(
          aloneBands.left < 10 && aloneBands.topCentre > 40,
          `one tile ${JSON.stringify(aloneBands)}`,
        );
        const both = await frameAt(result.file, (bJoined + bLeft) / 2000);
        const bothBands = { top: energy(both, 0, 0, 64, 5), left: energy(both, 0, 8, 7, 28) };
        assert.ok(bothBands.top < 10 && bothBands.left > 40, `two tiles ${JSON.stringify(bothBands)}`);
        // Chrome's fake camera is one capturer for the whole browser: when both participants sit
        // on one timeline, both tiles show the same capture instant, give or take one frame of the
        // 15 fps recording. Each tile takes its stream's latest frame at each output tick, and each
        // page's encoder picks its own frames of the 30 fps capture, so the tiles may be 0, 1 or 2
        // capture frames (up to 66 ms) apart: measured on Chromium 156.0.8078.114, the same frame
        // differs by under 0.2, one apart by about 2.2, two apart by about 4.4 (the difference grows
        // with the distance), so 100 ms (three apart) and worse fail. An encoder under load may drop
        // a frame here and there: judge by the median.
        const diffs = await halvesDiffs(result.file, (bJoined + 800) / 1000, (bLeft - 300) / 1000);
        const median = [...diffs].sort((x, y) => x - y)[Math.floor(diffs.length / 2)]!;
        assert.ok(
          diffs.length > 20 && median < 5.5,
          `A and B show the same capture instant: ${diffs.map((d) => d.toFixed(1)).join(' ')}`,
        );
        console.log(
          `# chromium: ${result.durationMs} ms, finalize ${result.finalizeMs} ms, sync corrections ${result.streams
            .map((s) => `${s.uid}/${s.kind}:${s.syncCorrectionMs}`)
            .join(' ')}`,
        );
      } finally {
        for (const p of pages) await p.close().catch(() => undefined);
        router.close();
        await harness.close();
      }
    },
  );
});
