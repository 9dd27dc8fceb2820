// A small WebSocket client for tests: records every frame, waits for frames by predicate.
import WebSocket from 'ws';
import type { ServerEvent } from '../../src/realtime/events.ts';

export class TestSocket {
  readonly frames: ServerEvent[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as ServerEvent);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: String(reason) });
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const socket = new TestSocket(ws);
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        reject(new Error(`upgrade refused: ${res.statusCode}`));
        req.destroy();
        res.destroy();
      });
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Resolves with the first recorded frame (from index `from`) matching `pred`. */
  async waitFor<T extends ServerEvent>(
    pred: (f: ServerEvent) => f is T,
    opts?: { timeoutMs?: number; from?: number },
  ): Promise<T>;
  async waitFor(
    pred: (f: ServerEvent) => boolean,
    opts?: { timeoutMs?: number; from?: number },
  ): Promise<ServerEvent>;
  async waitFor(pred: (f: ServerEvent) => boolean, opts: { timeoutMs?: number; from?: number } = {}) {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      const found = this.frames.slice(opts.from ?? 0).find(pred);
      if (found) return found;
      if (Date.now() > deadline || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`frame not received; got: ${JSON.stringify(this.frames.slice(-8))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(10, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  messages(conversationId?: string) {
    return this.frames
      .filter((f): f is Extract<ServerEvent, { type: 'message' }> => f.type === 'message')
      .map((f) => f.message)
      .filter((m) => !conversationId || m.conversationId === conversationId);
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}

/** Opens a socket, says `hello` and waits for `ready`; the socket is added to `opened` (to close later). */
export async function openReady(
  url: string,
  headers: Record<string, string>,
  hello: Record<string, unknown>,
  opened: TestSocket[],
): Promise<TestSocket> {
  const s = await TestSocket.open(url, headers);
  opened.push(s);
  s.send({ type: 'hello', ...hello });
  await s.waitFor((f) => f.type === 'ready');
  return s;
}

export const isType =
  <K extends ServerEvent['type']>(
    type: K,
    extra: (f: Extract<ServerEvent, { type: K }>) => boolean = () => true,
  ) =>
  (f: ServerEvent): f is Extract<ServerEvent, { type: K }> =>
    f.type === type && extra(f as Extract<ServerEvent, { type: K }>);
