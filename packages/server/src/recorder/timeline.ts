/**
 * The recording's timeline: which streams it wants, and where each capture segment sits on it
 * (decided once, by the first window that uses it: windows.ts says why).
 */
import type { MediaKind } from '../rtp/types.js';
import { now } from './clock.js';
import type { Segment } from './segment.js';
import type { RecorderSession } from './session.js';
import type { StreamRecorder } from './stream.js';
import { SYNC_WAIT_MS } from './timing.js';

export function wantsKind(session: RecorderSession, kind: MediaKind): boolean {
  const t = session.config!.mediaType;
  return t === 1 ? kind === 'audio' : t === 2 ? kind === 'video' : true;
}

/** Lip sync: the publisher's clock time of a segment's first packet (from its last sender report). */
function captureMs(s: StreamRecorder, seg: Segment): number | null {
  if (!s.lastSr) return null;
  const diff = (seg.firstRtpTs - s.lastSr.rtpTs) | 0;
  return s.lastSr.ntpMs + (diff / seg.codec.clockRate) * 1000;
}

/**
 * Places a segment on the timeline, once and for all (composed windows depend on it): audio at
 * its first packet; video relative to its participant's audio by the publisher's sender reports
 * (lip sync), else at its first packet. While `final` is false, a video of an audio+video
 * recording waits up to SYNC_WAIT_MS for the reports (returns false meanwhile).
 */
export function place(
  session: RecorderSession,
  s: StreamRecorder,
  seg: Segment,
  t0: number,
  final: boolean,
): boolean {
  if (seg.placedMs !== null) return true;
  const placed = decidePlace(session, s, seg, t0, final);
  if (placed) session.saveJournal();
  return placed;
}

function decidePlace(
  session: RecorderSession,
  s: StreamRecorder,
  seg: Segment,
  t0: number,
  final: boolean,
): boolean {
  const arrival = seg.firstMono - t0;
  if (s.info.kind !== 'video') {
    seg.placedMs = arrival;
    return true;
  }
  const audio = [...session.streams.values()].find(
    (u) =>
      u.info.kind === 'audio' && u.info.participantId === s.info.participantId && wantsKind(session, 'audio'),
  );
  const asegs = audio ? audio.segments.filter((g) => g.packets > 0) : [];
  if (audio && asegs.length > 0) {
    const a =
      asegs.find((g) => g.firstMono - t0 <= arrival && arrival <= g.lastMono - t0) ??
      asegs.reduce((best, g) =>
        Math.abs(g.firstMono - t0 - arrival) < Math.abs(best.firstMono - t0 - arrival) ? g : best,
      );
    const cv = captureMs(s, seg);
    const ca = captureMs(audio, a);
    if (cv !== null && ca !== null) {
      const synced = a.firstMono - t0 + (cv - ca);
      const correction = synced - arrival;
      if (Math.abs(correction) < 1000) {
        seg.placedMs = Math.max(0, synced);
        seg.correctionMs = Math.round(correction);
        seg.synced = true;
      } else {
        seg.placedMs = arrival;
      }
      return true;
    }
  }
  if (!final && session.config!.mediaType === 0 && now() - seg.firstMono < SYNC_WAIT_MS) return false;
  seg.placedMs = arrival;
  return true;
}

export interface Media {
  s: StreamRecorder;
  segs: Segment[];
}

/** The wanted streams' segments with media on disk. */
export async function mediaSegments(session: RecorderSession): Promise<Media[]> {
  const out: Media[] = [];
  for (const s of session.streams.values()) {
    if (!wantsKind(session, s.info.kind)) continue;
    const segs = await s.usableSegments();
    if (segs.length > 0) out.push({ s, segs });
  }
  return out;
}
