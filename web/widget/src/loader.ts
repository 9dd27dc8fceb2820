// widget.js: what customers embed with
//   <script src="https://HOST/widget.js" data-parley-site="KEY" async></script>
// It adds a launcher bubble (with the unread count) and the chat in an iframe served by
// Parley, so the page's CSS and scripts cannot reach the chat. The page talks to the chat
// only through window.Parley, carried by postMessage with the origin checked on both ends.
import {
  SOURCE_TITLE_MAX_CHARS,
  SOURCE_URL_MAX_CHARS,
  truncateText,
} from '../../../server/src/realtime/text-rules.ts';

interface ParleyUser {
  id?: string;
  hash?: string;
  name?: string;
  phone?: string;
}
interface ParleyApi {
  setUser(user: ParleyUser): void;
  open(): void;
  close(): void;
}

((): void => {
  const w = window as unknown as { Parley?: ParleyApi & { _loaded?: boolean } };
  if (w.Parley?._loaded) return;
  const script = (document.currentScript ??
    document.querySelector('script[data-parley-site]')) as HTMLScriptElement | null;
  const site = script?.dataset.parleySite;
  if (!script || !site) return;
  const parley = new URL(script.src).origin;
  const lang = script.dataset.parleyLang === 'en' ? 'en' : 'zh-CN';

  const host = document.createElement('div');
  host.setAttribute('data-parley', '');
  // A closed shadow root: the page's stylesheets do not apply inside, its scripts cannot reach in.
  const root = host.attachShadow({ mode: 'closed' });
  // Styles go through the CSSOM (element.style), which a page's strict style-src CSP does not
  // block, unlike <style> or constructed stylesheets; the closed shadow root keeps the page's
  // own rules away from these elements.
  const css = (el: HTMLElement, rules: Record<string, string>) => {
    for (const [k, v] of Object.entries(rules)) el.style.setProperty(k, v);
  };
  const button = document.createElement('button');
  button.type = 'button';
  button.setAttribute('aria-label', lang === 'en' ? 'Chat with us' : '在线客服');
  css(button, {
    position: 'fixed',
    right: '20px',
    bottom: '20px',
    width: '56px',
    height: '56px',
    'border-radius': '50%',
    border: '0',
    padding: '0',
    cursor: 'pointer',
    background: '#2563eb',
    'box-shadow': '0 4px 14px rgba(0,0,0,.25)',
    'z-index': '2147483646',
    display: 'flex',
    'align-items': 'center',
    'justify-content': 'center',
  });
  const svgNs = 'http://www.w3.org/2000/svg';
  const icon = document.createElementNS(svgNs, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('width', '28');
  icon.setAttribute('height', '28');
  icon.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(svgNs, 'path');
  path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z');
  path.setAttribute('fill', '#fff');
  icon.appendChild(path);
  const badge = document.createElement('span');
  css(badge, {
    position: 'absolute',
    top: '-4px',
    right: '-4px',
    'min-width': '20px',
    height: '20px',
    padding: '0 5px',
    'border-radius': '10px',
    background: '#e53935',
    color: '#fff',
    font: '600 12px/20px sans-serif',
    'text-align': 'center',
    'box-sizing': 'border-box',
    display: 'none',
  });
  button.append(icon, badge);
  const frame = document.createElement('iframe');
  frame.title = lang === 'en' ? 'Chat' : '在线客服';
  frame.src = `${parley}/widget/frame?${new URLSearchParams({ site, origin: location.origin, lang })}`;
  const phone = window.matchMedia('(max-width: 480px)');
  let isOpen = false;
  let ready = false;
  const layout = () => {
    css(frame, {
      position: 'fixed',
      border: '0',
      background: '#fff',
      'z-index': '2147483647',
      'box-shadow': '0 8px 32px rgba(0,0,0,.25)',
      display: isOpen ? 'block' : 'none',
      ...(phone.matches
        ? {
            right: '0',
            bottom: '0',
            width: '100vw',
            height: '100%',
            'max-height': 'none',
            'border-radius': '0',
          }
        : {
            right: '20px',
            bottom: '90px',
            width: '380px',
            height: '600px',
            'max-height': 'calc(100vh - 110px)',
            'border-radius': '14px',
          }),
    });
    // No bubble until the chat says it is ready (a site not allowed to embed it gets none). On a
    // phone the open chat covers the screen; its own close button brings the bubble back.
    button.style.setProperty('display', !ready || (isOpen && phone.matches) ? 'none' : 'flex');
  };
  phone.addEventListener('change', layout);
  layout();
  root.append(frame, button);

  const stateKey = `parley:${site}`;
  const loadState = (): Record<string, string> => {
    try {
      const v = JSON.parse(localStorage.getItem(stateKey) ?? '{}') as unknown;
      return typeof v === 'object' && v !== null ? (v as Record<string, string>) : {};
    } catch {
      return {};
    }
  };
  let unread = 0;
  const showBadge = () => {
    badge.style.setProperty('display', unread <= 0 || isOpen ? 'none' : 'block');
    badge.textContent = unread > 99 ? '99+' : String(unread);
  };
  const queue: object[] = [];
  const toFrame = (msg: object) => {
    if (ready) frame.contentWindow?.postMessage({ parley: 'loader', ...msg }, parley);
    else queue.push(msg);
  };
  // The page the visitor is on, recorded with a conversation they start so the agent sees where
  // they came from. Sent again on every open: a single-page site changes its URL without a reload.
  const page = () => ({
    type: 'page',
    url: truncateText(location.href, SOURCE_URL_MAX_CHARS),
    title: truncateText(document.title, SOURCE_TITLE_MAX_CHARS),
  });
  toFrame(page());
  const setOpen = (open: boolean) => {
    isOpen = open;
    layout();
    showBadge();
    if (open) toFrame(page());
    toFrame({ type: open ? 'open' : 'close' });
  };
  button.addEventListener('click', () => setOpen(!isOpen));

  window.addEventListener('message', (e: MessageEvent) => {
    if (e.origin !== parley || e.source !== frame.contentWindow) return;
    const d = e.data as { parley?: string; type?: string; count?: unknown; color?: unknown } | null;
    if (!d || d.parley !== 'widget') return;
    if (d.type === 'boot') {
      // The frame has no storage of its own (third-party storage blocked): give it its copy.
      frame.contentWindow?.postMessage({ parley: 'loader', type: 'state', data: loadState() }, parley);
    } else if (d.type === 'store') {
      const k = (d as { key?: unknown }).key;
      const v = (d as { value?: unknown }).value;
      if (typeof k !== 'string' || !k.startsWith('parley:')) return;
      const state = loadState();
      if (typeof v === 'string') state[k] = v;
      else delete state[k];
      try {
        localStorage.setItem(stateKey, JSON.stringify(state));
      } catch {
        // the page has no storage either: the chat lasts as long as the page
      }
    } else if (d.type === 'ready') {
      ready = true;
      layout();
      if (typeof d.color === 'string' && /^#[0-9a-f]{6}$/i.test(d.color))
        button.style.setProperty('background', d.color);
      for (const m of queue.splice(0)) toFrame(m);
    } else if (d.type === 'unread') {
      unread = typeof d.count === 'number' ? d.count : 0;
      showBadge();
    } else if (d.type === 'close') {
      setOpen(false);
    }
  });

  w.Parley = {
    _loaded: true,
    setUser: (user) => toFrame({ type: 'setUser', user: { ...user } }),
    open: () => setOpen(true),
    close: () => setOpen(false),
  };
  (document.body ?? document.documentElement).appendChild(host);
})();
