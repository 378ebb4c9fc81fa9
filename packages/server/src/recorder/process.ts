/**
 * The recorder child process: one per recording, started by recording.ts with child_process.fork
 * and driven over IPC (protocol.ts). It never touches the SFU: the parent taps each recorded track
 * to a UDP port this process owns on 127.0.0.1.
 *
 * This file is its entry: it takes the parent's messages one at a time and ends the process on a
 * failure or when the parent goes. The recording itself is one RecorderSession (session.ts, with
 * the journal a recovery needs), made of:
 * - its streams (stream.ts), each a relay socket and a list of captures (segment.ts) written by
 *   ffmpeg as NUT chunks, on UDP ports found by udp-ports.ts, watched by warnings.ts;
 * - the composition during the call, window by window (windows.ts says why and how: timeline.ts
 *   places the captures, window-input.ts reads their chunks, audio-encoder.ts makes the AAC);
 * - the end: finalize.ts at stop, recover.ts after the server died with the recording.
 */
import { existsSync } from 'node:fs';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DISK_ERRNOS, errnoOf, Fatal } from './failures.js';
import { stopAll } from './finalize.js';
import { send } from './parent-link.js';
import { RecordingCodes, type ChildAddStream, type ChildInit, type ParentToChild } from './protocol.js';
import { recover } from './recover.js';
import { RecorderSession, SYNC_INTERVAL_MS } from './session.js';
import { StreamRecorder } from './stream.js';
import { checkWarnings } from './warnings.js';
import { backgroundTick } from './windows.js';

const session = new RecorderSession();

// ---- lifecycle --------------------------------------------------------------------------------

async function init(msg: ChildInit): Promise<void> {
  session.config = msg;
  const workDir = path.join(msg.outputDir, `${msg.recordId}.parts`);
  session.workDir = workDir;
  try {
    await mkdir(workDir, { recursive: true });
    const probe = path.join(msg.outputDir, `.${msg.recordId}.probe`);
    await writeFile(probe, 'parley');
    await unlink(probe);
  } catch (err) {
    throw new Fatal(
      DISK_ERRNOS.has(errnoOf(err)) ? RecordingCodes.diskFull : RecordingCodes.fileCreationFailed,
      `cannot write in ${msg.outputDir}: ${err instanceof Error ? err.message : String(err)}`,
      { errno: errnoOf(err) },
    );
  }
  session.niceBin = ['/usr/bin/nice', '/bin/nice'].find((f) => existsSync(f)) ?? null;
  session.saveJournal();
  await session.journalWritten;
  const timer = setInterval(() => checkWarnings(session), 250);
  timer.unref();
  const composer = setInterval(() => backgroundTick(session), 500);
  composer.unref();
  const syncer = setInterval(() => void session.syncCaptures(), SYNC_INTERVAL_MS);
  syncer.unref();
  send({ type: 'ready' });
}

async function addStream(msg: ChildAddStream): Promise<void> {
  if (session.streams.has(msg.streamId) || session.stopping) return;
  const s = new StreamRecorder(session, msg);
  session.streams.set(msg.streamId, s);
  session.saveJournal();
  const port = await s.open();
  send({ type: 'streamReady', streamId: msg.streamId, port });
}

async function removeStream(streamId: string): Promise<void> {
  const s = session.streams.get(streamId);
  if (!s || s.removed) return;
  await s.stop();
  const usable = await s.usableSegments();
  send({ type: 'streamEnded', streamId, ok: usable.length > 0, packets: s.packets });
  s.endReported = true;
  session.saveJournal();
}

// ---- IPC --------------------------------------------------------------------------------------

let queue: Promise<void> = Promise.resolve();

function handle(msg: ParentToChild): void {
  if (session.finished) return;
  const run = async () => {
    switch (msg.type) {
      case 'init':
        return init(msg);
      case 'addStream':
        return addStream(msg);
      case 'removeStream':
        // Not queued behind other work: stopping a capture must not wait for a compose.
        void removeStream(msg.streamId).catch((err: unknown) => onError(err));
        return;
      case 'stop':
        return stopAll(session);
      case 'recover':
        return recover(session, msg);
    }
  };
  queue = queue.then(run).catch((err: unknown) => onError(err));
}

function onError(err: unknown): void {
  if (err instanceof Fatal) session.fail(err);
  else
    session.fail(
      new Fatal(
        RecordingCodes.conversionFailed,
        `recorder error: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
}

process.on('message', (m) => handle(m as ParentToChild));
// The parent is gone (or let us go): nothing can be reported any more; leave nothing behind.
process.on('disconnect', () => {
  if (session.finished) return;
  session.finished = true;
  session.killAll();
  process.exit(1);
});
process.on('SIGTERM', () => {
  session.killAll();
  process.exit(1);
});
