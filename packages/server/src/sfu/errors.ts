/** Errors the media API throws; `code` is stable so the signaling layer can map it to its own catalogue. */
export type SfuErrorCode =
  | 'invalid-sdp'
  | 'no-media'
  | 'unknown-transport'
  | 'unknown-participant'
  | 'no-tracks'
  | 'wrong-transport-role'
  | 'negotiation-failed'
  /** An answer to an offer of a subscriber connection that is not the one outstanding. */
  | 'offer-superseded'
  | 'router-closed'
  | 'invalid-config';

export class SfuError extends Error {
  override readonly name = 'SfuError';
  constructor(
    readonly code: SfuErrorCode,
    message: string,
  ) {
    super(message);
  }
}
