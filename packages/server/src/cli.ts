#!/usr/bin/env node
/** `parley`: run and administer the server. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sign } from '@parley/server-sdk';
import { ParleyError } from './errors.js';
import { ConfigError, loadConfig, type ParleyConfig } from './config/config.js';
import { startServer } from './server.js';
import { openDb } from './store/db.js';
import { KeyVault, loadMasterKey } from './security/keys.js';
import { createTokenAsOperator } from './services/tokens.js';
import { parseExpireTime, roles, type Role } from '@parley/protocol';

const usage = `Usage:
  parley start [--port N] [--host H] [--data-dir DIR] [--config FILE]
      Runs the server (console, REST API). Each flag can also be set with
      PARLEY_PORT, PARLEY_HOST, PARLEY_DATA_DIR, PARLEY_CONFIG; see docs/configuration.md.
  parley token create --workspace ID --email EMAIL --name NAME [--role ROLE] [--expires-days N]
      Creates an API token for a member of a workspace and prints its secret once.
  parley sign --biz-name B --app-id A --workspace-id W --uid U --key FILE [--ttl SECONDS | --expire-time MS]
      Signs a client credential with a call application's private key (PEM file, as
      "View key" shows it) and prints it as JSON. --ttl defaults to 300 seconds;
      --expire-time is epoch milliseconds (13 digits). Neither may reach further than
      maxCredentialLifetimeHours (PARLEY_MAX_CREDENTIAL_LIFETIME_HOURS or --config; 168).
  parley help
`;

const configOptions = {
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
} as const;

class UsageError extends Error {}

function configFrom(values: Record<string, unknown>): ParleyConfig {
  const flags: Record<string, string | undefined> = {};
  for (const k of Object.keys(configOptions)) flags[k] = values[k] as string | undefined;
  return loadConfig({ flags, env: process.env });
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: configOptions, strict: true, allowPositionals: false });
  const config = configFrom(values);
  const server = await startServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      server.app.log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function tokenCreate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...configOptions,
      workspace: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      'expires-days': { type: 'string' },
    },
    strict: true,
  });
  for (const required of ['workspace', 'email', 'name'] as const) {
    if (!values[required]) throw new UsageError(`--${required} is required`);
  }
  if (values.role !== undefined && !(roles as readonly string[]).includes(values.role)) {
    throw new UsageError(`--role must be one of ${roles.join(', ')}`);
  }
  const days = values['expires-days'] === undefined ? undefined : Number(values['expires-days']);
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
    throw new UsageError('--expires-days must be a whole number of days from 1 to 3650');
  }
  const config = configFrom(values);
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const created = await createTokenAsOperator(
      {
        db: db.db,
        vault: new KeyVault(loadMasterKey(config.masterKey, config.dataDir)),
        now: Date.now,
        keyRotationGraceHours: config.keyRotationGraceHours,
      },
      {
        workspaceId: values.workspace as string,
        email: values.email as string,
        name: values.name as string,
        ...(values.role ? { role: values.role as Role } : {}),
        ...(days ? { expiresInDays: days } : {}),
      },
    );
    process.stdout.write(`${created.secret}\n`);
    process.stderr.write(
      `token ${created.token.tokenId} (${created.token.role}) created; the secret above is shown only once\n`,
    );
  } finally {
    await db.close();
  }
}

function signCommand(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      'biz-name': { type: 'string' },
      'app-id': { type: 'string' },
      'workspace-id': { type: 'string' },
      uid: { type: 'string' },
      key: { type: 'string' },
      ttl: { type: 'string' },
      'expire-time': { type: 'string' },
      config: { type: 'string' },
    },
    strict: true,
  });
  for (const required of ['biz-name', 'app-id', 'workspace-id', 'uid', 'key'] as const) {
    if (!values[required]) throw new UsageError(`--${required} is required`);
  }
  if (values.ttl !== undefined && values['expire-time'] !== undefined) {
    throw new UsageError('give --ttl or --expire-time, not both');
  }
  // The lifetime the server accepts, from the same configuration (file, environment) it reads.
  const maxHours = configFrom({ config: values.config }).maxCredentialLifetimeHours;
  const now = Date.now();
  let expireTime: number;
  if (values['expire-time'] !== undefined) {
    const parsed = parseExpireTime(values['expire-time']);
    if ('problem' in parsed) throw new UsageError(`--expire-time ${parsed.problem}`);
    expireTime = parsed.ok;
  } else {
    const ttl = values.ttl === undefined ? 300 : Number(values.ttl);
    if (!(Number.isInteger(ttl) && ttl > 0))
      throw new UsageError('--ttl must be a positive whole number of seconds');
    if (ttl > maxHours * 3600) {
      throw new UsageError(
        `--ttl ${ttl} is longer than maxCredentialLifetimeHours (${maxHours} hours = ${maxHours * 3600} seconds): the server would refuse the credential`,
      );
    }
    expireTime = now + ttl * 1000;
  }
  let privateKeyPem: string;
  try {
    privateKeyPem = readFileSync(values.key as string, 'utf8');
  } catch (err) {
    throw new UsageError(`--key ${values.key}: cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
  if (!privateKeyPem.includes('PRIVATE KEY-----')) {
    throw new UsageError(
      `--key ${values.key}: is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)`,
    );
  }
  let credential;
  try {
    credential = sign(
      {
        bizName: values['biz-name'] as string,
        appId: values['app-id'] as string,
        workspaceId: values['workspace-id'] as string,
        uid: values.uid as string,
        expireTime,
        privateKeyPem,
      },
      { maxLifetimeHours: maxHours, now },
    );
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  process.stdout.write(`${JSON.stringify(credential, null, 2)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'start') return start(rest);
  if (command === 'sign') return signCommand(rest);
  if (command === 'token' && rest[0] === 'create') return tokenCreate(rest.slice(1));
  if (command === 'help' || command === '--help' || command === '-h' || command === undefined) {
    process.stdout.write(usage);
    return;
  }
  throw new UsageError(`unknown command "${argv.join(' ')}"`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`parley: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`parley: ${(err as Error).message}\n\n${usage}`);
    process.exit(64); // EX_USAGE
  }
  if (err instanceof ParleyError) {
    process.stderr.write(`parley: ${err.message}${err.field ? ` (${err.field})` : ''}\n`);
    process.exit(1);
  }
  process.stderr.write(`parley: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
