/**
 * Parsers of single setting values. Each takes a value as it came (a JSON value from the config
 * file, or a string from the environment or a flag) and returns it typed, or the reason it is
 * refused. The reasons double as the "accepts" line of the configuration reference, so they
 * are worded to read after the setting's name ("must be ...").
 */
import { isIP } from '@parley/protocol';
import type { IceServer } from './config-types.js';

export type Parsed<T> = { ok: T } | { error: string };

export function intIn(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const n =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && /^-?\d+$/.test(raw.trim())
          ? Number(raw)
          : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      return { error: `must be an integer from ${min} to ${max}` };
    return { ok: n };
  };
}

export function numberIn(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) return { error: `must be a number from ${min} to ${max}` };
    return { ok: n };
  };
}

export function str(check?: (s: string) => string | null) {
  return (raw: unknown): Parsed<string> => {
    if (typeof raw !== 'string') return { error: 'must be a string' };
    const problem = check?.(raw);
    return problem ? { error: problem } : { ok: raw };
  };
}

export function oneOf<T extends string>(...values: T[]) {
  return (raw: unknown): Parsed<T> => {
    if (typeof raw === 'string' && (values as string[]).includes(raw)) return { ok: raw as T };
    return { error: `must be one of ${values.join(', ')}` };
  };
}

export function ipList(raw: unknown): Parsed<readonly string[]> {
  const items = Array.isArray(raw)
    ? raw
    : typeof raw === 'string'
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  if (!items || !items.every((i) => typeof i === 'string' && isIP(i))) {
    return { error: 'must be a list of IPv4/IPv6 addresses (comma-separated in the environment)' };
  }
  return { ok: Object.freeze([...items] as string[]) };
}

export function iceServerList(raw: unknown): Parsed<readonly IceServer[]> {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { error: 'must be a JSON array such as [{"urls":["stun:stun.example.com:3478"]}]' };
    }
  }
  if (!Array.isArray(value)) return { error: 'must be an array of {urls, username?, credential?}' };
  const out: IceServer[] = [];
  for (const [i, entry] of value.entries()) {
    const e = entry as Record<string, unknown>;
    const urls = typeof e?.['urls'] === 'string' ? [e['urls']] : e?.['urls'];
    if (
      !Array.isArray(urls) ||
      urls.length === 0 ||
      !urls.every((u) => typeof u === 'string' && /^(stuns?|turns?):[^\s]+$/.test(u))
    ) {
      return { error: `entry ${i}: urls must be stun:, stuns:, turn: or turns: URLs` };
    }
    for (const k of ['username', 'credential'] as const) {
      if (e[k] !== undefined && typeof e[k] !== 'string')
        return { error: `entry ${i}: ${k} must be a string` };
    }
    out.push({
      urls: urls as string[],
      ...(typeof e['username'] === 'string' ? { username: e['username'] } : {}),
      ...(typeof e['credential'] === 'string' ? { credential: e['credential'] } : {}),
    });
  }
  return { ok: Object.freeze(out) };
}

export function trustProxySetting(raw: unknown): Parsed<boolean | number | readonly string[]> {
  if (raw === true || raw === 'true') return { ok: true };
  if (raw === false || raw === 'false' || raw === '') return { ok: false };
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw.trim()))) {
    const hops = Number(raw);
    if (Number.isInteger(hops) && hops >= 1 && hops <= 10) return { ok: hops };
    return { error: 'as a hop count must be an integer from 1 to 10' };
  }
  const list = cidrList(raw);
  if ('ok' in list && list.ok.length > 0) return list;
  return {
    error:
      'must be false, true, a hop count (1-10), or a list of proxy addresses/CIDRs such as 10.0.0.5,10.1.0.0/16',
  };
}

export function bool(raw: unknown): Parsed<boolean> {
  if (typeof raw === 'boolean') return { ok: raw };
  if (raw === 'true' || raw === '1') return { ok: true };
  if (raw === 'false' || raw === '0') return { ok: false };
  return { error: 'must be true or false' };
}

function listOf(raw: unknown): unknown[] | null {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return null;
}

export function secondsList(raw: unknown): Parsed<readonly number[]> {
  const items = listOf(raw)?.map((v) => (typeof v === 'string' ? Number(v) : v));
  if (
    !items ||
    items.length > 30 ||
    !items.every((n) => typeof n === 'number' && Number.isFinite(n) && n > 0 && n <= 7 * 86400)
  ) {
    return {
      error: 'must be a list of up to 30 delays in seconds (each above 0, at most 7 days), e.g. 5,30,300',
    };
  }
  return { ok: Object.freeze(items as number[]) };
}

export function cidrList(raw: unknown): Parsed<readonly string[]> {
  const items = listOf(raw);
  const valid = (c: unknown) => {
    if (typeof c !== 'string') return false;
    const [ip, prefix, extra] = c.split('/');
    if (extra !== undefined || !ip || !isIP(ip)) return false;
    if (prefix === undefined) return true;
    const n = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
    return n >= 0 && n <= (ip.includes(':') ? 128 : 32);
  };
  if (!items || !items.every(valid))
    return { error: 'must be a list of IP addresses or CIDRs such as 10.1.0.0/16' };
  return { ok: Object.freeze(items as string[]) };
}

export function httpUrlOrEmpty(s: string): string | null {
  if (s === '') return null;
  try {
    const u = new URL(s);
    if (u.protocol === 'http:' || u.protocol === 'https:') return null;
  } catch {
    // falls through
  }
  return 'must be an http(s) URL such as https://s3.example.com';
}
