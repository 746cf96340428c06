/**
 * Clients registered with a JWKS URL (SMART R1/R3/V5): the token endpoint fetches the URL from a real
 * HTTP server on 127.0.0.1 through the outbound client, honours its Cache-Control, refetches once for a
 * rotated kid, and fails closed (401, not 500, not a hang) when the URL misbehaves (FI-10, X-01, X-07).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import request from 'supertest';
import { CLIENT_AUTH_FAILED } from '../../src/auth/client-assertion.js';
import { ASSERTION_TYPE, makeClientKey, signAssertion, startJwksServer, tokenForm, type ClientKey, type JwksServer } from './helpers.js';
import { createAuthHarness, type AuthHarness } from './harness.js';

describe('client JWKS URL', () => {
  let h: AuthHarness;
  let jwks: JwksServer;
  let blocked: JwksServer;
  let key: ClientKey;

  before(async () => {
    key = await makeClientKey('RS384', 'r1');
    jwks = await startJwksServer();
    blocked = await startJwksServer({ keys: [] });
    h = await createAuthHarness({ jwksPorts: [jwks.port] });
    await h.addPartner('url-ehr', { jwksUrl: jwks.url });
    await h.addPartner('internal-ehr', { jwksUrl: blocked.url });
  });
  after(async () => {
    await h.close();
    await jwks.close();
    await blocked.close();
  });
  beforeEach(() => { jwks.hits = 0; });

  const tokenRequest = async (clientId = 'url-ehr', signer = key) => {
    const jwt = await signAssertion({ clientId, key: signer, nowSeconds: h.nowSeconds() });
    return request(h.app).post('/auth/token').type('form').send(tokenForm({
      grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt,
    }));
  };

  /** Moves past anything cached from an earlier test. */
  const forget = () => h.clock.advance(301_000);

  it('reuses the JWKS for max-age, then fetches it again', async () => {
    forget();
    jwks.set({ keys: [key.publicJwk] }, { 'cache-control': 'public, max-age=60' });
    assert.equal((await tokenRequest()).status, 200);
    assert.equal((await tokenRequest()).status, 200);
    assert.equal(jwks.hits, 1);
    h.clock.advance(61_000);
    assert.equal((await tokenRequest()).status, 200);
    assert.equal(jwks.hits, 2);
  });

  it('fetches a no-store JWKS for every assertion', async () => {
    forget();
    jwks.set({ keys: [key.publicJwk] }, { 'cache-control': 'no-store' });
    for (let i = 0; i < 3; i++) assert.equal((await tokenRequest()).status, 200);
    assert.equal(jwks.hits, 3);
  });

  it('refetches once when a rotated kid appears, then not again within the cooldown (X-07)', async () => {
    forget();
    jwks.set({ keys: [key.publicJwk] }, { 'cache-control': 'max-age=300' });
    assert.equal((await tokenRequest()).status, 200);
    const next = await makeClientKey('ES384', 'e2');
    jwks.set({ keys: [key.publicJwk, next.publicJwk] }, { 'cache-control': 'max-age=300' });
    h.clock.advance(31_000);
    assert.equal((await tokenRequest('url-ehr', next)).status, 200, 'the new kid is found by one refetch');
    assert.equal(jwks.hits, 2);
    const stranger = await makeClientKey('ES384', 'unknown-kid');
    const results = await Promise.all(Array.from({ length: 10 }, () => tokenRequest('url-ehr', stranger)));
    for (const r of results) assert.deepEqual([r.status, r.body], [401, { error: 'invalid_client', error_description: CLIENT_AUTH_FAILED }]);
    assert.equal(jwks.hits, 2, 'no refetch inside the cooldown');
  });

  it('FI-10: a failing JWKS URL gives 401 invalid_client, not 500', async () => {
    forget();
    jwks.set('oops', {}, 500);
    const res = await tokenRequest();
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication failed' });
    assert.equal(h.lastRejection(), 'jwks-unavailable');
  });

  it('M-05: a JWKS URL that publishes a private key is refused', async () => {
    forget();
    h.clock.advance(10_000); // past the failure backoff of the previous test
    const leaked = { ...(key.publicJwk as Record<string, unknown>), d: 'AAAA' };
    jwks.set({ keys: [leaked] }, { 'cache-control': 'max-age=60' });
    const res = await tokenRequest();
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication failed' });
    assert.equal(h.lastRejection(), 'jwks-invalid');
  });

  it('X-01: a JWKS URL on a loopback port that is not allow-listed is never contacted', async () => {
    const res = await tokenRequest('internal-ehr');
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'invalid_client', error_description: 'client authentication failed' });
    assert.equal(blocked.hits, 0);
  });
});
