// @vitest-environment happy-dom
// The widget settings and Contacts & privacy pages as an admin uses them: the real pages, router,
// stores and API client, with only the network (fetch) and the browser's clipboard and download
// answered by the test.
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils';
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
const requestsMade = () => network.requests;
const ok = (body: unknown): Reply => ({ status: 200, body });
const error = (status: number, code: string, message: string, field?: string): Reply => ({
  status,
  body: errorBody(code, message, field ? { field } : {}),
});

const ADMIN_PERMISSIONS = ['users.read', 'channels.manage', 'contacts.read', 'pii.reveal', 'privacy.manage'];
function signedIn(permissions = ADMIN_PERMISSIONS) {
  answer(
    'GET',
    '/api/v1/auth/me',
    ok({
      user: {
        id: '7d1c0f0e-0000-4000-8000-000000000009',
        username: 'root',
        displayName: 'Root',
        role: 'admin',
        teamIds: [],
        mustChangePassword: false,
        disabled: false,
        authSource: 'local',
        totpEnabled: false,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      },
      permissions,
      mfaEnrollmentRequired: false,
    }),
  );
}

beforeEach(() => {
  localStorage.clear();
  network = fakeNetwork();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  document.body.innerHTML = '';
});

async function open(path: string) {
  const router = createConsoleRouter(createMemoryHistory());
  const wrapper = mount(App, {
    global: { plugins: [createPinia(), createConsoleI18n('en'), router] },
    attachTo: document.body,
  });
  await router.push(path);
  await router.isReady();
  await flushPromises();
  return { wrapper, router };
}

const byTest = (w: VueWrapper, id: string) => w.find(`[data-test="${id}"]`);
const input = (w: VueWrapper, id: string) => {
  const el = byTest(w, id);
  return el.element.tagName === 'INPUT' || el.element.tagName === 'TEXTAREA'
    ? el
    : el.find('input, textarea');
};
/** The Element Plus confirmation box (rendered into <body>). */
async function confirmBox() {
  await until(() =>
    expect(document.querySelector('.el-message-box__btns .el-button--primary')).not.toBeNull(),
  );
  (document.querySelector('.el-message-box__btns .el-button--primary') as HTMLButtonElement).click();
  await flushPromises();
}

const SITE = '11111111-2222-4333-8444-555555555555';
const OTHER = '99999999-2222-4333-8444-555555555555';
const settings = (over: object = {}) => ({
  name: 'Website',
  color: '#2563eb',
  greeting: 'Hello!',
  preChatForm: false,
  allowedOrigins: ['https://shop.example.com'],
  siteKey: SITE,
  snippet: `<script src="https://chat.example.test/widget.js" data-parley-site="${SITE}" async></script>`,
  ...over,
});
const channel = (id: string, name: string, type = 'web_widget') => ({
  id,
  type,
  name,
  identitySecret: 'secret',
  defaultTeamId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
});

describe('the widget settings page', () => {
  it('loads the first website, saves what the admin typed, and shows the snippet to copy', async () => {
    signedIn();
    answer(
      'GET',
      '/api/v1/channels',
      ok({ channels: [channel(OTHER, 'API', 'api'), channel(SITE, 'Website')] }),
    );
    answer('GET', `/api/v1/channels/${SITE}/widget`, ok(settings()));
    const { wrapper } = await open('/admin/widget');
    expect((input(wrapper, 'widget-name').element as HTMLInputElement).value).toBe('Website');
    expect(byTest(wrapper, 'widget-snippet').text()).toBe(settings().snippet);
    expect(byTest(wrapper, 'widget-preview').text()).toContain('Hello!');

    await input(wrapper, 'widget-color').setValue('#2f5d3a');
    await input(wrapper, 'widget-greeting').setValue('欢迎 <b>光临</b>');
    await input(wrapper, 'widget-origins').setValue(
      'https://shop.example.com/\nhttps://m.example.com, https://shop.example.com',
    );
    // The preview follows the typing; markup stays text.
    expect(byTest(wrapper, 'widget-preview').text()).toContain('欢迎 <b>光临</b>');
    expect(byTest(wrapper, 'widget-preview').find('b').exists()).toBe(false);

    answer(
      'PATCH',
      `/api/v1/channels/${SITE}/widget`,
      ok(
        settings({
          color: '#2f5d3a',
          greeting: '欢迎 <b>光临</b>',
          allowedOrigins: ['https://shop.example.com', 'https://m.example.com'],
        }),
      ),
    );
    await byTest(wrapper, 'widget-form').trigger('submit');
    await flushPromises();
    expect(requestsMade().at(-1)).toEqual({
      method: 'PATCH',
      url: `/api/v1/channels/${SITE}/widget`,
      body: {
        name: 'Website',
        color: '#2f5d3a',
        greeting: '欢迎 <b>光临</b>',
        preChatForm: false,
        allowedOrigins: ['https://shop.example.com', 'https://m.example.com'],
      },
    });
    expect((input(wrapper, 'widget-origins').element as HTMLTextAreaElement).value).toBe(
      'https://shop.example.com\nhttps://m.example.com',
    );

    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    await byTest(wrapper, 'widget-copy-snippet').trigger('click');
    expect(writeText).toHaveBeenCalledWith(settings().snippet);
    wrapper.unmount();
  });

  it('shows a server validation error on the field it names', async () => {
    signedIn();
    answer('GET', '/api/v1/channels', ok({ channels: [channel(SITE, 'Website')] }));
    answer('GET', `/api/v1/channels/${SITE}/widget`, ok(settings()));
    const { wrapper } = await open('/admin/widget');
    await input(wrapper, 'widget-origins').setValue('https://shop.example.com\nhttps://x.example.com/path');
    answer(
      'PATCH',
      `/api/v1/channels/${SITE}/widget`,
      error(400, 'validation', 'allowedOrigins.1: must match pattern', 'allowedOrigins.1'),
    );
    await byTest(wrapper, 'widget-form').trigger('submit');
    await flushPromises();
    const item = byTest(wrapper, 'widget-origins').element.closest('.el-form-item')!;
    await until(() =>
      expect(item.querySelector('.el-form-item__error')?.textContent).toContain(
        'allowedOrigins.1: must match',
      ),
    );
    // Only there: not as a general error above the form, not on another field.
    expect(wrapper.findAll('.el-form-item__error')).toHaveLength(1);
    expect(byTest(wrapper, 'widget-form').find('.load-error').exists()).toBe(false);
    wrapper.unmount();
  });

  it('creates a new website and switches to it', async () => {
    signedIn();
    answer('GET', '/api/v1/channels', ok({ channels: [channel(SITE, 'Website')] }));
    answer('GET', `/api/v1/channels/${SITE}/widget`, ok(settings()));
    const { wrapper } = await open('/admin/widget');
    await byTest(wrapper, 'widget-create').trigger('click');
    await flushPromises();
    await input(wrapper, 'widget-create-name').setValue(' 官网商城 ');
    const created = settings({ name: '官网商城', siteKey: OTHER, allowedOrigins: [], greeting: '' });
    answer('POST', '/api/v1/channels', { status: 201, body: created });
    answer(
      'GET',
      '/api/v1/channels',
      ok({ channels: [channel(SITE, 'Website'), channel(OTHER, '官网商城')] }),
    );
    answer('GET', `/api/v1/channels/${OTHER}/widget`, ok(created));
    await byTest(wrapper, 'widget-create-submit').trigger('click');
    await flushPromises();
    expect(requestsMade().find((r) => r.method === 'POST')).toMatchObject({ body: { name: '官网商城' } });
    await until(() =>
      expect((input(wrapper, 'widget-name').element as HTMLInputElement).value).toBe('官网商城'),
    );
    wrapper.unmount();
  });
});

const CONTACT = {
  id: 'ab12cd34-0000-4000-8000-00000000c0de',
  name: '韩**',
  email: 'm***@example.com',
  phone: '139****7777',
  attributes: { plan: 'gold' },
  tags: ['vip'],
  verifiedExternalId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
const REVEALED = { ...CONTACT, name: '韩梅梅', email: 'meimei.han@example.com', phone: '13900007777' };
const searchUrl = (q: string) => `/api/v1/contacts?q=${encodeURIComponent(q)}`;

async function findContact(permissions = ADMIN_PERMISSIONS, nameSearch = false) {
  signedIn(permissions);
  const { wrapper } = await open('/admin/contacts');
  answer('GET', searchUrl('meimei.han@example.com'), ok({ contacts: [CONTACT], nameSearch }));
  await input(wrapper, 'contact-search').setValue('meimei.han@example.com');
  await wrapper.find('form').trigger('submit');
  await flushPromises();
  return wrapper;
}

describe('the Contacts & privacy page', () => {
  it('finds a contact and shows it masked; says when a name search is not complete', async () => {
    const wrapper = await findContact();
    expect(requestsMade().at(-1)).toMatchObject({ method: 'GET', url: searchUrl('meimei.han@example.com') });
    expect(byTest(wrapper, 'contact-email').text()).toBe('m***@example.com');
    expect(byTest(wrapper, 'contact-detail').text()).toContain('#ab12cd34');
    expect(wrapper.text()).not.toContain('meimei.han@example.com'.slice(1));
    // An exact email found what it looked for: no word about names.
    expect(wrapper.text()).not.toContain('Names are encrypted at rest');

    answer('GET', searchUrl('梅梅'), ok({ contacts: [CONTACT], nameSearch: false }));
    await input(wrapper, 'contact-search').setValue('梅梅');
    await wrapper.find('form').trigger('submit');
    await flushPromises();
    expect(wrapper.text()).toContain('Names are encrypted at rest');
    wrapper.unmount();
  });

  it('reveals only after the admin confirms, and offers no reveal without pii.reveal', async () => {
    const wrapper = await findContact();
    answer('POST', `/api/v1/contacts/${CONTACT.id}/reveal`, ok(REVEALED));
    await byTest(wrapper, 'contact-reveal').trigger('click');
    await flushPromises();
    expect(requestsMade().some((r) => r.url.endsWith('/reveal'))).toBe(false);
    await confirmBox();
    expect(requestsMade().at(-1)).toMatchObject({
      method: 'POST',
      url: `/api/v1/contacts/${CONTACT.id}/reveal`,
    });
    await until(() => expect(byTest(wrapper, 'contact-email').text()).toBe('meimei.han@example.com'));
    expect(byTest(wrapper, 'contact-revealed').exists()).toBe(true);
    await byTest(wrapper, 'contact-hide').trigger('click');
    expect(byTest(wrapper, 'contact-email').text()).toBe('m***@example.com');
    wrapper.unmount();

    const limited = await findContact(['contacts.read', 'privacy.manage']);
    expect(byTest(limited, 'contact-reveal').exists()).toBe(false);
    expect(byTest(limited, 'contact-export').exists()).toBe(true);
    limited.unmount();
  });

  it('downloads the archive showing progress, and hands it to the browser', async () => {
    const wrapper = await findContact();
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    answer('GET', `/api/v1/contacts/${CONTACT.id}/export`, {
      status: 200,
      stream,
      headers: {
        'content-type': 'application/x-tar',
        'content-length': '2048',
        'content-disposition': `attachment; filename="contact-${CONTACT.id}.tar"`,
      },
    });
    const saved: Blob[] = [];
    vi.spyOn(URL, 'createObjectURL').mockImplementation((blob) => {
      saved.push(blob as Blob);
      return 'blob:archive';
    });
    vi.spyOn(URL, 'revokeObjectURL').mockImplementation(() => {});
    const clicked: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.download);
    });

    await byTest(wrapper, 'contact-export').trigger('click');
    push.enqueue(new Uint8Array(1024));
    await until(() => expect(byTest(wrapper, 'export-progress').text()).toContain('50%'));
    push.enqueue(new Uint8Array(1024));
    push.close();
    await until(() => expect(byTest(wrapper, 'export-done').exists()).toBe(true));
    expect(byTest(wrapper, 'export-done').text()).toBe(`Downloaded contact-${CONTACT.id}.tar (2.0 KB)`);
    expect(saved.map((b) => b.size)).toEqual([2048]);
    expect(clicked).toEqual([`contact-${CONTACT.id}.tar`]);
    wrapper.unmount();
  });

  it('erases only after the contact code is typed, with the server’s confirmation token', async () => {
    const wrapper = await findContact();
    answer(
      'POST',
      `/api/v1/contacts/${CONTACT.id}/erasure-request`,
      ok({
        confirmation: 'token-from-the-server-0001',
        expiresAt: '2026-01-01T00:10:00.000Z',
        conversations: 2,
        messages: 17,
        attachments: 1,
      }),
    );
    await byTest(wrapper, 'contact-erase').trigger('click');
    await flushPromises();
    const summary = document.querySelector('[data-test="erase-summary"]');
    expect(summary?.textContent).toContain('2 conversation(s), 17 message(s) and 1 attachment(s)');
    const submit = () => document.querySelector('[data-test="erase-submit"]') as HTMLButtonElement;
    const code = document.querySelector('input[data-test="erase-confirm-input"]') as HTMLInputElement;
    expect(submit().disabled).toBe(true);
    code.value = 'ab12cd35';
    code.dispatchEvent(new Event('input'));
    await flushPromises();
    expect(submit().disabled).toBe(true);
    code.value = ' #AB12CD34 ';
    code.dispatchEvent(new Event('input'));
    await flushPromises();
    expect(submit().disabled).toBe(false);

    // An expired token: the error is shown and a new one can be asked for.
    answer(
      'POST',
      `/api/v1/contacts/${CONTACT.id}/erase`,
      error(
        400,
        'bad_request',
        'confirmation: missing, expired or not yours; request the erasure again',
        'confirmation',
      ),
      ok({ conversations: 2, messages: 17, attachments: 1 }),
    );
    submit().click();
    await flushPromises();
    expect(document.querySelector('[data-test="erase-dialog"]')?.textContent).toContain('expired');
    expect(requestsMade().at(-1)?.body).toEqual({ confirmation: 'token-from-the-server-0001' });
    answer(
      'POST',
      `/api/v1/contacts/${CONTACT.id}/erasure-request`,
      ok({
        confirmation: 'token-from-the-server-0002',
        expiresAt: '2026-01-01T00:20:00.000Z',
        conversations: 2,
        messages: 17,
        attachments: 1,
      }),
    );
    const again = [...document.querySelectorAll('[data-test="erase-dialog"] button')].find((b) =>
      b.textContent?.includes('Request again'),
    ) as HTMLButtonElement;
    again.click();
    await flushPromises();
    submit().click();
    await flushPromises();
    expect(requestsMade().at(-1)).toEqual({
      method: 'POST',
      url: `/api/v1/contacts/${CONTACT.id}/erase`,
      body: { confirmation: 'token-from-the-server-0002' },
    });
    await until(() => expect(byTest(wrapper, 'contact-detail').exists()).toBe(false));
    expect(wrapper.text()).not.toContain('韩**');
    wrapper.unmount();
  });
});
