/**
 * Sign-in limits, the proxy setting, password change, signing out everywhere, and tokens made
 * with tokens (issue 10, "Sign-in, sessions, tokens").
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditList, CreatedToken } from '@parley/protocol';
import {
  ApiClient,
  adminEmail,
  adminPassword,
  callAppsUrl,
  memberClient,
  ownerClient,
  startTestServer,
  type DbKind,
  type TestServer,
} from './helpers.js';

const loginUrl = '/api/v1/auth/login';

/** One sign-in with raw headers (a device cookie, X-Forwarded-For), as a browser or a proxy would send. */
async function signIn(
  server: TestServer,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; code: string | undefined; retryAfter: string | null; setCookies: string[] }> {
  const res = await fetch(server.url + loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { code?: string };
  return {
    status: res.status,
    code: body.code,
    retryAfter: res.headers.get('retry-after'),
    setCookies: res.headers.getSetCookie(),
  };
}

/** `name=value` of the device cookie among a response's Set-Cookie headers. */
function deviceCookieOf(setCookies: string[]): string {
  const found = setCookies.find((c) => c.startsWith('parley_device='));
  assert.ok(found, `a device cookie is set: ${JSON.stringify(setCookies)}`);
  return found.split(';')[0] as string;
}

describe('sign-in limits', () => {
  let server: TestServer;
  let owner: ApiClient;
  before(async () => {
    server = await startTestServer({ overrides: { loginMaxFailures: 5, loginWindowSeconds: 60 } });
    owner = await ownerClient(server); // before the owner's account is flooded below
  });
  after(() => server.stop());

  it('checks at most loginMaxFailures of 40 parallel wrong passwords; the rest get 429 with Retry-After', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, () => signIn(server, 'parallel@example.com', 'wrong-password-123')),
    );
    const refused = results.filter((r) => r.status === 401);
    const limited = results.filter((r) => r.status === 429);
    assert.ok(refused.length >= 1 && refused.length <= 5, `${refused.length} passwords were checked`);
    assert.equal(refused.length + limited.length, 40);
    for (const r of refused) assert.equal(r.code, 'INVALID_LOGIN');
    for (const r of limited) {
      assert.equal(r.code, 'LOGIN_RATE_LIMITED');
      const wait = Number(r.retryAfter);
      assert.ok(wait >= 1 && wait <= 60, `retry-after ${r.retryAfter}`);
    }
  });

  it("lets the owner's known device sign in while others' failures lock out unknown devices", async () => {
    const first = await signIn(server, adminEmail, adminPassword);
    assert.equal(first.status, 200);
    const device = deviceCookieOf(first.setCookies);
    const attributes = first.setCookies.find((c) => c.startsWith('parley_device=')) ?? '';
    assert.match(attributes, /HttpOnly/i);
    assert.match(attributes, /SameSite=Strict/i);
    assert.match(attributes, /Path=\/api\/v1\/auth/);

    // An attacker behind the same address floods the owner's account with wrong passwords.
    const flood = await Promise.all(
      Array.from({ length: 30 }, () => signIn(server, adminEmail, 'guess-password-000')),
    );
    assert.ok(flood.some((r) => r.status === 429));

    const unknownDevice = await signIn(server, adminEmail, adminPassword);
    assert.equal(unknownDevice.status, 429, 'without the device cookie the owner is limited too');
    assert.equal(unknownDevice.code, 'LOGIN_RATE_LIMITED');

    const forged = await signIn(server, adminEmail, adminPassword, {
      cookie: device.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
    });
    assert.equal(forged.status, 429, 'an altered device cookie counts as an unknown device');

    const known = await signIn(server, adminEmail, adminPassword, { cookie: device });
    assert.equal(known.status, 200, 'the known device still signs in');
  });

  it('gives a known device its own small budget, for its account only', async () => {
    const email = 'device-budget@example.com';
    const password = 'device-budget-pass-1';
    const added = await owner.post('/api/v1/workspaces/default/members', { email, role: 'viewer', password });
    assert.equal(added.status, 201);
    const device = deviceCookieOf((await signIn(server, email, password)).setCookies);
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await signIn(server, email, 'wrong-password-123', { cookie: device })).status, 401);
    }
    const limited = await signIn(server, email, password, { cookie: device });
    assert.equal(limited.status, 429, 'the device used up its own budget');
    // The same cookie is not a known device for another account.
    const other = await signIn(server, 'someone-else@example.com', 'wrong-password-123', { cookie: device });
    assert.equal(other.status, 401);
  });
});

describe('trustProxy decides the client address', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  /** Two failures from 203.0.113.1, then one attempt from each address; returns the two statuses. */
  async function secondAddressAfterTwoFailures(server: TestServer): Promise<[number, number]> {
    const email = 'proxied@example.com';
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (let i = 0; i < 2; i += 1)
      assert.equal((await signIn(server, email, 'wrong-password-123', from('203.0.113.1'))).status, 401);
    const same = await signIn(server, email, 'wrong-password-123', from('203.0.113.1'));
    const other = await signIn(server, email, 'wrong-password-123', from('203.0.113.2'));
    return [same.status, other.status];
  }

  it('with trustProxy set, X-Forwarded-For names the client', async () => {
    const server = await startTestServer({
      overrides: { loginMaxFailures: 2, loginWindowSeconds: 60, trustProxy: ['127.0.0.1/32'] },
    });
    servers.push(server);
    assert.deepEqual(await secondAddressAfterTwoFailures(server), [429, 401]);
  });

  it('with a hop count, X-Forwarded-For names the client', async () => {
    const server = await startTestServer({
      overrides: { loginMaxFailures: 2, loginWindowSeconds: 60, trustProxy: 1 },
    });
    servers.push(server);
    assert.deepEqual(await secondAddressAfterTwoFailures(server), [429, 401]);
  });

  it('without trustProxy, X-Forwarded-For is ignored', async () => {
    const server = await startTestServer({ overrides: { loginMaxFailures: 2, loginWindowSeconds: 60 } });
    servers.push(server);
    assert.deepEqual(await secondAddressAfterTwoFailures(server), [429, 429]);
  });
});

for (const db of ['sqlite', 'postgres'] as DbKind[]) {
  describe(`password change and signing out everywhere (${db})`, () => {
    let server: TestServer;
    let owner: ApiClient;
    before(async () => {
      server = await startTestServer({ db });
      owner = await ownerClient(server);
    });
    after(() => server.stop());

    /** A member with a known password, signed in twice (two browsers). */
    async function memberTwice(): Promise<{ email: string; password: string; a: ApiClient; b: ApiClient }> {
      const email = `pw-${Math.random().toString(36).slice(2, 10)}@example.com`;
      const password = 'first-password-123';
      const added = await owner.post('/api/v1/workspaces/default/members', {
        email,
        role: 'developer',
        password,
      });
      assert.equal(added.status, 201);
      const a = new ApiClient(server.url);
      const b = new ApiClient(server.url);
      assert.equal((await a.login(email, password)).status, 200);
      assert.equal((await b.login(email, password)).status, 200);
      return { email, password, a, b };
    }

    it('changes the password: field errors first, then other sessions end and the new one signs in', async () => {
      const { email, password, a, b } = await memberTwice();
      const url = '/api/v1/auth/password';

      const wrong = await a.post(url, {
        currentPassword: 'not-my-password',
        newPassword: 'second-password-456',
      });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.body['code'], 'REAUTH_FAILED');
      assert.equal(wrong.body['field'], 'currentPassword');

      const weak = await a.post(url, { currentPassword: password, newPassword: 'short' });
      assert.equal(weak.status, 400);
      assert.equal(weak.body['field'], 'newPassword');
      assert.equal(weak.body['reason'], 'TOO_SHORT');

      const same = await a.post(url, { currentPassword: password, newPassword: password });
      assert.equal(same.status, 400);
      assert.equal(same.body['field'], 'newPassword');

      const empty = await a.post(url, { currentPassword: '', newPassword: 'second-password-456' });
      assert.equal(empty.status, 403);
      assert.equal(empty.body['field'], 'currentPassword');

      const changed = await a.post(url, { currentPassword: password, newPassword: 'second-password-456' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body['sessionsEnded'], 1);

      assert.equal((await a.get(callAppsUrl())).status, 200, 'the session that changed it stays');
      assert.equal((await b.get(callAppsUrl())).status, 401, 'the other session is signed out');
      assert.equal((await new ApiClient(server.url).login(email, password)).status, 401);
      assert.equal((await new ApiClient(server.url).login(email, 'second-password-456')).status, 200);

      const audit = await owner.get<AuditList>(
        '/api/v1/workspaces/default/audit?action=user.password.change',
      );
      const entry = audit.body.items.find((e) => e.actor === email);
      assert.ok(entry, 'the change is audited');
      assert.deepEqual(entry.after, { sessionsEnded: 1 });
    });

    it('refuses a password change made with an API token', async () => {
      const created = await owner.post<CreatedToken>('/api/v1/workspaces/default/tokens', { name: 'pw' });
      const bot = new ApiClient(server.url);
      bot.bearer = created.body.secret;
      const res = await bot.post('/api/v1/auth/password', {
        currentPassword: adminPassword,
        newPassword: 'token-chosen-password',
      });
      assert.equal(res.status, 403);
      assert.equal(res.body['code'], 'FORBIDDEN');
      assert.equal((await new ApiClient(server.url).login(adminEmail, adminPassword)).status, 200);
    });

    it('signs out everywhere, and with revokeTokens revokes the API tokens too', async () => {
      const { email, a, b } = await memberTwice();
      const made = await a.post<CreatedToken>('/api/v1/workspaces/default/tokens', { name: 'mine' });
      assert.equal(made.status, 201);
      const bot = new ApiClient(server.url);
      bot.bearer = made.body.secret;

      const url = '/api/v1/auth/sessions/revoke-all';
      const ended = await a.post(url, {});
      assert.equal(ended.status, 200);
      assert.deepEqual(ended.body, { sessionsEnded: 2, tokensRevoked: 0 });
      assert.equal((await a.get(callAppsUrl())).status, 401);
      assert.equal((await b.get(callAppsUrl())).status, 401);
      assert.equal((await bot.get(callAppsUrl())).status, 200, 'tokens stay unless asked');

      assert.equal((await b.login(email, 'first-password-123')).status, 200);
      const all = await b.post(url, { revokeTokens: true });
      assert.deepEqual(all.body, { sessionsEnded: 1, tokensRevoked: 1 });
      assert.equal((await bot.get(callAppsUrl())).status, 401);
      assert.equal((await b.get(callAppsUrl())).status, 401);

      const audit = await owner.get<AuditList>(
        '/api/v1/workspaces/default/audit?action=user.sessions.revoke',
      );
      const entries = audit.body.items.filter((e) => e.actor === email).map((e) => e.after);
      assert.deepEqual(entries, [
        { sessionsEnded: 1, tokensRevoked: 1 },
        { sessionsEnded: 2, tokensRevoked: 0 },
      ]);
    });

    it('refuses signing out everywhere without the CSRF token', async () => {
      const { a } = await memberTwice();
      a.csrf = '';
      const res = await a.post('/api/v1/auth/sessions/revoke-all', {});
      assert.equal(res.status, 403);
      assert.equal(res.body['code'], 'CSRF_TOKEN_INVALID');
    });
  });
}

describe('tokens made with tokens', () => {
  let server: TestServer;
  let owner: ApiClient;
  const tokensUrl = '/api/v1/workspaces/default/tokens';
  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
  });
  after(() => server.stop());

  async function tokenClient(body: Record<string, unknown>, as = owner): Promise<[ApiClient, CreatedToken]> {
    const created = await as.post<CreatedToken>(tokensUrl, body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const bot = new ApiClient(server.url);
    bot.bearer = created.body.secret;
    return [bot, created.body];
  }

  it("gets its parent's expiry when none is asked, and a longer one is refused naming expiresInDays", async () => {
    const [parentBot, parent] = await tokenClient({ name: 'parent', expiresInDays: 2 });
    const [, child] = await tokenClient({ name: 'child' }, parentBot);
    assert.equal(child.token.expiresAt, parent.token.expiresAt);
    assert.equal(child.token.parentTokenId, parent.token.tokenId);

    const tooLong = await parentBot.post(tokensUrl, { name: 'long', expiresInDays: 30 });
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body['field'], 'expiresInDays');
    assert.equal(tooLong.body['reason'], 'OUT_OF_RANGE');

    const [, shorter] = await tokenClient({ name: 'shorter', expiresInDays: 1 }, parentBot);
    assert.ok((shorter.token.expiresAt ?? Infinity) < (parent.token.expiresAt ?? 0));
  });

  it('cannot outrank its parent', async () => {
    const [viewerBot] = await tokenClient({ name: 'viewer', role: 'viewer' });
    const refused = await viewerBot.post(tokensUrl, { name: 'x' });
    assert.equal(refused.status, 403, 'a viewer token cannot make tokens');
    const [devBot] = await tokenClient({ name: 'dev', role: 'developer' });
    const higher = await devBot.post(tokensUrl, { name: 'admin child', role: 'admin' });
    assert.equal(higher.status, 400);
    assert.equal(higher.body['field'], 'role');
    const [, child] = await tokenClient({ name: 'dev child' }, devBot);
    assert.equal(child.token.role, 'developer');
  });

  it('is revoked with its parent, grandchildren included', async () => {
    const [parentBot, parent] = await tokenClient({ name: 'root' });
    const [childBot] = await tokenClient({ name: 'root child' }, parentBot);
    const [grandchildBot] = await tokenClient({ name: 'root grandchild' }, childBot);
    assert.equal((await grandchildBot.get(callAppsUrl())).status, 200);
    assert.equal((await owner.delete(`${tokensUrl}/${parent.token.tokenId}`)).status, 204);
    assert.equal((await childBot.get(callAppsUrl())).status, 401);
    assert.equal((await grandchildBot.get(callAppsUrl())).status, 401);
    const listed = await owner.get<{ items: { name: string }[] }>(tokensUrl);
    assert.ok(!listed.body.items.some((t) => t.name === 'root child' || t.name === 'root grandchild'));
  });

  it('ends when its parent expires', async () => {
    const [parentBot] = await tokenClient({ name: 'day', expiresInDays: 1 });
    const [childBot] = await tokenClient({ name: 'day child' }, parentBot);
    assert.equal((await childBot.get(callAppsUrl())).status, 200);
    server.advance(2 * 86400_000);
    try {
      assert.equal((await childBot.get(callAppsUrl())).status, 401);
    } finally {
      server.advance(-2 * 86400_000);
    }
  });

  it('a member removed from the workspace loses the tokens their tokens made', async () => {
    const dev = await memberClient(server, owner, 'developer');
    const [devBot] = await tokenClient({ name: 'dev token' }, dev);
    const [childBot] = await tokenClient({ name: 'dev token child' }, devBot);
    const me = await dev.get<{ user: { userId: string } }>('/api/v1/auth/session');
    assert.equal(
      (await owner.delete(`/api/v1/workspaces/default/members/${me.body.user.userId}`)).status,
      204,
    );
    assert.equal((await childBot.get(callAppsUrl())).status, 401);
  });
});
