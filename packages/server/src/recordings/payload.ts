/**
 * The recording callback body of the contract (bizRequestId is added by the outbox). Extra
 * fields (uid, kind, detail, message) ride beside the contract's, which never change name, type
 * or meaning; recordResult is present only with eventCode 99.
 */
import type { RoomScope } from '../rooms/room.js';

export const RecordingEventCodes = {
  streamRecorded: 0,
  initialised: 10,
  ended: 11,
  warning: 50,
  result: 99,
  uploadFailed: 100201,
} as const;

export type RecordResult =
  | { status: 2; fileType: 1 | 2; filePath: string; recordStartTime: number; mediaType: 0 | 1 | 2 }
  | { status: 3 };

export interface RecordingEventExtra {
  /** The participant whose stream the event is about. */
  uid?: string;
  kind?: 'audio' | 'video';
  /** What exactly happened (warning reason, failure detail). */
  detail?: Record<string, unknown>;
  message?: string;
}

export function recordingCallbackPayload(
  scope: RoomScope & { roomId: string; recordId: string },
  eventCode: number,
  extra: RecordingEventExtra = {},
  recordResult?: RecordResult,
): Record<string, unknown> {
  return {
    bizName: scope.bizName,
    appId: scope.appId,
    workspaceId: scope.workspaceId,
    roomId: scope.roomId,
    recordId: scope.recordId,
    eventCode,
    ...(recordResult ? { recordResult } : {}),
    ...(extra.uid !== undefined ? { uid: extra.uid } : {}),
    ...(extra.kind !== undefined ? { kind: extra.kind } : {}),
    ...(extra.message !== undefined ? { message: extra.message } : {}),
    ...(extra.detail !== undefined ? { detail: extra.detail } : {}),
  };
}
