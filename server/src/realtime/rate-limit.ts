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
 * Frames a new connection sends without touching its address's budget: its `hello` (with the
 * resume) and what the documented client sends right after a reconnect (the unacknowledged
 * sends again, a `read`, a `typing`, an agent's `presence` or `resume`). A reconnect storm from
 * clients behind one NAT (all reconnecting after a restart) therefore resumes instead of
 * exhausting the shared bucket; a client that reconnects in a loop gains these few frames per
 * handshake, still within its connection's own bucket.
 */
export const RECONNECT_FRAMES = 5;

/** One connection's frame budget: its own bucket, and its address's after the first frames. */
export function connectionFrames(
  own: Bucket,
  ipLimits: { takeFrame(ip: string): boolean },
  ip: string,
): Bucket {
  let free = RECONNECT_FRAMES;
  return {
    take() {
      if (!own.take()) return false;
      if (free > 0) {
        free--;
        return true;
      }
      return ipLimits.takeFrame(ip);
    },
  };
}

/** Per-IP connection counts and a shared frame bucket, forgotten when the last socket closes. */
export function createIpLimits(opts: {
  maxConnections: number;
  framesPerSecond: number;
  now?: () => number;
}) {
  const byIp = new Map<string, { connections: number; bucket: Bucket }>();
  return {
    /** False when the address already has the maximum number of sockets open. */
    open(ip: string): boolean {
      let entry = byIp.get(ip);
      if (!entry) {
        entry = {
          connections: 0,
          bucket: tokenBucket(opts.framesPerSecond, opts.framesPerSecond * 2, opts.now),
        };
        byIp.set(ip, entry);
      }
      if (entry.connections >= opts.maxConnections) return false;
      entry.connections++;
      return true;
    },
    close(ip: string) {
      const entry = byIp.get(ip);
      if (!entry) return;
      entry.connections--;
      if (entry.connections <= 0) byIp.delete(ip);
    },
    takeFrame(ip: string): boolean {
      return byIp.get(ip)?.bucket.take() ?? false;
    },
  };
}
