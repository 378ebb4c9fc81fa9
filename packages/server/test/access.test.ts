import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { CallApp, CreatedToken, FeatureConfigResponse, Member, Session } from '@parley/protocol';
import {
  ApiClient,
  adminEmail,
  adminPassword,
  callAppsUrl,
  memberClient,
  ownerClient,
  startTestServer,
  type TestServer,
} from './helpers.js';

describe('console sign-in and sessions', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ overrides: { loginMaxFailures: 3, loginWindowSeconds: 60 } });
  });
  after(() => server.stop());

  it('signs in with the owner from PARLEY_ADMIN_EMAIL/PASSWORD and sets a HttpOnly SameSite cookie', async () => {
    const client = new ApiClient(server.url);
    const res = await client.post<Session>('/api/v1/auth/login', {
      email: 'OWNER@example.com ',
      password: adminPassword,
    });
    assert.equal(res.status, 200);
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^parley_session=/);
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Strict/i);
    assert.equal(res.body.user.email, adminEmail);
    assert.deepEqual(
      res.body.workspaces.map((w) => [w.workspaceId, w.role]),
      [['default', 'owner']],
    );
    client.csrf = res.body.csrfToken;
    const session = await client.get<Session>('/api/v1/auth/session');
    assert.equal(session.status, 200);
    assert.equal(session.body.csrfToken, res.body.csrfToken);
  });

  it('answers 401 without a session and after logout', async () => {
    const anonymous = new ApiClient(server.url);
    const res = await anonymous.get(callAppsUrl());
    assert.equal(res.status, 401);
    assert.equal(res.body['code'], 'UNAUTHENTICATED');
    const client = await ownerClient(server);
    assert.equal((await client.post('/api/v1/auth/logout')).status, 204);
    const stale = new ApiClient(server.url);
    stale.cookie = client.cookie || 'parley_session=whatever';
    assert.equal((await stale.get(callAppsUrl())).status, 401);
  });

  it('refuses a cookie-authenticated change without the CSRF token', async () => {
    const client = await ownerClient(server);
    const token = client.csrf;
    client.csrf = '';
    const res = await client.post(callAppsUrl(), { name: 'csrf' });
    assert.equal(res.status, 403);
    assert.equal(res.body['code'], 'CSRF_TOKEN_INVALID');
    client.csrf = 'x'.repeat(token.length);
    assert.equal((await client.post(callAppsUrl(), { name: 'csrf' })).status, 403);
    client.csrf = token;
    assert.equal((await client.post(callAppsUrl(), { name: 'csrf' })).status, 201);
  });

  it('rate-limits failed sign-ins and says when to retry, without blocking other users', async () => {
    const client = new ApiClient(server.url);
    for (let i = 0; i < 3; i += 1) {
      const res = await client.post('/api/v1/auth/login', {
        email: 'victim@example.com',
        password: 'wrong-password',
      });
      assert.equal(res.status, 401);
      assert.equal(res.body['code'], 'INVALID_LOGIN');
    }
    const limited = await client.post('/api/v1/auth/login', {
      email: 'victim@example.com',
      password: 'wrong-password',
    });
    assert.equal(limited.status, 429);
    assert.equal(limited.body['code'], 'LOGIN_RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
    assert.equal(
      (await client.login(adminEmail, adminPassword)).status,
      200,
      'another account still signs in',
    );
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /parley_login_failures_total 3/);
  });
});

describe('roles', () => {
  let server: TestServer;
  let owner: ApiClient;
  let app: CallApp;
  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
    app = (await owner.post<CallApp>(callAppsUrl(), { name: 'Shared' })).body;
  });
  after(() => server.stop());

  it('lets a viewer read the list and config but change nothing and never see keys', async () => {
    const viewer = await memberClient(server, owner, 'viewer');
    const list = await viewer.get<{ total: number }>(callAppsUrl());
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 1);
    const config = await viewer.get<FeatureConfigResponse>(`${callAppsUrl()}/${app.bizName}/config`);
    assert.equal(config.status, 200);
    const attempts = [
      viewer.post(callAppsUrl(), { name: 'nope' }),
      viewer.patch(`${callAppsUrl()}/${app.bizName}`, { name: 'nope' }),
      viewer.delete(`${callAppsUrl()}/${app.bizName}`),
      viewer.put(`${callAppsUrl()}/${app.bizName}/config`, {
        version: config.body.version,
        config: { ...config.body.config, autoRecord: true },
      }),
      viewer.post(`${callAppsUrl()}/${app.bizName}/keys/reveal`, { password: 'viewer-password-123' }),
      viewer.post(`${callAppsUrl()}/${app.bizName}/keys/rotate`, {}),
      viewer.get('/api/v1/workspaces/default/audit'),
      viewer.get('/api/v1/workspaces/default/members'),
    ];
    for (const res of await Promise.all(attempts)) {
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body['code'], 'FORBIDDEN');
    }
    const after = await owner.get<FeatureConfigResponse>(`${callAppsUrl()}/${app.bizName}/config`);
    assert.equal(after.body.version, config.body.version);
    assert.equal((await owner.get<CallApp>(`${callAppsUrl()}/${app.bizName}`)).body.name, 'Shared');
  });

  it('lets a developer create, configure and reveal keys but not delete or manage members', async () => {
    const dev = await memberClient(server, owner, 'developer');
    const created = await dev.post<CallApp>(callAppsUrl(), { name: 'Dev app' });
    assert.equal(created.status, 201);
    const reveal = await dev.post(`${callAppsUrl()}/${created.body.bizName}/keys/reveal`, {
      password: 'developer-password-123',
    });
    assert.equal(reveal.status, 200);
    assert.equal((await dev.delete(`${callAppsUrl()}/${created.body.bizName}`)).status, 403);
    assert.equal(
      (
        await dev.post('/api/v1/workspaces/default/members', {
          email: 'x@example.com',
          role: 'viewer',
          password: 'long-enough-pw',
        })
      ).status,
      403,
    );
  });

  it('keeps admins from granting admin or owner; only owners do', async () => {
    const admin = await memberClient(server, owner, 'admin');
    const res = await admin.post('/api/v1/workspaces/default/members', {
      email: 'boss@example.com',
      role: 'owner',
      password: 'long-enough-pw',
    });
    assert.equal(res.status, 403);
    const viewerAdded = await admin.post<Member>('/api/v1/workspaces/default/members', {
      email: 'ok@example.com',
      role: 'viewer',
      password: 'long-enough-pw',
    });
    assert.equal(viewerAdded.status, 201);
    const promoted = await admin.patch<Member>(
      `/api/v1/workspaces/default/members/${viewerAdded.body.userId}`,
      { role: 'developer' },
    );
    assert.equal(promoted.status, 200);
    assert.equal(promoted.body.role, 'developer');
    const audit = await owner.get<{ items: { before: unknown; after: unknown }[] }>(
      '/api/v1/workspaces/default/audit?action=member.role&targetId=ok@example.com',
    );
    assert.deepEqual(audit.body.items[0], {
      ...audit.body.items[0],
      before: { role: 'viewer' },
      after: { role: 'developer' },
    });
  });

  it('never leaves a workspace without an owner', async () => {
    const members = await owner.get<{ items: Member[] }>('/api/v1/workspaces/default/members');
    const me = members.body.items.find((m) => m.email === adminEmail) as Member;
    const res = await owner.patch(`/api/v1/workspaces/default/members/${me.userId}`, { role: 'admin' });
    assert.equal(res.status, 409);
    assert.equal(res.body['code'], 'LAST_OWNER');
    assert.equal((await owner.delete(`/api/v1/workspaces/default/members/${me.userId}`)).status, 409);
  });

  it('hides other workspaces from non-members', async () => {
    const other = await owner.post('/api/v1/workspaces', { workspaceId: 'other_ws', name: 'Other' });
    assert.equal(other.status, 201);
    const dev = await memberClient(server, owner, 'developer');
    const res = await dev.get(callAppsUrl('other_ws'));
    assert.equal(res.status, 404);
    assert.equal(res.body['code'], 'WORKSPACE_NOT_FOUND');
    const dup = await owner.post('/api/v1/workspaces', { workspaceId: 'other_ws', name: 'Again' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body['code'], 'WORKSPACE_EXISTS');
  });
});

describe('apps', () => {
  let server: TestServer;
  let owner: ApiClient;
  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
  });
  after(() => server.stop());

  it('creates an app with the customer-chosen mPaaS appId and refuses a bad or duplicate one', async () => {
    const res = await owner.post('/api/v1/workspaces/default/apps', {
      appId: 'ALIPUB059F038311550',
      name: 'Mobile',
    });
    assert.equal(res.status, 201);
    const dup = await owner.post('/api/v1/workspaces/default/apps', {
      appId: 'ALIPUB059F038311550',
      name: 'Again',
    });
    assert.equal(dup.status, 409);
    assert.equal(dup.body['field'], 'appId');
    const bad = await owner.post('/api/v1/workspaces/default/apps', { appId: 'has space', name: 'x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['field'], 'appId');
    const generated = await owner.post<{ appId: string }>('/api/v1/workspaces/default/apps', {
      name: 'Generated',
    });
    assert.match(generated.body.appId, /^APP[A-Z0-9]{13}$/);
  });

  it('refuses to delete an app that still has call applications', async () => {
    await owner.post('/api/v1/workspaces/default/apps', { appId: 'busy', name: 'Busy' });
    const ca = await owner.post<CallApp>(callAppsUrl('default', 'busy'), { name: 'in use' });
    const res = await owner.delete('/api/v1/workspaces/default/apps/busy');
    assert.equal(res.status, 409);
    assert.equal(res.body['code'], 'APP_NOT_EMPTY');
    assert.equal((await owner.get(`${callAppsUrl('default', 'busy')}/${ca.body.bizName}`)).status, 200);
    await owner.delete(`${callAppsUrl('default', 'busy')}/${ca.body.bizName}`);
    assert.equal((await owner.delete('/api/v1/workspaces/default/apps/busy')).status, 204);
  });
});

describe('API tokens', () => {
  let server: TestServer;
  let owner: ApiClient;
  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
  });
  after(() => server.stop());

  it('authenticates automation with Authorization: Bearer, without CSRF, with the token role', async () => {
    const created = await owner.post<CreatedToken>('/api/v1/workspaces/default/tokens', {
      name: 'ci',
      role: 'developer',
    });
    assert.equal(created.status, 201);
    assert.match(created.body.secret, /^parley_[A-Za-z0-9_-]{43}$/);
    const bot = new ApiClient(server.url);
    bot.bearer = created.body.secret;
    const made = await bot.post<CallApp>(callAppsUrl(), { name: 'by token' });
    assert.equal(made.status, 201);
    const key = await bot.post(`${callAppsUrl()}/${made.body.bizName}/keys/reveal`, {});
    assert.equal(key.status, 200, 'tokens reveal keys without a password, and it is audited');
    assert.equal(
      (await bot.delete(`${callAppsUrl()}/${made.body.bizName}`)).status,
      403,
      'developer token cannot delete',
    );
    const audit = await owner.get<{ items: { actor: string }[] }>(
      `/api/v1/workspaces/default/audit?action=callApp.key.reveal`,
    );
    assert.equal(audit.body.items[0]?.actor, `token:ci (${adminEmail})`);
    const listed = await owner.get<{ items: { tokenId: string; prefix: string }[] }>(
      '/api/v1/workspaces/default/tokens',
    );
    assert.equal(listed.body.items[0]?.prefix, created.body.secret.slice(0, 13));
    assert.ok(!JSON.stringify(listed.body).includes(created.body.secret));
    assert.equal(
      (await owner.delete(`/api/v1/workspaces/default/tokens/${created.body.token.tokenId}`)).status,
      204,
    );
    const revoked = await bot.get(callAppsUrl());
    assert.equal(revoked.status, 401);
  });

  it('refuses a token with a role above the creator, and a viewer token cannot write', async () => {
    const viewer = await memberClient(server, owner, 'viewer');
    assert.equal((await viewer.post('/api/v1/workspaces/default/tokens', { name: 'x' })).status, 403);
    const dev = await memberClient(server, owner, 'developer');
    const tooHigh = await dev.post('/api/v1/workspaces/default/tokens', { name: 'x', role: 'admin' });
    assert.equal(tooHigh.status, 400);
    assert.equal(tooHigh.body['field'], 'role');
    const ro = await owner.post<CreatedToken>('/api/v1/workspaces/default/tokens', {
      name: 'ro',
      role: 'viewer',
    });
    const bot = new ApiClient(server.url);
    bot.bearer = ro.body.secret;
    assert.equal((await bot.get(callAppsUrl())).status, 200);
    assert.equal((await bot.post(callAppsUrl(), { name: 'x' })).status, 403);
  });

  it('rejects unknown, malformed and expired tokens', async () => {
    const bot = new ApiClient(server.url);
    for (const secret of ['parley_unknown', 'garbage']) {
      bot.bearer = secret;
      const res = await bot.get(callAppsUrl());
      assert.equal(res.status, 401);
      assert.equal(res.body['code'], 'UNAUTHENTICATED');
    }
    const expiring = await owner.post<CreatedToken>('/api/v1/workspaces/default/tokens', {
      name: 'short',
      expiresInDays: 1,
    });
    bot.bearer = expiring.body.secret;
    assert.equal((await bot.get(callAppsUrl())).status, 200);
    server.advance(2 * 86400_000);
    assert.equal((await bot.get(callAppsUrl())).status, 401);
    server.advance(-2 * 86400_000);
  });
});

describe('HTTP surface', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it('serves health, readiness, Prometheus metrics and the OpenAPI document', async () => {
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: 'ok' });
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as {
      status: string;
      recording: { available: boolean; ffmpeg?: { source: string } };
    };
    assert.equal(ready.status, 'ready');
    assert.equal(ready.recording.available, true, 'the system ffmpeg was found');
    assert.equal(ready.recording.ffmpeg?.source, 'system');
    const metrics = await fetch(`${server.url}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(
      await metrics.text(),
      /parley_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/,
    );
    const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(doc.openapi, '3.0.3');
    const callApps = doc.paths['/api/v1/workspaces/{workspaceId}/apps/{appId}/call-apps/{bizName}/config'];
    assert.ok(callApps?.['get'] && callApps['put'], 'config endpoints are documented');
    const committed = JSON.parse(
      readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8'),
    ) as unknown;
    assert.deepEqual(doc, committed, 'docs/openapi.json is current: run npm run docs:openapi');
    const ui = await fetch(`${server.url}/api/v1/docs/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
  });

  it('requires Authorization: Bearer <metricsToken> for /metrics when the token is set', async () => {
    const token = 'metrics-token-0123456789';
    const guarded = await startTestServer({ overrides: { metricsToken: token } });
    try {
      const scrape = (authorization?: string) =>
        fetch(`${guarded.url}/metrics`, authorization ? { headers: { authorization } } : {});
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
        const res = await scrape(authorization);
        assert.equal(res.status, 401, String(authorization));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="metrics"');
        assert.equal(((await res.json()) as { code: string }).code, 'UNAUTHENTICATED');
      }
      const ok = await scrape(`Bearer ${token}`);
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /parley_http_requests_total/);
      assert.equal((await fetch(`${guarded.url}/healthz`)).status, 200, 'health stays open');
    } finally {
      await guarded.stop();
    }
  });

  it('answers unknown API paths and malformed JSON with the one error shape', async () => {
    const res = await fetch(`${server.url}/api/v1/nope`);
    assert.equal(res.status, 404);
    assert.deepEqual(Object.keys((await res.json()) as object).sort(), ['code', 'message']);
    const client = await ownerClient(server);
    const bad = await fetch(`${server.url}${callAppsUrl()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.csrf },
      body: '{"name":',
    });
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { code: string };
    assert.equal(body.code, 'BAD_REQUEST');
  });

  it('takes a DELETE (or POST) sent as application/json with no body, and still refuses malformed JSON', async () => {
    const client = await ownerClient(server);
    const app = (await client.post<CallApp>(callAppsUrl(), { name: 'Deleted by a JSON client' })).body;
    const headers = {
      'content-type': 'application/json',
      cookie: client.cookie,
      'x-csrf-token': client.csrf,
    };
    const rotated = await fetch(`${server.url}${callAppsUrl()}/${app.bizName}/keys/rotate`, {
      method: 'POST',
      headers,
    });
    assert.equal(rotated.status, 200, await rotated.text());
    const deleted = await fetch(`${server.url}${callAppsUrl()}/${app.bizName}`, {
      method: 'DELETE',
      headers,
    });
    assert.equal(deleted.status, 204, await deleted.text());
    assert.equal((await client.get(`${callAppsUrl()}/${app.bizName}`)).status, 404);
    const space = await fetch(`${server.url}${callAppsUrl()}/${app.bizName}`, {
      method: 'DELETE',
      headers,
      body: ' {',
    });
    assert.equal(space.status, 400);
    assert.equal(((await space.json()) as { code: string }).code, 'BAD_REQUEST');
  });

  it('renders the signing guide the console links to', async () => {
    const res = await fetch(`${server.url}/docs/signing`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /SHA256withRSA/);
    assert.match(
      html,
      /bizName \+ appId \+ workspaceId \+ uid \+ expireTime|bizName\+appId\+workspaceId\+uid\+expireTime/,
    );
    assert.equal((await fetch(`${server.url}/docs/..%2Fpackage`)).status, 404);
  });
});
