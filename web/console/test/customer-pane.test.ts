// @vitest-environment happy-dom
// The customer pane with the real stores and API client (only fetch is stood in for): masked
// details, Reveal only for pii.reveal (and it calls the reveal API), tags and attributes changed
// key by key, and a previous conversation opened read-only in place of the thread.
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Contact } from '../src/api/types.ts';
import CustomerPane from '../src/components/inbox/CustomerPane.vue';
import { createConsoleI18n } from '../src/i18n/index.ts';
import { useConversationsStore } from '../src/stores/conversations.ts';
import { useSessionStore } from '../src/stores/session.ts';
import { AGENT, C1, conversation, fakeInboxServer, message } from './support/inbox-server.ts';

let server: ReturnType<typeof fakeInboxServer>;
let pinia: Pinia;
const current = conversation(C1);
const CONTACT = current.contact.id;
const OLD = '00000000-0000-4000-8000-0000000000d1';

const contact = (patch: Partial<Contact>): Contact => ({
  id: CONTACT,
  name: '王*',
  email: 'w***@example.com',
  phone: '138****0000',
  attributes: { plan: 'gold', address: '北京***' },
  consent: { at: '2026-01-01T08:00:00.000Z', channelId: null, version: '2026-12' },
  tags: ['回头客'],
  verifiedExternalId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...patch,
});

beforeEach(() => {
  pinia = createPinia();
  setActivePinia(pinia);
  server = fakeInboxServer();
  server.state.contacts[CONTACT] = {
    masked: contact({}),
    revealed: contact({
      name: '王小明',
      email: 'wang@example.com',
      phone: '13800000000',
      attributes: { plan: 'gold', address: '北京市海淀区' },
    }),
  };
  server.state.others = [
    conversation(OLD, { status: 'resolved', lastMessagePreview: '上次的问题', contact: current.contact }),
  ];
  server.state.messages = [message(OLD, 1, { text: '上次的问题' })];
});
afterEach(() => vi.unstubAllGlobals());

async function mountPane(permissions: string[], shown = current) {
  useSessionStore().$patch({ user: AGENT, permissions, status: 'signed-in' });
  const w = mount(CustomerPane, {
    props: { conversation: shown },
    global: { plugins: [pinia, createConsoleI18n('en')] },
  });
  await flushPromises();
  return w;
}

describe('the customer pane', () => {
  it('shows the page the visitor came from as text in a link opening apart, and nothing else', async () => {
    const url = 'https://shop.example.com/tea?id=42&x=<b>';
    const w = await mountPane(
      ['contacts.read'],
      conversation(C1, { sourcePage: { url, title: '<img src=x onerror=alert(1)> 龙井' } }),
    );
    const link = w.find('a[data-test="source-page"]');
    expect(link.text()).toBe('<img src=x onerror=alert(1)> 龙井');
    expect(link.find('img').exists()).toBe(false);
    expect(link.attributes()).toMatchObject({ href: url, target: '_blank', rel: 'noopener noreferrer' });
    expect(w.text()).toContain('Came from');

    const untitled = await mountPane(['contacts.read'], conversation(C1, { sourcePage: { url } }));
    expect(untitled.find('[data-test="source-page"]').text()).toBe(url);
    const none = await mountPane(['contacts.read'], conversation(C1, { sourcePage: null }));
    expect(none.find('[data-test="source-page"]').exists()).toBe(false);
    expect(none.text()).not.toContain('Came from');
    const script = await mountPane(
      ['contacts.read'],
      conversation(C1, { sourcePage: { url: 'javascript:alert(1)' } }),
    );
    expect(script.find('[data-test="source-page"]').exists()).toBe(false);
  });

  it('shows the consent as a read-only line, not as a custom attribute', async () => {
    const w = await mountPane(['contacts.read', 'contacts.manage']);
    const line = w.find('[data-test="contact-consent"]');
    expect(line.text()).toMatch(/^✓ Agreed to the privacy notice · .+ · version 2026-12$/);
    expect(line.findAll('button')).toHaveLength(0);
    const attributes = w.find('[data-test="contact-attributes"]').text();
    expect(attributes).not.toContain('2026-12');
    expect(attributes).not.toContain('Consent');
  });

  it('shows masked details and no Reveal button without pii.reveal', async () => {
    const w = await mountPane(['contacts.read']);
    expect(w.find('[data-test="contact-name"]').text()).toBe('王小明');
    expect(w.find('[data-test="contact-phone"]').text()).toBe('138****0000');
    expect(w.find('[data-test="contact-email"]').text()).toBe('w***@example.com');
    expect(w.find('[data-test="reveal"]').exists()).toBe(false);
    expect(w.find('[data-test="add-tag"]').exists()).toBe(false); // no contacts.manage
  });

  it('reveals the details through the audited API for a user holding pii.reveal', async () => {
    const w = await mountPane(['contacts.read', 'pii.reveal']);
    await w.find('[data-test="reveal"]').trigger('click');
    await flushPromises();
    expect(server.state.requests.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual([
      `/api/v1/contacts/${CONTACT}/reveal`,
    ]);
    expect(w.find('[data-test="contact-phone"]').text()).toBe('13800000000');
    expect(w.find('[data-test="contact-attributes"]').text()).toContain('北京市海淀区');
    expect(w.find('[data-test="revealed"]').exists()).toBe(true);
    expect(w.find('[data-test="reveal"]').exists()).toBe(false);
  });

  it('adds and removes tags, and changes attributes key by key', async () => {
    const w = await mountPane(['contacts.read', 'contacts.manage']);
    await w.find('[data-test="add-tag"]').trigger('click');
    await w.find('[data-test="tag-input"]').setValue('VIP');
    await w.find('[data-test="tag-input"]').trigger('keyup', { key: 'Enter' });
    await flushPromises();
    expect(w.find('[data-test="contact-tags"]').text()).toContain('VIP');
    await w.find('[data-test="contact-tags"] .el-tag__close').trigger('click');
    await flushPromises();
    const inputs = w.findAll('.attr-form input');
    await inputs[0]!.setValue('source');
    await inputs[1]!.setValue('小程序');
    await w.find('[data-test="add-attribute"]').trigger('click');
    await flushPromises();
    const patches = server.state.requests.filter((r) => r.method === 'PATCH').map((r) => r.body);
    expect(patches).toEqual([
      { tags: ['回头客', 'VIP'] },
      { tags: ['VIP'] },
      { setAttributes: { source: '小程序' } },
    ]);
    expect(w.find('[data-test="contact-attributes"]').text()).toContain('小程序');
  });

  it('marks the customer VIP in the conversation list as soon as the tag is added, and unmarks it', async () => {
    const store = useConversationsStore();
    store.list = [current, conversation('00000000-0000-4000-8000-0000000000e2')]; // another customer
    const w = await mountPane(['contacts.read', 'contacts.manage']);
    await w.find('[data-test="add-tag"]').trigger('click');
    await w.find('[data-test="tag-input"]').setValue('vip');
    await w.find('[data-test="tag-input"]').trigger('keyup', { key: 'Enter' });
    await flushPromises();
    expect(store.list.map((c) => c.contact.vip)).toEqual([true, false]);
    const tags = w.findAll('[data-test="contact-tags"] .el-tag');
    await tags
      .find((t) => t.text() === 'vip')!
      .find('.el-tag__close')
      .trigger('click');
    await flushPromises();
    expect(store.list.map((c) => c.contact.vip)).toEqual([false, false]);
  });

  it('opens a previous conversation of the customer read-only in place', async () => {
    const store = useConversationsStore();
    const w = await mountPane(['contacts.read']);
    const items = w.findAll('[data-test="previous-conversations"] li');
    expect(items.map((i) => i.text())).toEqual([expect.stringContaining('上次的问题')]);
    await items[0]!.trigger('click');
    await flushPromises();
    expect(store.preview?.conversation.id).toBe(OLD);
    expect(store.preview?.messages.map((m) => m.text)).toEqual(['上次的问题']);
    store.closePreview();
    expect(store.preview).toBeNull();
  });
});
