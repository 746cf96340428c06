/**
 * The client-assertion steps one by one (spec-rules §3.1 H1-H4, C1-C5, V1-V4), at their boundaries.
 * The same rules over HTTP are in token-endpoint.http.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  checkAlgorithm, checkAudience, checkIssuer, checkJku, checkJwtId, checkKeyId, checkLifetime, checkType,
  CLOCK_SKEW_SECONDS, createAssertionVerifier, decodeAssertion, matchingKeys,
} from '../../src/auth/client-assertion.js';
import { ClientAuthError } from '../../src/auth/errors.js';
import { createJwksCache, type PublicJwk } from '../../src/auth/jwks-cache.js';
import { ManualClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { silentLogger } from '../../src/core/logger.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { Stores } from '../../src/store/types.js';
import { makeClientKey, signAssertion, TOKEN_URL } from './helpers.js';

function fails(fn: () => unknown, reason: ClientAuthError['reason'], status = 401): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ClientAuthError, String(e));
    assert.equal(e.reason, reason);
    assert.equal(e.status, status);
    assert.equal(e.oauthError, status === 400 ? 'invalid_request' : 'invalid_client');
    return true;
  });
}

describe('client assertion steps', () => {
  it('decodeAssertion accepts a compact JWS with JSON-object header and claims only', () => {
    const b = (v: string) => Buffer.from(v).toString('base64url');
    assert.deepEqual(decodeAssertion(`${b('{"alg":"ES384"}')}.${b('{"iss":"a"}')}.sig`).claims, { iss: 'a' });
    assert.deepEqual(decodeAssertion(`${b('{"alg":"none"}')}.${b('{}')}.`).header, { alg: 'none' }, 'an empty signature is left to the alg step');
    for (const bad of [
      undefined, 42, '', 'this.notatall.valid', `${b('null')}.${b('{}')}.s`, `${b('[]')}.${b('{}')}.s`, `${b('{}')}.${b('"x"')}.s`,
      `${b('{}')}.${b('{}')}`, `.${b('{}')}.s`, `${b('{}')}..s`, `${b('{}')}.${b('{}')}.s=`, `${b('{}')}+.${b('{}')}.s`, 'a'.repeat(20_000),
      `${b('{"a":1}')}x.${b('{}')}.s`,
    ]) fails(() => decodeAssertion(bad), 'malformed', 400);
  });

  it('checkType wants typ JWT (case-insensitive)', () => {
    checkType({ typ: 'JWT' });
    checkType({ typ: 'jwt' });
    for (const typ of [undefined, 'at+jwt', 'JOSE', 1]) fails(() => checkType({ typ }), 'typ');
  });

  it('checkAlgorithm pins RS384 and ES384 (R10)', () => {
    assert.equal(checkAlgorithm({ alg: 'RS384' }), 'RS384');
    assert.equal(checkAlgorithm({ alg: 'ES384' }), 'ES384');
    for (const alg of ['none', 'HS256', 'HS384', 'RS256', 'PS384', 'ES256', 'EdDSA', 'es384', undefined, ['RS384']]) fails(() => checkAlgorithm({ alg }), 'alg');
  });

  it('checkKeyId requires a kid of at most 256 characters', () => {
    assert.equal(checkKeyId({ kid: 'k'.repeat(256) }), 'k'.repeat(256));
    for (const kid of [undefined, '', 'k'.repeat(257), 7, { $ne: 1 }]) fails(() => checkKeyId({ kid }), 'kid');
  });

  it('checkIssuer wants iss = sub = client_id parameter', () => {
    assert.equal(checkIssuer({ iss: 'c', sub: 'c' }, undefined), 'c');
    assert.equal(checkIssuer({ iss: 'c', sub: 'c' }, 'c'), 'c');
    fails(() => checkIssuer({ iss: 'c', sub: 'd' }, undefined), 'iss-sub');
    fails(() => checkIssuer({ iss: 'c' }, undefined), 'iss-sub');
    fails(() => checkIssuer({ iss: 'x'.repeat(257), sub: 'x'.repeat(257) }, undefined), 'iss-sub');
    fails(() => checkIssuer({ iss: 'c', sub: 'c' }, 'd'), 'client-id-mismatch');
  });

  it('checkAudience wants the token URL, alone or in an array', () => {
    checkAudience({ aud: TOKEN_URL }, TOKEN_URL, 'c');
    checkAudience({ aud: ['x', TOKEN_URL] }, TOKEN_URL, 'c');
    for (const aud of [undefined, 'https://gw.test', `${TOKEN_URL}/`, TOKEN_URL.toUpperCase(), [], ['x'], { [TOKEN_URL]: 1 }]) {
      fails(() => checkAudience({ aud }, TOKEN_URL, 'c'), 'aud');
    }
  });

  it(`checkLifetime: ${CLOCK_SKEW_SECONDS} s skew either way, exp at most 300 s ahead`, () => {
    const clock = new ManualClock(1_800_000_000_000);
    const now = 1_800_000_000;
    assert.equal(checkLifetime({ exp: now + 300 + CLOCK_SKEW_SECONDS }, clock, 'c'), now + 315);
    checkLifetime({ exp: now - CLOCK_SKEW_SECONDS + 1 }, clock, 'c');
    fails(() => checkLifetime({ exp: now - CLOCK_SKEW_SECONDS }, clock, 'c'), 'expired');
    fails(() => checkLifetime({ exp: now + 300 + CLOCK_SKEW_SECONDS + 1 }, clock, 'c'), 'exp-too-far');
    for (const exp of [undefined, null, '1800000100', 1.8e9 + 0.5, Number.NaN, Number.POSITIVE_INFINITY]) fails(() => checkLifetime({ exp }, clock, 'c'), 'exp');
    checkLifetime({ exp: now + 60, iat: now + CLOCK_SKEW_SECONDS }, clock, 'c');
    fails(() => checkLifetime({ exp: now + 60, iat: now + CLOCK_SKEW_SECONDS + 1 }, clock, 'c'), 'iat-future');
    fails(() => checkLifetime({ exp: now + 60, iat: 'yesterday' }, clock, 'c'), 'iat-future');
    checkLifetime({ exp: now + 60, nbf: now + CLOCK_SKEW_SECONDS }, clock, 'c');
    fails(() => checkLifetime({ exp: now + 60, nbf: now + CLOCK_SKEW_SECONDS + 1 }, clock, 'c'), 'nbf-future');
  });

  it('checkJwtId requires a jti of at most 256 characters', () => {
    assert.equal(checkJwtId({ jti: 'j' }, 'c'), 'j');
    for (const jti of [undefined, '', 5, 'j'.repeat(257)]) fails(() => checkJwtId({ jti }, 'c'), 'jti');
  });

  it('checkJku accepts only the registered JWKS URL, exactly', () => {
    const url = 'https://client.example/.well-known/jwks.json';
    checkJku({}, { jwksUrl: url }, 'c');
    checkJku({ jku: url }, { jwksUrl: url }, 'c');
    checkJku({}, {}, 'c');
    for (const jku of [`${url}?`, url.toUpperCase(), 'https://evil.example/jwks', 1]) fails(() => checkJku({ jku }, { jwksUrl: url }, 'c'), 'jku-mismatch');
    fails(() => checkJku({ jku: url }, {}, 'c'), 'jku-mismatch');
  });

  it('matchingKeys keeps keys whose kid matches and whose type fits alg', () => {
    const keys = [
      { kty: 'RSA', kid: 'a', n: 'n', e: 'e' },
      { kty: 'EC', kid: 'a', crv: 'P-384', x: 'x', y: 'y' },
      { kty: 'EC', kid: 'b', crv: 'P-256', x: 'x', y: 'y' },
      { kty: 'RSA', kid: 'c', n: 'n', e: 'e', alg: 'RS256' },
      { kty: 'RSA', kid: 'd', n: 'n', e: 'e', use: 'enc' },
      { kty: 'RSA', kid: 'e', n: 'n', e: 'e', key_ops: ['encrypt'] },
      { kty: 'RSA', kid: 'f', n: 'n', e: 'e', use: 'sig', key_ops: ['verify'], alg: 'RS384' },
    ] as PublicJwk[];
    assert.deepEqual(matchingKeys(keys, 'a', 'RS384').map((k) => k.kty), ['RSA']);
    assert.deepEqual(matchingKeys(keys, 'a', 'ES384').map((k) => k.kty), ['EC']);
    for (const kid of ['b', 'c', 'd', 'e']) assert.deepEqual(matchingKeys(keys, kid, kid === 'b' ? 'ES384' : 'RS384'), []);
    assert.equal(matchingKeys(keys, 'f', 'RS384').length, 1);
  });
});

describe('assertion verifier with the real store', () => {
  let stores: Stores;
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);

  before(async () => {
    stores = await openSqliteStores({ filename: ':memory:', clock, defs: loadFhirDefinitions() });
  });
  after(() => stores.close());

  it('V2: a forged assertion (bad signature) cannot burn the real client\'s jti', async () => {
    const real = await makeClientKey('ES384', 'k1');
    const forger = await makeClientKey('ES384', 'k1');
    await stores.partners.upsert({ id: 'ehr', name: 'EHR', kind: 'ehr', status: 'active', scopes: [], jwks: { keys: [real.publicJwk as Record<string, unknown>] } });
    let fetches = 0;
    const verifier = createAssertionVerifier({
      partners: stores.partners, replay: stores.replay, clock, tokenEndpoint: TOKEN_URL,
      jwks: createJwksCache({ fetchJwks: async () => { fetches++; throw new Error('no fetching'); }, clock, log: silentLogger }),
    });
    const now = Math.floor(clock.now() / 1000);
    const jti = randomUUID();
    await assert.rejects(verifier.verify(await signAssertion({ clientId: 'ehr', key: forger, nowSeconds: now, claims: { jti } })), { reason: 'signature' });
    const ok = await verifier.verify(await signAssertion({ clientId: 'ehr', key: real, nowSeconds: now, claims: { jti } }));
    assert.deepEqual([ok.clientId, ok.jti, ok.kid, ok.alg, ok.partner.id], ['ehr', jti, 'k1', 'ES384', 'ehr']);
    assert.equal(fetches, 0, 'a registered JWKS is never fetched');
  });

  it('V2: the replay entry lives until exp + skew, then the jti may be reused (UDAP J5)', async () => {
    const key = await makeClientKey('RS384', 'r1');
    await stores.partners.upsert({ id: 'ehr2', name: 'EHR 2', kind: 'ehr', status: 'active', scopes: [], jwks: { keys: [key.publicJwk as Record<string, unknown>] } });
    const verifier = createAssertionVerifier({
      partners: stores.partners, replay: stores.replay, clock, tokenEndpoint: TOKEN_URL,
      jwks: createJwksCache({ fetchJwks: async () => { throw new Error('unused'); }, clock, log: silentLogger }),
    });
    const jti = randomUUID();
    const first = Math.floor(clock.now() / 1000);
    await verifier.verify(await signAssertion({ clientId: 'ehr2', key, nowSeconds: first, claims: { jti, exp: first + 60 } }));
    clock.advance((60 + CLOCK_SKEW_SECONDS - 1) * 1000);
    const later = Math.floor(clock.now() / 1000);
    await assert.rejects(verifier.verify(await signAssertion({ clientId: 'ehr2', key, nowSeconds: later, claims: { jti } })), { reason: 'replay' });
    clock.advance(2_000);
    const after = Math.floor(clock.now() / 1000);
    const ok = await verifier.verify(await signAssertion({ clientId: 'ehr2', key, nowSeconds: after, claims: { jti } }));
    assert.equal(ok.jti, jti);
  });
});
