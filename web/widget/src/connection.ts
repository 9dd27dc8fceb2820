// The visitor socket: hello with the token (and where to resume), typed events out, automatic
// reconnect with backoff. Frames are only sent while the socket is open; the caller resends
// what is still unacknowledged after every `ready`.
import type { ClientFrame, ServerEvent } from '../../../server/src/realtime/events.ts';

export type ConnectionState = 'connecting' | 'online' | 'offline';

export interface ConnectionOptions {
  url: string;
  token: () => string | null;
  /** Conversations to replay after their last seen seq, sent with hello. */
  resume: () => { conversationId: string; lastSeq: number }[];
  onEvent: (event: ServerEvent) => void;
  onState: (state: ConnectionState) => void;
  /** The token was refused: the caller starts a new session. */
  onUnauthorized: () => void;
}

export function createConnection(opts: ConnectionOptions) {
  let socket: WebSocket | null = null;
  let ready = false;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  function schedule() {
    if (stopped || timer) return;
    const delay = Math.min(10_000, 300 * 2 ** attempt) * (0.75 + Math.random() / 2);
    attempt++;
    timer = setTimeout(() => {
      timer = null;
      open();
    }, delay);
  }

  function open() {
    const token = opts.token();
    if (stopped || !token || socket) return;
    opts.onState('connecting');
    const ws = new WebSocket(opts.url);
    socket = ws;
    ws.onopen = () => {
      const resume = opts.resume();
      ws.send(JSON.stringify({ type: 'hello', token, ...(resume.length ? { resume } : {}) }));
    };
    ws.onmessage = (e) => {
      let event: ServerEvent;
      try {
        event = JSON.parse(String(e.data)) as ServerEvent;
      } catch {
        return;
      }
      if (event.type === 'ready') {
        ready = true;
        attempt = 0;
        opts.onState('online');
      }
      if (event.type === 'error' && event.code === 'unauthorized' && !ready) {
        stopped = true;
        ws.close();
        opts.onUnauthorized();
        return;
      }
      opts.onEvent(event);
    };
    ws.onclose = () => {
      if (socket === ws) socket = null;
      ready = false;
      opts.onState('offline');
      schedule();
    };
    ws.onerror = () => undefined;
  }

  const online = () => {
    attempt = 0;
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    open();
  };
  window.addEventListener('online', online);
  window.addEventListener('offline', () => socket?.close());

  return {
    start() {
      stopped = false;
      open();
    },
    /** Drops the current socket and opens a new one (a new token, say). */
    restart() {
      stopped = false;
      const s = socket;
      socket = null;
      ready = false;
      s?.close();
      open();
    },
    get ready() {
      return ready && socket?.readyState === WebSocket.OPEN;
    },
    send(frame: ClientFrame): boolean {
      if (!ready || !socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
  };
}

export type Connection = ReturnType<typeof createConnection>;
