/** Table shapes as Kysely sees them. Times are epoch ms; booleans are 0/1 for SQLite and PostgreSQL alike. */
import type { Generated, Kysely } from 'kysely';
import type { Role, KeyStatus } from '@parley/protocol';

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_at: number;
}

export interface WorkspacesTable {
  id: string;
  name: string;
  created_at: number;
}

export interface MembershipsTable {
  workspace_id: string;
  user_id: string;
  role: Role;
  created_at: number;
}

export interface AppsTable {
  workspace_id: string;
  id: string;
  name: string;
  created_at: number;
}

export interface CallAppsTable {
  biz_name: string;
  workspace_id: string;
  app_id: string;
  name: string;
  auto_record: number;
  recording_callback_url: string;
  room_callback_url: string;
  proxy_address: string;
  proxy_egress_ips: string;
  /** recordResult.mediaType: 0 audio+video, 1 audio only, 2 video only. */
  record_media_type: number;
  record_max_mixed_streams: number;
  /** TURN shared secret of the media proxy, sealed by the key vault; '' until first needed. */
  proxy_secret_enc: string;
  proxy_secret_at: number | null;
  config_version: number;
  config_updated_at: number;
  created_at: number;
  updated_at: number;
}

export interface CallAppKeysTable {
  id: string;
  biz_name: string;
  status: KeyStatus;
  public_key_pem: string;
  private_key_enc: string;
  fingerprint: string;
  created_at: number;
  retires_at: number | null;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

export interface ApiTokensTable {
  id: string;
  workspace_id: string;
  user_id: string;
  name: string;
  role: Role;
  token_hash: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  /** The token that created this one (its expiry and role cap this one's); null for console/CLI tokens. */
  parent_token_id: string | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  workspace_id: string;
  actor_user_id: string | null;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  before_json: string | null;
  after_json: string | null;
  created_at: number;
}

export type CallbackKind = 'room' | 'recording';
export type CallbackStatus = 'pending' | 'delivering' | 'succeeded' | 'failed';

/** The durable outbox: one row per event, written before anything is sent. */
export interface CallbackEventsTable {
  id: Generated<number>;
  biz_request_id: string;
  workspace_id: string;
  biz_name: string;
  kind: CallbackKind;
  event_code: number;
  room_id: string;
  uid: string;
  /** Events with the same key are delivered in id order (a room's events; a recording's events). */
  order_key: string;
  url: string;
  payload: string;
  status: CallbackStatus;
  /** Every attempt ever made (numbers the attempt rows). */
  attempts: number;
  /** `attempts` when the current run of retries began (a redelivery starts a new run). */
  retry_base: number;
  next_attempt_at: number;
  lease_until: number | null;
  created_at: number;
  completed_at: number | null;
  last_error: string | null;
}

export interface CallbackAttemptsTable {
  id: Generated<number>;
  event_id: number;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  success: number;
  error: string | null;
  response_excerpt: string | null;
  /** The URL the attempt was sent to ('' before migration 0005: the event's url). */
  url: Generated<string>;
}

export interface CallbackSecretsTable {
  id: string;
  biz_name: string;
  secret_enc: string;
  status: 'active' | 'retiring';
  created_at: number;
  expires_at: number | null;
}

/**
 * Who is in which live room, kept beside the outbox so that after a crash the rooms that were
 * live can be closed with their leave and destroy callbacks. participant_id '' is the room itself.
 */
export interface RoomPresenceTable {
  biz_name: string;
  room_id: string;
  participant_id: string;
  uid: string;
  app_id: string;
  workspace_id: string;
  since: number;
}

export type RecordingRowStatus = 'recording' | 'finishing' | 'done' | 'failed';

export interface RecordingsTable {
  record_id: string;
  workspace_id: string;
  app_id: string;
  biz_name: string;
  room_id: string;
  trigger: 'auto' | 'api';
  status: RecordingRowStatus;
  media_type: number;
  started_at: number;
  record_start_time: number | null;
  ended_at: number | null;
  duration_ms: number | null;
  size_bytes: number | null;
  storage: 'local' | 's3' | null;
  file_type: number | null;
  file_path: string | null;
  /** The file on this server's disk (kept after a failed upload), or null once gone. */
  local_path: string | null;
  object_key: string | null;
  failure_code: number | null;
  failure_message: string | null;
  updated_at: number;
}

export interface Database {
  recordings: RecordingsTable;
  room_presence: RoomPresenceTable;
  callback_events: CallbackEventsTable;
  callback_attempts: CallbackAttemptsTable;
  callback_secrets: CallbackSecretsTable;
  users: UsersTable;
  workspaces: WorkspacesTable;
  memberships: MembershipsTable;
  apps: AppsTable;
  call_apps: CallAppsTable;
  call_app_keys: CallAppKeysTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
}

export type Db = Kysely<Database>;
