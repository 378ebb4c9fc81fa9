import { MediaError, type MediaPlane } from './media.js';

/** Used when the media plane cannot start: rooms and signaling work, media requests say why not. */
export function unavailableMediaPlane(reason: string): MediaPlane {
  const fail = (): never => {
    throw new MediaError('MEDIA_FAILED', `The media plane is not available: ${reason}`);
  };
  return {
    createRoomMedia: () => ({
      publish: async () => fail(),
      subscribe: async () => fail(),
      setAnswer: async () => fail(),
      addRemoteCandidate: () => fail(),
      unsubscribe: () => undefined,
      unpublish: () => [],
      removeParticipant: () => undefined,
      close: () => undefined,
    }),
  };
}
