/**
 * The console in real Chromium against a real server: the seed page's whole first hour.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../../server/test/chromium.js';
import type {
  CallApp,
  CallAppList,
  CallbackDelivery,
  CallbackDeliveryList,
  CallbackSecret,
  Credential,
  FeatureConfigResponse,
  LiveRoom,
  ProxySecret,
  ProxyTestResult,
  Recording,
  RecordingList,
} from '@parley/protocol';
import {
  ApiClient,
  adminEmail,
  adminPassword,
  callAppsUrl,
  memberClient,
  ownerClient,
  startTestServer,
  type TestServer,
} from '../../server/test/helpers.js';
import { Receiver } from '../../server/test/receiver.js';
import { startCoturn, type Coturn } from '../../server/test/coturn.js';

describe('console in Chromium', () => {
  let server: TestServer;
  let owner: ApiClient;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
    // playwright gives every launch a fresh, empty profile directory of its own.
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
  });

  async function signedInPage(email: string, password: string, locale = 'en-US'): Promise<Page> {
    const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    watchProblems(page);
    await page.goto(`${server.url}/`);
    await page.getByTestId('login-email').fill(email);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/w\/default\/apps\/default\/call-apps$/);
    return page;
  }

  // What went wrong in a page (API answers >= 400, page errors, console errors), so a failed
  // wait says why instead of only timing out.
  const problems = new WeakMap<Page, string[]>();
  function watchProblems(page: Page): void {
    const seen: string[] = [];
    problems.set(page, seen);
    page.on('response', (r) => {
      if (r.status() >= 400) seen.push(`${r.request().method()} ${r.url()} -> ${r.status()}`);
    });
    page.on('pageerror', (e) => seen.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') seen.push(`console: ${m.text()}`);
    });
  }
  function problemsOf(page: Page): string {
    return (problems.get(page) ?? []).join('\n') || '(no failed request, page error or console error)';
  }

  async function apiList(search: string): Promise<CallAppList> {
    return (await owner.get<CallAppList>(`${callAppsUrl()}?search=${encodeURIComponent(search)}`)).body;
  }

  it('refuses a wrong password on the login page with a message', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.getByTestId('login-email').fill(adminEmail);
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    const error = page.getByTestId('login-error');
    await error.waitFor();
    assert.match(await error.innerText(), /incorrect/i);
  });

  it('logs in, creates a call application and shows all five columns of the seed list', async () => {
    const page = await signedInPage(adminEmail, adminPassword);
    await page.getByTestId('create-call-app').click();
    const input = page.getByTestId('call-app-name-input');
    await input.fill('Browser made');
    assert.equal(await input.inputValue(), 'Browser made');
    const createCall = page.waitForResponse(
      (r) => r.request().method() === 'POST' && /\/call-apps$/.test(new URL(r.url()).pathname),
    );
    await page.getByTestId('call-app-create-ok').click();
    const answer = await createCall.catch((e: unknown) => {
      throw new Error(`no create request was sent: ${String(e)}\n${problemsOf(page)}`);
    });
    assert.equal(answer.status(), 201, `${await answer.text()}\n${problemsOf(page)}`);
    await page
      .getByTestId('cell-name')
      .getByText('Browser made', { exact: true })
      .waitFor()
      .catch((e: unknown) => {
        throw new Error(`the new row did not show: ${String(e)}\n${problemsOf(page)}`);
      });
    const created = (await apiList('Browser made')).items[0];
    assert.ok(created, 'the call application exists in the API');
    const row = page.getByTestId(`call-app-row-${created.bizName}`);
    await row.waitFor();
    assert.equal((await row.getByTestId('cell-name').innerText()).trim(), 'Browser made');
    assert.match(await row.getByTestId('cell-bizName').innerText(), new RegExp(created.bizName));
    assert.match(await row.getByTestId('cell-autoRecord').innerText(), /off|disabled/i);
    assert.match(await row.getByTestId('cell-createdAt').innerText(), /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    const keyCell = await row.getByTestId('cell-key').innerText();
    assert.ok(keyCell.includes(created.key.fingerprint.slice(-8)), keyCell);
    assert.ok(!keyCell.includes('PRIVATE'), 'the list shows the key masked');
    // The key cell links to the signing guide.
    const docsHref = await page.getByTestId(`view-docs-${created.bizName}`).getAttribute('href');
    assert.equal(docsHref, '/docs/signing');
  });

  it('reveals the private key after the password is re-entered', async () => {
    const page = await signedInPage(adminEmail, adminPassword);
    const app = (await apiList('Browser made')).items[0];
    assert.ok(app);
    await page.getByTestId(`view-key-${app.bizName}`).click();
    const password = page.getByTestId('reauth-password');
    await password.waitFor();
    await password.fill('wrong-password-123');
    await page.getByTestId('reauth-submit').click();
    await page.locator('.ant-modal .ant-form-item-explain-error').waitFor();
    await password.fill(adminPassword);
    await page.getByTestId('reauth-submit').click();
    const pem = page.getByTestId('private-key-pem');
    await pem.waitFor();
    assert.match(
      await pem.inputValue(),
      /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n?$/,
    );
    const audit = await owner.get<{ total: number }>(
      `/api/v1/workspaces/default/audit?action=callApp.key.reveal&targetId=${app.bizName}`,
    );
    assert.equal(audit.body.total, 1);
  });

  it('edits the name in place', async () => {
    const page = await signedInPage(adminEmail, adminPassword);
    const app = (await apiList('Browser made')).items[0];
    assert.ok(app);
    await page.getByTestId(`rename-${app.bizName}`).click();
    await page.getByTestId('rename-input').fill('Renamed in browser');
    await page.getByTestId('rename-input').press('Enter');
    await page
      .getByTestId(`call-app-row-${app.bizName}`)
      .getByTestId('cell-name')
      .getByText('Renamed in browser')
      .waitFor();
    const read = await owner.get<{ name: string }>(`${callAppsUrl()}/${app.bizName}`);
    assert.equal(read.body.name, 'Renamed in browser');
  });

  it('edits and saves the feature configuration, which persists after a reload', async () => {
    const page = await signedInPage(adminEmail, adminPassword);
    const app = (await apiList('Renamed in browser')).items[0];
    assert.ok(app);
    await page.getByTestId(`config-${app.bizName}`).click();
    await page.getByTestId('config-edit').click();
    await page.getByTestId('field-autoRecord').click();
    await page.getByTestId('field-recordingCallbackUrl').fill('https://biz.example.com/recording');
    await page.getByTestId('field-roomCallbackUrl').fill('https://biz.example.com/room');
    await page.getByTestId('field-proxyAddress').fill('proxy.example.com:3478');
    await page.getByTestId('field-proxyEgressIps').fill('203.0.113.5; 203.0.113.6');
    await page.getByTestId('config-save').click();
    await page.getByTestId('config-edit').waitFor();
    await page.reload();
    await page.getByTestId('config-edit').waitFor();
    assert.equal(
      await page.getByTestId('field-recordingCallbackUrl').inputValue(),
      'https://biz.example.com/recording',
    );
    assert.equal(
      await page.getByTestId('field-roomCallbackUrl').inputValue(),
      'https://biz.example.com/room',
    );
    assert.equal(await page.getByTestId('field-proxyAddress').inputValue(), 'proxy.example.com:3478');
    assert.equal(await page.getByTestId('field-proxyEgressIps').inputValue(), '203.0.113.5;203.0.113.6');
    assert.equal(await page.getByTestId('field-autoRecord').getAttribute('aria-checked'), 'true');
    const saved = await owner.get<FeatureConfigResponse>(`${callAppsUrl()}/${app.bizName}/config`);
    assert.equal(saved.body.config.autoRecord, true);
    assert.equal(saved.body.config.proxyEgressIps, '203.0.113.5;203.0.113.6');
    // Cancel discards edits.
    await page.getByTestId('config-edit').click();
    await page.getByTestId('field-roomCallbackUrl').fill('https://discarded.example.com/');
    await page.getByTestId('config-cancel').click();
    assert.equal(
      await page.getByTestId('field-roomCallbackUrl').inputValue(),
      'https://biz.example.com/room',
    );
  });

  it('shows a field error for an invalid URL and saves nothing', async () => {
    const page = await signedInPage(adminEmail, adminPassword);
    const app = (await apiList('Renamed in browser')).items[0];
    assert.ok(app);
    const before = (await owner.get<FeatureConfigResponse>(`${callAppsUrl()}/${app.bizName}/config`)).body;
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${app.bizName}/config`);
    await page.getByTestId('config-edit').click();
    await page.getByTestId('field-roomCallbackUrl').fill('ftp://biz.example.com/room');
    await page.getByTestId('config-save').click();
    const error = page.locator('.ant-form-item-has-error .ant-form-item-explain-error');
    await error.first().waitFor();
    assert.match(await error.first().innerText(), /http:\/\/ or https:\/\//);
    const formItem = page
      .locator('.ant-form-item-has-error')
      .filter({ has: page.getByTestId('field-roomCallbackUrl') });
    assert.equal(await formItem.count(), 1, 'the error sits on the room-status URL field');
    const after = (await owner.get<FeatureConfigResponse>(`${callAppsUrl()}/${app.bizName}/config`)).body;
    assert.deepEqual(after, before);
  });

  it('lets a viewer read but not edit, and never shows them keys', async () => {
    const viewerApi = await memberClient(server, owner, 'viewer');
    const session = await viewerApi.get<{ user: { email: string } }>('/api/v1/auth/session');
    const page = await signedInPage(session.body.user.email, 'viewer-password-123');
    const app = (await apiList('Renamed in browser')).items[0];
    assert.ok(app);
    const row = page.getByTestId(`call-app-row-${app.bizName}`);
    await row.waitFor();
    assert.equal(await page.getByTestId('create-call-app').count(), 0);
    assert.equal(await page.getByTestId(`view-key-${app.bizName}`).count(), 0);
    assert.equal(await page.getByTestId(`rename-${app.bizName}`).count(), 0);
    assert.equal(await page.getByTestId(`delete-${app.bizName}`).count(), 0);
    await page.getByTestId(`config-${app.bizName}`).click();
    await page.getByTestId('field-roomCallbackUrl').waitFor();
    assert.equal(await page.getByTestId('config-edit').count(), 0);
    assert.equal(await page.getByTestId('field-roomCallbackUrl').isEditable(), false);
    assert.equal(await page.getByTestId('rotate-key').count(), 0);
    assert.equal(await page.getByTestId('test-callback-room').count(), 0);
    assert.equal(await page.getByTestId('callback-signing-card').count(), 0);
  });

  it('shows a live room, closes it from the UI, and tries a call with a signed credential', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Rooms in browser' })).body;
    const roomsUrl = `${callAppsUrl()}/${callApp.bizName}/rooms`;
    const created = await owner.post<LiveRoom>(roomsUrl, {});
    assert.equal(created.status, 201);
    const roomId = created.body.roomId;

    const page = await signedInPage(adminEmail, adminPassword);
    const context = page.context();
    // The call page strips the credential from the address bar as it loads, and may not be built:
    // answer /call/ with a stub so the test sees the URL exactly as the console opened it.
    await context.route(/\/call\//, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<title>call</title>' }),
    );
    const decode = (url: URL): Credential => {
      const fragment = new URLSearchParams(url.hash.slice(1)).get('credential');
      assert.ok(fragment, url.href);
      return JSON.parse(Buffer.from(fragment, 'base64url').toString('utf8')) as Credential;
    };

    await page.getByTestId('call-app-search').fill('Rooms in browser');
    await page.getByTestId(`rooms-${callApp.bizName}`).click();
    await page.waitForURL(new RegExp(`/call-apps/${callApp.bizName}/rooms$`));
    const row = page.getByTestId(`room-row-${roomId}`);
    await row.waitFor();
    assert.match(await row.innerText(), /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);

    // Try a call: a credential from the server, opened in a new tab at /call/#credential=…
    const tryCredential = page.waitForResponse(
      (r) =>
        r.url().endsWith(`/call-apps/${callApp.bizName}/try-credential`) && r.request().method() === 'POST',
    );
    const [callTab] = await Promise.all([context.waitForEvent('page'), page.getByTestId('try-call').click()]);
    assert.equal((await tryCredential).status(), 200);
    await callTab.waitForURL(/\/call\/#credential=/);
    const callUrl = new URL(callTab.url());
    assert.equal(callUrl.pathname, '/call/');
    assert.equal(callUrl.search, '');
    const credential = decode(callUrl);
    assert.equal(credential.bizName, callApp.bizName);
    assert.equal(credential.appId, 'default');
    assert.equal(credential.workspaceId, 'default');
    assert.ok(Number(credential.expireTime) > Date.now() + 50 * 60_000, 'valid for about an hour');
    assert.equal(typeof credential.signature, 'string');
    await callTab.close();

    // With the room selected, "Join this room" opens /call/?room=<roomId>#credential=…
    await row.getByRole('radio').check();
    const [joinTab] = await Promise.all([
      context.waitForEvent('page'),
      page.getByTestId(`join-room-${roomId}`).click(),
    ]);
    await joinTab.waitForURL(/\/call\/\?room=.*#credential=/);
    const joinUrl = new URL(joinTab.url());
    assert.equal(joinUrl.searchParams.get('room'), roomId);
    assert.equal(decode(joinUrl).bizName, callApp.bizName);
    await joinTab.close();

    // Close the room from the UI; the API no longer lists it.
    await page.getByTestId(`room-close-${roomId}`).click();
    await page.getByTestId('confirm-room-close').click();
    await row.waitFor({ state: 'detached' });
    const live = await owner.get<{ items: LiveRoom[] }>(roomsUrl);
    assert.equal(live.status, 200);
    assert.ok(!live.body.items.some((r) => r.roomId === roomId), JSON.stringify(live.body));
    const audit = await owner.get<{ total: number }>(
      `/api/v1/workspaces/default/audit?action=room.close&targetId=${callApp.bizName}/${roomId}`,
    );
    assert.equal(audit.body.total, 1);
  });

  it('opens in Chinese for a Chinese browser and switches to English', async () => {
    const page = await signedInPage(adminEmail, adminPassword, 'zh-CN');
    await page.getByText('创建通话应用').first().waitFor();
    await page.getByRole('columnheader', { name: /自动录制状态/ }).waitFor();
    await page.getByTestId('lang-switch').click();
    await page.getByRole('columnheader', { name: /Auto-record/i }).waitFor();
    await page.reload();
    await page.getByRole('columnheader', { name: /Auto-record/i }).waitFor();
  });

  it('changes the password from the user menu, with field messages, and signs in with the new one', async () => {
    const email = 'changes-password@example.com';
    const first = 'first-password-123';
    const second = 'second-password-456';
    const added = await owner.post('/api/v1/workspaces/default/members', {
      email,
      role: 'developer',
      password: first,
    });
    assert.equal(added.status, 201);
    const page = await signedInPage(email, first);
    const fieldError = page.locator('.ant-modal .ant-form-item-explain-error');

    await page.getByTestId('user-menu').click();
    await page.getByTestId('change-password').click();
    await page.getByTestId('current-password').fill('not-my-password-0');
    await page.getByTestId('new-password').fill('short');
    await page.getByTestId('confirm-password').fill('short');
    await page.getByTestId('change-password-ok').click();
    await fieldError.first().waitFor();
    assert.match(await fieldError.first().innerText(), /at least 12 characters/i);

    await page.getByTestId('new-password').fill(second);
    await page.getByTestId('confirm-password').fill(second);
    await page.getByTestId('change-password-ok').click();
    await fieldError.getByText(/current password is incorrect/i).waitFor();

    await page.getByTestId('current-password').fill(first);
    await page.getByTestId('change-password-ok').click();
    await page
      .locator('.ant-message')
      .getByText(/Password changed/i)
      .waitFor();
    await page.getByTestId('current-password').waitFor({ state: 'detached' });

    await page.getByTestId('user-menu').click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-email').fill(email);
    await page.getByTestId('login-password').fill(second);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/w\/default\/apps\/default\/call-apps$/);
    const audit = await owner.get<{ items: { actor: string }[] }>(
      '/api/v1/workspaces/default/audit?action=user.password.change',
    );
    assert.ok(audit.body.items.some((e) => e.actor === email));

    // Sign out everywhere ends this browser's session and any other one.
    const elsewhere = await memberSession(email, second);
    await page.getByTestId('user-menu').click();
    await page.getByTestId('sign-out-everywhere').click();
    await page.getByTestId('sign-out-everywhere-ok').click();
    await page.getByTestId('login-email').waitFor();
    assert.equal((await elsewhere.get(callAppsUrl())).status, 401);
  });

  async function memberSession(email: string, password: string): Promise<ApiClient> {
    const client = new ApiClient(server.url);
    assert.equal((await client.login(email, password)).status, 200);
    return client;
  }
});

describe('console callbacks in Chromium', () => {
  let server: TestServer;
  let owner: ApiClient;
  let receiver: Receiver;
  let browser: Browser;

  before(async () => {
    receiver = await new Receiver().start();
    server = await startTestServer({
      overrides: { callbackAllowLoopback: true, callbackRetrySchedule: [0.05], callbackRetryJitter: 0 },
    });
    owner = await ownerClient(server);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await receiver?.stop();
  });

  it('sends a test callback, shows a failed delivery and redelivers it until it succeeds', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Callbacks in browser' })).body;
    const base = `${callAppsUrl()}/${callApp.bizName}`;
    const current = (await owner.get<FeatureConfigResponse>(`${base}/config`)).body;
    const saved = await owner.put(`${base}/config`, {
      version: current.version,
      config: { ...current.config, roomCallbackUrl: receiver.url('/room') },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));

    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/`);
    await page.getByTestId('login-email').fill(adminEmail);
    await page.getByTestId('login-password').fill(adminPassword);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/call-apps$/);
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/config`);

    // Send test callback: offered in read mode for the saved room URL, not for the empty recording URL.
    assert.equal(await page.getByTestId('test-callback-recording').isDisabled(), true);
    await page.getByTestId('test-callback-room').click();
    const result = page.getByTestId('test-callback-result');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-success'), 'true', await result.innerText());
    assert.match(await result.innerText(), /accepted[\s\S]*HTTP 200/i);
    assert.ok(
      receiver
        .successes()
        .some((r) => r.body['bizName'] === callApp.bizName && r.body['roomId'] === 'test_room'),
    );

    // The signing secret: masked until revealed, and the very secret the API lists.
    const secrets = (await owner.get<{ items: CallbackSecret[] }>(`${base}/callback-secrets`)).body.items;
    const activeSecret = secrets.find((s) => s.status === 'active');
    assert.ok(activeSecret);
    const secretText = page.getByTestId('callback-secret-active');
    assert.ok(!(await secretText.innerText()).includes(activeSecret.secret.slice(6, 20)));
    await page.getByTestId('callback-secret-reveal').click();
    assert.equal((await secretText.innerText()).trim(), activeSecret.secret);

    // A room created while the receiver answers 500: the first try and the one retry fail.
    receiver.behave = (body) => (body['bizName'] === callApp.bizName ? 'status500' : 'ok');
    const room = (await owner.post<LiveRoom>(`${base}/rooms`, {})).body;
    let event: CallbackDelivery | undefined;
    for (let i = 0; i < 100 && !event; i += 1) {
      const log = await owner.get<CallbackDeliveryList>(
        `${base}/callbacks?status=failed&roomId=${encodeURIComponent(room.roomId)}`,
      );
      event = log.body.items[0];
      if (!event) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(event, 'the room-created event ends failed');
    assert.equal(event.eventCode, 1);

    await page.getByTestId('config-callbacks').click();
    await page.waitForURL(new RegExp(`/call-apps/${callApp.bizName}/callbacks$`));
    await page.getByTestId('callback-filter-roomId').fill(room.roomId);
    const row = page.getByTestId(`callback-row-${event.eventId}`);
    await row.locator('[data-status="failed"]').waitFor();
    const rowText = await row.innerText();
    assert.match(rowText, /Room created/);
    assert.match(rowText, /HTTP 500/);

    // The expanded row: bizRequestId, the exact payload, and both attempts with their HTTP status.
    await row.getByRole('button', { name: /expand/i }).click();
    const payload = page.getByTestId(`callback-payload-${event.eventId}`);
    await payload.waitFor();
    assert.deepEqual(JSON.parse(await payload.innerText()), event.payload);
    const firstAttempt = page.getByTestId(`callback-attempt-${event.eventId}-1`);
    assert.match(await firstAttempt.innerText(), /HTTP 500[\s\S]*\d+ ms[\s\S]*boom/);
    await page.getByTestId(`callback-attempt-${event.eventId}-2`).waitFor();

    // Redeliver once the receiver is fixed: the row turns succeeded.
    receiver.behave = () => 'ok';
    await page.getByTestId(`callback-redeliver-${event.eventId}`).click();
    await page.getByTestId('confirm-redeliver').click();
    await row.locator('[data-status="succeeded"]').waitFor({ timeout: 15_000 });
    const sameId = receiver.received.filter((r) => r.body['bizRequestId'] === event.bizRequestId);
    assert.deepEqual(
      sameId.map((r) => r.answered),
      ['status500', 'status500', 'ok'],
    );
    const audit = await owner.get<{ total: number }>(
      `/api/v1/workspaces/default/audit?action=callback.redeliver&targetId=${callApp.bizName}`,
    );
    assert.equal(audit.body.total, 1);
    await context.close();
  });
});

describe('console recordings in Chromium', () => {
  let server: TestServer;
  let owner: ApiClient;
  let browser: Browser;
  let mediaDir: string;
  const contexts: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    owner = await ownerClient(server);
    browser = await launchChromium();
    mediaDir = mkdtempSync(path.join(tmpdir(), 'parley-console-rec-'));
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
    if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
  });

  async function signedInPage(email: string, password: string): Promise<Page> {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/`);
    await page.getByTestId('login-email').fill(email);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/call-apps$/);
    return page;
  }

  /** A real 3 s H.264/AAC MP4, as a finished recording would be. */
  function makeMp4(name: string): string {
    const file = path.join(mediaDir, name);
    execFileSync(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-y'],
        ...['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15', '-f', 'lavfi', '-i', 'sine', '-t', '3'],
        ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-movflags', '+faststart', file],
      ],
      { stdio: 'pipe' },
    );
    return file;
  }

  it('saves the recording options with field errors from the shared validation', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Recording options' })).body;
    const configUrl = `${callAppsUrl()}/${callApp.bizName}/config`;
    const initial = (await owner.get<FeatureConfigResponse>(configUrl)).body;
    assert.equal(initial.config.recordMediaType, 0);
    assert.equal(initial.config.recordMaxMixedStreams, 9);

    const page = await signedInPage(adminEmail, adminPassword);
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/config`);
    const mediaType = page.getByTestId('field-recordMediaType');
    const maxMixed = page.getByTestId('field-recordMaxMixedStreams');
    await mediaType.waitFor();
    // Read-only view shows the saved values.
    assert.match(await mediaType.innerText(), /Audio \+ video/);
    assert.equal(await maxMixed.inputValue(), '9');
    assert.equal(await maxMixed.isEditable(), false);

    await page.getByTestId('config-edit').click();
    await mediaType.click();
    await page.locator('.ant-select-item-option').filter({ hasText: 'Audio only' }).click();
    await page.getByTestId('max-mixed-streams-unused').waitFor();
    await maxMixed.fill('4');
    await page.getByTestId('config-save').click();
    await page.getByTestId('config-edit').waitFor();
    const saved = (await owner.get<FeatureConfigResponse>(configUrl)).body;
    assert.equal(saved.config.recordMediaType, 1);
    assert.equal(saved.config.recordMaxMixedStreams, 4);
    await page.reload();
    await page.getByTestId('config-edit').waitFor();
    assert.match(await mediaType.innerText(), /Audio only/);
    assert.equal(await maxMixed.inputValue(), '4');

    // Out of range: the field error of the shared validator, and nothing saved.
    const fieldError = page
      .locator('.ant-form-item-has-error')
      .filter({ has: maxMixed })
      .locator('.ant-form-item-explain-error');
    for (const wrong of ['17', '0']) {
      await page.getByTestId('config-edit').click();
      await maxMixed.fill(wrong);
      await page.getByTestId('config-save').click();
      await fieldError.waitFor();
      assert.equal(await fieldError.innerText(), 'Enter a whole number from 1 to 16');
      assert.equal(await page.locator('.ant-form-item-has-error').count(), 1);
      assert.deepEqual((await owner.get<FeatureConfigResponse>(configUrl)).body, saved);
      await page.getByTestId('config-cancel').click();
      assert.equal(await maxMixed.inputValue(), '4');
      await fieldError.waitFor({ state: 'detached' });
    }

    // The server's own check answers the same way (config.recordMaxMixedStreams, OUT_OF_RANGE).
    const refused = await owner.put<{ field: string; reason: string }>(configUrl, {
      version: saved.version,
      config: { ...saved.config, recordMaxMixedStreams: 17 },
    });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.field, 'config.recordMaxMixedStreams');
    assert.equal(refused.body.reason, 'OUT_OF_RANGE');
  });

  it('starts and stops recording a live room from the rooms page, and shows why a start is refused', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Record a room' })).body;
    const base = `${callAppsUrl()}/${callApp.bizName}`;
    const roomId = (await owner.post<LiveRoom>(`${base}/rooms`, {})).body.roomId;
    const page = await signedInPage(adminEmail, adminPassword);
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/rooms`);
    const start = page.getByTestId(`room-record-start-${roomId}`);
    const stop = page.getByTestId(`room-record-stop-${roomId}`);
    const tag = page.getByTestId(`room-recording-${roomId}`);
    await start.waitFor();
    assert.equal(await stop.count(), 0, 'a room not being recorded offers start only');

    await start.click();
    await page.getByText(`Recording room ${roomId}.`).waitFor();
    await tag.and(page.locator('[data-status="recording"]')).waitFor();
    await stop.waitFor();
    assert.equal(await start.count(), 0);
    const active = (await owner.get<RecordingList>(`${base}/recordings?status=recording`)).body;
    assert.deepEqual(
      active.items.map((r) => [r.roomId, r.trigger]),
      [[roomId, 'api']],
    );

    await stop.click();
    await page.getByTestId('confirm-record-stop').click();
    await page.getByText(`Recording of room ${roomId} stopped`).waitFor();
    // Finishing, then (no media in this room) failed: the room can be recorded again.
    await start.waitFor({ timeout: 15_000 });
    for (const action of ['recording.start', 'recording.stop']) {
      const audit = await owner.get<{ total: number }>(`/api/v1/workspaces/default/audit?action=${action}`);
      assert.equal(audit.body.total, 1, action);
    }

    // While the recordings cannot be read the state is unknown: both actions, the server decides.
    await page.route(/\/recordings\?status=/, (route) => route.abort());
    await page.getByTestId(`room-row-${roomId}`).getByText('Unknown').waitFor();
    await stop.waitFor();
    const startedElsewhere = await owner.post(`${base}/rooms/${roomId}/recording`, {});
    assert.equal(startedElsewhere.status, 201, JSON.stringify(startedElsewhere.body));
    await start.click();
    await page.locator('.ant-message').getByText('This room is already being recorded').waitFor();
    // The message of the first stop may still show: wait until it is gone, then for the new one.
    const stoppedMessages = page.locator('.ant-message').getByText(`Recording of room ${roomId} stopped`);
    for (const deadline = Date.now() + 15_000; (await stoppedMessages.count()) > 0 && Date.now() < deadline;)
      await page.waitForTimeout(100);
    assert.equal(await stoppedMessages.count(), 0, 'the first stop message has faded');
    await stop.click();
    await page.getByTestId('confirm-record-stop').click();
    await stoppedMessages.first().waitFor();
    await page.unroute(/\/recordings\?status=/);
    const stillRecording = (await owner.get<RecordingList>(`${base}/recordings?status=recording`)).body;
    assert.equal(stillRecording.total, 0, JSON.stringify(stillRecording));
  });

  it('lists, plays, downloads and deletes recordings', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Recordings in browser' })).body;
    const base = `${callAppsUrl()}/${callApp.bizName}`;
    const doneFile = makeMp4('done.mp4');
    const keptFile = path.join(mediaDir, 'kept.mp4');
    copyFileSync(doneFile, keptFile);
    const now = Date.now();
    const row = (recordId: string, startedAt: number) => ({
      record_id: recordId,
      workspace_id: 'default',
      app_id: 'default',
      biz_name: callApp.bizName,
      room_id: `room_${recordId}`,
      trigger: 'auto' as const,
      media_type: 0,
      started_at: startedAt,
      record_start_time: startedAt + 200,
      ended_at: startedAt + 3200,
      storage: 'local' as const,
      file_type: 1,
      object_key: null,
      updated_at: now,
    });
    await server.db.db
      .insertInto('recordings')
      .values([
        {
          ...row('rec_done', now - 60_000),
          status: 'done',
          duration_ms: 3000,
          size_bytes: statSync(doneFile).size,
          file_path: doneFile,
          local_path: doneFile,
          failure_code: null,
          failure_message: null,
        },
        {
          ...row('rec_failed', now - 50_000),
          trigger: 'api',
          status: 'failed',
          duration_ms: null,
          size_bytes: null,
          storage: null,
          file_type: null,
          file_path: null,
          local_path: null,
          failure_code: 100102,
          failure_message: 'ffmpeg exited with code 1',
        },
        {
          ...row('rec_kept', now - 40_000),
          media_type: 1,
          status: 'done',
          duration_ms: 3000,
          size_bytes: statSync(keptFile).size,
          file_path: keptFile,
          local_path: keptFile,
          failure_code: 100201,
          failure_message: 'upload failed after 4 attempts',
        },
      ])
      .execute();

    const page = await signedInPage(adminEmail, adminPassword);
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/config`);
    await page.getByTestId('config-recordings').click();
    await page.waitForURL(new RegExp(`/call-apps/${callApp.bizName}/recordings$`));

    const done = page.getByTestId('recording-row-rec_done');
    const failed = page.getByTestId('recording-row-rec_failed');
    const kept = page.getByTestId('recording-row-rec_kept');
    await done.locator('[data-status="done"]').waitFor();
    await failed.locator('[data-status="failed"]').waitFor();
    await kept.locator('[data-status="done"]').waitFor();
    const doneText = await done.innerText();
    assert.match(doneText, /room_rec_done/);
    assert.match(doneText, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    assert.match(doneText, /0:03/);
    assert.match(doneText, /\d+(\.\d+)? KB/);
    assert.match(doneText, /Audio \+ video/);
    assert.match(doneText, /Local disk/);
    assert.match(doneText, /Auto/);
    const failedText = await failed.innerText();
    assert.match(failedText, /100102 Could not convert the recording file format/);
    assert.match(failedText, /ffmpeg exited with code 1/);
    assert.match(failedText, /API/);
    assert.equal(await page.getByTestId('recording-play-rec_failed').isDisabled(), true);
    assert.match(await kept.innerText(), /Audio only/);
    assert.match(
      await page.getByTestId('recording-failure-rec_kept').innerText(),
      /upload to object storage failed; the file was kept/i,
    );
    // Newest first.
    const order = await page
      .locator('[data-testid^="recording-row-"]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-testid')));
    assert.deepEqual(order, ['recording-row-rec_kept', 'recording-row-rec_failed', 'recording-row-rec_done']);

    // Filters: status, then room ID.
    await page.getByTestId('recording-filter-status').click();
    await page.locator('.ant-select-item-option').filter({ hasText: 'Failed' }).click();
    await done.waitFor({ state: 'detached' });
    assert.equal(await failed.count(), 1);
    await page.getByTestId('recording-filter-reset').click();
    await page.getByTestId('recording-filter-roomId').fill('room_rec_kept');
    await failed.waitFor({ state: 'detached' });
    assert.equal(await kept.count(), 1);
    await page.getByTestId('recording-filter-reset').click();
    await done.waitFor();

    // Play: the file in a <video>, same origin, authorised by the session cookie.
    await page.getByTestId('recording-play-rec_done').click();
    const video = page.getByTestId('recording-video');
    await video.waitFor();
    await page.waitForFunction(
      () => {
        const v = document.querySelector<HTMLVideoElement>('[data-testid="recording-video"]');
        return v !== null && (v.readyState >= 2 || v.error !== null);
      },
      undefined,
      { timeout: 15_000 },
    );
    const state = await page.evaluate(() => {
      const v = document.querySelector<HTMLVideoElement>('[data-testid="recording-video"]');
      return { readyState: v?.readyState, duration: v?.duration, error: v?.error?.message ?? null };
    });
    assert.equal(state.error, null, JSON.stringify(state));
    assert.ok((state.readyState ?? 0) >= 2, JSON.stringify(state));
    assert.ok(Math.abs((state.duration ?? 0) - 3) < 0.3, JSON.stringify(state));
    await page.getByTestId('recording-player-close').click();
    await video.waitFor({ state: 'detached' });

    // Download: an attachment.
    const href = await page.getByTestId('recording-download-rec_done').getAttribute('href');
    assert.ok(href, 'the download link has a URL');
    const recording = (await owner.get<Recording>(`${base}/recordings/rec_done`)).body;
    assert.equal(href, `${recording.fileUrl}?download=true`);
    const download = await page.request.get(new URL(href, server.url).href);
    assert.equal(download.status(), 200);
    assert.match(download.headers()['content-disposition'] ?? '', /^attachment/);
    assert.equal((await download.body()).length, statSync(doneFile).size);

    // Delete, after confirming: the row goes, and so does the recording.
    await page.getByTestId('recording-delete-rec_done').click();
    await page.getByTestId('confirm-recording-delete').click();
    await done.waitFor({ state: 'detached' });
    const gone = await owner.get(`${base}/recordings/rec_done`);
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
    assert.equal(gone.body['code'], 'RECORDING_NOT_FOUND');
    const list = (await owner.get<RecordingList>(`${base}/recordings`)).body;
    assert.deepEqual(
      list.items.map((r) => r.recordId),
      ['rec_kept', 'rec_failed'],
    );
    const audit = await owner.get<{ total: number }>(
      '/api/v1/workspaces/default/audit?action=recording.delete&targetId=rec_done',
    );
    assert.equal(audit.body.total, 1);

    // A viewer plays and downloads, but deletes nothing.
    const viewerApi = await memberClient(server, owner, 'viewer');
    const session = await viewerApi.get<{ user: { email: string } }>('/api/v1/auth/session');
    const viewer = await signedInPage(session.body.user.email, 'viewer-password-123');
    await viewer.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/recordings`);
    await viewer.getByTestId('recording-play-rec_kept').waitFor();
    assert.equal(await viewer.getByTestId('recording-download-rec_kept').count(), 1);
    assert.equal(await viewer.locator('[data-testid^="recording-delete-"]').count(), 0);
  });
});

describe('console media-stream proxy in Chromium', () => {
  let server: TestServer;
  let owner: ApiClient;
  let browser: Browser;
  let coturn: Coturn | undefined;
  let silent: dgram.Socket | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    // Test proxy reaches a coturn (and a silent port) on 127.0.0.1, which it refuses unless listed.
    server = await startTestServer({ overrides: { proxyProbeAllowNetworks: ['127.0.0.0/8'] } });
    owner = await ownerClient(server);
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
    await coturn?.stop();
    silent?.close();
  });

  async function signedInPage(email: string, password: string): Promise<Page> {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/`);
    await page.getByTestId('login-email').fill(email);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/call-apps$/);
    return page;
  }

  /** A UDP port on 127.0.0.1 where nothing listens (bound, then closed: the kernel answers ICMP). */
  async function closedUdpPort(): Promise<number> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(resolve));
    return port;
  }

  it('reveals and rotates the TURN secret, tests the proxy in the form, and saves it', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Proxy in browser' })).body;
    const base = `${callAppsUrl()}/${callApp.bizName}`;
    const page = await signedInPage(adminEmail, adminPassword);
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/config`);

    // The explanation and the warning; Test proxy is disabled while the address is empty.
    await page.getByTestId('proxy-warning').waitFor();
    const card = page.getByTestId('proxy-card');
    assert.match(await card.innerText(), /relay-only/);
    assert.match(await card.innerText(), /egress IPs/);
    const testButton = page.getByTestId('proxy-test');
    assert.equal(await testButton.isDisabled(), true);

    // The secret: hidden until Show, then the very secret the API reads; the coturn config has it.
    const secretText = page.getByTestId('proxy-secret');
    const snippet = page.getByTestId('proxy-coturn-config');
    assert.match(await secretText.innerText(), /^•+$/);
    assert.equal(await page.getByTestId('proxy-coturn-copy').isDisabled(), true);
    await page.getByTestId('proxy-secret-reveal').click();
    await page.getByTestId('proxy-secret-copy').waitFor();
    const shownSecret = (await secretText.innerText()).trim();
    const apiSecret = (await owner.get<ProxySecret>(`${base}/proxy-secret`)).body;
    assert.equal(shownSecret, apiSecret.secret);
    const config = await snippet.innerText();
    assert.match(config, /^use-auth-secret$/m);
    assert.ok(config.includes(`static-auth-secret=${apiSecret.secret}\n`), config);
    assert.match(config, /^realm=parley$/m);
    assert.match(config, /^listening-port=3478$/m);
    assert.equal(await page.getByTestId('proxy-coturn-copy').isDisabled(), false);
    assert.equal(await page.getByTestId('proxy-docs-link').getAttribute('href'), '/docs/media-proxy');

    // A real coturn with that secret: the address typed in (not saved) works.
    coturn = await startCoturn({ secret: apiSecret.secret, listenIp: '127.0.0.1' });
    const turn = coturn;
    await page.getByTestId('config-edit').click();
    const address = page.getByTestId('field-proxyAddress');
    await address.fill(turn.address);
    // The snippet follows the port in the field.
    await snippet.filter({ hasText: new RegExp(`listening-port=${turn.port}\\b`) }).waitFor();
    const result = page.getByTestId('proxy-test-result');
    const runTest = async (): Promise<void> => {
      const answer = page.waitForResponse(
        (r) =>
          r.url().endsWith(`/call-apps/${callApp.bizName}/proxy/test`) && r.request().method() === 'POST',
      );
      await testButton.click();
      assert.equal((await answer).status(), 200);
      await result.waitFor();
    };
    await runTest();
    assert.equal(
      await result.getAttribute('data-success'),
      'true',
      `${await result.innerText()}\n${turn.logTail()}`,
    );
    const relayed = (await page.getByTestId('proxy-test-relayed').innerText()).trim();
    assert.match(relayed, /^127\.0\.0\.1:\d+$/);
    const relayedPort = Number(relayed.split(':')[1]);
    assert.ok(relayedPort >= turn.minPort && relayedPort <= turn.maxPort, relayed);
    const okText = await result.innerText();
    assert.match(okText, /The proxy works/);
    assert.match(okText, /\d+ ms/);
    assert.match(okText, /not saved yet/);

    // Rotated in the UI (confirmed): coturn still has the old secret, so the credentials fail.
    await page.getByTestId('proxy-secret-rotate').click();
    await page.getByTestId('confirm-proxy-secret-rotate').click();
    await page.waitForFunction(
      ([old]) => {
        const text = document.querySelector('[data-testid="proxy-secret"]')?.textContent?.trim();
        return text !== undefined && text !== old && !text.includes('•');
      },
      [shownSecret],
    );
    const rotated = (await secretText.innerText()).trim();
    assert.equal(rotated, (await owner.get<ProxySecret>(`${base}/proxy-secret`)).body.secret);
    assert.ok((await snippet.innerText()).includes(`static-auth-secret=${rotated}\n`));
    await runTest();
    assert.equal(await result.getAttribute('data-success'), 'false');
    assert.equal(await result.getAttribute('data-stage'), 'credentials', await result.innerText());
    assert.match(await result.innerText(), /Bad credentials: the proxy does not have this shared secret/);

    // Nothing listens: refused, with the server's sentence.
    await address.fill(`127.0.0.1:${await closedUdpPort()}`);
    await runTest();
    assert.equal(await result.getAttribute('data-stage'), 'refused', await result.innerText());
    assert.match(await result.innerText(), /The proxy refused the connection/);
    assert.match(await page.getByTestId('proxy-test-message').innerText(), /refused/);

    // A UDP socket that never answers: timeout.
    silent = dgram.createSocket('udp4');
    const silentSocket = silent;
    await new Promise<void>((resolve) => silentSocket.bind(0, '127.0.0.1', resolve));
    await address.fill(`127.0.0.1:${silentSocket.address().port}`);
    await runTest();
    assert.equal(await result.getAttribute('data-stage'), 'timeout', await result.innerText());
    assert.match(await result.innerText(), /The proxy did not answer/);

    // An invalid address: the server's 400 shows on the field, no result.
    await address.fill('turn://bad example');
    await testButton.click();
    const fieldError = page
      .locator('.ant-form-item')
      .filter({ has: address })
      .locator('.ant-form-item-explain-error');
    await fieldError.waitFor();
    assert.equal(await address.getAttribute('aria-invalid'), 'true');
    assert.match(await fieldError.innerText(), /host name/);
    assert.equal(await result.count(), 0);

    // Cleared: Test proxy is disabled again.
    await address.fill('');
    await page.locator('[data-testid="proxy-test"]:disabled').waitFor();

    // Saved with the egress IPs; persisted after a reload, and the saved address tests fine outside edit mode.
    await address.fill(turn.address);
    await page.getByTestId('field-proxyEgressIps').fill('127.0.0.1; 203.0.113.7');
    await page.getByTestId('config-save').click();
    await page.getByTestId('config-edit').waitFor();
    await page.reload();
    await page.getByTestId('config-edit').waitFor();
    assert.equal(await address.inputValue(), turn.address);
    assert.equal(await page.getByTestId('field-proxyEgressIps').inputValue(), '127.0.0.1;203.0.113.7');
    const saved = (await owner.get<FeatureConfigResponse>(`${base}/config`)).body;
    assert.equal(saved.config.proxyAddress, turn.address);
    assert.equal(saved.config.proxyEgressIps, '127.0.0.1;203.0.113.7');
    assert.match(await page.getByTestId('proxy-secret').innerText(), /^•+$/, 'hidden again after a reload');
    await runTest();
    assert.equal(await result.getAttribute('data-stage'), 'credentials', 'coturn still has the old secret');
    assert.doesNotMatch(await result.innerText(), /not saved yet/);

    // The API agrees with what the page showed; reveal and rotation are audited.
    const apiTest = await owner.post<ProxyTestResult>(`${base}/proxy/test`, {});
    assert.equal(apiTest.body.stage, 'credentials');
    for (const [action, count] of [
      ['proxy.secret.reveal', 3],
      ['proxy.secret.rotate', 1],
    ] as const) {
      const audit = await owner.get<{ total: number }>(
        `/api/v1/workspaces/default/audit?action=${action}&targetId=${callApp.bizName}`,
      );
      assert.equal(audit.body.total, count, action);
    }
  });

  it('shows a viewer the proxy settings but no secret and no Test proxy', async () => {
    const callApp = (await owner.post<CallApp>(callAppsUrl(), { name: 'Proxy for viewers' })).body;
    const viewerApi = await memberClient(server, owner, 'viewer');
    const denied = await viewerApi.get(`${callAppsUrl()}/${callApp.bizName}/proxy-secret`);
    assert.equal(denied.status, 403);
    const session = await viewerApi.get<{ user: { email: string } }>('/api/v1/auth/session');
    const page = await signedInPage(session.body.user.email, 'viewer-password-123');
    await page.goto(`${server.url}/w/default/apps/default/call-apps/${callApp.bizName}/config`);
    await page.getByTestId('field-proxyAddress').waitFor();
    await page.getByTestId('proxy-warning').waitFor();
    assert.equal(await page.getByTestId('proxy-test').count(), 0);
    assert.equal(await page.getByTestId('proxy-secret-panel').count(), 0);
    assert.equal(await page.getByTestId('proxy-secret').count(), 0);
    assert.equal(await page.getByTestId('proxy-coturn-config').count(), 0);
  });
});
