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

/** Per-IP connection counts and a shared frame bucket, forgotten when the last socket closes. */
export function createIpLimits(opts: { maxConnections: number; framesPerSecond: number }) {
  const byIp = new Map<string, { connections: number; bucket: Bucket }>();
  return {
    /** False when the address already has the maximum number of sockets open. */
    open(ip: string): boolean {
      let entry = byIp.get(ip);
      if (!entry) {
        entry = { connections: 0, bucket: tokenBucket(opts.framesPerSecond, opts.framesPerSecond * 2) };
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
