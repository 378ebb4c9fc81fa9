/** The SFU's configuration: validated once, defaults filled in (see SfuConfig in types.ts). */
import { isIP } from 'node:net';
import type { IceServer, RtcConfig } from 'node-datachannel';
import { SfuError } from './errors.js';
import type { ResolvedConfig } from './transport.js';
import type { IceServerConfig, SfuConfig, VideoCodecName } from './types.js';

function invalidConfig(message: string): never {
  throw new SfuError('invalid-config', message);
}

/** Browser-style { urls, username, credential } → libdatachannel IceServer entries. */
function toIceServers(list: IceServerConfig[]): (string | IceServer)[] {
  const out: (string | IceServer)[] = [];
  for (const entry of list) {
    if (typeof entry === 'string') {
      out.push(entry);
      continue;
    }
    for (const url of Array.isArray(entry.urls) ? entry.urls : [entry.urls]) {
      const m = /^(stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/i.exec(
        url.trim(),
      );
      if (!m) invalidConfig(`unsupported ICE server URL: ${url}`);
      const scheme = m[1]!.toLowerCase();
      const hostname = m[2]!.replace(/^\[|\]$/g, '');
      const tls = scheme === 'turns' || scheme === 'stuns';
      const port = m[3] ? Number(m[3]) : tls ? 5349 : 3478;
      if (scheme.startsWith('stun')) {
        out.push({ hostname, port });
      } else {
        const server: IceServer = {
          hostname,
          port,
          relayType: tls ? 'TurnTls' : m[4]?.toLowerCase() === 'tcp' ? 'TurnTcp' : 'TurnUdp',
        };
        if (entry.username !== undefined) server.username = entry.username;
        if (entry.credential !== undefined) server.password = entry.credential;
        out.push(server);
      }
    }
  }
  return out;
}

/** Validates the configuration once and fills in the defaults. */
export function resolveSfuConfig(config: SfuConfig): ResolvedConfig {
  const begin = config.portRangeBegin ?? 0;
  const end = config.portRangeEnd ?? 0;
  for (const [name, v] of [
    ['portRangeBegin', begin],
    ['portRangeEnd', end],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) invalidConfig(`${name} must be a port number`);
  }
  if ((begin === 0) !== (end === 0) || begin > end) {
    invalidConfig('portRangeBegin and portRangeEnd must both be set (begin <= end) or both be 0');
  }
  const announcedIps = config.announcedIps ?? [];
  for (const ip of announcedIps) if (!isIP(ip)) invalidConfig(`announcedIps: not an IP address: ${ip}`);
  if (config.bindAddress !== undefined && !isIP(config.bindAddress)) {
    invalidConfig(`bindAddress: not an IP address: ${config.bindAddress}`);
  }
  const videoCodecs: VideoCodecName[] = config.videoCodecs ?? ['VP8', 'H264'];
  if (videoCodecs.length === 0 || videoCodecs.some((c) => c !== 'VP8' && c !== 'H264')) {
    invalidConfig('videoCodecs must list VP8 and/or H264');
  }
  const maxIncomingBitrate = config.maxIncomingBitrate ?? 3_000_000;
  if (!(maxIncomingBitrate >= 30_000)) invalidConfig('maxIncomingBitrate must be at least 30000 bits/s');
  const iceGatheringTimeoutMs = config.iceGatheringTimeoutMs ?? 1000;
  if (!(iceGatheringTimeoutMs >= 0)) invalidConfig('iceGatheringTimeoutMs must be >= 0');
  const keyFrameRequestMinIntervalMs = config.keyFrameRequestMinIntervalMs ?? 300;
  if (!(keyFrameRequestMinIntervalMs >= 0)) invalidConfig('keyFrameRequestMinIntervalMs must be >= 0');
  const connectTimeoutMs = config.connectTimeoutMs ?? 30_000;
  if (!(connectTimeoutMs >= 1000)) invalidConfig('connectTimeoutMs must be >= 1000');
  const nackBufferPackets = config.nackBufferPackets ?? 512;
  if (!Number.isInteger(nackBufferPackets) || nackBufferPackets < 16) {
    invalidConfig('nackBufferPackets must be an integer >= 16');
  }

  const rtc: RtcConfig = { iceServers: toIceServers(config.iceServers ?? []) };
  if (begin > 0) {
    rtc.portRangeBegin = begin;
    rtc.portRangeEnd = end;
  }
  if (config.bindAddress !== undefined) rtc.bindAddress = config.bindAddress;
  if (config.udpMux === true) {
    if (begin === 0 || begin !== end)
      invalidConfig('udpMux needs one fixed port: portRangeBegin === portRangeEnd');
    rtc.enableIceUdpMux = true;
  }
  return Object.freeze({
    rtc,
    announcedIps: Object.freeze([...announcedIps]),
    videoCodecs: Object.freeze([...videoCodecs]),
    maxIncomingBitrate,
    iceGatheringTimeoutMs,
    keyFrameRequestMinIntervalMs,
    connectTimeoutMs,
    nackBufferPackets,
  });
}
