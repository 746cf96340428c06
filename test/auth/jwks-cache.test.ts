/**
 * Client JWKS validation (SMART R2, catalogue M-05) and the JWKS URL cache (SMART V5, X-07, FI-10),
 * with a scripted fetch and a manual clock. Fetching from a real server is covered in
 * token-endpoint.http.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJwksCache, freshnessSeconds, JwksError, JwksUnavailable, validatePublicJwks, type FetchJwks } from '../../src/auth/jwks-cache.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';

const EC = { kty: 'EC', kid: 'e1', crv: 'P-384', x: 'AA', y: 'BB' };
const RSA = { kty: 'RSA', kid: 'r1', n: 'AQAB', e: 'AQAB' };

describe('validatePublicJwks (R2)', () => {
  it('accepts public RSA and EC keys (and other kty with kid)', () => {
    assert.equal(validatePublicJwks({ keys: [EC, RSA, { kty: 'OKP', kid: 'o', crv: 'Ed25519', x: 'AA' }] }).length, 3);
  });

  it('refuses a set carrying any private member, whole (M-05)', () => {
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      assert.throws(() => validatePublicJwks({ keys: [EC, { ...RSA, [m]: 'AA' }] }), { name: 'JwksError', message: 'JWKS contains private key material' });
    }
  });

  it('refuses keys without kty or kid, RSA without n/e, EC without crv/x/y, and non-sets', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ keys: [{ ...EC, kid: undefined }] }, /no kid/],
      [{ keys: [{ ...EC, kid: 'x'.repeat(300) }] }, /no kid/],
      [{ keys: [{ kid: 'a' }] }, /no kty/],
      [{ keys: [{ kty: 'RSA', kid: 'a', n: 'AA' }] }, /RSA\) needs n and e/],
      [{ keys: [{ kty: 'EC', kid: 'a', crv: 'P-384', x: 'AA' }] }, /EC\) needs crv, x and y/],
      [{ keys: [null] }, /not an object/],
      [{ keys: 'nope' }, /"keys" array/],
      [[EC], /"keys" array/],
      [{ keys: Array.from({ length: 101 }, (_, i) => ({ ...EC, kid: `k${i}` })) }, /more than 100/],
    ];
    for (const [jwks, message] of cases) assert.throws(() => validatePublicJwks(jwks), (e: unknown) => e instanceof JwksError && message.test(e.message));
  });
});

describe('freshnessSeconds (Cache-Control, RFC 9111)', () => {
  it('honours no-store/no-cache, max-age minus Age, Expires minus Date, the default and the cap', () => {
    assert.equal(freshnessSeconds({ 'cache-control': 'no-store' }, 300, 300), 0);
    assert.equal(freshnessSeconds({ 'cache-control': 'public, no-cache' }, 300, 300), 0);
    assert.equal(freshnessSeconds({ 'cache-control': 'max-age=60' }, 300, 300), 60);
    assert.equal(freshnessSeconds({ 'cache-control': 'max-age=60', age: '50' }, 300, 300), 10);
    assert.equal(freshnessSeconds({ 'cache-control': 'max-age=86400' }, 300, 300), 300);
    assert.equal(freshnessSeconds({ 'cache-control': 'max-age=junk' }, 300, 300), 0);
    assert.equal(freshnessSeconds({ expires: 'Thu, 01 Jan 2026 00:02:00 GMT', date: 'Thu, 01 Jan 2026 00:00:00 GMT' }, 300, 300), 120);
    assert.equal(freshnessSeconds({ expires: '0' }, 300, 300), 0);
    assert.equal(freshnessSeconds({}, 300, 300), 300);
  });
});

/** A fetch that answers from a script and counts calls. */
function scriptedFetch() {
  const state = {
    calls: 0,
    jwks: { keys: [EC] } as unknown,
    headers: { 'cache-control': 'max-age=60' } as Record<string, string>,
    status: 200,
    fail: false,
    /** Delay before answering (to make calls overlap). */
    delayMs: 0,
  };
  const fetchJwks: FetchJwks = async () => {
    state.calls++;
    if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
    if (state.fail) throw Object.assign(new Error('connect ECONNREFUSED'), { kind: 'network' });
    return { status: state.status, headers: state.headers, json: state.status === 200 ? state.jwks : undefined };
  };
  return { state, fetchJwks };
}

describe('JWKS URL cache', () => {
  const URL = 'https://client.example/jwks';

  it('reuses a JWKS for max-age, then fetches again (V5)', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger });
    assert.deepEqual(await cache.get(URL), { keys: [EC], cached: false });
    clock.advance(59_000);
    assert.deepEqual(await cache.get(URL), { keys: [EC], cached: true });
    clock.advance(1_000);
    assert.equal((await cache.get(URL)).cached, false);
    assert.equal(f.state.calls, 2);
  });

  it('never reuses a no-store or no-cache JWKS', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    f.state.headers = { 'cache-control': 'no-store' };
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger });
    await cache.get(URL);
    await cache.get(URL);
    f.state.headers = { 'cache-control': 'no-cache' };
    await cache.get(URL);
    await cache.get(URL);
    assert.equal(f.state.calls, 4);
  });

  it('caps reuse at maxAgeSeconds even when the client allows a day', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    f.state.headers = { 'cache-control': 'max-age=86400' };
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger, maxAgeSeconds: 300 });
    await cache.get(URL);
    clock.advance(299_000);
    assert.equal((await cache.get(URL)).cached, true);
    clock.advance(1_000);
    assert.equal((await cache.get(URL)).cached, false);
  });

  it('X-07: an unknown kid refetches at most once per cooldown, and concurrent callers share one fetch', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    f.state.headers = { 'cache-control': 'max-age=300' };
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger, refetchCooldownSeconds: 30 });
    await cache.get(URL);
    clock.advance(31_000);
    f.state.delayMs = 20;
    await Promise.all(Array.from({ length: 1000 }, () => cache.get(URL, { refresh: true })));
    assert.equal(f.state.calls, 2, 'one refetch for 1000 unknown-kid requests');
    for (let i = 0; i < 100; i++) await cache.get(URL, { refresh: true });
    assert.equal(f.state.calls, 2, 'still within the cooldown');
    clock.advance(30_000);
    await cache.get(URL, { refresh: true });
    assert.equal(f.state.calls, 3);
  });

  it('FI-10: keeps serving fresh keys when a refresh fails; after expiry fails fast, then retries after the backoff', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    f.state.headers = { 'cache-control': 'max-age=120' };
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger, refetchCooldownSeconds: 30, failureBackoffSeconds: 5 });
    await cache.get(URL);
    f.state.fail = true;
    clock.advance(40_000);
    assert.deepEqual(await cache.get(URL, { refresh: true }), { keys: [EC], cached: true });
    clock.advance(90_000); // now past max-age
    await assert.rejects(cache.get(URL), JwksUnavailable);
    const calls = f.state.calls;
    await assert.rejects(cache.get(URL), { name: 'JwksUnavailable', message: /failed recently/ });
    assert.equal(f.state.calls, calls, 'no fetch during the backoff');
    clock.advance(5_000);
    f.state.fail = false;
    assert.equal((await cache.get(URL)).cached, false);
  });

  it('treats a non-200 answer as unavailable and an invalid set as JwksError, dropping cached keys', async () => {
    const clock = new ManualClock();
    const f = scriptedFetch();
    const cache = createJwksCache({ fetchJwks: f.fetchJwks, clock, log: silentLogger, failureBackoffSeconds: 0, refetchCooldownSeconds: 0 });
    f.state.status = 404;
    await assert.rejects(cache.get(URL), { name: 'JwksUnavailable', message: /answered 404/ });
    f.state.status = 200;
    await cache.get(URL);
    f.state.jwks = { keys: [{ ...EC, d: 'secret' }] };
    await assert.rejects(cache.get(URL, { refresh: true }), JwksError);
    f.state.jwks = { keys: [EC] };
    assert.equal((await cache.get(URL)).cached, false, 'keys from a set that leaked a private key are not reused');
  });
});
