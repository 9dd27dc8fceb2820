// The agent's WebSocket (/api/v1/ws, authenticated by the session cookie). Reconnects with
// backoff and reports a status a person can see; after a reconnect the caller refetches what it
// shows (messages after the last seq, the lists), so nothing sent meanwhile is missed.
import { ref } from 'vue';
import type { ServerEvent } from '../../../../server/src/realtime/events.ts';

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export function connectRealtime(opts: {
  onEvent: (event: ServerEvent) => void;
  /** Called on every (re)connection after the first, to catch up. */
  onReconnect: () => void;
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
    socket = new WebSocket(url);
    // The server joins the socket to its rooms on `hello` and answers `ready`.
    socket.addEventListener('open', () => socket?.send(JSON.stringify({ type: 'hello' })));
    socket.addEventListener('message', (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
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
    socket.addEventListener('close', () => {
      if (closed) return;
      status.value = navigator.onLine === false ? 'offline' : 'reconnecting';
      const delay = Math.min(15_000, 500 * 2 ** Math.min(attempts++, 5));
      timer = setTimeout(open, delay);
    });
  }

  const wake = () => {
    if (closed || status.value === 'connected') return;
    clearTimeout(timer);
    attempts = 0;
    open();
  };
  globalThis.addEventListener?.('online', wake);
  open();

  return {
    status,
    close() {
      closed = true;
      clearTimeout(timer);
      globalThis.removeEventListener?.('online', wake);
      socket?.close();
    },
  };
}
