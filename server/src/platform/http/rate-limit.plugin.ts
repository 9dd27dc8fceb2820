// A per-IP rate limit for public endpoints (sign-in, the visitor widget's API): a fixed
// one-minute window per address, in memory. With N replicas behind a balancer an address can
// make up to N × the limit; the login lockout (in PostgreSQL) still holds across replicas.
// Routes opt in with `config: { rateLimit: 'public' }`.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { TooManyRequestsError } from '../errors.ts';

const WINDOW_MS = 60_000;
const MAX_TRACKED = 100_000;

export interface RateLimiter {
  /** Counts one hit; returns seconds to wait when over the limit, else 0. */
  hit(key: string, now?: number): number;
}

export function createRateLimiter(perWindow: number, windowMs = WINDOW_MS): RateLimiter {
  let windowStart = 0;
  let counts = new Map<string, number>();
  return {
    hit(key, now = Date.now()) {
      if (now - windowStart >= windowMs) {
        windowStart = now - (now % windowMs);
        counts = new Map();
      }
      const n = (counts.get(key) ?? 0) + 1;
      if (counts.size < MAX_TRACKED || counts.has(key)) counts.set(key, n);
      if (n <= perWindow) return 0;
      return Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000));
    },
  };
}

export const rateLimitPlugin = fp(async (app: FastifyInstance, opts: { perMinute: number }) => {
  const limiter = createRateLimiter(opts.perMinute);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.rateLimit !== 'public') return;
    const wait = limiter.hit(request.ip);
    if (wait > 0) {
      throw new TooManyRequestsError(
        `Too many requests. Try again in ${wait} seconds.`,
        wait,
        'rate_limited',
      );
    }
  });
});
