/** Debian's Chromium for browser tests, driven by playwright-core (which gives each launch a fresh profile). */
import { chromium, type Browser } from 'playwright-core';

/** Flags that work on these machines and keep Chromium off the network but for 127.0.0.1. */
export const baseChromiumFlags = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

/** Fake camera and microphone, granted without a prompt. */
export const fakeMediaFlags = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

export function launchChromium(extraFlags: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...baseChromiumFlags, ...extraFlags],
  });
}
