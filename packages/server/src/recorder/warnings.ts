/**
 * The checks made every 250 ms during the call on each stream: its lost packets and chunk cuts
 * (keyframes asked for), and the warnings 500301 (disconnected) and 500302 (low frame rate).
 */
import { now } from './clock.js';
import { send } from './parent-link.js';
import { RecordingCodes } from './protocol.js';
import type { RecorderSession } from './session.js';

export function checkWarnings(session: RecorderSession): void {
  const cfg = session.config;
  if (!cfg || session.stopping) return;
  const t = now();
  for (const s of session.streams.values()) {
    if (s.removed) continue;
    s.checkLoss(t);
    s.checkCuts(t);
    // Video waiting for a keyframe to (re)start its capture, while packets do come.
    if (
      s.current === null &&
      s.info.kind === 'video' &&
      s.lastArrivalMono !== null &&
      t - s.lastArrivalMono < 2000
    ) {
      s.requestKeyFrame();
    }
    const w = cfg.warnings;
    if (w.disconnectAfterMs > 0 && s.lastArrivalMono !== null && !s.disconnected) {
      const silent = t - s.lastArrivalMono;
      if (silent >= w.disconnectAfterMs) {
        s.disconnected = true;
        send({
          type: 'warning',
          code: RecordingCodes.streamDisconnected,
          streamId: s.info.streamId,
          detail: { uid: s.info.uid, kind: s.info.kind, silentMs: Math.round(silent) },
        });
      }
    }
    const lf = w.lowFrameRate;
    if (s.info.kind === 'video' && lf.fps > 0 && s.firstArrivalMono !== null && !s.disconnected) {
      if (t - s.firstArrivalMono >= lf.forMs + 1000) {
        const fps = s.frameRate(t, lf.forMs);
        if (fps < lf.fps && !s.lowFps) {
          s.lowFps = true;
          send({
            type: 'warning',
            code: RecordingCodes.lowFrameRate,
            streamId: s.info.streamId,
            detail: { uid: s.info.uid, kind: s.info.kind, fps: Math.round(fps * 10) / 10, threshold: lf.fps },
          });
        } else if (fps >= lf.fps) {
          s.lowFps = false;
        }
      }
    }
  }
}
