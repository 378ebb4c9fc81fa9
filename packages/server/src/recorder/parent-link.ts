/** The recorder child's side of its IPC link to the parent (the messages are in protocol.ts). */
import type { ChildToParent } from './protocol.js';

export function send(msg: ChildToParent): void {
  if (!process.connected || !process.send) return;
  try {
    process.send(msg);
  } catch {
    // the parent is gone; 'disconnect' handles it
  }
}

export function exitSoon(code: number): void {
  // Let the IPC message go out before leaving.
  const t = setTimeout(() => process.exit(code), 200);
  t.unref();
  if (process.connected) process.disconnect();
}
