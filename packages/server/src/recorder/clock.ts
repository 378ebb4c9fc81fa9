/** The recorder child's clock: monotonic ms (performance.now) everywhere, epoch ms in messages. */
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();
export const epochOf = (mono: number) => Math.round(performance.timeOrigin + mono);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
