// Token buckets for WebSocket frames: one per connection, one per client IP address.

export interface Bucket {
  take(): boolean;
}

export function tokenBucket(ratePerSecond: number, burst: number, now = () => performance.now()): Bucket {
  let tokens = burst;
  let last = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * ratePerSecond);
      last = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

/**
 * Frames one connection may send right after it opened, beyond its `hello`, without touching its
 * address's steady budget: what the documented client does on a reconnect (resend the unacked
 * sends, a `read`, a `typing`, an agent's `presence` or `resume`).
 */
export const RECONNECT_FRAMES = 4;

/**
 * Per-IP connection counts and a shared frame bucket, forgotten when the last socket closes.
 *
 * Sized for a reconnect storm from one address (clients behind one NAT, all reconnecting after a
 * restart): a connection's first frame (its `hello`, which carries the resume) is not charged
 * here — there is one per connection, and connections per address are capped — and every open
 * connection adds RECONNECT_FRAMES to what the bucket may hold (the capacity shrinks again when
 * it closes, so reconnecting in a loop gains nothing). The steady rate stays `framesPerSecond`.
 */
export function createIpLimits(opts: {
  maxConnections: number;
  framesPerSecond: number;
  now?: () => number;
}) {
  const now = opts.now ?? (() => performance.now());
  const burst = opts.framesPerSecond * 2;
  const byIp = new Map<string, { connections: number; tokens: number; last: number }>();
  const capacity = (e: { connections: number }) => burst + e.connections * RECONNECT_FRAMES;
  function refill(e: { connections: number; tokens: number; last: number }) {
    const t = now();
    e.tokens = Math.min(capacity(e), e.tokens + ((t - e.last) / 1000) * opts.framesPerSecond);
    e.last = t;
  }
  return {
    /** False when the address already has the maximum number of sockets open. */
    open(ip: string): boolean {
      let entry = byIp.get(ip);
      if (!entry) {
        entry = { connections: 0, tokens: burst, last: now() };
        byIp.set(ip, entry);
      }
      if (entry.connections >= opts.maxConnections) return false;
      refill(entry);
      entry.connections++;
      entry.tokens = Math.min(capacity(entry), entry.tokens + RECONNECT_FRAMES);
      return true;
    },
    close(ip: string) {
      const entry = byIp.get(ip);
      if (!entry) return;
      entry.connections--;
      if (entry.connections <= 0) byIp.delete(ip);
      else entry.tokens = Math.min(entry.tokens, capacity(entry));
    },
    takeFrame(ip: string): boolean {
      const entry = byIp.get(ip);
      if (!entry) return false;
      refill(entry);
      if (entry.tokens < 1) return false;
      entry.tokens -= 1;
      return true;
    },
  };
}
