/**
 * Client JWKS: shape validation (for registered key sets and fetched ones alike) and a cache of
 * fetched JWKS URLs that honours the client's Cache-Control.
 *
 * - SMART R1/R3: a client registers a JWKS URL or a JWKS; the URL is fetched over TLS with
 *   `Accept: application/json` and no credentials. The fetch function is injected (app.ts wires the
 *   outbound client of src/exchange/outbound.ts: timeout <= 5 s, 64 kB cap, no redirects, SSRF guard).
 * - SMART V5: a JWKS SHALL NOT be cached longer than its Cache-Control allows; `no-store` and
 *   `no-cache` mean "do not reuse"; otherwise at most `max-age` (minus `Age`), and never more than
 *   the configured cap (default 5 min).
 * - Catalogue X-07/FI-10: an unknown kid triggers at most one refetch per cooldown; concurrent
 *   requests share one fetch; a failing endpoint is not retried for a few seconds; known keys keep
 *   verifying while their cache entry is fresh.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/client-confidential-asymmetric.html#signature-verification
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/** A public JWK that passed validatePublicJwks: has kty and kid, and no private members. */
export type PublicJwk = Readonly<Record<string, unknown>> & { readonly kty: string; readonly kid: string };

/**
 * What the cache needs from the outbound HTTP client: GET url with `Accept: application/json`
 * (bounded by the client's own timeout and size cap), the status, the headers, and the parsed body
 * of a 2xx response. Throwing means "could not fetch". OutboundClient.fetchJson fits.
 */
export type FetchJwks = (url: string) => Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
}>;

/** Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MAX_KEYS = 100;
const MAX_KID_LENGTH = 256;

/** A JWKS that is not acceptable; `message` is safe to show the client. */
export class JwksError extends Error {
  override readonly name = 'JwksError';
}

/**
 * Checks a JWK Set (SMART R2): an object with a `keys` array (at most 100); each key an object with
 * string `kty` and `kid`; RSA keys with `n` and `e`, EC keys with `crv`, `x` and `y`. A set that
 * carries any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) is refused whole: the
 * client has published a secret, and none of its keys should be trusted (catalogue M-05).
 */
export function validatePublicJwks(value: unknown): PublicJwk[] {
  if (!isObject(value) || !Array.isArray(value.keys)) throw new JwksError('JWKS must be an object with a "keys" array');
  if (value.keys.length > MAX_KEYS) throw new JwksError(`JWKS has more than ${MAX_KEYS} keys`);
  return value.keys.map((key, i) => {
    if (!isObject(key)) throw new JwksError(`JWKS key ${i} is not an object`);
    if (PRIVATE_MEMBERS.some((m) => m in key)) throw new JwksError('JWKS contains private key material');
    if (typeof key.kty !== 'string' || !key.kty) throw new JwksError(`JWKS key ${i} has no kty`);
    if (typeof key.kid !== 'string' || !key.kid || key.kid.length > MAX_KID_LENGTH) {
      throw new JwksError(`JWKS key ${i} has no kid (or one longer than ${MAX_KID_LENGTH} characters)`);
    }
    if (key.kty === 'RSA' && !(isNonEmptyString(key.n) && isNonEmptyString(key.e))) {
      throw new JwksError(`JWKS key ${i} (RSA) needs n and e`);
    }
    if (key.kty === 'EC' && !(isNonEmptyString(key.crv) && isNonEmptyString(key.x) && isNonEmptyString(key.y))) {
      throw new JwksError(`JWKS key ${i} (EC) needs crv, x and y`);
    }
    return key as PublicJwk;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/**
 * How long a response may be reused, in seconds, per RFC 9111 §4.2.1: `no-store`/`no-cache` -> 0;
 * `max-age` minus `Age`; else `Expires` minus `Date`; else `defaultSeconds`. Never above `capSeconds`.
 */
export function freshnessSeconds(
  headers: Record<string, string | string[] | undefined>,
  defaultSeconds: number,
  capSeconds: number,
): number {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const directives = new Map<string, string | undefined>();
  for (const part of (header('cache-control') ?? '').split(',')) {
    const [name, value] = part.trim().split('=', 2) as [string, string?];
    if (name) directives.set(name.toLowerCase(), value?.replace(/^"|"$/g, ''));
  }
  if (directives.has('no-store') || directives.has('no-cache')) return 0;
  let lifetime: number;
  if (directives.has('max-age')) {
    const n = Number(directives.get('max-age'));
    lifetime = Number.isInteger(n) && n >= 0 ? n : 0; // an invalid max-age means stale
  } else if (header('expires') !== undefined) {
    const expires = Date.parse(header('expires') ?? '');
    const date = Date.parse(header('date') ?? '');
    lifetime = Number.isNaN(expires) || Number.isNaN(date) ? 0 : Math.floor((expires - date) / 1000);
  } else {
    lifetime = defaultSeconds;
  }
  const age = Number(header('age') ?? 0);
  if (Number.isFinite(age) && age > 0) lifetime -= age;
  return Math.max(0, Math.min(lifetime, capSeconds));
}

export interface JwksCacheOptions {
  fetchJwks: FetchJwks;
  clock: Clock;
  log: Logger;
  /** Longest reuse of a fetched JWKS, whatever Cache-Control says (default 300 s). */
  maxAgeSeconds?: number;
  /** Least time between two fetches of one URL triggered by an unknown kid (default 30 s, as jose). */
  refetchCooldownSeconds?: number;
  /** After a failed fetch, requests fail at once for this long instead of hammering the endpoint (default 5 s). */
  failureBackoffSeconds?: number;
  /** Most URLs remembered (default 1000). */
  maxEntries?: number;
}

export interface JwksLookup {
  keys: PublicJwk[];
  /** True when served from the cache rather than fetched for this call. */
  cached: boolean;
}

export interface JwksCache {
  /**
   * The keys published at `url`: from the cache while fresh, otherwise fetched. With
   * `refresh: true` (an unknown kid) the URL is fetched again unless it was fetched within the cooldown.
   * Throws JwksError (invalid set) or JwksUnavailable (fetch failed).
   */
  get(url: string, opts?: { refresh?: boolean }): Promise<JwksLookup>;
}

/** The JWKS URL could not be fetched (network, timeout, status, size, SSRF guard). */
export class JwksUnavailable extends Error {
  override readonly name = 'JwksUnavailable';
}

interface Entry {
  keys?: PublicJwk[];
  /** Reusable until then (ms). */
  freshUntil: number;
  fetchedAt: number;
  failedAt?: number;
  inFlight?: Promise<JwksLookup>;
}

export function createJwksCache(o: JwksCacheOptions): JwksCache {
  const maxAge = o.maxAgeSeconds ?? 300;
  const cooldownMs = (o.refetchCooldownSeconds ?? 30) * 1000;
  const backoffMs = (o.failureBackoffSeconds ?? 5) * 1000;
  const maxEntries = o.maxEntries ?? 1000;
  const entries = new Map<string, Entry>();

  function entryFor(url: string): Entry {
    let e = entries.get(url);
    if (!e) {
      e = { freshUntil: 0, fetchedAt: Number.NEGATIVE_INFINITY };
      entries.set(url, e);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined && oldest !== url) entries.delete(oldest);
      }
    }
    return e;
  }

  async function fetchInto(url: string, e: Entry): Promise<JwksLookup> {
    const started = o.clock.now();
    e.fetchedAt = started;
    let res: Awaited<ReturnType<FetchJwks>>;
    try {
      res = await o.fetchJwks(url);
    } catch (err) {
      e.failedAt = o.clock.now();
      o.log.warn({ jwksUrl: url, reason: describeFetchError(err) }, 'jwks.fetch_failed');
      throw new JwksUnavailable('the client JWKS URL could not be fetched');
    }
    if (res.status !== 200) {
      e.failedAt = o.clock.now();
      o.log.warn({ jwksUrl: url, status: res.status }, 'jwks.fetch_failed');
      throw new JwksUnavailable(`the client JWKS URL answered ${res.status}`);
    }
    let keys: PublicJwk[];
    try {
      keys = validatePublicJwks(res.json);
    } catch (err) {
      // e.g. a published private key: stop trusting what was cached from this URL too
      e.keys = undefined;
      e.freshUntil = 0;
      e.failedAt = o.clock.now();
      o.log.warn({ jwksUrl: url, reason: (err as Error).message }, 'jwks.invalid');
      throw err;
    }
    const ttl = freshnessSeconds(res.headers, maxAge, maxAge);
    e.keys = ttl > 0 ? keys : undefined;
    e.freshUntil = started + ttl * 1000;
    e.failedAt = undefined;
    o.log.debug({ jwksUrl: url, keys: keys.length, ttlSeconds: ttl }, 'jwks.fetched');
    return { keys, cached: false };
  }

  return {
    async get(url, opts = {}) {
      const e = entryFor(url);
      const now = o.clock.now();
      const fresh = e.keys !== undefined && now < e.freshUntil;
      if (e.inFlight) return e.inFlight;
      if (fresh && !(opts.refresh && now - e.fetchedAt >= cooldownMs)) return { keys: e.keys!, cached: true };
      if (e.failedAt !== undefined && now - e.failedAt < backoffMs) {
        throw new JwksUnavailable('the client JWKS URL failed recently');
      }
      e.inFlight = fetchInto(url, e).catch((err: unknown) => {
        // a failed refresh does not throw away keys that are still fresh (FI-10)
        if (fresh && !(err instanceof JwksError)) return { keys: e.keys!, cached: true };
        throw err;
      }).finally(() => { e.inFlight = undefined; });
      return e.inFlight;
    },
  };
}

function describeFetchError(err: unknown): string {
  if (err && typeof err === 'object') {
    const kind = (err as { kind?: unknown }).kind;
    if (typeof kind === 'string') return kind;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return 'error';
}
