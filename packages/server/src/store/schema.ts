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

export interface Database {
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
