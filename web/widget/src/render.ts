// Message rendering. Everything a person typed becomes DOM text nodes (textContent), never
// HTML; URLs become <a> elements built node by node with rel="noopener noreferrer".
import type { MessageView } from '../../../server/src/realtime/events.ts';
import type { Messages } from './i18n.ts';

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Trailing punctuation is usually the sentence's, not the link's. */
const TRAILING = /[.,;:!?)\]}'"。，；：！？）】]+$/;

/** Appends `text` to `parent` as text nodes, with http(s) URLs as safe links. */
export function appendLinkified(parent: Node, text: string): void {
  const doc = parent.ownerDocument ?? (parent as Document);
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trail = TRAILING.exec(url)?.[0] ?? '';
    url = url.slice(0, url.length - trail.length);
    const start = match.index;
    if (start > last) parent.appendChild(doc.createTextNode(text.slice(last, start)));
    const a = doc.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = url;
    parent.appendChild(a);
    last = start + url.length;
  }
  if (last < text.length) parent.appendChild(doc.createTextNode(text.slice(last)));
}

export type Delivery = 'sending' | 'sent' | 'read' | 'failed';

/** What the list shows: a server message, or one of ours not yet acknowledged. */
export interface ChatItem {
  key: string;
  seq: number | null;
  clientId: string | null;
  mine: boolean;
  senderName: string | null;
  kind: MessageView['kind'];
  text: string;
  attachment: MessageView['attachment'];
  recalled: boolean;
  createdAt: string;
  delivery: Delivery | null;
  /** A local preview (object URL) of an image being uploaded. */
  localPreview?: string;
}

export interface RenderContext {
  doc: Document;
  t: Messages;
  /** Loads an attachment (the visitor token is a header, not a cookie) and gives an object URL. */
  attachmentUrl: (id: string) => Promise<string>;
  onRetry?: (clientId: string) => void;
  /** Image elements kept across renders, so a re-render does not reload them or change heights. */
  images?: Map<string, HTMLImageElement>;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function renderItem(item: ChatItem, ctx: RenderContext): HTMLElement {
  const { doc, t } = ctx;
  const el = (tag: string, cls: string) => {
    const e = doc.createElement(tag);
    e.className = cls;
    return e;
  };
  if (item.kind === 'system') {
    const row = el('div', 'pw-system');
    row.textContent = item.text;
    return row;
  }
  const row = el('div', item.mine ? 'pw-row pw-mine' : 'pw-row pw-theirs');
  row.dataset.key = item.key;
  if (!item.mine && item.senderName) {
    const who = el('div', 'pw-sender');
    who.textContent = item.senderName;
    row.appendChild(who);
  }
  const bubble = el('div', 'pw-bubble');
  row.appendChild(bubble);
  if (item.recalled) {
    bubble.classList.add('pw-recalled');
    bubble.textContent = t.recalled;
  } else if (item.kind === 'image' && (item.attachment || item.localPreview)) {
    bubble.classList.add('pw-media');
    const imageKey = item.localPreview ?? item.attachment!.id;
    let img = ctx.images?.get(imageKey);
    if (!img) {
      img = doc.createElement('img');
      img.className = 'pw-image';
      img.alt = item.attachment?.fileName ?? '';
      ctx.images?.set(imageKey, img);
      const target = img;
      if (item.localPreview) target.src = item.localPreview;
      else if (item.attachment) {
        void ctx.attachmentUrl(item.attachment.id).then(
          (u) => (target.src = u),
          () => undefined,
        );
      }
    }
    bubble.appendChild(img);
  } else if (item.kind === 'file' || (item.kind === 'image' && !item.localPreview)) {
    const card = el('a', 'pw-file');
    const name = el('span', 'pw-file-name');
    name.textContent = item.attachment?.fileName ?? item.text;
    const size = el('span', 'pw-file-size');
    size.textContent = item.attachment ? formatSize(item.attachment.sizeBytes) : '';
    card.append(name, size);
    card.title = t.download;
    if (item.attachment) {
      const att = item.attachment;
      card.setAttribute('href', '#');
      card.addEventListener('click', (e) => {
        e.preventDefault();
        void ctx.attachmentUrl(att.id).then((u) => {
          const a = doc.createElement('a');
          a.href = u;
          a.download = att.fileName;
          a.click();
        });
      });
    }
    bubble.appendChild(card);
  } else {
    appendLinkified(bubble, item.text);
  }
  if (item.mine && item.delivery) {
    const state = el('div', `pw-delivery pw-${item.delivery}`);
    state.textContent = t[item.delivery];
    if (item.delivery === 'failed' && item.clientId && ctx.onRetry) {
      const retry = el('button', 'pw-retry') as HTMLButtonElement;
      retry.type = 'button';
      retry.textContent = t.retry;
      const id = item.clientId;
      retry.addEventListener('click', () => ctx.onRetry?.(id));
      state.append(' ', retry);
    }
    row.appendChild(state);
  }
  return row;
}
