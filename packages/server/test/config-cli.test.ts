import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig, ConfigError } from '../src/config/config.js';

const cli = new URL('../dist/cli.js', import.meta.url).pathname;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'parley-cli-'));

describe('configuration', () => {
  it('takes flags over environment over file over defaults', () => {
    const dir = tempDir();
    const file = path.join(dir, 'parley.json');
    writeFileSync(file, JSON.stringify({ port: 7001, host: '127.0.0.2', keyRotationGraceHours: 2 }));
    const config = loadConfig({
      flags: { config: file, port: '7003' },
      env: { PARLEY_PORT: '7002', PARLEY_HOST: '127.0.0.3' },
    });
    assert.equal(config.port, 7003);
    assert.equal(config.host, '127.0.0.3');
    assert.equal(config.keyRotationGraceHours, 2);
    assert.equal(config.dataDir, path.resolve('./data'));
    assert.ok(Object.isFrozen(config));
    const viaEnv = loadConfig({ env: { PARLEY_CONFIG: file } });
    assert.equal(viaEnv.port, 7001);
    rmSync(dir, { recursive: true });
  });

  it('names every bad setting and where it came from', () => {
    assert.throws(
      () =>
        loadConfig({ env: { PARLEY_PORT: 'eighty', PARLEY_DATABASE_URL: 'mysql://x' }, flags: { host: '' } }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /port: must be an integer from 0 to 65535 \(got "eighty" from PARLEY_PORT\)/,
        );
        assert.match(err.message, /databaseUrl: must be empty .* or a postgres:\/\/ URL/);
        assert.match(err.message, /host: must not be empty \(got "" from --host\)/);
        return true;
      },
    );
    assert.throws(
      () => loadConfig({ env: { PARLEY_MASTER_KEY: 'c2hvcnQ=' } }),
      /masterKey: must be the base64 encoding of exactly 32/,
    );
    assert.throws(
      () => loadConfig({ env: { PARLEY_ADMIN_PASSWORD: 'short' } }),
      /adminPassword: must be at least 12 characters \(got \(hidden\)/,
    );
  });

  it('refuses an unreadable, non-JSON or misspelt config file', () => {
    const dir = tempDir();
    assert.throws(
      () => loadConfig({ flags: { config: path.join(dir, 'missing.json') } }),
      /cannot be read \(ENOENT\)/,
    );
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ port: 1 }');
    assert.throws(() => loadConfig({ flags: { config: bad } }), /is not a JSON object/);
    writeFileSync(bad, JSON.stringify({ prot: 1 }));
    assert.throws(() => loadConfig({ flags: { config: bad } }), /unknown setting "prot"/);
    rmSync(dir, { recursive: true });
  });
});

/** Starts `parley start`, resolving once it logs that it listens; collects JSON log lines. */
function startCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [cli, 'start', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 20 s')), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (typeof entry['url'] === 'string' && String(entry['msg']).startsWith('Parley is listening')) {
          clearTimeout(timer);
          resolve(entry['url']);
        }
      } catch {
        /* non-JSON output */
      }
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, ready, exited };
}

describe('parley CLI', () => {
  it('stops with a message naming a bad setting and a non-zero exit', () => {
    const res = spawnSync(process.execPath, [cli, 'start', '--port', '99999'], {
      encoding: 'utf8',
      env: { ...process.env, PARLEY_DATA_DIR: tempDir() },
    });
    assert.equal(res.status, 78);
    assert.match(res.stderr, /port: must be an integer from 0 to 65535 \(got "99999" from --port\)/);
    const unknown = spawnSync(process.execPath, [cli, 'start', '--prot', '1'], { encoding: 'utf8' });
    assert.equal(unknown.status, 64);
    assert.match(unknown.stderr, /Unknown option '--prot'/);
    const noCommand = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(noCommand.status, 64);
    assert.match(noCommand.stderr, /unknown command "frobnicate"/);
  });

  it('starts on defaults from a data dir, prints a generated owner password once, and shuts down on SIGTERM', async () => {
    const dataDir = tempDir();
    const env = {
      PARLEY_DATA_DIR: dataDir,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: '0',
      PARLEY_ADMIN_EMAIL: '',
      PARLEY_ADMIN_PASSWORD: '',
    };
    const first = startCli([], env);
    const url = await first.ready;
    const created = first.lines.find((l) => typeof l['password'] === 'string');
    assert.ok(created, 'the generated password is logged');
    assert.equal(created['email'], 'admin@parley.local');
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@parley.local', password: created['password'] }),
    });
    assert.equal(login.status, 200);
    assert.equal((statSync(path.join(dataDir, 'master.key')).mode & 0o777).toString(8), '600');
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.ok(first.lines.some((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGTERM'));

    const second = startCli([], env);
    await second.ready;
    assert.ok(!second.lines.some((l) => 'password' in l), 'the password is shown only on first start');
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    rmSync(dataDir, { recursive: true });
  });

  it('keeps the data directory private (0700, files 0600) and tightens an older, readable one at start', async () => {
    const parent = tempDir();
    const dataDir = path.join(parent, 'data'); // made by the server
    const env = { PARLEY_DATA_DIR: dataDir, PARLEY_HOST: '127.0.0.1', PARLEY_PORT: '0' };
    const private_ = {
      [dataDir]: '700',
      [path.join(dataDir, 'recordings')]: '700',
      [path.join(dataDir, 'parley.db')]: '600',
      [path.join(dataDir, 'parley.db-wal')]: '600',
      [path.join(dataDir, 'parley.db-shm')]: '600',
      [path.join(dataDir, 'master.key')]: '600',
    };
    const modes = () =>
      Object.fromEntries(Object.keys(private_).map((p) => [p, (statSync(p).mode & 0o777).toString(8)]));
    const first = startCli([], env);
    await first.ready;
    assert.deepEqual(modes(), private_, 'made private');
    assert.ok(!first.lines.some((l) => String(l['msg']).startsWith('data directory')));
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    // As an older Parley (or a umask of 022) left them.
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'recordings'), 0o755);
    chmodSync(path.join(dataDir, 'parley.db'), 0o644);
    chmodSync(path.join(dataDir, 'master.key'), 0o644);
    const second = startCli([], env);
    await second.ready;
    assert.deepEqual(modes(), private_, 'tightened');
    const logged = second.lines
      .filter((l) => String(l['msg']).startsWith('data directory: group/other permissions taken away'))
      .map((l) => `${String(l['path'])} ${String(l['from'])}->${String(l['to'])}`)
      .sort();
    assert.deepEqual(
      logged,
      [
        `${dataDir} 755->700`,
        `${path.join(dataDir, 'master.key')} 644->600`,
        `${path.join(dataDir, 'parley.db')} 644->600`,
        `${path.join(dataDir, 'recordings')} 755->700`,
      ].sort(),
    );
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    rmSync(parent, { recursive: true });
  });

  it('creates an API token from the command line that the API accepts', async () => {
    const dataDir = tempDir();
    const env = {
      PARLEY_DATA_DIR: dataDir,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: '0',
      PARLEY_ADMIN_EMAIL: 'ops@example.com',
      PARLEY_ADMIN_PASSWORD: 'ops-password-1234',
    };
    const server = startCli([], env);
    const url = await server.ready;
    const made = spawnSync(
      process.execPath,
      [
        cli,
        'token',
        'create',
        '--workspace',
        'default',
        '--email',
        'ops@example.com',
        '--name',
        'deploy',
        '--role',
        'developer',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      },
    );
    assert.equal(made.status, 0, made.stderr);
    const secret = made.stdout.trim();
    assert.match(secret, /^parley_/);
    const res = await fetch(`${url}/api/v1/workspaces/default/apps/default/call-apps`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(res.status, 200);
    const badRole = spawnSync(
      process.execPath,
      [
        cli,
        'token',
        'create',
        '--workspace',
        'default',
        '--email',
        'ops@example.com',
        '--name',
        'x',
        '--role',
        'god',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      },
    );
    assert.equal(badRole.status, 64);
    assert.match(badRole.stderr, /--role must be one of owner, admin, developer, viewer/);
    const notMember = spawnSync(
      process.execPath,
      [cli, 'token', 'create', '--workspace', 'default', '--email', 'nobody@example.com', '--name', 'x'],
      {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      },
    );
    assert.equal(notMember.status, 1);
    assert.match(notMember.stderr, /nobody@example.com is not a member of default/);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    rmSync(dataDir, { recursive: true });
  });
});
