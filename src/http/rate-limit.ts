/**
 * Per-client token bucket (catalogue F-19): beyond the quota, 429 `throttled` with Retry-After;
 * other clients are unaffected. In-process: with several gateway processes each enforces its share.
 */
import type { Clock } from '../core/clock.js';
import { throttled } from '../core/outcome.js';

export interface RateLimiter { take(key: string): void }

export function createRateLimiter(o: { perMinute: number; clock: Clock; maxKeys?: number }): RateLimiter {
  if (o.perMinute <= 0) return { take() {} };
  const ratePerMs = o.perMinute / 60000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const maxKeys = o.maxKeys ?? 10000;
  return {
    take(key) {
      const now = o.clock.now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
        buckets.set(key, (b = { tokens: o.perMinute, at: now }));
      }
      b.tokens = Math.min(o.perMinute, b.tokens + (now - b.at) * ratePerMs);
      b.at = now;
      if (b.tokens < 1) throw throttled(Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000)));
      b.tokens -= 1;
    },
  };
}
