/**
 * The device cookie (OWASP "device cookie" against lockout attacks): after a successful sign-in
 * the browser or client gets a long-lived cookie naming the account it signed in to, with a
 * random id, signed with a key derived from the master key. A later sign-in to that account
 * that presents it counts its failures against that device's own budget only (see
 * services/login-limiter.ts), so other people's failures never lock out its owner.
 *
 * It grants nothing by itself: it is not a session and carries no secret of the account. A
 * forged or altered cookie fails the signature check and is ignored; one stolen from a device
 * gives the thief only that device's small budget of guesses.
 */
import fastifyCookie from '@fastify/cookie';
import { randomSecret } from '../security/ids.js';

export const deviceCookie = 'parley_device';
/** How long a device stays known after its last successful sign-in. */
export const deviceCookieMaxAgeSeconds = 180 * 86400;
/** Sent only with the sign-in and password requests, never with the rest of the API. */
export const deviceCookiePath = '/api/v1/auth';

export class DeviceCookies {
  constructor(private readonly key: Buffer) {}

  /** A new signed cookie value for a device that just signed in to `email`. */
  issue(email: string): string {
    return fastifyCookie.sign(`${Buffer.from(email).toString('base64url')}.${randomSecret(18)}`, this.key);
  }

  /** The device id when `value` is a valid device cookie for `email`; otherwise null. */
  deviceFor(value: string | undefined, email: string): string | null {
    if (!value) return null;
    const unsigned = fastifyCookie.unsign(value, this.key);
    if (!unsigned.valid || unsigned.value === null) return null;
    const [who, id] = unsigned.value.split('.');
    if (!who || !id || Buffer.from(who, 'base64url').toString() !== email) return null;
    return id;
  }
}
