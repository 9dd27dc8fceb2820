// The agent's WebSocket (/api/v1/ws, authenticated by the session cookie). Reconnects with
// backoff and reports a status a person can see. Every `hello` carries `resume` (the open
// conversation and the last seq shown), so the server replays what was missed before live
// traffic; after a reconnect the caller also refetches its lists.
import { ref } from 'vue';
import type { ServerEvent } from '../../../../server/src/realtime/events.ts';

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface ResumeEntry {
  conversationId: string;
  lastSeq: number;
}

export function connectRealtime(opts: {
  onEvent: (event: ServerEvent) => void;
  /** Called on every (re)connection after the first, to catch up. */
  onReconnect: () => void;
  /** What to replay on (re)connection. */
  resume?: () => ResumeEntry[];
  url?: string;
}) {
  const status = ref<ConnectionStatus>('connecting');
  let socket: WebSocket | undefined;
  let attempts = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let everConnected = false;
  const url = opts.url ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`;

  function open() {
    const s = new WebSocket(url);
    socket = s;
    // The server joins the socket to its rooms on `hello` and answers `ready`.
    s.addEventListener('open', () => {
      const resume = opts.resume?.() ?? [];
      s.send(JSON.stringify({ type: 'hello', ...(resume.length ? { resume } : {}) }));
    });
    s.addEventListener('message', (e: MessageEvent) => {
      if (typeof e.data !== 'string' || s !== socket) return;
      let event: ServerEvent;
      try {
        event = JSON.parse(e.data) as ServerEvent;
      } catch {
        return; // a frame we cannot read is dropped; the next refetch corrects any gap
      }
      if (event.type === 'ready') {
        attempts = 0;
        status.value = 'connected';
        if (everConnected) opts.onReconnect();
        everConnected = true;
      }
      opts.onEvent(event);
    });
    s.addEventListener('close', () => {
      if (closed || s !== socket) return;
      retry();
    });
  }

  function retry() {
    status.value = navigator.onLine === false ? 'offline' : 'reconnecting';
    clearTimeout(timer);
    const delay = Math.min(15_000, 500 * 2 ** Math.min(attempts++, 5));
    timer = setTimeout(open, delay);
  }

  const wake = () => {
    if (closed || status.value === 'connected') return;
    clearTimeout(timer);
    attempts = 0;
    open();
  };
  // The browser knows before the socket does: show it, and reconnect (with a replay) when back.
  const lost = () => {
    if (closed) return;
    status.value = 'offline';
    const s = socket;
    socket = undefined;
    s?.close();
    clearTimeout(timer);
  };
  globalThis.addEventListener?.('online', wake);
  globalThis.addEventListener?.('offline', lost);
  open();

  return {
    status,
    close() {
      closed = true;
      clearTimeout(timer);
      globalThis.removeEventListener?.('online', wake);
      globalThis.removeEventListener?.('offline', lost);
      socket?.close();
    },
  };
}
