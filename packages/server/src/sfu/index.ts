/** The media plane (SFU): see router.ts for the API, its events and its close cascade. */
export { MediaRouter, resolveSfuConfig } from './router.js';
export type { PublishResult, SubscribeOptions, SubscribeResult } from './router.js';
export { SfuError, type SfuErrorCode } from './errors.js';
export { sfuNativeStats } from './transports.js';
export type * from './types.js';
