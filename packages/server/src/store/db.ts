/** Opens the database the configuration names and brings its schema up to date. */
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Database, Db } from './schema.js';
import { migrationProvider, type Dialect } from './migrations.js';
import { makePrivateDir } from './data-dir.js';

// PostgreSQL returns int8 as strings; every int8 column here is epoch ms or a serial id,
// both far below 2^53, so numbers are exact.
pg.types.setTypeParser(20, (v) => Number(v));

export interface OpenedDb {
  db: Db;
  dialect: Dialect;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface OpenDbOptions {
  databaseUrl: string;
  dataDir: string;
  /** PostgreSQL schema to use (created when missing); tests isolate themselves with it. */
  pgSchema?: string;
}

export async function openDb(opts: OpenDbOptions): Promise<OpenedDb> {
  let db: Db;
  let dialect: Dialect;
  if (opts.databaseUrl !== '') {
    dialect = 'postgres';
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: 10,
      ...(opts.pgSchema ? { options: `-c search_path=${opts.pgSchema}` } : {}),
    });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    if (opts.pgSchema) await sql`create schema if not exists ${sql.id(opts.pgSchema)}`.execute(db);
  } else {
    dialect = 'sqlite';
    makePrivateDir(opts.dataDir);
    // Made 0600 before SQLite opens it: SQLite creates its -wal and -shm files with the
    // database file's mode, so they are 0600 too.
    const dbFile = path.join(opts.dataDir, 'parley.db');
    closeSync(openSync(dbFile, 'a', 0o600));
    const file = new SQLite(dbFile);
    file.pragma('journal_mode = WAL');
    file.pragma('foreign_keys = ON');
    file.pragma('busy_timeout = 5000');
    file.pragma('synchronous = NORMAL');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: file }) });
  }
  let closed: Promise<void> | null = null;
  const opened: OpenedDb = {
    db,
    dialect,
    close: () => (closed ??= db.destroy()),
  };
  try {
    // With a schema of its own (tests), the migration tables are looked up in that schema only:
    // Kysely otherwise finds another schema's kysely_migration_lock and skips creating its own.
    const migrator = new Migrator({
      db,
      provider: migrationProvider(dialect),
      ...(dialect === 'postgres' && opts.pgSchema ? { migrationTableSchema: opts.pgSchema } : {}),
    });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) {
      throw new Error(
        `database migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`,
      );
    }
  } catch (err) {
    await opened.close();
    throw err;
  }
  return opened;
}
