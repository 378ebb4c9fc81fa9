/**
 * Field validation shared by the server (400 responses) and the console (messages on the
 * form field), so both always agree. Browser-safe: no Node APIs.
 */

export interface FieldIssue {
  field: string;
  reason: FieldReason;
  message: string;
}

export type FieldReason =
  | 'REQUIRED'
  | 'TOO_LONG'
  | 'BAD_CHARACTERS'
  | 'BIDI_CONTROL'
  | 'LONE_SURROGATE'
  | 'INVISIBLE'
  | 'URL_INVALID'
  | 'URL_SCHEME'
  | 'URL_USERINFO'
  | 'HOST_INVALID'
  | 'PORT_INVALID'
  | 'IP_INVALID'
  | 'IP_DUPLICATE'
  | 'TOO_MANY'
  | 'INVALID'
  | 'OUT_OF_RANGE';

export const limits = {
  nameMaxLength: 64,
  callbackUrlMaxLength: 2048,
  proxyAddressMaxLength: 253 + 6,
  egressIpsMax: 32,
  idMaxLength: 64,
  maxMixedStreamsMin: 1,
  maxMixedStreamsMax: 16,
  /** Highest `page` of a list: with pageSizeMax, offsets stay far below 2^53. */
  pageMax: 1_000_000,
  pageSizeMax: 200,
} as const;

/** Defaults of the recording options of a call application's feature config. */
export const recordingDefaults = { mediaType: 0 as 0 | 1 | 2, maxMixedStreams: 9 } as const;

const ipv4Part = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const ipv4Re = new RegExp(`^${ipv4Part}(\\.${ipv4Part}){3}$`);

export function isIPv4(text: string): boolean {
  return ipv4Re.test(text);
}

/** RFC 4291 text forms, including `::` compression and a trailing dotted IPv4. No zone ids. */
export function isIPv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  let head = text;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // A trailing dotted IPv4 stands for the last two groups.
    if (!isIPv4(tail)) return false;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const hex = /^[0-9a-fA-F]{1,4}$/;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  if (halves.length === 2) {
    const all = [...groups(halves[0] as string), ...groups(halves[1] as string)];
    return all.length <= 7 && all.every((g) => hex.test(g));
  }
  const all = groups(head);
  return all.length === 8 && all.every((g) => hex.test(g));
}

export function isIP(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

const labelRe = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** A DNS host name (RFC 1123): dot-separated labels, at least two labels, TLD not all digits. */
export function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = text.replace(/\.$/, '').split('.');
  if (labels.length < 2) return text === 'localhost';
  if (!labels.every((l) => labelRe.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

export function checkCallbackUrl(field: string, value: string): FieldIssue | null {
  if (value.length > limits.callbackUrlMaxLength) {
    return {
      field,
      reason: 'TOO_LONG',
      message: `must be at most ${limits.callbackUrlMaxLength} characters`,
    };
  }
  if (/\s/.test(value)) return { field, reason: 'URL_INVALID', message: 'must not contain spaces' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return {
      field,
      reason: 'URL_INVALID',
      message: 'must be an absolute URL such as https://example.com/cb',
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { field, reason: 'URL_SCHEME', message: 'must start with http:// or https://' };
  }
  if (url.username !== '' || url.password !== '') {
    return { field, reason: 'URL_USERINFO', message: 'must not contain a user name or password' };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isHostName(host) && !isIP(host)) {
    return { field, reason: 'URL_INVALID', message: `has an invalid host "${url.hostname}"` };
  }
  return null;
}

/** Proxy address: `host` or `host:port`; host a DNS name or IP literal (IPv6 in brackets with a port). */
export function checkProxyAddress(field: string, value: string): FieldIssue | null {
  if (value.length > limits.proxyAddressMaxLength) {
    return {
      field,
      reason: 'TOO_LONG',
      message: `must be at most ${limits.proxyAddressMaxLength} characters`,
    };
  }
  if (/^[a-z]+:\/\//i.test(value)) {
    return {
      field,
      reason: 'HOST_INVALID',
      message: 'must be a host name like proxy.example.com, without a scheme',
    };
  }
  let host = value;
  let port: string | null = null;
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(value);
  if (bracketed) {
    host = bracketed[1] ?? '';
    port = bracketed[2] ?? null;
    if (!isIPv6(host))
      return { field, reason: 'HOST_INVALID', message: `"${host}" is not a valid IPv6 address` };
  } else if (isIPv6(value)) {
    return null;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    if (!isHostName(host) && !isIPv4(host)) {
      return {
        field,
        reason: 'HOST_INVALID',
        message: `"${host}" is not a valid host name (expected something like proxy.example.com)`,
      };
    }
  }
  if (port !== null) {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      return { field, reason: 'PORT_INVALID', message: 'port must be a number from 1 to 65535' };
    }
  }
  return null;
}

/** Parses `a;b;c` into a clean list, or returns the first issue. Empty input is an empty list. */
export function parseEgressIps(field: string, value: string): { ips: string[] } | { issue: FieldIssue } {
  const parts = value
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const seen = new Set<string>();
  const ips: string[] = [];
  for (const part of parts) {
    if (!isIP(part)) {
      return {
        issue: { field, reason: 'IP_INVALID', message: `"${part}" is not a valid IPv4 or IPv6 address` },
      };
    }
    const key = part.toLowerCase();
    if (seen.has(key)) {
      return { issue: { field, reason: 'IP_DUPLICATE', message: `"${part}" is listed twice` } };
    }
    seen.add(key);
    ips.push(part);
  }
  if (ips.length > limits.egressIpsMax) {
    return { issue: { field, reason: 'TOO_MANY', message: `at most ${limits.egressIpsMax} addresses` } };
  }
  return { ips };
}

export interface FeatureConfigInput {
  autoRecord: boolean;
  recordMediaType: 0 | 1 | 2;
  recordMaxMixedStreams: number;
  recordingCallbackUrl: string;
  roomCallbackUrl: string;
  proxyAddress: string;
  proxyEgressIps: string;
}

/** Validates a whole feature config; returns every issue (one per field at most) and the normalised value. */
export function validateFeatureConfig(input: FeatureConfigInput): {
  issues: FieldIssue[];
  value: FeatureConfigInput;
} {
  const issues: FieldIssue[] = [];
  const recordingCallbackUrl = input.recordingCallbackUrl.trim();
  const roomCallbackUrl = input.roomCallbackUrl.trim();
  const proxyAddress = input.proxyAddress.trim();
  if (recordingCallbackUrl !== '') {
    const issue = checkCallbackUrl('recordingCallbackUrl', recordingCallbackUrl);
    if (issue) issues.push(issue);
  }
  if (roomCallbackUrl !== '') {
    const issue = checkCallbackUrl('roomCallbackUrl', roomCallbackUrl);
    if (issue) issues.push(issue);
  }
  if (proxyAddress !== '') {
    const issue = checkProxyAddress('proxyAddress', proxyAddress);
    if (issue) issues.push(issue);
  }
  if (![0, 1, 2].includes(input.recordMediaType)) {
    issues.push({
      field: 'recordMediaType',
      reason: 'INVALID',
      message: 'must be 0 (audio+video), 1 (audio only) or 2 (video only)',
    });
  }
  const mixed = input.recordMaxMixedStreams;
  if (!Number.isInteger(mixed) || mixed < limits.maxMixedStreamsMin || mixed > limits.maxMixedStreamsMax) {
    issues.push({
      field: 'recordMaxMixedStreams',
      reason: 'OUT_OF_RANGE',
      message: `must be a whole number from ${limits.maxMixedStreamsMin} to ${limits.maxMixedStreamsMax}`,
    });
  }
  let proxyEgressIps = '';
  const parsed = parseEgressIps('proxyEgressIps', input.proxyEgressIps);
  if ('issue' in parsed) issues.push(parsed.issue);
  else proxyEgressIps = parsed.ips.join(';');
  return {
    issues,
    value: {
      autoRecord: input.autoRecord,
      recordMediaType: input.recordMediaType,
      recordMaxMixedStreams: input.recordMaxMixedStreams,
      recordingCallbackUrl,
      roomCallbackUrl,
      proxyAddress,
      proxyEgressIps,
    },
  };
}

/**
 * A name as it is stored and compared: Unicode NFC (so "é" typed as e + U+0301 and as U+00E9 are
 * one name), without surrounding whitespace. Check it with {@link checkName}.
 */
export function normaliseName(value: string): string {
  return value.normalize('NFC').trim();
}

/* eslint-disable no-control-regex */
/** C0 and C1 control characters (tabs and line breaks included: a name is one line). */
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/;
/* eslint-enable no-control-regex */
/** Bidirectional embeddings, overrides and isolates: they reorder the text around them (Trojan Source). */
const bidiControls = /[\u202a-\u202e\u2066-\u2069]/;
/** A UTF-16 surrogate that is not half of a pair: no character at all (the `u` flag pairs the rest). */
const loneSurrogate = /\p{Surrogate}/u;
/** Whitespace and characters that display as nothing (zero-width space and joiners, BOM, fillers …). */
const invisible = /[\s\p{Default_Ignorable_Code_Point}]/gu;

/**
 * A name of a workspace, app, call application, API token or member, as typed: checked after
 * {@link normaliseName}. Its length counts characters (code points), as the API schemas'
 * maxLength does, so both state the same limit.
 */
export function checkName(field: string, value: string): FieldIssue | null {
  const name = normaliseName(value);
  if (name === '') return { field, reason: 'REQUIRED', message: 'is required' };
  if ([...name].length > limits.nameMaxLength) {
    return { field, reason: 'TOO_LONG', message: `must be at most ${limits.nameMaxLength} characters` };
  }
  if (controlCharacters.test(name)) {
    return { field, reason: 'BAD_CHARACTERS', message: 'must not contain control characters' };
  }
  if (bidiControls.test(name)) {
    return {
      field,
      reason: 'BIDI_CONTROL',
      message: 'must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)',
    };
  }
  if (loneSurrogate.test(name)) {
    return { field, reason: 'LONE_SURROGATE', message: 'must not contain unpaired UTF-16 surrogates' };
  }
  if (name.replace(invisible, '') === '') {
    return { field, reason: 'INVISIBLE', message: 'must contain a visible character' };
  }
  return null;
}

/** workspaceId / appId chosen by the user: letters, digits, `_` and `-`, as mPaaS ids are. */
export function checkId(field: string, value: string): FieldIssue | null {
  if (value === '') return { field, reason: 'REQUIRED', message: 'is required' };
  if (value.length > limits.idMaxLength) {
    return { field, reason: 'TOO_LONG', message: `must be at most ${limits.idMaxLength} characters` };
  }
  if (!/^[A-Za-z0-9_-]+$/.test(value)) {
    return { field, reason: 'BAD_CHARACTERS', message: 'may contain only letters, digits, "_" and "-"' };
  }
  return null;
}
