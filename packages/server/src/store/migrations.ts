/**
 * The one set of migrations, applied on start for SQLite and PostgreSQL alike. Append new
 * migrations; never edit one that has shipped.
 */
import { type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

function migrations(dialect: Dialect): Record<string, Migration> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type AnyDb = Kysely<any>;
  const ms = 'bigint' as const;
  return {
    '0001_foundation': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('workspaces')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('memberships')
          .addColumn('workspace_id', 'text', (c) =>
            c.notNull().references('workspaces.id').onDelete('cascade'),
          )
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addPrimaryKeyConstraint('memberships_pk', ['workspace_id', 'user_id'])
          .execute();
        await db.schema
          .createTable('apps')
          .addColumn('workspace_id', 'text', (c) =>
            c.notNull().references('workspaces.id').onDelete('cascade'),
          )
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addPrimaryKeyConstraint('apps_pk', ['workspace_id', 'id'])
          .execute();
        await db.schema
          .createTable('call_apps')
          .addColumn('biz_name', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('auto_record', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('recording_callback_url', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('room_callback_url', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('proxy_address', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('proxy_egress_ips', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('config_version', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('config_updated_at', ms, (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('updated_at', ms, (c) => c.notNull())
          .addForeignKeyConstraint(
            'call_apps_app_fk',
            ['workspace_id', 'app_id'],
            'apps',
            ['workspace_id', 'id'],
            (c) => c.onDelete('restrict'),
          )
          .execute();
        await db.schema
          .createIndex('call_apps_by_app')
          .on('call_apps')
          .columns(['workspace_id', 'app_id', 'created_at', 'biz_name'])
          .execute();
        await db.schema
          .createTable('call_app_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('biz_name', 'text', (c) =>
            c.notNull().references('call_apps.biz_name').onDelete('cascade'),
          )
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('public_key_pem', 'text', (c) => c.notNull())
          .addColumn('private_key_enc', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('retires_at', ms)
          .execute();
        await db.schema
          .createIndex('call_app_keys_by_biz')
          .on('call_app_keys')
          .columns(['biz_name', 'status'])
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('expires_at', ms, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) =>
            c.notNull().references('workspaces.id').onDelete('cascade'),
          )
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('last_used_at', ms)
          .addColumn('expires_at', ms)
          .addColumn('revoked_at', ms)
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('actor_user_id', 'text')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target_type', 'text', (c) => c.notNull())
          .addColumn('target_id', 'text', (c) => c.notNull())
          .addColumn('before_json', 'text')
          .addColumn('after_json', 'text')
          .addColumn('created_at', ms, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('audit_by_ws_time')
          .on('audit_log')
          .columns(['workspace_id', 'created_at'])
          .execute();
      },
    },
    '0002_callbacks': {
      async up(db: AnyDb) {
        const serial = (c: ColumnDefinitionBuilder) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
        await db.schema
          .createTable('callback_events')
          .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', serial)
          .addColumn('biz_request_id', 'text', (c) => c.notNull().unique())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('biz_name', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('event_code', 'integer', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('uid', 'text', (c) => c.notNull())
          .addColumn('order_key', 'text', (c) => c.notNull())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('retry_base', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', ms, (c) => c.notNull())
          .addColumn('lease_until', ms)
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('completed_at', ms)
          .addColumn('last_error', 'text')
          .execute();
        // Leasing walks pending events in id order and stops at its limit. (An index on
        // next_attempt_at would tempt SQLite's planner into reading and sorting every pending row.)
        await db.schema
          .createIndex('callback_events_pending')
          .on('callback_events')
          .columns(['status', 'id'])
          .execute();
        await db.schema
          .createIndex('callback_events_order')
          .on('callback_events')
          .columns(['order_key', 'id'])
          .execute();
        await db.schema
          .createIndex('callback_events_by_app')
          .on('callback_events')
          .columns(['biz_name', 'id'])
          .execute();
        await db.schema
          .createTable('callback_attempts')
          .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', serial)
          .addColumn('event_id', 'bigint', (c) =>
            c.notNull().references('callback_events.id').onDelete('cascade'),
          )
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('started_at', ms, (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .addColumn('status_code', 'integer')
          .addColumn('success', 'integer', (c) => c.notNull())
          .addColumn('error', 'text')
          .addColumn('response_excerpt', 'text')
          .execute();
        await db.schema
          .createIndex('callback_attempts_by_event')
          .on('callback_attempts')
          .columns(['event_id', 'attempt'])
          .execute();
        await db.schema
          .createTable('callback_secrets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('biz_name', 'text', (c) =>
            c.notNull().references('call_apps.biz_name').onDelete('cascade'),
          )
          .addColumn('secret_enc', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('expires_at', ms)
          .execute();
        await db.schema
          .createTable('room_presence')
          .addColumn('biz_name', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('participant_id', 'text', (c) => c.notNull())
          .addColumn('uid', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('since', ms, (c) => c.notNull())
          .addPrimaryKeyConstraint('room_presence_pk', ['biz_name', 'room_id', 'participant_id'])
          .execute();
        await db.schema
          .createIndex('callback_secrets_by_biz')
          .on('callback_secrets')
          .columns(['biz_name', 'status'])
          .execute();
      },
    },
    '0003_recordings': {
      async up(db: AnyDb) {
        await db.schema
          .alterTable('call_apps')
          .addColumn('record_media_type', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('call_apps')
          .addColumn('record_max_mixed_streams', 'integer', (c) => c.notNull().defaultTo(9))
          .execute();
        await db.schema
          .createTable('recordings')
          .addColumn('record_id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('biz_name', 'text', (c) =>
            c.notNull().references('call_apps.biz_name').onDelete('cascade'),
          )
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('media_type', 'integer', (c) => c.notNull())
          .addColumn('started_at', ms, (c) => c.notNull())
          .addColumn('record_start_time', ms)
          .addColumn('ended_at', ms)
          .addColumn('duration_ms', 'integer')
          .addColumn('size_bytes', 'bigint')
          .addColumn('storage', 'text')
          .addColumn('file_type', 'integer')
          .addColumn('file_path', 'text')
          .addColumn('local_path', 'text')
          .addColumn('object_key', 'text')
          .addColumn('failure_code', 'integer')
          .addColumn('failure_message', 'text')
          .addColumn('updated_at', ms, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('recordings_by_app')
          .on('recordings')
          .columns(['biz_name', 'started_at'])
          .execute();
        await db.schema.createIndex('recordings_by_status').on('recordings').columns(['status']).execute();
      },
    },
    '0004_media_proxy': {
      async up(db: AnyDb) {
        // The TURN shared secret of the call application's media proxy, sealed by the key vault
        // ('' until first needed), and when it was made.
        await db.schema
          .alterTable('call_apps')
          .addColumn('proxy_secret_enc', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema.alterTable('call_apps').addColumn('proxy_secret_at', ms).execute();
      },
    },
    '0005_callback_hardening': {
      async up(db: AnyDb) {
        // Each attempt goes to the call application's URL of the moment, and says which it was
        // ('' for attempts made before this migration: the event's url applies).
        await db.schema
          .alterTable('callback_attempts')
          .addColumn('url', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        // The dispatcher sleeps until the next retry: found through this index, not a scan.
        await db.schema
          .createIndex('callback_events_next_attempt')
          .on('callback_events')
          .columns(['status', 'next_attempt_at'])
          .execute();
      },
    },
    '0006_auth_hardening': {
      async up(db: AnyDb) {
        // The token that created a token: revoking or expiry of a parent ends its children.
        await db.schema.alterTable('api_tokens').addColumn('parent_token_id', 'text').execute();
        await db.schema
          .createIndex('api_tokens_by_parent')
          .on('api_tokens')
          .columns(['parent_token_id'])
          .execute();
        // "Sign out everywhere" and a password change end sessions by user.
        await db.schema.createIndex('sessions_by_user').on('sessions').columns(['user_id']).execute();
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
