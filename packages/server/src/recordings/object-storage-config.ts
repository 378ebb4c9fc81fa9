// What an object-storage configuration must look like, checked before any request is made so
// that a typo shows as a message naming the field rather than as a network error later; and the
// URLs derived from it.

export interface ObjectStorageConfig {
  /** e.g. 'http://127.0.0.1:4568' or 'https://oss-cn-hangzhou.aliyuncs.com' (without the bucket). */
  endpoint: string;
  bucket: string;
  /** e.g. 'us-east-1'. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Prepended to every key as is, e.g. 'recordings/' ('' allowed). */
  prefix: string;
  /** MinIO / s3rver need path-style URLs. */
  forcePathStyle: boolean;
  /** '' → object URL derived from endpoint + bucket + key (path-style or virtual-hosted per forcePathStyle); else `${publicBaseUrl}/${fullKey}`. */
  publicBaseUrl: string;
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function trimTrailingSlashes(s: string): string {
  return s.replace(/\/+$/, '');
}

/** The endpoint as safe to print: no user info, query or fragment. */
export function printableEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${trimTrailingSlashes(u.pathname)}`;
  } catch {
    return '(invalid endpoint)';
  }
}

function isHttpUrl(value: string): URL | null {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u : null;
  } catch {
    return null;
  }
}

/** Validates a config (endpoint is an http(s) URL, bucket name rules, non-empty region/keys); returns a list of {field, message} problems (empty = ok). */
export function checkObjectStorageConfig(
  config: ObjectStorageConfig,
): { field: keyof ObjectStorageConfig; message: string }[] {
  const problems: { field: keyof ObjectStorageConfig; message: string }[] = [];
  const add = (field: keyof ObjectStorageConfig, message: string) => problems.push({ field, message });
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

  const endpoint = str(config.endpoint);
  const bucket = str(config.bucket);
  const endpointUrl = endpoint === null ? null : isHttpUrl(endpoint);
  if (endpoint === null || endpoint.trim() === '') {
    add('endpoint', 'endpoint is required, e.g. https://oss-cn-hangzhou.aliyuncs.com');
  } else if (!endpointUrl) {
    add('endpoint', 'endpoint must be an http:// or https:// URL, e.g. https://oss-cn-hangzhou.aliyuncs.com');
  } else if (endpointUrl.username || endpointUrl.password) {
    add('endpoint', 'endpoint must not contain a user name or password; set the access keys instead');
  } else if (endpointUrl.search || endpointUrl.hash) {
    add('endpoint', 'endpoint must not have a query string or fragment');
  } else if (bucket && endpointUrl.hostname.toLowerCase().startsWith(`${bucket}.`)) {
    add(
      'endpoint',
      `endpoint must not include the bucket name; use ${endpointUrl.protocol}//${endpointUrl.host.slice(bucket.length + 1)}`,
    );
  }

  if (bucket === null || bucket === '') {
    add('bucket', 'bucket is required');
  } else if (bucket.length < 3 || bucket.length > 63) {
    add('bucket', 'bucket name must be 3 to 63 characters long');
  } else if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    add(
      'bucket',
      'bucket name may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit',
    );
  } else if (bucket.includes('..')) {
    add('bucket', 'bucket name must not contain two dots in a row');
  } else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) {
    add('bucket', 'bucket name must not look like an IP address');
  } else if (bucket.includes('.') && !config.forcePathStyle && endpointUrl?.protocol === 'https:') {
    add('bucket', 'a bucket name with dots breaks TLS with virtual-hosted URLs; turn on forcePathStyle');
  }

  const region = str(config.region);
  if (region === null || region.trim() === '') add('region', 'region is required, e.g. us-east-1');
  else if (/\s/.test(region)) add('region', 'region must not contain spaces');

  for (const field of ['accessKeyId', 'secretAccessKey'] as const) {
    const value = str(config[field]);
    const label = field === 'accessKeyId' ? 'access key ID' : 'secret access key';
    if (value === null || value === '') add(field, `${label} is required`);
    else if (/\s/.test(value)) add(field, `${label} must not contain spaces or line breaks`);
  }

  const prefix = str(config.prefix);
  if (prefix === null) add('prefix', "prefix must be a string ('' for none)");
  else if (prefix.startsWith('/')) add('prefix', "prefix must not start with '/'");
  else if ([...prefix].some((ch) => ch === '\\' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    add('prefix', 'prefix must not contain control characters or backslashes');
  else if (Buffer.byteLength(prefix) > 512) add('prefix', 'prefix must be at most 512 bytes');

  if (typeof config.forcePathStyle !== 'boolean')
    add('forcePathStyle', 'forcePathStyle must be true or false');

  const publicBaseUrl = str(config.publicBaseUrl);
  if (publicBaseUrl === null) add('publicBaseUrl', "publicBaseUrl must be a string ('' for none)");
  else if (publicBaseUrl !== '') {
    const u = isHttpUrl(publicBaseUrl);
    if (!u) add('publicBaseUrl', "publicBaseUrl must be '' or an http:// or https:// URL");
    else if (u.search || u.hash)
      add('publicBaseUrl', 'publicBaseUrl must not have a query string or fragment');
  }
  return problems;
}

/** The URL an object is reached at, as given in callbacks: under publicBaseUrl when set, else on the endpoint. */
export function objectUrl(config: ObjectStorageConfig, fullKey: string): string {
  if (config.publicBaseUrl) return `${trimTrailingSlashes(config.publicBaseUrl)}/${encodeKey(fullKey)}`;
  const u = new URL(config.endpoint);
  const base = trimTrailingSlashes(u.pathname);
  return config.forcePathStyle
    ? `${u.protocol}//${u.host}${base}/${encodeURIComponent(config.bucket)}/${encodeKey(fullKey)}`
    : `${u.protocol}//${config.bucket}.${u.host}${base}/${encodeKey(fullKey)}`;
}
