/**
 * The console's REST client for /api/v1. Session cookie auth: every non-GET request carries
 * the CSRF token from the login response (or GET /auth/session) as X-CSRF-Token.
 */
import { isErrorCode } from '@parley/protocol';
import type {
  ApiErrorBody,
  ApiToken,
  App,
  AuditList,
  AuditQuery,
  CallApp,
  CallAppList,
  CallbackDelivery,
  CallbackDeliveryList,
  CallbackDeliveryQuery,
  CallbackSecret,
  ChangePasswordRequest,
  ChangePasswordResult,
  CreatedToken,
  CreateTokenRequest,
  AddMemberRequest,
  Credential,
  ErrorCode,
  FeatureConfig,
  FeatureConfigResponse,
  KeyInfo,
  LiveRoom,
  Member,
  ProxySecret,
  ProxyTestResult,
  Recording,
  RecordingList,
  RecordingListQuery,
  RevealedKey,
  RevokeSessionsRequest,
  RevokeSessionsResult,
  Role,
  Session,
  TestCallbackResult,
  WorkspaceSummary,
} from '@parley/protocol';

const base = '/api/v1';

/** An error answer of the API, or `NETWORK` when the server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | 'NETWORK';
  readonly field: string | undefined;
  readonly reason: string | undefined;
  /** Seconds, from the Retry-After header of a 429. */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: ErrorCode | 'NETWORK',
    message: string,
    extra: { field?: string | undefined; reason?: string | undefined; retryAfter?: number | undefined } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.reason = extra.reason;
    this.retryAfter = extra.retryAfter;
  }
}

export function isApiError(error: unknown, code?: ErrorCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

let csrfToken: string | null = null;
let unauthenticatedHandler: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when an API call answers 401 UNAUTHENTICATED (the session expired or was revoked). */
export function onUnauthenticated(handler: (() => void) | null): void {
  unauthenticatedHandler = handler;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: Partial<ApiErrorBody> | null = null;
  try {
    body = (await response.json()) as Partial<ApiErrorBody>;
  } catch {
    body = null;
  }
  const retryHeader = response.headers.get('Retry-After');
  const retryAfter = retryHeader !== null && /^\d+$/.test(retryHeader) ? Number(retryHeader) : undefined;
  const code: ErrorCode = isErrorCode(body?.code)
    ? body.code
    : response.status === 401
      ? 'UNAUTHENTICATED'
      : response.status === 403
        ? 'FORBIDDEN'
        : response.status === 404
          ? 'ROUTE_NOT_FOUND'
          : response.status === 503
            ? 'NOT_READY'
            : response.status >= 500
              ? 'INTERNAL'
              : 'BAD_REQUEST';
  return new ApiError(response.status, code, body?.message ?? response.statusText, {
    field: typeof body?.field === 'string' ? body.field : undefined,
    reason: typeof body?.reason === 'string' ? body.reason : undefined,
    retryAfter,
  });
}

async function send(method: Method, url: string, body: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['X-CSRF-Token'] = csrfToken;
  try {
    return await fetch(base + url, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', error instanceof Error ? error.message : 'network error');
  }
}

async function request<T>(method: Method, url: string, body?: unknown): Promise<T> {
  let response = await send(method, url, body);
  if (!response.ok) {
    let error = await toApiError(response);
    // A stale CSRF token (e.g. the server restarted): fetch the current one and try once more.
    if (error.code === 'CSRF_TOKEN_INVALID' && method !== 'GET') {
      const session = await send('GET', '/auth/session', undefined);
      if (session.ok) {
        setCsrfToken(((await session.json()) as Session).csrfToken);
        response = await send(method, url, body);
        if (response.ok) return parse<T>(response);
        error = await toApiError(response);
      }
    }
    if (error.code === 'UNAUTHENTICATED' && !url.startsWith('/auth/')) unauthenticatedHandler?.();
    throw error;
  }
  return parse<T>(response);
}

async function parse<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

const enc = encodeURIComponent;
const ws = (workspaceId: string): string => `/workspaces/${enc(workspaceId)}`;
const app = (workspaceId: string, appId: string): string => `${ws(workspaceId)}/apps/${enc(appId)}`;
const callApp = (workspaceId: string, appId: string, bizName: string): string =>
  `${app(workspaceId, appId)}/call-apps/${enc(bizName)}`;

export interface Items<T> {
  items: T[];
}

export const api = {
  // auth
  login: (email: string, password: string) => request<Session>('POST', '/auth/login', { email, password }),
  logout: () => request<void>('POST', '/auth/logout'),
  session: () => request<Session>('GET', '/auth/session'),
  /** 403 REAUTH_FAILED (field currentPassword) or 400 (field newPassword); signs out the other sessions. */
  changePassword: (body: ChangePasswordRequest) =>
    request<ChangePasswordResult>('POST', '/auth/password', body),
  /** Ends every session of the user, this one included; with revokeTokens also their API tokens. */
  signOutEverywhere: (body: RevokeSessionsRequest) =>
    request<RevokeSessionsResult>('POST', '/auth/sessions/revoke-all', body),

  // workspaces and apps
  listWorkspaces: () => request<Items<WorkspaceSummary>>('GET', '/workspaces'),
  createWorkspace: (body: { workspaceId?: string; name: string }) =>
    request<WorkspaceSummary>('POST', '/workspaces', body),
  listApps: (workspaceId: string) => request<Items<App>>('GET', `${ws(workspaceId)}/apps`),
  createApp: (workspaceId: string, body: { appId?: string; name: string }) =>
    request<App>('POST', `${ws(workspaceId)}/apps`, body),
  renameApp: (workspaceId: string, appId: string, name: string) =>
    request<App>('PATCH', app(workspaceId, appId), { name }),
  deleteApp: (workspaceId: string, appId: string) => request<void>('DELETE', app(workspaceId, appId)),

  // call applications
  listCallApps: (
    workspaceId: string,
    appId: string,
    query: { search?: string; page: number; pageSize: number },
  ) => request<CallAppList>('GET', withQuery(`${app(workspaceId, appId)}/call-apps`, query)),
  createCallApp: (workspaceId: string, appId: string, name: string) =>
    request<CallApp>('POST', `${app(workspaceId, appId)}/call-apps`, { name }),
  getCallApp: (workspaceId: string, appId: string, bizName: string) =>
    request<CallApp>('GET', callApp(workspaceId, appId, bizName)),
  renameCallApp: (workspaceId: string, appId: string, bizName: string, name: string) =>
    request<CallApp>('PATCH', callApp(workspaceId, appId, bizName), { name }),
  deleteCallApp: (workspaceId: string, appId: string, bizName: string) =>
    request<void>('DELETE', callApp(workspaceId, appId, bizName)),

  // feature configuration
  getConfig: (workspaceId: string, appId: string, bizName: string) =>
    request<FeatureConfigResponse>('GET', `${callApp(workspaceId, appId, bizName)}/config`),
  saveConfig: (workspaceId: string, appId: string, bizName: string, config: FeatureConfig, version: number) =>
    request<FeatureConfigResponse>('PUT', `${callApp(workspaceId, appId, bizName)}/config`, {
      config,
      version,
    }),

  // keys
  listKeys: (workspaceId: string, appId: string, bizName: string) =>
    request<Items<KeyInfo>>('GET', `${callApp(workspaceId, appId, bizName)}/keys`),
  revealKey: (workspaceId: string, appId: string, bizName: string, password: string) =>
    request<RevealedKey>('POST', `${callApp(workspaceId, appId, bizName)}/keys/reveal`, { password }),
  rotateKey: (workspaceId: string, appId: string, bizName: string, graceHours?: number) =>
    request<Items<KeyInfo>>(
      'POST',
      `${callApp(workspaceId, appId, bizName)}/keys/rotate`,
      graceHours === undefined ? {} : { graceHours },
    ),
  retireKey: (workspaceId: string, appId: string, bizName: string, keyId: string) =>
    request<Items<KeyInfo>>('POST', `${callApp(workspaceId, appId, bizName)}/keys/${enc(keyId)}/retire`),

  // live rooms
  listRooms: (workspaceId: string, appId: string, bizName: string) =>
    request<Items<LiveRoom>>('GET', `${callApp(workspaceId, appId, bizName)}/rooms`),
  createRoom: (workspaceId: string, appId: string, bizName: string) =>
    request<LiveRoom>('POST', `${callApp(workspaceId, appId, bizName)}/rooms`),
  closeRoom: (workspaceId: string, appId: string, bizName: string, roomId: string) =>
    request<void>('DELETE', `${callApp(workspaceId, appId, bizName)}/rooms/${enc(roomId)}`),
  removeParticipant: (
    workspaceId: string,
    appId: string,
    bizName: string,
    roomId: string,
    participantId: string,
  ) =>
    request<void>(
      'DELETE',
      `${callApp(workspaceId, appId, bizName)}/rooms/${enc(roomId)}/participants/${enc(participantId)}`,
    ),
  /** A one-hour credential for the signed-in user, to try a call from the console. */
  tryCredential: (workspaceId: string, appId: string, bizName: string) =>
    request<Credential>('POST', `${callApp(workspaceId, appId, bizName)}/try-credential`, {}),

  // callbacks: delivery log, redelivery, test callbacks, signing secrets
  listCallbacks: (workspaceId: string, appId: string, bizName: string, query: CallbackDeliveryQuery) =>
    request<CallbackDeliveryList>(
      'GET',
      withQuery(`${callApp(workspaceId, appId, bizName)}/callbacks`, { ...query }),
    ),
  redeliverCallback: (workspaceId: string, appId: string, bizName: string, eventId: number) =>
    request<CallbackDelivery>(
      'POST',
      `${callApp(workspaceId, appId, bizName)}/callbacks/${enc(String(eventId))}/redeliver`,
      {},
    ),
  /** Sends a sample event to the saved URL of that kind now; 409 CALLBACK_URL_NOT_SET when it is empty. */
  testCallback: (workspaceId: string, appId: string, bizName: string, kind: 'room' | 'recording') =>
    request<TestCallbackResult>('POST', `${callApp(workspaceId, appId, bizName)}/callbacks/test`, { kind }),
  listCallbackSecrets: (workspaceId: string, appId: string, bizName: string) =>
    request<Items<CallbackSecret>>('GET', `${callApp(workspaceId, appId, bizName)}/callback-secrets`),
  /** Creates the secret of a call application that has none (one made before secrets came with it). */
  createCallbackSecret: (workspaceId: string, appId: string, bizName: string) =>
    request<Items<CallbackSecret>>('POST', `${callApp(workspaceId, appId, bizName)}/callback-secrets`, {}),
  rotateCallbackSecret: (workspaceId: string, appId: string, bizName: string) =>
    request<Items<CallbackSecret>>(
      'POST',
      `${callApp(workspaceId, appId, bizName)}/callback-secrets/rotate`,
      {},
    ),

  // media-stream proxy: its TURN shared secret and "Test proxy"
  /** The TURN shared secret (the proxy's static-auth-secret), made on first read; each read is audited. */
  getProxySecret: (workspaceId: string, appId: string, bizName: string) =>
    request<ProxySecret>('GET', `${callApp(workspaceId, appId, bizName)}/proxy-secret`),
  /** A new secret, used at once for the credentials terminals get: the proxy must be updated too. */
  rotateProxySecret: (workspaceId: string, appId: string, bizName: string) =>
    request<ProxySecret>('POST', `${callApp(workspaceId, appId, bizName)}/proxy-secret/rotate`, {}),
  /**
   * A TURN allocation on `proxyAddress` (unsaved), or on the saved address when it is left out.
   * 200 whether or not the proxy works; 409 PROXY_NOT_SET without any address; 400 (field
   * proxyAddress) for an invalid one.
   */
  testProxy: (workspaceId: string, appId: string, bizName: string, proxyAddress?: string) =>
    request<ProxyTestResult>(
      'POST',
      `${callApp(workspaceId, appId, bizName)}/proxy/test`,
      proxyAddress === undefined ? {} : { proxyAddress },
    ),

  // recordings (cloud recording files of a call application)
  listRecordings: (workspaceId: string, appId: string, bizName: string, query: RecordingListQuery) =>
    request<RecordingList>(
      'GET',
      withQuery(`${callApp(workspaceId, appId, bizName)}/recordings`, { ...query }),
    ),
  getRecording: (workspaceId: string, appId: string, bizName: string, recordId: string) =>
    request<Recording>('GET', `${callApp(workspaceId, appId, bizName)}/recordings/${enc(recordId)}`),
  /** 409 RECORDING_ACTIVE while it is recording or finishing. */
  deleteRecording: (workspaceId: string, appId: string, bizName: string, recordId: string) =>
    request<void>('DELETE', `${callApp(workspaceId, appId, bizName)}/recordings/${enc(recordId)}`),
  /** Starts recording a live room; 409 RECORDING_ACTIVE when it is already recorded. */
  startRecording: (workspaceId: string, appId: string, bizName: string, roomId: string) =>
    request<Recording>('POST', `${callApp(workspaceId, appId, bizName)}/rooms/${enc(roomId)}/recording`, {}),
  /** Stops the room's recording (the file follows); 409 RECORDING_NOT_ACTIVE when there is none. */
  stopRecording: (workspaceId: string, appId: string, bizName: string, roomId: string) =>
    request<Recording>('DELETE', `${callApp(workspaceId, appId, bizName)}/rooms/${enc(roomId)}/recording`),

  // members
  listMembers: (workspaceId: string) => request<Items<Member>>('GET', `${ws(workspaceId)}/members`),
  addMember: (workspaceId: string, body: AddMemberRequest) =>
    request<Member>('POST', `${ws(workspaceId)}/members`, body),
  changeRole: (workspaceId: string, userId: string, role: Role) =>
    request<Member>('PATCH', `${ws(workspaceId)}/members/${enc(userId)}`, { role }),
  removeMember: (workspaceId: string, userId: string) =>
    request<void>('DELETE', `${ws(workspaceId)}/members/${enc(userId)}`),

  // API tokens
  listTokens: (workspaceId: string) => request<Items<ApiToken>>('GET', `${ws(workspaceId)}/tokens`),
  createToken: (workspaceId: string, body: CreateTokenRequest) =>
    request<CreatedToken>('POST', `${ws(workspaceId)}/tokens`, body),
  revokeToken: (workspaceId: string, tokenId: string) =>
    request<void>('DELETE', `${ws(workspaceId)}/tokens/${enc(tokenId)}`),

  // audit log
  listAudit: (workspaceId: string, query: AuditQuery) =>
    request<AuditList>('GET', withQuery(`${ws(workspaceId)}/audit`, { ...query })),
};

/** Links served by the Parley server outside the SPA. */
export const links = {
  apiDocs: '/api/v1/docs',
  signingDocs: '/docs/signing',
  /** Callback payloads, retries and verifying their signatures. */
  callbackDocs: '/docs/callbacks',
  /** Setting up the media-stream proxy (coturn), its firewall and egress IPs. */
  proxyDocs: '/docs/media-proxy',
  /** The call page of the browser SDK (packages/client). */
  callPage: '/call/',
  /** A recording's file (`Recording.fileUrl`, same origin: the session cookie authorises it) as an attachment. */
  recordingDownload: (fileUrl: string): string =>
    `${fileUrl}${fileUrl.includes('?') ? '&' : '?'}download=true`,
};
