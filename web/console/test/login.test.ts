// @vitest-environment happy-dom
// The login page as a user meets it: the real page, router, stores and API client, with only
// the network (fetch) answered by the test.
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory } from 'vue-router';
import App from '../src/App.vue';
import { createConsoleI18n } from '../src/i18n/index.ts';
import { createConsoleRouter } from '../src/router/index.ts';
import { errorBody, fakeNetwork, type Reply } from './fake-network.ts';
import { until } from './support/wait.ts';

let network: ReturnType<typeof fakeNetwork>;
const answer = (method: string, url: string, ...r: Reply[]) => network.answer(method, url, ...r);

const user = (mustChangePassword: boolean) => ({
  id: '7d1c0f0e-0000-4000-8000-000000000001',
  username: 'ann',
  displayName: 'Ann',
  role: 'agent',
  teamIds: [],
  mustChangePassword,
  disabled: false,
  authSource: 'local',
  totpEnabled: false,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const me = (mustChangePassword: boolean, mfaEnrollmentRequired = false) => ({
  status: 200,
  body: { user: user(mustChangePassword), permissions: ['canned_replies.use'], mfaEnrollmentRequired },
});
const error = (code: string, message: string, details?: object) =>
  errorBody(code, message, details ? { details } : {});

beforeEach(() => {
  localStorage.clear();
  network = fakeNetwork();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

async function openLogin(path = '/login') {
  answer('GET', '/api/v1/auth/me', { status: 401, body: error('unauthorized', 'Sign in first.') });
  const router = createConsoleRouter(createMemoryHistory());
  const wrapper = mount(App, {
    global: { plugins: [createPinia(), createConsoleI18n(), router] },
    attachTo: document.body,
  });
  await router.push(path);
  await router.isReady();
  await flushPromises();
  return { wrapper, router };
}

async function submit(
  wrapper: Awaited<ReturnType<typeof openLogin>>['wrapper'],
  username: string,
  password: string,
) {
  await wrapper.find('input[name="username"]').setValue(username);
  await wrapper.find('input[name="password"]').setValue(password);
  await wrapper.find('form').trigger('submit');
  await flushPromises();
}

describe('the login page', () => {
  it('sends a signed-out visitor to the login page, in Chinese, remembering where they were going', async () => {
    const { wrapper, router } = await openLogin('/admin/users');
    expect(router.currentRoute.value.name).toBe('login');
    expect(router.currentRoute.value.query.redirect).toBe('/admin/users');
    expect(wrapper.find('h2').text()).toBe('登录');
    wrapper.unmount();
  });

  it('asks for both fields before sending anything', async () => {
    const { wrapper } = await openLogin();
    await wrapper.find('form').trigger('submit');
    await flushPromises();
    // Element Plus shows field errors after a short debounce.
    await until(() => expect(wrapper.text()).toContain('请输入用户名'));
    expect(wrapper.text()).toContain('请输入密码');
    expect(network.requests.filter((r) => r.url === '/api/v1/auth/login')).toHaveLength(0);
    wrapper.unmount();
  });

  it('says plainly when the username or password is wrong, and clears the password', async () => {
    const { wrapper } = await openLogin();
    answer('POST', '/api/v1/auth/login', {
      status: 401,
      body: error('unauthorized', 'Wrong username or password.'),
    });
    await submit(wrapper, ' ann ', 'nope');
    expect(network.requests.at(-1)).toMatchObject({
      method: 'POST',
      body: { username: 'ann', password: 'nope' },
    });
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('用户名或密码错误');
    expect((wrapper.find('input[name="password"]').element as HTMLInputElement).value).toBe('');
    wrapper.unmount();
  });

  it('shows a lockout with the seconds to wait, counts down, and blocks the button meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const { wrapper } = await openLogin();
    answer('POST', '/api/v1/auth/login', {
      status: 429,
      body: error('login_locked', 'Too many failed sign-ins. Try again in 30 seconds.', {
        retryAfterSeconds: 30,
      }),
    });
    await submit(wrapper, 'ann', 'guess');
    const button = () => wrapper.find('[data-test="login-submit"]');
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('请在 30 秒后重试');
    expect(button().attributes('disabled')).toBeDefined();

    vi.advanceTimersByTime(10_000);
    await flushPromises();
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('请在 20 秒后重试');

    vi.advanceTimersByTime(21_000);
    await flushPromises();
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('现在可以重新登录了');
    expect(button().attributes('disabled')).toBeUndefined();
    wrapper.unmount();
  });

  it('says when the account is disabled', async () => {
    const { wrapper } = await openLogin();
    answer('POST', '/api/v1/auth/login', {
      status: 403,
      body: error('forbidden', 'This account is disabled.'),
    });
    await submit(wrapper, 'ann', 'right-password');
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('此账户已被停用');
    wrapper.unmount();
  });

  it('goes to the forced password change when the server asks, keeping the destination', async () => {
    const { wrapper, router } = await openLogin('/admin/users');
    answer('POST', '/api/v1/auth/login', {
      status: 200,
      body: { user: user(true), permissions: ['canned_replies.use'], expiresAt: '2026-01-02T00:00:00.000Z' },
    });
    answer('GET', '/api/v1/auth/me', me(true));
    await submit(wrapper, 'ann', 'one-time-password');
    await until(() => expect(router.currentRoute.value.name).toBe('password'));
    await flushPromises();
    expect(router.currentRoute.value.query.redirect).toBe('/admin/users');
    expect(wrapper.text()).toContain('请设置新密码');
    wrapper.unmount();
  });

  it('after sign-in goes where the user was going, but never off-site', async () => {
    const { wrapper, router } = await openLogin('/login?redirect=//evil.example/x');
    answer('POST', '/api/v1/auth/login', {
      status: 200,
      body: { user: user(false), permissions: ['canned_replies.use'], expiresAt: '2026-01-02T00:00:00.000Z' },
    });
    answer('GET', '/api/v1/auth/me', me(false));
    answer('GET', '/api/v1/canned-replies', { status: 200, body: { cannedReplies: [] } });
    await submit(wrapper, 'ann', 'password-123');
    await until(() => expect(router.currentRoute.value.fullPath).toBe('/canned-replies'));
    wrapper.unmount();
  });

  it('asks for the authenticator code when the account uses two-factor sign-in', async () => {
    const { wrapper, router } = await openLogin('/canned-replies');
    const challenge = { mfaRequired: true, challenge: 'c'.repeat(43), expiresAt: '2026-01-01T00:05:00.000Z' };
    answer('POST', '/api/v1/auth/login', { status: 200, body: challenge });
    await submit(wrapper, 'ann', 'right-password');
    expect(wrapper.find('h2').text()).toBe('两步验证');
    expect(wrapper.find('[data-test="mfa-step"]').exists()).toBe(true);

    answer('POST', '/api/v1/auth/login/second-factor', {
      status: 401,
      body: error('unauthorized', 'Wrong code.'),
    });
    await wrapper.find('input[name="code"]').setValue('123456');
    await wrapper.find('[data-test="mfa-step"]').trigger('submit');
    await flushPromises();
    expect(network.requests.at(-1)).toMatchObject({ body: { challenge: 'c'.repeat(43), code: '123456' } });
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('验证码错误');

    answer('POST', '/api/v1/auth/login/second-factor', {
      status: 200,
      body: { user: user(false), permissions: ['canned_replies.use'], expiresAt: 'x' },
    });
    answer('GET', '/api/v1/auth/me', me(false));
    answer('GET', '/api/v1/canned-replies', { status: 200, body: { cannedReplies: [] } });
    await wrapper.find('input[name="code"]').setValue('654321');
    await wrapper.find('[data-test="mfa-step"]').trigger('submit');
    await until(() => expect(router.currentRoute.value.fullPath).toBe('/canned-replies'));
    wrapper.unmount();
  });

  it('goes back to the password when the two-factor step has expired', async () => {
    const { wrapper } = await openLogin();
    answer('POST', '/api/v1/auth/login', {
      status: 200,
      body: { mfaRequired: true, challenge: 'd'.repeat(43), expiresAt: 'x' },
    });
    await submit(wrapper, 'ann', 'right-password');
    answer('POST', '/api/v1/auth/login/second-factor', {
      status: 401,
      body: error('unauthorized', 'The sign-in has expired. Enter your password again.'),
    });
    await wrapper.find('input[name="code"]').setValue('123456');
    await wrapper.find('[data-test="mfa-step"]').trigger('submit');
    await flushPromises();
    expect(wrapper.find('input[name="password"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('登录已过期');
    wrapper.unmount();
  });

  it('sends a user whose role must use two-factor sign-in to set it up first', async () => {
    const { wrapper, router } = await openLogin('/canned-replies');
    answer('POST', '/api/v1/auth/login', {
      status: 200,
      body: { user: user(false), permissions: ['canned_replies.use'], expiresAt: 'x' },
    });
    answer('GET', '/api/v1/auth/me', me(false, true));
    await submit(wrapper, 'ann', 'right-password');
    await until(() => expect(router.currentRoute.value.name).toBe('two-factor'));
    expect(router.currentRoute.value.query.redirect).toBe('/canned-replies');
    await flushPromises();
    expect(wrapper.text()).toContain('请开启两步验证');
    wrapper.unmount();
  });
});
