/**
 * The one error catalogue. Codes are an API: never rename or reuse one; add new ones.
 * Every error response body has the shape {@link ApiErrorBody}.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid.' },
  BAD_REQUEST: { status: 400, message: 'The request could not be understood.' },
  UNAUTHENTICATED: { status: 401, message: 'Sign in or send a valid API token.' },
  INVALID_LOGIN: { status: 401, message: 'Email or password is incorrect.' },
  REAUTH_FAILED: { status: 403, message: 'The password is incorrect.' },
  CSRF_TOKEN_INVALID: { status: 403, message: 'Missing or invalid CSRF token; reload the page.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such endpoint.' },
  WORKSPACE_NOT_FOUND: { status: 404, message: 'No such workspace.' },
  APP_NOT_FOUND: { status: 404, message: 'No such app.' },
  CALL_APP_NOT_FOUND: { status: 404, message: 'No such call application.' },
  KEY_NOT_FOUND: { status: 404, message: 'No such key.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  MEMBER_NOT_FOUND: { status: 404, message: 'No such member.' },
  TOKEN_NOT_FOUND: { status: 404, message: 'No such API token.' },
  ROOM_NOT_FOUND: { status: 404, message: 'No such live room for this call application.' },
  PARTICIPANT_NOT_FOUND: { status: 404, message: 'No such participant in the room.' },
  CALLBACK_NOT_FOUND: { status: 404, message: 'No such callback event.' },
  RECORDING_NOT_FOUND: { status: 404, message: 'No such recording for this call application.' },
  RECORDING_FILE_GONE: {
    status: 410,
    message: 'The recording has no file (it failed, is not finished yet, or its file was deleted).',
  },
  RECORDING_ACTIVE: {
    status: 409,
    message: 'The room is already being recorded, or the recording is still running.',
  },
  RECORDING_NOT_ACTIVE: { status: 409, message: 'The room is not being recorded.' },
  RECORDING_UNAVAILABLE: {
    status: 503,
    message:
      'Recording is unavailable on this server: it needs ffmpeg (apt-get install ffmpeg, or set PARLEY_FFMPEG_PATH).',
  },
  PROXY_NOT_SET: {
    status: 409,
    message: 'Enter the media-stream proxy address first (or send one to test).',
  },
  CALLBACK_URL_NOT_SET: { status: 409, message: 'Set the callback URL in the feature configuration first.' },
  WORKSPACE_EXISTS: { status: 409, message: 'A workspace with this id already exists.' },
  APP_EXISTS: { status: 409, message: 'An app with this id already exists in the workspace.' },
  APP_NOT_EMPTY: { status: 409, message: 'Delete the call applications of this app first.' },
  MEMBER_EXISTS: { status: 409, message: 'This user is already a member of the workspace.' },
  LAST_OWNER: { status: 409, message: 'A workspace must keep at least one owner.' },
  VERSION_CONFLICT: {
    status: 409,
    message: 'Someone else saved this in the meantime. Reload to see their changes, then edit again.',
  },
  KEY_NOT_RETIRING: { status: 409, message: 'Only a key in its grace period can be retired.' },
  CREDENTIAL_MALFORMED: {
    status: 401,
    message:
      'The credential is missing a field, or a field has the wrong type or form (expireTime: 13 digits of epoch ms, at most maxCredentialLifetimeHours ahead).',
  },
  CREDENTIAL_UID_INVALID: {
    status: 401,
    message: 'uid must be 1 to 128 letters, digits or underscores.',
  },
  CREDENTIAL_EXPIRED: { status: 401, message: 'The credential has expired (expireTime is in the past).' },
  CREDENTIAL_BIZNAME_UNKNOWN: { status: 401, message: 'No call application has this bizName.' },
  CREDENTIAL_SCOPE_MISMATCH: {
    status: 401,
    message: 'appId or workspaceId does not match the call application of this bizName.',
  },
  CREDENTIAL_SIGNATURE_INVALID: {
    status: 401,
    message: "The signature does not verify with the call application's key.",
  },
  CREDENTIAL_KEY_RETIRED: {
    status: 401,
    message: 'The credential was signed with a key that has been rotated out; sign with the current key.',
  },
  LOGIN_RATE_LIMITED: { status: 429, message: 'Too many failed sign-ins. Try again later.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  NOT_READY: { status: 503, message: 'The server is not ready.' },
  STORE_UNAVAILABLE: {
    status: 503,
    message:
      'The database could not save the change, so it was not acknowledged. Retryable: try again in a few seconds.',
  },
  INTERNAL: { status: 500, message: 'Internal server error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface ApiErrorBody {
  code: ErrorCode;
  message: string;
  /** The request field the error is about (dotted path), when there is one. */
  field?: string;
  /** A machine-readable reason for field errors, e.g. `URL_SCHEME`. */
  reason?: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCatalogue, value);
}
