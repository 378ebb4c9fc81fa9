/**
 * The SFU's transports, re-exported from where they live (kept so that older imports of
 * './transports.js' still work): transport.ts (the base class, router context, native-object
 * accounting), publisher.ts (PublisherTransport, SourceTrack), subscriber.ts (the per-pair
 * SubscriberTransport and SinkTrack) and subscriber-connection.ts (one BUNDLE subscriber
 * connection per participant).
 */
export {
  closeQuietly,
  newCounters,
  newId,
  normaliseAddress,
  raceTimeout,
  randomSsrc,
  sfuNativeStats,
  Transport,
  watchTrack,
  type Counters,
  type ResolvedConfig,
  type RouterContext,
} from './transport.js';
export { PublisherTransport, SourceTrack, type PacketSink } from './publisher.js';
export { SinkTrack, SubscriberTransport } from './subscriber.js';
export { BundleSink, SubscriberConnection } from './subscriber-connection.js';
