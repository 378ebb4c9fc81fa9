/**
 * Time-limited TURN credentials from a shared secret, the "TURN REST API" scheme coturn accepts
 * with `use-auth-secret` + `static-auth-secret`: the username is `<expiry epoch seconds>:<uid>`
 * and the password is base64(HMAC-SHA1(secret, username)). coturn recomputes the password from
 * its copy of the secret and refuses the username once its expiry has passed, so Parley never
 * has to tell the proxy about users.
 */
import { createHmac } from 'node:crypto';

export interface TurnCredentials {
  username: string;
  credential: string;
  /** Epoch seconds after which the proxy refuses them. */
  expiresAt: number;
}

export function turnCredentials(
  secret: string,
  uid: string,
  ttlSeconds: number,
  nowMs: number,
): TurnCredentials {
  const expiresAt = Math.floor(nowMs / 1000) + Math.max(1, Math.round(ttlSeconds));
  const username = `${expiresAt}:${uid}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt };
}

/** host and port of a proxy address ("host", "host:port", "[v6]:port", "v6"); 3478 by default. */
export function proxyHostPort(address: string): { host: string; port: number } {
  const a = address.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(a);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ? Number(bracketed[2]) : 3478 };
  const colons = a.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = a.split(':') as [string, string];
    return { host, port: Number(port) };
  }
  return { host: a, port: 3478 };
}

/** The URLs a terminal gets for a proxy: TURN over UDP and over TCP, same host and port. */
export function proxyTurnUrls(address: string): string[] {
  const { host, port } = proxyHostPort(address);
  const h = host.includes(':') ? `[${host}]` : host;
  return [`turn:${h}:${port}?transport=udp`, `turn:${h}:${port}?transport=tcp`];
}
