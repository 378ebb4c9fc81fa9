/**
 * REST API v1 wire types. These schemas drive request validation and the OpenAPI
 * document on the server, and give the console and SDK their types.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { limits } from './validation.js';

/** Request bodies refuse unknown properties, so a misspelt field is an error, not a silent no-op. */
const strict = { additionalProperties: false } as const;

/** A page of a list: the items and where they sit in the whole. */
function pagedList<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Number(),
    page: Type.Number(),
    pageSize: Type.Number(),
  });
}

/**
 * `page` and `pageSize` query parameters, both bounded: the offset they make must stay an exact
 * integer every database takes (an unbounded `page` overflowed it into a 500).
 */
function paging(defaultPageSize: number) {
  return {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.pageMax, default: 1 })),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: limits.pageSizeMax, default: defaultPageSize }),
    ),
  };
}

/** An epoch-ms time in a query: up to the largest date JavaScript has (year 275760). */
const epochMs = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, description });

const CallbackKindSchema = Type.Union([Type.Literal('room'), Type.Literal('recording')]);
const CallbackStatusSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('delivering'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);

export const roles = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof roles)[number];
export const RoleSchema = Type.Union([
  Type.Literal('owner'),
  Type.Literal('admin'),
  Type.Literal('developer'),
  Type.Literal('viewer'),
]);

/** What each role may do. Higher roles include everything of the lower ones. */
export const roleRank: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };
export function roleAtLeast(role: Role, needed: Role): boolean {
  return roleRank[role] >= roleRank[needed];
}

export const ErrorBodySchema = Type.Object(
  {
    code: Type.String({ description: 'Stable error code, see docs/errors.md' }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The request field the error is about' })),
    reason: Type.Optional(Type.String({ description: 'Machine-readable reason for a field error' })),
  },
  { $id: 'Error' },
);

export const LoginRequestSchema = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  strict,
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

/** Shortest password a console user may choose. */
export const passwordMinLength = 12;

export const ChangePasswordRequestSchema = Type.Object(
  {
    currentPassword: Type.String({ maxLength: 1024 }),
    newPassword: Type.String({ maxLength: 1024, description: `at least ${passwordMinLength} characters` }),
  },
  strict,
);
export type ChangePasswordRequest = Static<typeof ChangePasswordRequestSchema>;

export const ChangePasswordResultSchema = Type.Object({
  sessionsEnded: Type.Integer({ description: "The user's other console sessions, now signed out" }),
});
export type ChangePasswordResult = Static<typeof ChangePasswordResultSchema>;

export const RevokeSessionsRequestSchema = Type.Object(
  {
    revokeTokens: Type.Optional(
      Type.Boolean({
        description: 'Also revoke every API token of the user, in every workspace (default false)',
      }),
    ),
  },
  strict,
);
export type RevokeSessionsRequest = Static<typeof RevokeSessionsRequestSchema>;

export const RevokeSessionsResultSchema = Type.Object({
  sessionsEnded: Type.Integer(),
  tokensRevoked: Type.Integer(),
});
export type RevokeSessionsResult = Static<typeof RevokeSessionsResultSchema>;

export const UserSchema = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  name: Type.String(),
  createdAt: Type.Number({ description: 'epoch ms' }),
});
export type User = Static<typeof UserSchema>;

export const WorkspaceSummarySchema = Type.Object({
  workspaceId: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  createdAt: Type.Number(),
});
export type WorkspaceSummary = Static<typeof WorkspaceSummarySchema>;

export const SessionSchema = Type.Object({
  user: UserSchema,
  csrfToken: Type.String({ description: 'Send as the X-CSRF-Token header on every non-GET request' }),
  workspaces: Type.Array(WorkspaceSummarySchema),
});
export type Session = Static<typeof SessionSchema>;

export const CreateWorkspaceRequestSchema = Type.Object(
  {
    workspaceId: Type.Optional(Type.String({ maxLength: 64, description: 'Generated when omitted' })),
    name: Type.String({ maxLength: limits.nameMaxLength }),
  },
  strict,
);
export type CreateWorkspaceRequest = Static<typeof CreateWorkspaceRequestSchema>;

export const AppSchema = Type.Object({
  appId: Type.String(),
  workspaceId: Type.String(),
  name: Type.String(),
  createdAt: Type.Number(),
  callAppCount: Type.Number(),
});
export type App = Static<typeof AppSchema>;

export const CreateAppRequestSchema = Type.Object(
  {
    appId: Type.Optional(
      Type.String({ maxLength: 64, description: 'Keep your mPaaS appId here; generated when omitted' }),
    ),
    name: Type.String({ maxLength: limits.nameMaxLength }),
  },
  strict,
);
export type CreateAppRequest = Static<typeof CreateAppRequestSchema>;

export const RenameRequestSchema = Type.Object(
  { name: Type.String({ maxLength: limits.nameMaxLength }) },
  strict,
);
export type RenameRequest = Static<typeof RenameRequestSchema>;

export const KeyStatusSchema = Type.Union([
  Type.Literal('active'),
  Type.Literal('retiring'),
  Type.Literal('retired'),
]);
export type KeyStatus = Static<typeof KeyStatusSchema>;

export const KeyInfoSchema = Type.Object({
  keyId: Type.String(),
  status: KeyStatusSchema,
  fingerprint: Type.String({ description: 'SHA-256 of the public key (DER), hex' }),
  masked: Type.String({ description: 'Display form of the key that reveals nothing' }),
  createdAt: Type.Number(),
  retiresAt: Type.Union([Type.Number(), Type.Null()], {
    description: 'When a retiring key stops verifying (epoch ms)',
  }),
});
export type KeyInfo = Static<typeof KeyInfoSchema>;

/** recordResult.mediaType of the contract: 0 audio+video, 1 audio only, 2 video only. */
export const RecordingMediaTypeSchema = Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], {
  description: '0 audio+video (one mixed MP4), 1 audio only, 2 video only',
});
export type RecordingMediaType = Static<typeof RecordingMediaTypeSchema>;

export const FeatureConfigSchema = Type.Object(
  {
    autoRecord: Type.Boolean({ description: 'Cloud auto-recording; default off' }),
    recordMediaType: Type.Optional(RecordingMediaTypeSchema),
    recordMaxMixedStreams: Type.Optional(
      Type.Integer({
        description: 'Most video tiles in the mixed file (1-16); default 9. Omitted on save: unchanged',
      }),
    ),
    recordingCallbackUrl: Type.String({ description: 'http(s) URL or empty' }),
    roomCallbackUrl: Type.String({ description: 'http(s) URL or empty' }),
    proxyAddress: Type.String({ description: 'host or host:port of the media proxy, or empty' }),
    proxyEgressIps: Type.String({ description: 'IPv4/IPv6 addresses separated by ";", or empty' }),
  },
  strict,
);
export type FeatureConfig = Static<typeof FeatureConfigSchema>;

export const CallAppSchema = Type.Object({
  bizName: Type.String(),
  name: Type.String(),
  appId: Type.String(),
  workspaceId: Type.String(),
  autoRecord: Type.Boolean(),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
  key: KeyInfoSchema,
});
export type CallApp = Static<typeof CallAppSchema>;

export const CallAppListSchema = pagedList(CallAppSchema);
export type CallAppList = Static<typeof CallAppListSchema>;

export const ListCallAppsQuerySchema = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 200, description: 'Matches name or bizName' })),
  ...paging(20),
});
export type ListCallAppsQuery = Static<typeof ListCallAppsQuerySchema>;

export const CreateCallAppRequestSchema = Type.Object(
  { name: Type.String({ maxLength: limits.nameMaxLength }) },
  strict,
);
export type CreateCallAppRequest = Static<typeof CreateCallAppRequestSchema>;

export const FeatureConfigResponseSchema = Type.Object({
  config: FeatureConfigSchema,
  version: Type.Integer({ description: 'Send back on save; a save against an older version is refused' }),
  updatedAt: Type.Number(),
});
export type FeatureConfigResponse = Static<typeof FeatureConfigResponseSchema>;

export const SaveFeatureConfigRequestSchema = Type.Object(
  {
    config: FeatureConfigSchema,
    version: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type SaveFeatureConfigRequest = Static<typeof SaveFeatureConfigRequestSchema>;

export const RevealKeyRequestSchema = Type.Object(
  {
    password: Type.Optional(
      Type.String({ maxLength: 1024, description: 'Required for console sessions; API tokens omit it' }),
    ),
  },
  strict,
);
export type RevealKeyRequest = Static<typeof RevealKeyRequestSchema>;

export const RevealedKeySchema = Type.Object({
  keyId: Type.String(),
  privateKeyPem: Type.String({ description: 'PKCS#8 PEM: the key customers sign credentials with' }),
  publicKeyPem: Type.String(),
});
export type RevealedKey = Static<typeof RevealedKeySchema>;

export const RotateKeyRequestSchema = Type.Object(
  {
    graceHours: Type.Optional(
      Type.Number({ minimum: 0, maximum: 24 * 30, description: 'How long the old key keeps verifying' }),
    ),
  },
  strict,
);
export type RotateKeyRequest = Static<typeof RotateKeyRequestSchema>;

export const KeyListSchema = Type.Object({ items: Type.Array(KeyInfoSchema) });

export const MemberSchema = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  addedAt: Type.Number(),
});
export type Member = Static<typeof MemberSchema>;

export const AddMemberRequestSchema = Type.Object(
  {
    email: Type.String({ maxLength: 254 }),
    role: RoleSchema,
    name: Type.Optional(Type.String({ maxLength: limits.nameMaxLength })),
    password: Type.Optional(
      Type.String({ minLength: 12, maxLength: 1024, description: 'Initial password when the user is new' }),
    ),
  },
  strict,
);
export type AddMemberRequest = Static<typeof AddMemberRequestSchema>;

export const ChangeRoleRequestSchema = Type.Object({ role: RoleSchema }, strict);

export const ApiTokenSchema = Type.Object({
  tokenId: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  prefix: Type.String({ description: 'First characters of the token, to recognise it' }),
  createdBy: Type.String(),
  createdAt: Type.Number(),
  lastUsedAt: Type.Union([Type.Number(), Type.Null()]),
  expiresAt: Type.Union([Type.Number(), Type.Null()]),
  parentTokenId: Type.Union([Type.String(), Type.Null()], {
    description:
      'The token that created this one (null when made in the console or CLI); revoking it revokes this one',
  }),
});
export type ApiToken = Static<typeof ApiTokenSchema>;

export const CreateTokenRequestSchema = Type.Object(
  {
    name: Type.String({ maxLength: limits.nameMaxLength }),
    role: Type.Optional(RoleSchema),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  strict,
);
export type CreateTokenRequest = Static<typeof CreateTokenRequestSchema>;

export const CreatedTokenSchema = Type.Object({
  token: ApiTokenSchema,
  secret: Type.String({ description: 'Shown once: send as Authorization: Bearer <secret>' }),
});
export type CreatedToken = Static<typeof CreatedTokenSchema>;

export const AuditEntrySchema = Type.Object({
  id: Type.Number(),
  time: Type.Number(),
  actor: Type.String({ description: 'email of the user, or token:<name>' }),
  action: Type.String(),
  targetType: Type.String(),
  targetId: Type.String(),
  before: Type.Union([Type.Unknown(), Type.Null()]),
  after: Type.Union([Type.Unknown(), Type.Null()]),
});
export type AuditEntry = Static<typeof AuditEntrySchema>;

export const AuditQuerySchema = Type.Object({
  action: Type.Optional(Type.String({ maxLength: 100 })),
  actor: Type.Optional(Type.String({ maxLength: 254 })),
  targetId: Type.Optional(Type.String({ maxLength: 200 })),
  from: Type.Optional(epochMs('epoch ms, inclusive')),
  to: Type.Optional(epochMs('epoch ms, exclusive')),
  ...paging(50),
});
export type AuditQuery = Static<typeof AuditQuerySchema>;

export const AuditListSchema = pagedList(AuditEntrySchema);
export type AuditList = Static<typeof AuditListSchema>;

/** Audit actions; stable strings that filters and exports depend on. */
export const auditActions = [
  'app.create',
  'app.rename',
  'app.delete',
  'callApp.create',
  'callApp.rename',
  'callApp.delete',
  'callApp.config.save',
  'callApp.key.reveal',
  'callApp.key.rotate',
  'callApp.key.retire',
  'member.add',
  'member.role',
  'member.remove',
  'token.create',
  'token.revoke',
  'workspace.create',
  'room.create',
  'room.close',
  'room.removeParticipant',
  'callback.redeliver',
  'callback.secret.rotate',
  'callback.secret.create',
  'callback.secret.read',
  'callback.retryNow',
  'recording.start',
  'recording.stop',
  'recording.delete',
  'proxy.secret.reveal',
  'proxy.secret.rotate',
  'user.password.change',
  'user.sessions.revoke',
] as const;
export type AuditAction = (typeof auditActions)[number];

/** A terminal's credential, as the customer's business server signs it. */
export const CredentialSchema = Type.Object(
  {
    bizName: Type.String(),
    appId: Type.String(),
    workspaceId: Type.String(),
    uid: Type.String({ description: 'letters, digits and _; 1 to 128 characters' }),
    expireTime: Type.Union([Type.Integer(), Type.String()], {
      description:
        'epoch milliseconds, exactly 13 digits (a number or a decimal string), at most maxCredentialLifetimeHours ahead',
    }),
    signature: Type.String({
      description: 'base64 SHA256withRSA of bizName+appId+workspaceId+uid+expireTime',
    }),
  },
  { $id: 'Credential' },
);
export type Credential = Static<typeof CredentialSchema>;

export const VerifiedCredentialSchema = Type.Object({
  valid: Type.Literal(true),
  bizName: Type.String(),
  appId: Type.String(),
  workspaceId: Type.String(),
  uid: Type.String(),
  expireTime: Type.Number(),
  keyId: Type.String({ description: 'The key that verified the signature' }),
});

export const LiveParticipantSchema = Type.Object({
  participantId: Type.String(),
  uid: Type.String(),
  joinedAt: Type.Number(),
  durationMs: Type.Number(),
  tracks: Type.Array(Type.Object({ kind: Type.String(), muted: Type.Boolean() })),
});

export const LiveRoomSchema = Type.Object({
  roomId: Type.String(),
  bizName: Type.String(),
  createdAt: Type.Number(),
  durationMs: Type.Number(),
  participants: Type.Array(LiveParticipantSchema),
});
export type LiveRoom = Static<typeof LiveRoomSchema>;

export const LiveRoomListSchema = Type.Object({ items: Type.Array(LiveRoomSchema) });

export const CallbackAttemptSchema = Type.Object({
  attempt: Type.Integer(),
  startedAt: Type.Number(),
  durationMs: Type.Number(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  success: Type.Boolean(),
  error: Type.Union([Type.String(), Type.Null()]),
  responseExcerpt: Type.Union([Type.String(), Type.Null()], {
    description: 'First 1 KiB of the response body',
  }),
  url: Type.String({
    description: "The URL this attempt was sent to (the call application's URL at the time)",
  }),
});

export const CallbackDeliverySchema = Type.Object({
  eventId: Type.Integer(),
  bizRequestId: Type.String(),
  kind: CallbackKindSchema,
  eventCode: Type.Integer(),
  roomId: Type.String(),
  uid: Type.String(),
  url: Type.String(),
  status: CallbackStatusSchema,
  attempts: Type.Integer(),
  createdAt: Type.Number(),
  completedAt: Type.Union([Type.Number(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.Number(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Unknown({ description: 'The exact JSON body sent' }),
  attemptLog: Type.Array(CallbackAttemptSchema),
});
export type CallbackDelivery = Static<typeof CallbackDeliverySchema>;

export const CallbackDeliveryListSchema = pagedList(CallbackDeliverySchema);
export type CallbackDeliveryList = Static<typeof CallbackDeliveryListSchema>;

export const CallbackDeliveryQuerySchema = Type.Object({
  status: Type.Optional(CallbackStatusSchema),
  kind: Type.Optional(CallbackKindSchema),
  eventCode: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  roomId: Type.Optional(Type.String({ maxLength: 128 })),
  uid: Type.Optional(Type.String({ maxLength: 128 })),
  ...paging(50),
});
export type CallbackDeliveryQuery = Static<typeof CallbackDeliveryQuerySchema>;

/** Which waiting event to make due now: one event, or the waiting event of a room or order key. */
export const RetryNowRequestSchema = Type.Object(
  {
    eventId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    roomId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    orderKey: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
  },
  strict,
);
export type RetryNowRequest = Static<typeof RetryNowRequestSchema>;

export const TestCallbackRequestSchema = Type.Object({ kind: CallbackKindSchema }, strict);

export const TestCallbackResultSchema = Type.Object({
  url: Type.String(),
  payload: Type.Unknown(),
  success: Type.Boolean(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  responseExcerpt: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Number(),
});
export type TestCallbackResult = Static<typeof TestCallbackResultSchema>;

export const CallbackSecretSchema = Type.Object({
  secretId: Type.String(),
  secret: Type.String({ description: 'whsec_...: verify webhook-signature with it' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('retiring')]),
  createdAt: Type.Number(),
  expiresAt: Type.Union([Type.Number(), Type.Null()]),
});
export type CallbackSecret = Static<typeof CallbackSecretSchema>;
export const CallbackSecretListSchema = Type.Object({ items: Type.Array(CallbackSecretSchema) });

export const RecordingStatusSchema = Type.Union(
  [Type.Literal('recording'), Type.Literal('finishing'), Type.Literal('done'), Type.Literal('failed')],
  { description: 'recording → finishing (composing, storing) → done (file saved) or failed' },
);
export type RecordingStatus = Static<typeof RecordingStatusSchema>;

export const RecordingSchema = Type.Object({
  recordId: Type.String(),
  bizName: Type.String(),
  roomId: Type.String(),
  status: RecordingStatusSchema,
  trigger: Type.Union([Type.Literal('auto'), Type.Literal('api')], {
    description: 'auto: auto-recording of the call app; api: started by an operator',
  }),
  mediaType: RecordingMediaTypeSchema,
  startedAt: Type.Number({ description: 'When the recording was initialised (epoch ms)' }),
  recordStartTime: Type.Union([Type.Number(), Type.Null()], {
    description: 'Server time of the first recorded frame (epoch ms)',
  }),
  endedAt: Type.Union([Type.Number(), Type.Null()]),
  durationMs: Type.Union([Type.Number(), Type.Null()], { description: 'Length of the file' }),
  sizeBytes: Type.Union([Type.Number(), Type.Null()]),
  storage: Type.Union([Type.Literal('local'), Type.Literal('s3'), Type.Null()]),
  fileType: Type.Union([Type.Literal(1), Type.Literal(2), Type.Null()], {
    description: 'recordResult.fileType: 1 local, 2 object storage',
  }),
  filePath: Type.Union([Type.String(), Type.Null()], { description: 'recordResult.filePath' }),
  failureCode: Type.Union([Type.Integer(), Type.Null()], {
    description: 'The contract failure code (1000xx-1002xx) when one was raised',
  }),
  failureMessage: Type.Union([Type.String(), Type.Null()]),
  fileUrl: Type.Union([Type.String(), Type.Null()], {
    description: 'API path serving the file (Range requests; ?download=1 for an attachment)',
  }),
});
export type Recording = Static<typeof RecordingSchema>;

export const RecordingListSchema = pagedList(RecordingSchema);
export type RecordingList = Static<typeof RecordingListSchema>;

export const RecordingListQuerySchema = Type.Object({
  status: Type.Optional(RecordingStatusSchema),
  roomId: Type.Optional(Type.String({ maxLength: 128 })),
  ...paging(20),
});
export type RecordingListQuery = Static<typeof RecordingListQuerySchema>;

export const ProxySecretSchema = Type.Object({
  secret: Type.String({
    description: "TURN shared secret: the proxy's static-auth-secret (coturn use-auth-secret)",
  }),
  createdAt: Type.Number(),
});
export type ProxySecret = Static<typeof ProxySecretSchema>;

export const ProxyTestRequestSchema = Type.Object(
  {
    proxyAddress: Type.Optional(
      Type.String({ maxLength: 300, description: 'Test this address instead of the saved one' }),
    ),
  },
  strict,
);
export type ProxyTestRequest = Static<typeof ProxyTestRequestSchema>;

export const ProxyTestStageSchema = Type.Union(
  [
    Type.Literal('ok'),
    Type.Literal('dns'),
    Type.Literal('refused'),
    Type.Literal('timeout'),
    Type.Literal('credentials'),
    Type.Literal('protocol'),
  ],
  {
    description: 'ok, or what failed: name resolution, connection refused, no answer, credentials, not TURN',
  },
);

export const ProxyTestResultSchema = Type.Object({
  ok: Type.Boolean(),
  stage: ProxyTestStageSchema,
  address: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  resolvedAddress: Type.Union([Type.String(), Type.Null()]),
  relayedAddress: Type.Union([Type.String(), Type.Null()], {
    description: 'ip:port the proxy allocated for the test (TURN Allocate succeeded)',
  }),
  message: Type.String(),
  durationMs: Type.Number(),
});
export type ProxyTestResult = Static<typeof ProxyTestResultSchema>;
