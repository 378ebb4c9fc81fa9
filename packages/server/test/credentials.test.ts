import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { sign, stringToSign } from '@parley/server-sdk';
import type { CallApp, RevealedKey } from '@parley/protocol';
import {
  ApiClient,
  adminPassword,
  callAppsUrl,
  ownerClient,
  startTestServer,
  type TestServer,
} from './helpers.js';

const cli = new URL('../dist/cli.js', import.meta.url).pathname;

describe('client credentials', () => {
  let server: TestServer;
  let owner: ApiClient;
  let app: CallApp;
  let privateKeyPem: string;
  const anonymous = () => new ApiClient(server.url);
  const credential = (over: Partial<Parameters<typeof sign>[0]> = {}) =>
    sign({
      bizName: app.bizName,
      appId: 'default',
      workspaceId: 'default',
      uid: 'alice_1',
      expireTime: Date.now() + 300_000,
      privateKeyPem,
      ...over,
    });
  const verify = (body: unknown) => anonymous().post('/api/v1/credentials/verify', body);

  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
    app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Signed' })).body;
    privateKeyPem = (
      await owner.post<RevealedKey>(`${callAppsUrl()}/${app.bizName}/keys/reveal`, {
        password: adminPassword,
      })
    ).body.privateKeyPem;
  });
  after(() => server.stop());

  it('accepts a credential signed with the call application key, expireTime as number or string', async () => {
    const good = credential();
    const res = await verify(good);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body['uid'], 'alice_1');
    assert.equal(res.body['keyId'], app.key.keyId);
    assert.equal((await verify({ ...good, expireTime: String(good.expireTime) })).status, 200);
  });

  it('gives each failure its own error code', async () => {
    const good = credential();
    const other = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const cases: [string, unknown, string, string?][] = [
      ['missing signature', { ...good, signature: undefined }, 'CREDENTIAL_MALFORMED', 'signature'],
      ['signature not base64', { ...good, signature: 'not base64!' }, 'CREDENTIAL_MALFORMED', 'signature'],
      ['expireTime not a number', { ...good, expireTime: 'soon' }, 'CREDENTIAL_MALFORMED', 'expireTime'],
      ['uid with a dash', { ...good, uid: 'alice-1' }, 'CREDENTIAL_UID_INVALID', 'uid'],
      ['uid too long', { ...good, uid: 'a'.repeat(129) }, 'CREDENTIAL_UID_INVALID', 'uid'],
      ['expired', credential({ expireTime: Date.now() - 1000 }), 'CREDENTIAL_EXPIRED', 'expireTime'],
      ['unknown bizName', { ...good, bizName: 'nosuchbizname000' }, 'CREDENTIAL_BIZNAME_UNKNOWN', 'bizName'],
      ['other appId', { ...good, appId: 'other' }, 'CREDENTIAL_SCOPE_MISMATCH', 'appId'],
      ['other workspaceId', { ...good, workspaceId: 'other' }, 'CREDENTIAL_SCOPE_MISMATCH', 'workspaceId'],
      ['altered uid', { ...good, uid: 'mallory' }, 'CREDENTIAL_SIGNATURE_INVALID', 'signature'],
      [
        'another key',
        credential({ privateKeyPem: other.privateKey }),
        'CREDENTIAL_SIGNATURE_INVALID',
        'signature',
      ],
    ];
    for (const [label, body, code, field] of cases) {
      const res = await verify(body);
      assert.equal(res.status, 401, label);
      assert.equal(res.body['code'], code, label);
      if (field) assert.equal(res.body['field'], field, label);
    }
  });

  it('refuses a credential whose uid digits were moved into expireTime (a forgery): exactly 13 digits', async () => {
    const signed = credential({ uid: 'user12' });
    const forged = { ...signed, uid: 'user1', expireTime: Number(`2${signed.expireTime}`) };
    assert.equal(stringToSign(forged), stringToSign(signed), 'the same signed string, the same signature');
    for (const expireTime of [forged.expireTime, String(forged.expireTime)]) {
      const res = await verify({ ...forged, expireTime });
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body['code'], 'CREDENTIAL_MALFORMED');
      assert.equal(res.body['field'], 'expireTime');
      assert.match(String(res.body['message']), /exactly 13 digits/);
    }
    // The other way (a digit of expireTime moved into uid) leaves 12 digits.
    const shortened = { ...signed, uid: 'user121', expireTime: String(signed.expireTime).slice(1) };
    assert.equal((await verify(shortened)).body['code'], 'CREDENTIAL_MALFORMED');
    assert.equal((await verify(signed)).status, 200, 'the genuine credential verifies');
  });

  it('refuses an expireTime in seconds, with leading zeros, or further ahead than maxCredentialLifetimeHours', async () => {
    const good = credential();
    const seconds = Math.floor(good.expireTime / 1000);
    const res = await verify({ ...good, expireTime: seconds });
    assert.equal(res.body['code'], 'CREDENTIAL_MALFORMED');
    assert.equal(res.body['field'], 'expireTime');
    assert.equal(
      res.body['message'],
      `expireTime ${seconds} looks like seconds: it must be epoch milliseconds (13 digits, such as ${seconds}000)`,
    );
    for (const expireTime of [`0${good.expireTime}`, -good.expireTime, good.expireTime + 0.5, null]) {
      const bad = await verify({ ...good, expireTime });
      assert.equal(bad.body['code'], 'CREDENTIAL_MALFORMED', String(expireTime));
      assert.equal(bad.body['field'], 'expireTime', String(expireTime));
    }
    const week = 168 * 3600_000;
    const tooLong = sign(
      {
        bizName: app.bizName,
        appId: 'default',
        workspaceId: 'default',
        uid: 'alice_1',
        expireTime: Date.now() + week + 3600_000,
        privateKeyPem,
      },
      { maxLifetimeHours: 200 },
    );
    const far = await verify(tooLong);
    assert.equal(far.status, 401);
    assert.equal(far.body['code'], 'CREDENTIAL_MALFORMED');
    assert.equal(far.body['field'], 'expireTime');
    assert.match(String(far.body['message']), /at most 168 hours \(maxCredentialLifetimeHours\)/);
    assert.equal((await verify(credential({ expireTime: Date.now() + week - 60_000 }))).status, 200);
  });

  it('accepts a line-wrapped or newline-terminated base64 signature, and refuses base64url with a hint', async () => {
    let good = credential();
    for (let i = 0; !/[+/]/.test(good.signature); i += 1) good = credential({ uid: `alice_${i}` });
    const wrap = (text: string, width: number, eol: string) =>
      (text.match(new RegExp(`.{1,${width}}`, 'g')) as string[]).join(eol) + eol;
    const forms: [string, string][] = [
      ['openssl base64 (64 columns)', wrap(good.signature, 64, '\n')],
      ['GNU base64 (76 columns)', wrap(good.signature, 76, '\n')],
      ['Java MIME (76 columns, CRLF)', wrap(good.signature, 76, '\r\n')],
      ['trailing newline', `${good.signature}\n`],
    ];
    for (const [label, signature] of forms) {
      const res = await verify({ ...good, signature });
      assert.equal(res.status, 200, `${label}: ${JSON.stringify(res.body)}`);
    }
    const base64url = good.signature.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const res = await verify({ ...good, signature: base64url });
    assert.equal(res.body['code'], 'CREDENTIAL_MALFORMED');
    assert.equal(res.body['field'], 'signature');
    assert.match(String(res.body['message']), /base64url.*standard base64/);
  });

  it('accepts the old key during its rotation grace period and refuses it once retired', async () => {
    const oldCredential = credential({ uid: 'bob' });
    const rotated = await owner.post<{ items: { keyId: string; status: string }[] }>(
      `${callAppsUrl()}/${app.bizName}/keys/rotate`,
      { graceHours: 1 },
    );
    assert.equal(rotated.status, 200);
    assert.equal((await verify(oldCredential)).status, 200, 'old key verifies in the grace period');
    await owner.post(`${callAppsUrl()}/${app.bizName}/keys/${app.key.keyId}/retire`, {});
    const res = await verify(oldCredential);
    assert.equal(res.status, 401);
    assert.equal(res.body['code'], 'CREDENTIAL_KEY_RETIRED');
    privateKeyPem = (
      await owner.post<RevealedKey>(`${callAppsUrl()}/${app.bizName}/keys/reveal`, {
        password: adminPassword,
      })
    ).body.privateKeyPem;
    assert.equal((await verify(credential())).status, 200, 'the new key verifies');
  });

  it('signs from the command line with `parley sign`, and the server accepts it', async () => {
    const keyFile = path.join(server.dataDir, 'key.pem');
    writeFileSync(keyFile, privateKeyPem);
    const args = [
      'sign',
      '--biz-name',
      app.bizName,
      '--app-id',
      'default',
      '--workspace-id',
      'default',
      '--uid',
      'carol',
      '--key',
      keyFile,
    ];
    const res = spawnSync(process.execPath, [cli, ...args, '--ttl', '60'], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const signed = JSON.parse(res.stdout) as { expireTime: number; uid: string };
    assert.ok(signed.expireTime > Date.now() + 50_000 && signed.expireTime <= Date.now() + 60_000);
    assert.equal((await verify(signed)).status, 200);
    const badUid = spawnSync(process.execPath, [cli, ...args.slice(0, 8), 'carol-x', '--key', keyFile], {
      encoding: 'utf8',
    });
    assert.equal(badUid.status, 64);
    assert.match(badUid.stderr, /uid must be 1 to 128 letters, digits or underscores/);
    const run = (extra: string[], env: NodeJS.ProcessEnv = process.env) =>
      spawnSync(process.execPath, [cli, ...args, ...extra], { encoding: 'utf8', env });
    const tooLong = run(['--ttl', String(169 * 3600)]);
    assert.equal(tooLong.status, 64);
    assert.match(
      tooLong.stderr,
      /--ttl 608400 is longer than maxCredentialLifetimeHours \(168 hours = 604800 seconds\): the server would refuse the credential/,
    );
    const configured = run(['--ttl', '7200'], { ...process.env, PARLEY_MAX_CREDENTIAL_LIFETIME_HOURS: '1' });
    assert.equal(configured.status, 64);
    assert.match(configured.stderr, /maxCredentialLifetimeHours \(1 hours/);
    const inSeconds = run(['--expire-time', '1767225600']);
    assert.equal(inSeconds.status, 64);
    assert.match(
      inSeconds.stderr,
      /--expire-time 1767225600 looks like seconds: it must be epoch milliseconds/,
    );
    const farAway = run(['--expire-time', String(Date.now() + 200 * 3600_000)]);
    assert.equal(farAway.status, 64, farAway.stderr);
    assert.match(
      farAway.stderr,
      /expireTime is 200\.0 hours ahead; a credential may be valid for at most 168 hours/,
    );
    const noKey = spawnSync(
      process.execPath,
      [cli, ...args.slice(0, 10), path.join(server.dataDir, 'missing.pem')],
      { encoding: 'utf8' },
    );
    assert.equal(noKey.status, 64);
    assert.match(noKey.stderr, /cannot be read \(ENOENT\)/);
  });
});
