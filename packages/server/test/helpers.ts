/** Starts real Parley servers for tests (SQLite in a temp dir, or PostgreSQL in a fresh schema). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sign, type Credential } from '@parley/server-sdk';
import type { FeatureConfigResponse, RevealedKey } from '@parley/protocol';
import { loadConfig, type ParleyConfig } from '../src/config/config.js';
import { startServer, type RunningServer } from '../src/server.js';

export const pgUrl = process.env['PARLEY_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const adminEmail = 'owner@example.com';
export const adminPassword = 'owner-password-1234';

export type DbKind = 'sqlite' | 'postgres';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** Moves the server's clock (for grace periods); starts at real time. */
  advance(ms: number): void;
  stop(): Promise<void>;
}

export async function startTestServer(
  opts: { db?: DbKind; overrides?: Partial<Omit<ParleyConfig, 'configFile'>> } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-test-'));
  const kind = opts.db ?? 'sqlite';
  const pgSchema = kind === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const config = loadConfig({
    env: {},
    overrides: {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      logLevel: 'silent',
      rtcBindAddress: '127.0.0.1',
      adminEmail,
      adminPassword,
      databaseUrl: kind === 'postgres' ? pgUrl : '',
      ...opts.overrides,
    },
  });
  let offset = 0;
  const server = await startServer(config, {
    now: () => Date.now() + offset,
    ...(pgSchema ? { pgSchema } : {}),
  });
  let stopped: Promise<void> | null = null;
  return Object.assign(server, {
    dataDir,
    advance(ms: number) {
      offset += ms;
    },
    stop: () =>
      (stopped ??= (async () => {
        await server.close();
        rmSync(dataDir, { recursive: true, force: true });
        if (pgSchema) await dropSchema(pgSchema);
      })()),
  });
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** A console user's HTTP client: keeps the session cookie and sends the CSRF token. */
export class ApiClient {
  cookie = '';
  csrf = '';
  bearer = '';
  constructor(readonly baseUrl: string) {}

  async request<T = Record<string, unknown>>(
    method: string,
    url: string,
    body?: unknown,
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.cookie) headers['cookie'] = this.cookie;
    if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    if (this.bearer) headers['authorization'] = `Bearer ${this.bearer}`;
    const res = await fetch(this.baseUrl + url, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      redirect: 'manual',
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0] ?? '';
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = Record<string, unknown>>(url: string) {
    return this.request<T>('GET', url);
  }
  /** What authorises a plain fetch (a GET of a file) as this client. */
  authHeaders(): Record<string, string> {
    if (this.bearer) return { authorization: `Bearer ${this.bearer}` };
    return this.cookie ? { cookie: this.cookie } : {};
  }
  post<T = Record<string, unknown>>(url: string, body: unknown = {}) {
    return this.request<T>('POST', url, body);
  }
  put<T = Record<string, unknown>>(url: string, body: unknown) {
    return this.request<T>('PUT', url, body);
  }
  patch<T = Record<string, unknown>>(url: string, body: unknown) {
    return this.request<T>('PATCH', url, body);
  }
  delete<T = Record<string, unknown>>(url: string) {
    return this.request<T>('DELETE', url);
  }

  async login(email: string, password: string): Promise<ApiResponse> {
    const res = await this.post<{ csrfToken: string }>('/api/v1/auth/login', { email, password });
    if (res.status === 200) this.csrf = res.body.csrfToken;
    return res as ApiResponse;
  }
}

export async function ownerClient(server: RunningServer): Promise<ApiClient> {
  const client = new ApiClient(server.url);
  const res = await client.login(adminEmail, adminPassword);
  if (res.status !== 200) throw new Error(`owner login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return client;
}

export const callAppsUrl = (ws = 'default', app = 'default') =>
  `/api/v1/workspaces/${ws}/apps/${app}/call-apps`;

/** Adds a member with a role and returns a client signed in as them. */
export async function memberClient(
  server: RunningServer,
  owner: ApiClient,
  role: string,
  ws = 'default',
): Promise<ApiClient> {
  const email = `${role}-${randomBytes(4).toString('hex')}@example.com`;
  const password = `${role}-password-123`;
  const res = await owner.post(`/api/v1/workspaces/${ws}/members`, { email, role, password });
  if (res.status !== 201) throw new Error(`add member failed: ${res.status} ${JSON.stringify(res.body)}`);
  const client = new ApiClient(server.url);
  const login = await client.login(email, password);
  if (login.status !== 200) throw new Error('member login failed');
  return client;
}

/** Sets the call application's room-status callback URL through the API. */
export async function setRoomCallbackUrl(
  owner: ApiClient,
  bizName: string,
  roomCallbackUrl: string,
): Promise<void> {
  const url = `${callAppsUrl()}/${bizName}/config`;
  const current = (await owner.get<FeatureConfigResponse>(url)).body;
  const saved = await owner.put(url, {
    version: current.version,
    config: { ...current.config, roomCallbackUrl },
  });
  if (saved.status !== 200) throw new Error(`saving the callback URL failed: ${JSON.stringify(saved.body)}`);
}

/** Reveals the call application's key and returns a signer of credentials for it, as a business server would. */
export async function credentialSigner(
  owner: ApiClient,
  bizName: string,
): Promise<(uid: string) => Credential> {
  const key = (
    await owner.post<RevealedKey>(`${callAppsUrl()}/${bizName}/keys/reveal`, { password: adminPassword })
  ).body;
  return (uid: string) =>
    sign({
      bizName,
      appId: 'default',
      workspaceId: 'default',
      uid,
      expireTime: Date.now() + 60_000,
      privateKeyPem: key.privateKeyPem,
    });
}
