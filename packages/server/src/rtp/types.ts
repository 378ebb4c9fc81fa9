/**
 * RTP media types shared by the SFU (sfu/), which negotiates and forwards them, and the recorder
 * (recorder/), which describes them to ffmpeg; re-exported by sfu/types.ts. Plain data, no
 * native dependency: the recorder's child process uses them too.
 */

export type MediaKind = 'audio' | 'video';

export interface RtpCodec {
  /** 'audio/opus', 'video/VP8', 'video/H264' */
  mimeType: string;
  payloadType: number;
  clockRate: number;
  channels?: number;
  /** The a=fmtp parameters, verbatim. */
  fmtp?: string;
  rtcpFeedback: string[];
}

export interface RtpHeaderExtension {
  id: number;
  uri: string;
}
