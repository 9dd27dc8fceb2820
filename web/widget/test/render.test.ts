// @vitest-environment happy-dom
// Message rendering: what a visitor typed is text, whatever it looks like.
import { describe, expect, it } from 'vitest';
import { MESSAGES } from '../src/i18n.ts';
import { appendLinkified, renderItem, type ChatItem } from '../src/render.ts';

const t = MESSAGES['zh-CN'];
const ctx = { doc: document, t, attachmentUrl: async () => 'blob:x' };

function item(over: Partial<ChatItem>): ChatItem {
  return {
    key: 's1',
    seq: 1,
    clientId: 'w-0123456789',
    mine: false,
    senderName: 'Ann',
    kind: 'text',
    text: '',
    attachment: null,
    recalled: false,
    createdAt: new Date().toISOString(),
    delivery: null,
    ...over,
  };
}

describe('message rendering', () => {
  it('renders an HTML-looking message as inert text: no element, no handler', () => {
    const el = renderItem(item({ text: '<img src=x onerror=alert(1)>' }), ctx);
    const bubble = el.querySelector('.pw-bubble')!;
    expect(bubble.textContent).toBe('<img src=x onerror=alert(1)>');
    expect(bubble.querySelector('img')).toBeNull();
    expect(el.innerHTML).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('auto-links http(s) URLs with rel="noopener noreferrer", leaving the sentence punctuation out', () => {
    const p = document.createElement('p');
    appendLinkified(p, 'see https://example.com/a?b=1. and <b>http://x.test</b>');
    const links = [...p.querySelectorAll('a')];
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://example.com/a?b=1', 'http://x.test']);
    for (const a of links) {
      expect(a.rel).toBe('noopener noreferrer');
      expect(a.target).toBe('_blank');
    }
    expect(p.querySelector('b')).toBeNull();
    expect(p.textContent).toBe('see https://example.com/a?b=1. and <b>http://x.test</b>');
  });

  it('does not link javascript: or other schemes', () => {
    const p = document.createElement('p');
    appendLinkified(p, 'javascript:alert(1) data:text/html,<script>x</script>');
    expect(p.querySelector('a')).toBeNull();
  });

  it('escapes attachment names on file cards', () => {
    const el = renderItem(
      item({
        kind: 'file',
        attachment: {
          id: 'a',
          fileName: '"><svg onload=alert(1)>.pdf',
          contentType: 'application/pdf',
          sizeBytes: 2048,
        },
      }),
      ctx,
    );
    expect(el.querySelector('.pw-file-name')!.textContent).toBe('"><svg onload=alert(1)>.pdf');
    expect(el.querySelector('svg')).toBeNull();
    expect(el.querySelector('.pw-file-size')!.textContent).toBe('2.0 KB');
  });

  it('shows delivery state on the visitor’s own messages only', () => {
    expect(
      renderItem(item({ mine: true, delivery: 'sending' }), ctx).querySelector('.pw-delivery')!.textContent,
    ).toBe(t.sending);
    expect(
      renderItem(item({ mine: true, delivery: 'read' }), ctx).querySelector('.pw-delivery')!.textContent,
    ).toBe(t.read);
    expect(renderItem(item({ mine: false }), ctx).querySelector('.pw-delivery')).toBeNull();
    // The sender's name is text too.
    expect(renderItem(item({ senderName: '<i>Ann</i>' }), ctx).querySelector('.pw-sender')!.textContent).toBe(
      '<i>Ann</i>',
    );
  });
});
