// The console in a real browser against a real `parley serve` process and a real database:
// sign-in (lockout, forced password change), admin pages, canned replies, language switch,
// session expiry. Writes build/screenshots/login.png and admin-users.png.
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { base32Decode, hotp, totpStep } from '../../src/platform/crypto/totp.ts';
import { launchChromium, recordProblems, screenshot as takeScreenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const consoleDist = path.join(root, 'web/console/dist');
const ADMIN_PASSWORD = 'first-admin-password-1';
const NEW_ADMIN_PASSWORD = 'a-much-better-password-2';

let server: ServerProcess | undefined;
// (Made once: a start again on another port keeps them.)
const encryptionKeys = `k1:${randomBytes(32).toString('base64')}`;
const lookupKey = randomBytes(32).toString('base64');
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let baseUrl: string;
let databaseUrl: string;
const pageProblems: string[] = [];
let agentOneTimePassword = '';
/** The admin's authenticator secret once two-factor sign-in is on (what a phone app would hold). */
let adminTotpSecret: Buffer | undefined;
/** The next code an authenticator app would show (the step after the last one used). */
function nextTotpCode(): string {
  return hotp(adminTotpSecret!, totpStep(Date.now()) + 1);
}

beforeAll(async () => {
  if (!existsSync(path.join(consoleDist, 'index.html'))) {
    throw new Error('web/console/dist is missing: run "make build" (make test does it) first');
  }
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  server = await startServer(database.url, (port) => ({
    PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PARLEY_INITIAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
    PARLEY_CONSOLE_DIR: consoleDist,
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3',
    LOGIN_LOCKOUT_BASE_SECONDS: '30',
    // Two-factor secrets are stored encrypted; without a key ring 2FA cannot be turned on.
    PARLEY_ENCRYPTION_KEYS: encryptionKeys,
    PARLEY_LOOKUP_KEY: lookupKey,
  }));
  baseUrl = server.base;
  browser = await launched;
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  page = await context.newPage();
  page.setDefaultTimeout(5000);
  await recordProblems(context, page, pageProblems);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const screenshot = (file: string) => takeScreenshot(page, file);

const byTest = (id: string) => `[data-test="${id}"]`;

describe('the console in a real browser', () => {
  it('serves the built app with hashed, immutable assets and no CSP violations', async () => {
    const index = await fetch(`${baseUrl}/admin/users`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script bodies
    const asset = /src="(\/assets\/index-[\w-]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${baseUrl}${asset}`);
    expect(js.headers.get('cache-control')).toContain('immutable');
  });

  it('shows the login page in Chinese by default and a lockout plainly', async () => {
    await page.goto(`${baseUrl}/admin/users`);
    await page.waitForURL(/\/login\?redirect=/);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await expect.poll(() => page.locator('h2').textContent()).toBe('登录');
    await screenshot('login.png');

    for (let i = 0; i < 2; i++) {
      await page.fill(byTest('username'), 'nobody');
      await page.fill(byTest('password'), `wrong-${i}`);
      await page.click(byTest('login-submit'));
      await expect
        .poll(() => page.locator(byTest('login-error')).textContent())
        .toContain('用户名或密码错误');
    }
    await page.fill(byTest('password'), 'wrong-3');
    await page.click(byTest('login-submit'));
    await expect.poll(() => page.locator(byTest('login-error')).textContent()).toMatch(/请在 \d+ 秒后重试/);
    expect(await page.locator(byTest('login-submit')).isDisabled()).toBe(true);
  });

  it('signs the first admin in, forces a password change, and returns to the page asked for', async () => {
    await page.goto(`${baseUrl}/admin/users`);
    await page.fill(byTest('username'), 'admin');
    await page.fill(byTest('password'), ADMIN_PASSWORD);
    await page.click(byTest('login-submit'));
    await page.waitForURL(/\/password\?redirect=/);
    // The rest of the console stays out of reach until the password is changed.
    await page.goto(`${baseUrl}/canned-replies`);
    await page.waitForURL(/\/password\?redirect=/);
    await page.fill(byTest('current-password'), ADMIN_PASSWORD);
    await page.fill(byTest('new-password'), NEW_ADMIN_PASSWORD);
    await page.fill(byTest('repeat-password'), NEW_ADMIN_PASSWORD);
    await page.click(byTest('change-password-submit'));
    await page.waitForURL(`${baseUrl}/canned-replies`);
    // The navigation shows what an admin may use.
    const nav = await page.locator(byTest('nav')).textContent();
    expect(nav).toContain('用户');
    expect(nav).toContain('团队');
    expect(nav).toContain('快捷回复');
  });

  it('creates a user whose one-time password is shown once and really works', async () => {
    await page.click(byTest('nav-users'));
    await page.waitForURL(`${baseUrl}/admin/users`);
    await page.click(byTest('create-user'));
    await page.fill(byTest('new-username'), 'li.na');
    await page.fill(byTest('new-display-name'), '李娜 <b>bold</b>');
    await page.click(byTest('create-user-submit'));
    const otpInput = page.locator(byTest('one-time-password'));
    await otpInput.waitFor();
    const otp = await otpInput.inputValue();
    agentOneTimePassword = otp;
    expect(otp.length).toBeGreaterThanOrEqual(10);
    await page.click(byTest('copy-password'));
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(otp);
    await page.keyboard.press('Escape');
    await otpInput.waitFor({ state: 'hidden' });

    const row = page.locator(`${byTest('users-table')} tr`, { hasText: 'li.na' });
    await row.waitFor();
    // User text is text: the markup in the display name is shown, not rendered.
    expect(await row.textContent()).toContain('李娜 <b>bold</b>');
    expect(await row.locator('b').count()).toBe(0);

    const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'li.na', password: otp }),
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { user: { mustChangePassword: boolean } }).user.mustChangePassword).toBe(
      true,
    );
  });

  it('creates a team and adds the new user to it', async () => {
    await page.click(byTest('nav-teams'));
    await page.waitForURL(`${baseUrl}/admin/teams`);
    await page.click(byTest('create-team'));
    await page.fill(byTest('team-name'), '售前');
    await page.click(byTest('team-save'));
    const card = page.locator(byTest('team-售前'));
    await card.waitFor();
    await card.locator(byTest('add-member-select-售前')).click();
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'li.na' }).click();
    await page.click(byTest('add-member-售前'));
    await card.locator(byTest('member-li.na')).waitFor();
    await screenshot('admin-teams.png');

    await page.click(byTest('nav-users'));
    await page.locator(`${byTest('users-table')} tr`, { hasText: '售前' }).waitFor();
    await screenshot('admin-users.png');
  });

  it('creates a canned reply with placeholders; markup in it stays text', async () => {
    await page.click(byTest('nav-canned-replies'));
    await page.click(byTest('create-canned'));
    await page.fill(byTest('canned-shortcut'), 'hi');
    await page.fill(
      byTest('canned-body'),
      '您好 {{contact.name}}，我是 {{agent.name}} <img src=x onerror=alert(1)>',
    );
    await expect
      .poll(() => page.locator(byTest('canned-preview')).textContent())
      .toBe('您好 张三，我是 Administrator <img src=x onerror=alert(1)>');
    await page.click(byTest('canned-save'));
    const row = page.locator(`${byTest('canned-table')} tr`, { hasText: '/hi' });
    await row.waitFor();
    expect(await row.textContent()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator(`${byTest('canned-table')} img`).count()).toBe(0);
    // A few more, through the same API the page uses, for a representative picture.
    const statuses = await page.evaluate(async () => {
      const post = (body: object) =>
        fetch('/api/v1/canned-replies', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then((r) => r.status);
      return [
        await post({
          scope: 'global',
          shortcut: 'thanks',
          category: '通用',
          body: '感谢您的耐心等待，{{contact.name|您}}！还有其他可以帮您的吗？',
        }),
        await post({
          scope: 'personal',
          shortcut: 'refund',
          category: '售后',
          body: '退款会在 3–5 个工作日内原路退回，请留意银行通知。',
        }),
      ];
    });
    expect(statuses).toEqual([201, 201]);
    await page.reload();
    await page.locator(`${byTest('canned-table')} tr`, { hasText: '/refund' }).waitFor();
    await screenshot('canned-replies.png');
  });

  it('answers a visitor from the inbox with a canned reply; visitor text stays text; drafts survive', async () => {
    // A visitor starts a conversation through the widget API.
    const widget = async (method: string, url: string, body?: object, token?: string) => {
      const res = await fetch(`${baseUrl}${url}`, {
        method,
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, `${method} ${url}: ${await res.clone().text()}`).toBeLessThan(300);
      return res.json() as Promise<Record<string, unknown>>;
    };
    const { token } = (await widget('POST', '/api/v1/widget/session', { name: '王芳' })) as { token: string };
    const conversation = (await widget('POST', '/api/v1/widget/conversations', undefined, token)) as {
      id: string;
    };
    await widget(
      'POST',
      `/api/v1/widget/conversations/${conversation.id}/messages`,
      { clientId: 'visitor-msg-0001', text: '你好 <img src=x onerror=alert(1)>' },
      token,
    );

    await page.click(byTest('nav-inbox'));
    await page.click('#tab-all');
    const item = page.locator(byTest(`conversation-${conversation.id}`));
    await item.click();
    const thread = page.locator(byTest('thread'));
    await thread.locator(byTest('message-1')).waitFor();
    expect(await thread.textContent()).toContain('你好 <img src=x onerror=alert(1)>');
    expect(await thread.locator('img').count()).toBe(0);
    await page.click(byTest('claim'));
    await expect.poll(() => page.locator('.thread-header').textContent()).toContain('Administrator');

    // "/" opens the canned replies; Enter inserts one with the placeholders filled.
    await page.fill(byTest('composer'), '/thank');
    await page.locator(byTest('canned-menu')).waitFor();
    await page.press(byTest('composer'), 'Enter');
    expect(await page.inputValue(byTest('composer'))).toBe('感谢您的耐心等待，王芳！还有其他可以帮您的吗？');
    await page.press(byTest('composer'), 'Enter');
    // The optimistic copy is replaced by the server's (matched by client id): one message, numbered.
    await expect.poll(() => page.locator(byTest('pending-message')).count()).toBe(0);
    expect(await thread.locator('[data-test^="message-"]').last().textContent()).toContain(
      '感谢您的耐心等待，王芳！',
    );
    expect(await thread.locator('.bubble', { hasText: '感谢您的耐心等待' }).count()).toBe(1);
    const seen = (await widget(
      'GET',
      `/api/v1/widget/conversations/${conversation.id}/messages`,
      undefined,
      token,
    )) as { messages: { text: string }[] };
    expect(seen.messages.map((m) => m.text)).toContain('感谢您的耐心等待，王芳！还有其他可以帮您的吗？');

    // Live: the visitor writes again and the open thread shows it without a refresh.
    await expect.poll(() => page.locator(byTest('connection')).textContent()).toContain('已连接');
    await widget(
      'POST',
      `/api/v1/widget/conversations/${conversation.id}/messages`,
      { clientId: 'visitor-msg-0002', text: '好的，谢谢！' },
      token,
    );
    await expect.poll(() => thread.textContent()).toContain('好的，谢谢！');

    // A half-typed reply is still there after leaving the conversation and coming back.
    await page.fill(byTest('composer'), '请稍等，我查一下订单');
    await page.click(byTest('nav-canned-replies'));
    await page.click(byTest('nav-inbox'));
    await page.click('#tab-all');
    await page.locator(byTest(`conversation-${conversation.id}`)).click();
    await expect.poll(() => page.inputValue(byTest('composer'))).toBe('请稍等，我查一下订单');
    await thread.locator(byTest('message-1')).waitFor();
    await screenshot('inbox.png');
    await page.fill(byTest('composer'), '');
  });

  it('shows the audit trail, filters it and verifies its hash chain', async () => {
    await page.click(byTest('nav-audit'));
    await page.waitForURL(`${baseUrl}/admin/audit`);
    const table = page.locator(byTest('audit-table'));
    await table.locator('tr', { hasText: 'team.member_add' }).waitFor();
    expect(await table.textContent()).toContain('user.create');
    await page.fill(byTest('audit-action'), 'team.');
    await page.click(byTest('audit-search'));
    await expect.poll(() => table.textContent()).not.toContain('user.create');
    expect(await table.textContent()).toContain('team.create');
    // Each action in words, its details as a list; the raw record one click away.
    expect(await table.textContent()).toContain('创建团队');
    expect(await table.textContent()).toContain('添加团队成员');
    await table.locator(byTest('audit-raw')).first().click();
    const rawDialog = page.locator(`${byTest('audit-raw-dialog')} pre`);
    await expect.poll(() => rawDialog.textContent()).toMatch(/"action": "team\./);
    await page.keyboard.press('Escape');
    await rawDialog.waitFor({ state: 'hidden' });
    // Checkpoint and anchor health (issue 21): this server has no signing key, MAC key or anchor
    // directory, so the page says anchoring is not fully set up, and what is missing.
    const health = page.locator(byTest('audit-health'));
    await expect.poll(() => health.textContent()).toContain('审计锚定未完全配置');
    expect(await health.textContent()).toContain('AUDIT_ANCHOR_DIR is not set');
    expect(await health.getAttribute('class')).toContain('el-alert--warning');
    await page.click(byTest('audit-verify'));
    await expect
      .poll(() => page.locator(byTest('audit-verify-report')).textContent())
      .toContain('审计链完整');
    await screenshot('admin-audit.png');
    const href = await page.locator(byTest('audit-export-csv')).getAttribute('href');
    expect(href).toMatch(/^\/api\/v1\/audit\/export\?.*format=csv/);
    const csv = await page.evaluate(async (href) => {
      const res = await fetch(href);
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    }, href!);
    expect(csv.status).toBe(200);
    expect(csv.type).toContain('text/csv');
    expect(csv.body).toContain('team.create');
  });

  it('turns on transcript masking: a phone number the visitor types reaches the inbox masked', async () => {
    await page.click(byTest('nav-security'));
    await page.waitForURL(`${baseUrl}/admin/security`);
    const masking = page.locator(byTest('transcript-masking'));
    await masking.waitFor();
    expect(await masking.getAttribute('class')).not.toContain('is-checked');
    await masking.click();
    await page.click(byTest('security-save'));
    await expect.poll(() => masking.getAttribute('class')).toContain('is-checked');
    await page.reload();
    await expect
      .poll(() => page.locator(byTest('transcript-masking')).getAttribute('class'))
      .toContain('is-checked');

    const post = async (url: string, body?: object, token?: string) => {
      const res = await fetch(`${baseUrl}${url}`, {
        method: 'POST',
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, `${url}: ${await res.clone().text()}`).toBeLessThan(300);
      return res.json() as Promise<Record<string, unknown>>;
    };
    const { token } = (await post('/api/v1/widget/session', { name: '赵敏' })) as { token: string };
    const conversation = (await post('/api/v1/widget/conversations', undefined, token)) as { id: string };
    await post(
      `/api/v1/widget/conversations/${conversation.id}/messages`,
      { clientId: 'visitor-masked-0001', text: '我的手机是 13912345678，请回电' },
      token,
    );
    await page.click(byTest('nav-inbox'));
    await page.click('#tab-all');
    await page.locator(byTest(`conversation-${conversation.id}`)).click();
    const thread = page.locator(byTest('thread'));
    await thread.locator(byTest('message-1')).waitFor();
    expect(await thread.textContent()).toContain('我的手机是 139****5678，请回电');
    expect(await page.textContent('body')).not.toContain('13912345678');
  });

  it('switches to English and remembers it across a reload', async () => {
    await page.click(byTest('language-switcher'));
    await page.click(byTest('locale-en'));
    await expect.poll(() => page.locator(byTest('nav')).textContent()).toContain('Canned replies');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.reload();
    await expect.poll(() => page.locator(byTest('nav')).textContent()).toContain('Users');
  });

  it('turns on two-factor sign-in from the account page and shows the recovery codes once', async () => {
    await page.click(byTest('user-menu'));
    await page.click(byTest('user-menu-account'));
    await expect.poll(() => page.locator(byTest('two-factor-status')).textContent()).toContain('Off');
    await page.click(byTest('totp-start'));
    const secretText = await page.locator(byTest('totp-secret')).textContent();
    adminTotpSecret = base32Decode(secretText!.replace(/\s+/g, ''));
    await page.fill(byTest('totp-enable-code'), hotp(adminTotpSecret, totpStep(Date.now())));
    await page.click(byTest('totp-enable'));
    const codes = page.locator(`${byTest('recovery-codes')} li`);
    await codes.first().waitFor();
    expect(await codes.count()).toBeGreaterThanOrEqual(8);
    await screenshot('account-two-factor.png');
    await page.click(byTest('recovery-codes-saved'));
    await expect.poll(() => page.locator(byTest('two-factor-status')).textContent()).toContain('On');
    expect(await page.locator(byTest('recovery-codes')).count()).toBe(0);
  });

  it('sends the user back to sign-in when the session ends, then back to where they were', async () => {
    await page.click(byTest('nav-users'));
    await page.locator(`${byTest('users-table')} tr`, { hasText: 'li.na' }).waitFor();
    // The session is revoked behind the browser's back (as an admin disabling it would).
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query('update sessions set revoked_at = now() where revoked_at is null');
    await client.end();
    await page.click(byTest('nav-teams'));
    await page.waitForURL(/\/login\?redirect=(\/|%2F)admin(\/|%2F)teams$/);
    await expect
      .poll(() => page.locator(byTest('session-ended')).textContent())
      .toContain('session has expired');
    await page.fill(byTest('username'), 'admin');
    await page.fill(byTest('password'), NEW_ADMIN_PASSWORD);
    await page.click(byTest('login-submit'));
    // Two-factor sign-in is on now: the password alone is not enough.
    await page.locator(byTest('mfa-step')).waitFor();
    await page.fill(byTest('mfa-code'), '000000');
    await page.click(byTest('mfa-submit'));
    await expect.poll(() => page.locator(byTest('login-error')).textContent()).toContain('Wrong code');
    await page.fill(byTest('mfa-code'), nextTotpCode());
    await page.click(byTest('mfa-submit'));
    await page.waitForURL(`${baseUrl}/admin/teams`);
  });

  it('shows an agent only what an agent may use', async () => {
    const agentContext = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    const agent = await agentContext.newPage();
    agent.setDefaultTimeout(5000);
    agent.on('pageerror', (err) => pageProblems.push(String(err)));
    await agent.goto(`${baseUrl}/admin/users`);
    await agent.fill(byTest('username'), 'li.na');
    await agent.fill(byTest('password'), agentOneTimePassword);
    await agent.click(byTest('login-submit'));
    await agent.waitForURL(/\/password\?redirect=/);
    await agent.fill(byTest('current-password'), agentOneTimePassword);
    await agent.fill(byTest('new-password'), 'li-na-own-password-3');
    await agent.fill(byTest('repeat-password'), 'li-na-own-password-3');
    await agent.click(byTest('change-password-submit'));
    // The users page asked for at first is not an agent's: they land on their home instead.
    await agent.waitForURL(`${baseUrl}/inbox`);
    const nav = await agent.locator(byTest('nav')).textContent();
    expect(nav).toContain('快捷回复');
    // Grouped (工作台, 知识库); the account is in the user menu, settings are not an agent's.
    expect(nav).toContain('工作台');
    expect(nav).not.toContain('设置');
    expect(nav).not.toContain('用户');
    expect(nav).not.toContain('团队');
    // The admin's global reply is there read-only; the admin's personal ones are not.
    await agent.click(byTest('nav-canned-replies'));
    const table = agent.locator(byTest('canned-table'));
    await table.locator('tr', { hasText: '/thanks' }).waitFor();
    expect(await table.locator('tr', { hasText: '/thanks' }).textContent()).toContain('只读');
    expect(await table.textContent()).not.toContain('/refund');
    await agent.goto(`${baseUrl}/admin/teams`);
    await agent.waitForURL(`${baseUrl}/inbox`);

    // The admin changes the agent's role, resets the password and disables the account.
    await page.click(byTest('nav-users'));
    const row = page.locator(`${byTest('users-table')} tr`, { hasText: 'li.na' });
    await row.waitFor();
    await page.click(byTest('role-li.na'));
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'Supervisor' }).click();
    await expect.poll(() => page.locator('.el-message').last().textContent()).toContain('Role changed');

    await page.click(byTest('reset-li.na'));
    await page.locator('.el-message-box__btns .el-button--primary').click();
    const otp = page.locator(byTest('one-time-password'));
    await otp.waitFor();
    expect((await otp.inputValue()).length).toBeGreaterThanOrEqual(10);
    await page.keyboard.press('Escape');
    await otp.waitFor({ state: 'hidden' });
    await expect.poll(() => row.textContent()).toContain('Must change password');

    await page.click(byTest('toggle-li.na'));
    await page.locator('.el-message-box__btns .el-button--primary').click();
    await expect.poll(() => row.textContent()).toContain('Disabled');
    await page.click(byTest('toggle-li.na'));
    await expect.poll(() => row.textContent()).toContain('Active');

    // The agent's session ended with the role change: their next request lands on sign-in.
    await agent.goto(`${baseUrl}/canned-replies`);
    await agent.waitForURL(/\/login\?redirect=/);
    await agentContext.close();
  });

  it('signs out from the user menu', async () => {
    await page.click(byTest('user-menu'));
    await page.click(byTest('logout'));
    await page.waitForURL(`${baseUrl}/login`);
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    expect(me).toBe(401);
  });

  it('had no script errors or CSP violations on the way', () => {
    // The only console errors allowed are the browser's reports of the API's deliberate 401/429s.
    const unexpected = pageProblems.filter((p) => !/status of (401|429)/.test(p));
    expect(unexpected).toEqual([]);
  });
});
