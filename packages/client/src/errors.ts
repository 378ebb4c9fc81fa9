import type { ErrorCode, SignalingError, SignalingErrorCode } from '@parley/protocol';

/**
 * Codes the SDK itself produces (the server never sends these). Every other code comes from
 * the server: the error catalogue (docs/errors.md, e.g. `CREDENTIAL_EXPIRED`) or the
 * signaling codes (`ROOM_NOT_FOUND`, `RESUME_FAILED`, ...).
 */
export const clientErrorCodes = [
  /** A request got no response within `requestTimeoutMs`. */
  'REQUEST_TIMEOUT',
  /** The WebSocket did not open, or no `welcome` came, within `connectTimeoutMs`. */
  'CONNECT_TIMEOUT',
  /** The WebSocket could not be opened or closed before `welcome`. */
  'CONNECTION_FAILED',
  /** The WebSocket dropped while the request was in flight, or reconnection gave up. */
  'CONNECTION_LOST',
  /** A request was made before `connect()` or after `close()`. */
  'NOT_CONNECTED',
  /** The client was closed by the application. */
  'CLIENT_CLOSED',
  /** The server sent something that is not protocol v1. */
  'PROTOCOL_ERROR',
  /** A media connection (RTCPeerConnection) failed: ICE could not connect or was lost. */
  'ICE_FAILED',
  /** Camera or microphone could not be opened (denied, missing, busy). */
  'MEDIA_DEVICE_FAILED',
  /** The room was left or closed; the operation is no longer possible. */
  'ROOM_LEFT',
  /** The credential provider function threw or returned nothing usable. */
  'CREDENTIAL_UNAVAILABLE',
  /** The browser lacks WebRTC or WebSocket support. */
  'UNSUPPORTED',
] as const;
export type ClientErrorCode = (typeof clientErrorCodes)[number];

/** Any code a {@link ParleyError} can carry; unknown future server codes pass through as strings. */
export type ParleyErrorCode = ErrorCode | SignalingErrorCode | ClientErrorCode | (string & {});

/** Every failure the SDK reports: a stable `code`, a human message, and the field at fault if any. */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly code: ParleyErrorCode;
  readonly field: string | undefined;

  constructor(code: ParleyErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.field = options.field;
  }

  static fromSignaling(error: SignalingError): ParleyError {
    return new ParleyError(
      error.code,
      error.message,
      error.field !== undefined ? { field: error.field } : {},
    );
  }

  /** Credential failures (`CREDENTIAL_*`): the terminal needs a new credential from its business server. */
  get isCredentialError(): boolean {
    return this.code.startsWith('CREDENTIAL_');
  }

  toJSON(): { code: string; message: string; field?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
    };
  }
}

export function asParleyError(err: unknown, code: ParleyErrorCode, message: string): ParleyError {
  if (err instanceof ParleyError) return err;
  const detail = err instanceof Error ? `${message}: ${err.message}` : message;
  return new ParleyError(code, detail, { cause: err });
}
