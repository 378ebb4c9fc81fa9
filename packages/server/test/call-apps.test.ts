import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSign, createVerify } from 'node:crypto';
import type { CallApp, CallAppList, FeatureConfigResponse, KeyInfo, RevealedKey } from '@parley/protocol';
import { verificationKeys } from '../src/services/call-apps.js';
import type { ApiClient } from './helpers.js';
import {
  adminPassword,
  callAppsUrl,
  ownerClient,
  startTestServer,
  type DbKind,
  type TestServer,
} from './helpers.js';

function signWith(privateKeyPem: string, text: string): string {
  return createSign('SHA256').update(text).sign(privateKeyPem, 'base64');
}
function verifiesWith(publicKeyPem: string, text: string, signature: string): boolean {
  return createVerify('SHA256').update(text).verify(publicKeyPem, signature, 'base64');
}

for (const db of ['sqlite', 'postgres'] as DbKind[]) {
  describe(`call applications on ${db}`, () => {
    let server: TestServer;
    let owner: ApiClient;
    before(async () => {
      server = await startTestServer({ db });
      owner = await ownerClient(server);
    });
    after(() => server.stop());

    it('creates a call application with a generated bizName, a key and auto-record off', async () => {
      const res = await owner.post<CallApp>(callAppsUrl(), { name: '  Customer service  ' });
      assert.equal(res.status, 201);
      assert.equal(res.body.name, 'Customer service');
      assert.match(res.body.bizName, /^[a-z][a-z0-9]{15}$/);
      assert.equal(res.body.autoRecord, false);
      assert.equal(res.body.appId, 'default');
      assert.equal(res.body.workspaceId, 'default');
      assert.equal(res.body.key.status, 'active');
      assert.match(res.body.key.masked, /^RSA-2048 •+[0-9a-f]{8}$/);
      assert.ok(!JSON.stringify(res.body).includes('PRIVATE KEY'), 'the list never carries key material');
      const second = await owner.post<CallApp>(callAppsUrl(), { name: 'Customer service' });
      assert.notEqual(second.body.bizName, res.body.bizName, 'bizNames are unique');
    });

    it('refuses an empty, too long or control-character name with the field named', async () => {
      for (const name of ['', '   ', 'x'.repeat(65), 'bad\u0007name']) {
        const res = await owner.post(callAppsUrl(), { name });
        assert.equal(res.status, 400, `name ${JSON.stringify(name)}`);
        assert.equal(res.body['code'], 'VALIDATION_FAILED');
        assert.equal(res.body['field'], 'name');
      }
      const missing = await owner.post(callAppsUrl(), {});
      assert.equal(missing.status, 400);
      assert.equal(missing.body['field'], 'name');
      const extra = await owner.post(callAppsUrl(), { name: 'ok', bizName: 'mine' });
      assert.equal(extra.status, 400);
      assert.equal(extra.body['field'], 'bizName');
      assert.equal(extra.body['reason'], 'UNKNOWN_FIELD');
    });

    it('refuses names with bidi controls, nothing visible, C1 controls or broken UTF-16, each with its reason', async () => {
      const bad: [string, string][] = [
        ['invoice\u202egnp.exe', 'BIDI_CONTROL'],
        ['\u2066isolated\u2069', 'BIDI_CONTROL'],
        ['\u200b\u200b', 'INVISIBLE'],
        ['c1\u0085control', 'BAD_CHARACTERS'],
        ['broken\ud800', 'LONE_SURROGATE'],
      ];
      const existing = (await owner.post<CallApp>(callAppsUrl(), { name: 'Renamed badly' })).body;
      const ws = '/api/v1/workspaces';
      const email = () => `member-${Math.random().toString(36).slice(2)}@example.com`;
      for (const [name, reason] of bad) {
        const attempts: [string, () => Promise<{ status: number; body: Record<string, unknown> }>][] = [
          ['call application', () => owner.post(callAppsUrl(), { name })],
          ['rename', () => owner.patch(`${callAppsUrl()}/${existing.bizName}`, { name })],
          ['workspace', () => owner.post(ws, { name })],
          ['app', () => owner.post(`${ws}/default/apps`, { name })],
          ['token', () => owner.post(`${ws}/default/tokens`, { name })],
          [
            'member',
            () =>
              owner.post(`${ws}/default/members`, {
                email: email(),
                role: 'viewer',
                name,
                password: 'member-password-1',
              }),
          ],
        ];
        for (const [what, attempt] of attempts) {
          const res = await attempt();
          const label = `${what} ${JSON.stringify(name)}: ${JSON.stringify(res.body)}`;
          assert.equal(res.status, 400, label);
          assert.equal(res.body['field'], 'name', label);
          assert.equal(res.body['reason'], reason, label);
        }
      }
      // A name far over the limit is refused with the real limit, by the schema as by the validator.
      for (const name of ['x'.repeat(10_000), 'x'.repeat(65)]) {
        const long = await owner.post(callAppsUrl(), { name });
        assert.equal(long.status, 400);
        assert.equal(long.body['reason'], 'TOO_LONG');
        assert.equal(long.body['message'], 'name must be at most 64 characters');
      }
      // NFC: a decomposed é is stored composed.
      const nfc = await owner.post<CallApp>(callAppsUrl(), { name: '  Cafe\u0301 ' });
      assert.equal(nfc.status, 201);
      assert.equal(nfc.body.name, 'Caf\u00e9');
    });

    it('lists newest first with pagination and searches by name or bizName', async () => {
      const made: CallApp[] = [];
      for (let i = 0; i < 7; i += 1) {
        made.push((await owner.post<CallApp>(callAppsUrl(), { name: `Paging ${i} 50%_off` })).body);
      }
      const page1 = await owner.get<CallAppList>(`${callAppsUrl()}?search=paging&pageSize=3&page=1`);
      assert.equal(page1.status, 200);
      assert.equal(page1.body.total, 7);
      assert.deepEqual(
        page1.body.items.map((i) => i.name),
        ['Paging 6 50%_off', 'Paging 5 50%_off', 'Paging 4 50%_off'],
      );
      const page3 = await owner.get<CallAppList>(`${callAppsUrl()}?search=PAGING&pageSize=3&page=3`);
      assert.deepEqual(
        page3.body.items.map((i) => i.name),
        ['Paging 0 50%_off'],
      );
      const target = made[2] as CallApp;
      const byBiz = await owner.get<CallAppList>(`${callAppsUrl()}?search=${target.bizName.slice(2, 12)}`);
      assert.deepEqual(
        byBiz.body.items.map((i) => i.bizName),
        [target.bizName],
      );
      // LIKE wildcards in the search text are literal characters.
      const literal = await owner.get<CallAppList>(`${callAppsUrl()}?search=${encodeURIComponent('0%_o')}`);
      assert.equal(literal.body.total, 7);
      const none = await owner.get<CallAppList>(`${callAppsUrl()}?search=${encodeURIComponent('%')}x`);
      assert.equal(none.body.total, 0);
      const bad = await owner.get(`${callAppsUrl()}?pageSize=500`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body['field'], 'pageSize');
    });

    it('refuses a page or page size out of range with a 400 naming it, on every list', async () => {
      const huge = '99999999999999999999';
      const lists = [callAppsUrl(), '/api/v1/workspaces/default/audit'];
      const listed = (await owner.post<CallApp>(callAppsUrl(), { name: 'Lists' })).body;
      lists.push(
        `${callAppsUrl()}/${listed.bizName}/callbacks`,
        `${callAppsUrl()}/${listed.bizName}/recordings`,
      );
      for (const list of lists) {
        for (const [query, field] of [
          [`page=${huge}`, 'page'],
          ['page=1000001', 'page'],
          ['page=0', 'page'],
          [`pageSize=${huge}`, 'pageSize'],
          ['pageSize=0', 'pageSize'],
        ] as const) {
          const res = await owner.get(`${list}?${query}`);
          assert.equal(res.status, 400, `${list}?${query}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body['code'], 'VALIDATION_FAILED');
          assert.equal(res.body['field'], field, `${list}?${query}`);
        }
        assert.equal((await owner.get(`${list}?page=1000000&pageSize=200`)).status, 200, list);
      }
      const audit = await owner.get(`/api/v1/workspaces/default/audit?from=${huge}`);
      assert.equal(audit.status, 400);
      assert.equal(audit.body['field'], 'from');
      // Event ids beyond what the store holds are a 400 naming the field, not a database error.
      const redeliver = await owner.post(
        `${callAppsUrl()}/${listed.bizName}/callbacks/${huge}/redeliver`,
        {},
      );
      assert.equal(redeliver.status, 400, JSON.stringify(redeliver.body));
      assert.equal(redeliver.body['field'], 'eventId');
      const retryNow = await owner.post(`${callAppsUrl()}/${listed.bizName}/callbacks/retry-now`, {
        eventId: Number(huge),
      });
      assert.equal(retryNow.status, 400, JSON.stringify(retryNow.body));
      assert.equal(retryNow.body['field'], 'eventId');
    });

    it('renames in place and keeps the bizName', async () => {
      const created = (await owner.post<CallApp>(callAppsUrl(), { name: 'Old name' })).body;
      const res = await owner.patch<CallApp>(`${callAppsUrl()}/${created.bizName}`, { name: 'New name' });
      assert.equal(res.status, 200);
      assert.equal(res.body.name, 'New name');
      assert.equal(res.body.bizName, created.bizName);
      const read = await owner.get<CallApp>(`${callAppsUrl()}/${created.bizName}`);
      assert.equal(read.body.name, 'New name');
      const missing = await owner.patch(`${callAppsUrl()}/nosuchbizname000`, { name: 'x' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body['code'], 'CALL_APP_NOT_FOUND');
    });

    it('deletes a call application with its keys, leaving no orphans', async () => {
      const created = (await owner.post<CallApp>(callAppsUrl(), { name: 'To delete' })).body;
      await owner.post(`${callAppsUrl()}/${created.bizName}/keys/rotate`, { graceHours: 1 });
      const del = await owner.delete(`${callAppsUrl()}/${created.bizName}`);
      assert.equal(del.status, 204);
      assert.equal((await owner.get(`${callAppsUrl()}/${created.bizName}`)).status, 404);
      const keys = await server.services.db
        .selectFrom('call_app_keys')
        .select('id')
        .where('biz_name', '=', created.bizName)
        .execute();
      assert.equal(keys.length, 0);
      assert.deepEqual(await verificationKeys(server.services.db, created.bizName, Date.now()), []);
      assert.equal((await owner.delete(`${callAppsUrl()}/${created.bizName}`)).status, 404);
    });

    it('saves the feature configuration and reads it back, normalised', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Configured' })).body;
      const url = `${callAppsUrl()}/${app.bizName}/config`;
      const initial = await owner.get<FeatureConfigResponse>(url);
      assert.deepEqual(initial.body.config, {
        autoRecord: false,
        recordMediaType: 0,
        recordMaxMixedStreams: 9,
        recordingCallbackUrl: '',
        roomCallbackUrl: '',
        proxyAddress: '',
        proxyEgressIps: '',
      });
      const saved = await owner.put<FeatureConfigResponse>(url, {
        version: initial.body.version,
        config: {
          autoRecord: true,
          recordMediaType: 1,
          recordMaxMixedStreams: 4,
          recordingCallbackUrl: ' https://biz.example.com/rec?x=1 ',
          roomCallbackUrl: 'http://10.1.2.3:8080/room',
          proxyAddress: 'proxy.example.com:3478',
          proxyEgressIps: ' 203.0.113.7 ; 2001:db8::1;198.51.100.2 ',
        },
      });
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      assert.equal(saved.body.version, initial.body.version + 1);
      const read = await owner.get<FeatureConfigResponse>(url);
      const expected = {
        autoRecord: true,
        recordMediaType: 1,
        recordMaxMixedStreams: 4,
        recordingCallbackUrl: 'https://biz.example.com/rec?x=1',
        roomCallbackUrl: 'http://10.1.2.3:8080/room',
        proxyAddress: 'proxy.example.com:3478',
        proxyEgressIps: '203.0.113.7;2001:db8::1;198.51.100.2',
      };
      assert.deepEqual(read.body.config, expected);
      // A client that does not know the recording options leaves them as they are.
      const { recordMediaType: _t, recordMaxMixedStreams: _m, ...older } = expected;
      const again = await owner.put<FeatureConfigResponse>(url, {
        version: read.body.version,
        config: { ...older, proxyAddress: '' },
      });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual(again.body.config, { ...expected, proxyAddress: '' });
      const listed = await owner.get<CallApp>(`${callAppsUrl()}/${app.bizName}`);
      assert.equal(listed.body.autoRecord, true);
    });

    it('refuses every invalid field with a 400 naming it, and saves nothing', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Validated' })).body;
      const url = `${callAppsUrl()}/${app.bizName}/config`;
      const good = {
        autoRecord: true,
        recordingCallbackUrl: 'https://ok.example.com/rec',
        roomCallbackUrl: 'https://ok.example.com/room',
        proxyAddress: '',
        proxyEgressIps: '',
      };
      const v1 = (await owner.put<FeatureConfigResponse>(url, { version: 1, config: good })).body;
      const cases: [string, unknown, string][] = [
        ['recordingCallbackUrl', 'ftp://example.com/x', 'URL_SCHEME'],
        ['recordingCallbackUrl', 'example.com/cb', 'URL_INVALID'],
        ['recordingCallbackUrl', 'https://user:pw@example.com/cb', 'URL_USERINFO'],
        ['recordingCallbackUrl', `https://example.com/${'a'.repeat(2040)}`, 'TOO_LONG'],
        ['roomCallbackUrl', 'javascript:alert(1)', 'URL_SCHEME'],
        ['roomCallbackUrl', 'https://exa mple.com/', 'URL_INVALID'],
        ['roomCallbackUrl', 'https://bad_host!.com/x', 'URL_INVALID'],
        ['proxyAddress', 'https://proxy.example.com', 'HOST_INVALID'],
        ['proxyAddress', 'proxy..example.com', 'HOST_INVALID'],
        ['proxyAddress', 'proxy.example.com:70000', 'PORT_INVALID'],
        ['proxyAddress', 'proxy.example.com:abc', 'PORT_INVALID'],
        ['proxyAddress', '-bad.example.com', 'HOST_INVALID'],
        ['proxyEgressIps', '1.2.3.4;1.2.3', 'IP_INVALID'],
        ['proxyEgressIps', '1.2.3.4;999.2.3.4', 'IP_INVALID'],
        ['proxyEgressIps', '1.2.3.4, 5.6.7.8', 'IP_INVALID'],
        ['proxyEgressIps', '1.2.3.4; 1.2.3.4', 'IP_DUPLICATE'],
        ['proxyEgressIps', '2001:db8::1;2001:DB8::1', 'IP_DUPLICATE'],
        ['proxyEgressIps', '2001:db8:::1', 'IP_INVALID'],
        ['proxyEgressIps', Array.from({ length: 33 }, (_, i) => `10.0.0.${i + 1}`).join(';'), 'TOO_MANY'],
        ['recordMaxMixedStreams', 0, 'OUT_OF_RANGE'],
        ['recordMaxMixedStreams', 17, 'OUT_OF_RANGE'],
        ['recordMaxMixedStreams', 2.5, 'TYPE'],
      ];
      for (const [field, value, reason] of cases) {
        const res = await owner.put(url, { version: v1.version, config: { ...good, [field]: value } });
        assert.equal(res.status, 400, `${field}=${String(value).slice(0, 40)}`);
        assert.equal(res.body['code'], 'VALIDATION_FAILED');
        assert.equal(res.body['field'], `config.${field}`, `${field}=${String(value).slice(0, 40)}`);
        assert.equal(res.body['reason'], reason, `${field}=${String(value).slice(0, 40)}`);
        assert.match(String(res.body['message']), new RegExp(field));
      }
      const wrongType = await owner.put(url, { version: v1.version, config: { ...good, autoRecord: 'yes' } });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body['field'], 'config.autoRecord');
      const badMediaType = await owner.put(url, {
        version: v1.version,
        config: { ...good, recordMediaType: 3 },
      });
      assert.equal(badMediaType.status, 400);
      assert.equal(badMediaType.body['field'], 'config.recordMediaType');
      const missingField = await owner.put(url, { version: v1.version, config: { autoRecord: true } });
      assert.equal(missingField.status, 400);
      assert.match(String(missingField.body['field']), /^config\./);
      const after = await owner.get<FeatureConfigResponse>(url);
      assert.deepEqual(after.body, v1, 'nothing was saved by the bad requests');
    });

    it('refuses a save based on an old version instead of overwriting', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Contended' })).body;
      const url = `${callAppsUrl()}/${app.bizName}/config`;
      const read = (await owner.get<FeatureConfigResponse>(url)).body;
      const first = await owner.put<FeatureConfigResponse>(url, {
        version: read.version,
        config: { ...read.config, roomCallbackUrl: 'https://first.example.com/' },
      });
      assert.equal(first.status, 200);
      const second = await owner.put(url, {
        version: read.version,
        config: { ...read.config, roomCallbackUrl: 'https://second.example.com/' },
      });
      assert.equal(second.status, 409);
      assert.equal(second.body['code'], 'VERSION_CONFLICT');
      const now = (await owner.get<FeatureConfigResponse>(url)).body;
      assert.equal(now.config.roomCallbackUrl, 'https://first.example.com/');
    });

    it('reveals the private key only after the password, and audits every reveal', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Keyed' })).body;
      const url = `${callAppsUrl()}/${app.bizName}/keys/reveal`;
      const noPassword = await owner.post(url, {});
      assert.equal(noPassword.status, 403);
      assert.equal(noPassword.body['code'], 'REAUTH_FAILED');
      assert.equal(noPassword.body['field'], 'password');
      const wrong = await owner.post(url, { password: 'not the password' });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.body['code'], 'REAUTH_FAILED');
      const ok = await owner.post<RevealedKey>(url, { password: adminPassword });
      assert.equal(ok.status, 200);
      assert.match(ok.body.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
      assert.equal(ok.body.keyId, app.key.keyId);
      // The revealed key signs the contract's string and the server's stored key verifies it.
      const text = `${app.bizName}default` + `default` + `user_1${Date.now() + 300_000}`;
      const signature = signWith(ok.body.privateKeyPem, text);
      const keys = await verificationKeys(server.services.db, app.bizName, Date.now());
      assert.equal(keys.length, 1);
      assert.ok(verifiesWith((keys[0] as { publicKeyPem: string }).publicKeyPem, text, signature));
      const audit = await owner.get<{ items: { action: string; targetId: string; actor: string }[] }>(
        `/api/v1/workspaces/default/audit?action=callApp.key.reveal&targetId=${app.bizName}`,
      );
      assert.equal(audit.body.items.length, 1);
      assert.equal(audit.body.items[0]?.actor, 'owner@example.com');
      // The key is encrypted at rest: the database never holds the PEM.
      const stored = await server.services.db
        .selectFrom('call_app_keys')
        .select('private_key_enc')
        .where('biz_name', '=', app.bizName)
        .executeTakeFirstOrThrow();
      assert.ok(!stored.private_key_enc.includes('PRIVATE KEY'));
      assert.ok(!stored.private_key_enc.includes(ok.body.privateKeyPem.split('\n')[1] as string));
    });

    it('rotates the key: the old one verifies during the grace period, then stops', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Rotated' })).body;
      const base = `${callAppsUrl()}/${app.bizName}/keys`;
      const oldPem = (await owner.post<RevealedKey>(`${base}/reveal`, { password: adminPassword })).body
        .privateKeyPem;
      const rotated = await owner.post<{ items: KeyInfo[] }>(`${base}/rotate`, {});
      assert.equal(rotated.status, 200);
      const [active, retiring] = rotated.body.items;
      assert.equal(active?.status, 'active');
      assert.notEqual(active?.keyId, app.key.keyId);
      assert.equal(retiring?.status, 'retiring');
      assert.equal(retiring?.keyId, app.key.keyId);
      const graceMs = (retiring?.retiresAt ?? 0) - Date.now();
      assert.ok(graceMs > 23.9 * 3600_000 && graceMs <= 24 * 3600_000, 'default grace is 24 h');
      const text = `${app.bizName}defaultdefaultalice${Date.now() + 60_000}`;
      const oldSignature = signWith(oldPem, text);
      const verifiesNow = async () =>
        (await verificationKeys(server.services.db, app.bizName, server.services.now())).some((k) =>
          verifiesWith(k.publicKeyPem, text, oldSignature),
        );
      assert.equal(await verifiesNow(), true, 'old key verifies in its grace period');
      server.advance(25 * 3600_000);
      assert.equal(await verifiesNow(), false, 'old key refused after the grace period');
      const listed = await owner.get<{ items: KeyInfo[] }>(base);
      assert.deepEqual(
        listed.body.items.map((k) => k.status),
        ['active', 'retired'],
      );
      server.advance(-25 * 3600_000);
    });

    it('ends a grace period early on request', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Retire early' })).body;
      const base = `${callAppsUrl()}/${app.bizName}/keys`;
      await owner.post(`${base}/rotate`, { graceHours: 48 });
      assert.equal((await verificationKeys(server.services.db, app.bizName, Date.now())).length, 2);
      const retired = await owner.post<{ items: KeyInfo[] }>(`${base}/${app.key.keyId}/retire`, {});
      assert.equal(retired.status, 200);
      assert.equal(retired.body.items.find((k) => k.keyId === app.key.keyId)?.status, 'retired');
      assert.equal((await verificationKeys(server.services.db, app.bizName, Date.now())).length, 1);
      const again = await owner.post(`${base}/${app.key.keyId}/retire`, {});
      assert.equal(again.status, 409);
      assert.equal(again.body['code'], 'KEY_NOT_RETIRING');
      const audit = await owner.get<{ items: { action: string }[] }>(
        `/api/v1/workspaces/default/audit?targetId=${app.bizName}`,
      );
      assert.deepEqual(
        audit.body.items.map((e) => e.action),
        ['callApp.key.retire', 'callApp.key.rotate', 'callApp.create'],
      );
    });

    it('records who changed what in the audit log, with before and after', async () => {
      const app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Audited' })).body;
      await owner.patch(`${callAppsUrl()}/${app.bizName}`, { name: 'Audited 2' });
      const audit = await owner.get<{
        items: { action: string; before: unknown; after: unknown; actor: string }[];
      }>(`/api/v1/workspaces/default/audit?action=callApp.rename&targetId=${app.bizName}`);
      assert.equal(audit.body.items.length, 1);
      assert.deepEqual(audit.body.items[0]?.before, { name: 'Audited' });
      assert.deepEqual(audit.body.items[0]?.after, { name: 'Audited 2' });
      const byActor = await owner.get<{ total: number }>(
        `/api/v1/workspaces/default/audit?actor=OWNER@example`,
      );
      assert.ok(byActor.body.total > 5);
      const future = await owner.get<{ total: number }>(
        `/api/v1/workspaces/default/audit?from=${Date.now() + 3600_000}`,
      );
      assert.equal(future.body.total, 0);
    });
  });
}
