// @vitest-environment happy-dom
// The thread as an agent sees it: order by seq, day separators, names, delivery/read state,
// images, file cards, system events, private notes, and the optimistic copy of a message being
// replaced by the server's copy.
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia } from 'pinia';
import { describe, expect, it, vi } from 'vitest';
import MessageList from '../src/components/inbox/MessageList.vue';
import { createConsoleI18n } from '../src/i18n/index.ts';
import type { OutboxItem } from '../src/stores/conversations.ts';
import { C1, message } from './support/inbox-server.ts';

const XSS = '<img src=x onerror=alert(1)>';

function render(props: InstanceType<typeof MessageList>['$props']) {
  return mount(MessageList, { props, global: { plugins: [createPinia(), createConsoleI18n('en')] } });
}

const bubbles = (w: ReturnType<typeof render>) =>
  w.findAll('.bubble').map((b) => (b.find('.text').exists() ? b.find('.text').text() : b.text()));

describe('the message list', () => {
  it('orders messages by seq, separates days, names senders and shows delivery and read state', () => {
    const day1 = (seq: number, min: number) => new Date(2026, 2, 1, 9, min).toISOString();
    const day2 = new Date(2026, 2, 2, 10, 0).toISOString();
    const w = render({
      messages: [
        message(C1, 4, { text: 'fourth', senderType: 'agent', senderName: 'Ann', createdAt: day2 }),
        message(C1, 1, { text: 'first', senderName: '王小明', createdAt: day1(1, 1) }),
        message(C1, 3, { text: 'third', senderType: 'agent', senderName: 'Ann', createdAt: day1(3, 3) }),
        message(C1, 2, { text: 'second', createdAt: day1(2, 2) }),
      ],
      visitorReadSeq: 3,
    });
    expect(w.findAll('[data-seq]').map((b) => b.attributes('data-seq'))).toEqual(['1', '2', '3', '4']);
    expect(bubbles(w)).toEqual(['first', 'second', 'third', 'fourth']);
    expect(w.findAll('[data-test="day-separator"]')).toHaveLength(2);
    expect(w.find('[data-seq="1"] .sender').text()).toBe('王小明');
    expect(w.find('[data-seq="2"] .sender').text()).toBe('Visitor');
    // Agent messages: read up to the visitor's read mark, delivered after it; visitors' have none.
    expect(w.findAll('[data-test="delivery"]').map((d) => d.text())).toEqual(['· Read', '· Delivered']);
  });

  it('shows images inline with preview, files as download cards, system events and private notes', () => {
    const w = render({
      messages: [
        message(C1, 1, {
          kind: 'image',
          text: '',
          attachment: {
            id: '00000000-0000-4000-8000-0000000000a1',
            fileName: 'tea.png',
            contentType: 'image/png',
            sizeBytes: 2048,
          },
        }),
        message(C1, 2, {
          kind: 'file',
          text: '',
          attachment: {
            id: '00000000-0000-4000-8000-0000000000a2',
            fileName: 'invoice<b>.pdf',
            contentType: 'application/pdf',
            sizeBytes: 1_572_864,
          },
        }),
        message(C1, 3, {
          kind: 'system',
          senderType: 'system',
          text: '',
          event: { type: 'transferred', assigneeName: 'Bo' },
        }),
        message(C1, 4, {
          senderType: 'agent',
          senderName: 'Ann',
          private: true,
          text: 'VIP, handle with care',
        }),
      ],
    });
    const image = w.find('[data-test="message-image"]');
    expect(image.exists()).toBe(true);
    expect(image.classes()).toContain('el-image');
    const card = w.find('[data-test="file-card"]');
    expect(card.attributes('href')).toBe('/api/v1/attachments/00000000-0000-4000-8000-0000000000a2');
    expect(card.attributes('download')).toBe('invoice<b>.pdf');
    expect(card.text()).toContain('invoice<b>.pdf');
    expect(card.text()).toContain('1.5 MB');
    expect(card.find('b').exists()).toBe(false);
    expect(w.find('[data-test="system-event"]').text()).toBe('Transferred to Bo');
    const note = w.find('[data-seq="4"]');
    expect(note.classes()).toContain('note');
    expect(note.text()).toContain('Private note');
  });

  it('renders HTML in messages as inert text', () => {
    const w = render({ messages: [message(C1, 1, { text: XSS })] });
    expect(w.find('.text').text()).toBe(XSS);
    expect(w.find('.bubble img').exists()).toBe(false);
  });

  it('shows a message being sent at once, then only the server copy in its place', async () => {
    const item: OutboxItem = {
      clientId: 'client-0001',
      conversationId: C1,
      text: 'on its way',
      private: false,
      file: null,
      state: 'sending',
      progress: 0,
      error: '',
    };
    const w = render({ messages: [message(C1, 1, { text: 'hello' })], pending: [item] });
    expect(bubbles(w)).toEqual(['hello', 'on its way']);
    expect(w.find('[data-test="pending-message"]').text()).toContain('Sending');

    // What the store does when the server's copy arrives: the outbox entry goes, the message comes.
    await w.setProps({
      messages: [
        message(C1, 2, { text: 'on its way', clientId: 'client-0001', senderType: 'agent' }),
        message(C1, 1, { text: 'hello' }),
      ],
      pending: [],
    });
    expect(bubbles(w)).toEqual(['hello', 'on its way']);
    expect(w.find('[data-test="pending-message"]').exists()).toBe(false);
  });

  it('shows a queued, an uploading and a failed message with what the agent can do', async () => {
    const base = { conversationId: C1, private: false, progress: 0, error: '' };
    const file = new File([new Uint8Array(4096)], 'photo.png', { type: 'image/png' });
    const w = render({
      messages: [],
      pending: [
        { ...base, clientId: 'q-000001', text: 'typed offline', file: null, state: 'queued' },
        { ...base, clientId: 'u-000001', text: '', file, state: 'sending', progress: 0.42 },
        {
          ...base,
          clientId: 'f-000001',
          text: 'too long',
          file: null,
          state: 'failed',
          error: 'Text too long',
        },
      ],
    });
    const items = w.findAll('[data-test="pending-message"]');
    expect(items.map((i) => i.attributes('data-state'))).toEqual(['queued', 'sending', 'failed']);
    expect(items[0]!.text()).toContain('Waiting for the network');
    expect(items[1]!.text()).toContain('Uploading 42%');
    expect(items[1]!.find('[data-test="upload-progress"]').exists()).toBe(true);
    expect(items[2]!.text()).toContain('Text too long');
    await items[2]!.find('[data-test="retry"]').trigger('click');
    await items[1]!.find('[data-test="cancel"]').trigger('click');
    expect(w.emitted('retry')).toEqual([['f-000001']]);
    expect(w.emitted('cancel')).toEqual([['u-000001']]);
  });
});

describe('masked messages in the thread', () => {
  it('say so, and show the original only to a reader allowed to reveal it (through the audited API)', async () => {
    const calls: string[] = [];
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      calls.push(`${init?.method ?? 'GET'} ${url}`);
      return new Response(JSON.stringify({ id: 'x', text: '我的手机是 13912345678' }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    });
    const masked = message(C1, 1, { text: '我的手机是 139****5678', masked: true });
    const plain = render({ messages: [masked] });
    expect(plain.find('[data-test="masked"]').text()).toBe('Numbers in this message are masked.');
    expect(plain.find('[data-test="reveal-message"]').exists()).toBe(false);

    const w = render({ messages: [masked], canReveal: true });
    await w.find('[data-test="reveal-message"]').trigger('click');
    await flushPromises();
    expect(calls).toEqual([`POST /api/v1/messages/${masked.id}/reveal`]);
    expect(w.find('.text').text()).toBe('我的手机是 13912345678');
    expect(w.find('[data-test="masked"]').text()).toContain('recorded in the audit log');
    vi.unstubAllGlobals();
  });
});

describe('recalls and edits in the thread', () => {
  it('name who changed the message: the visitor, or the agent by name, never a generic "agent" for either', () => {
    const fromVisitor = message(C1, 1, { text: 'wrong order number' });
    const fromAgent = message(C1, 2, { text: 'teh typo', senderType: 'agent', senderName: 'Ann' });
    const system = (seq: number, type: string, target: string, extra: Record<string, unknown> = {}) =>
      message(C1, seq, {
        kind: 'system',
        senderType: 'system',
        text: '',
        event: { type, messageId: target, ...extra },
      });
    const w = render({
      messages: [
        fromVisitor,
        fromAgent,
        system(3, 'message_recalled', fromVisitor.id),
        system(4, 'message_edited', fromAgent.id, { text: 'the typo' }),
        // The changed message is not loaded (older history): the system line's own agent name.
        { ...system(5, 'message_recalled', '00000000-0000-4000-8000-999999999999'), senderName: 'Bo' },
      ],
    });
    expect(w.findAll('[data-test="system-event"]').map((e) => e.text())).toEqual([
      'Visitor recalled a message',
      'Ann edited a message',
      'Bo recalled a message',
    ]);
  });
});
