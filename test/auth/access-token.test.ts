/**
 * Access tokens at the verifyAccessToken level (catalogue F-01..F-03, T-19/M-06 suspension),
 * introspection over HTTP (RFC 7662, Inferno item 28), and signing-key rotation, with the real
 * SQLite store and a manual clock.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportSPKI, generateKeyPair, importJWK, type JWK } from 'jose';
import request from 'supertest';
import { OutcomeError } from '../../src/core/outcome.js';
import type { PartnerStore } from '../../src/store/types.js';
import { BASE_URL, makeClientKey, signAssertion, signJwt, TOKEN_URL, unsecuredJwt } from './helpers.js';
import { createAuthHarness, type AuthHarness } from './harness.js';
import { createHmac } from 'node:crypto';

async function rejects401(p: Promise<unknown>, code: 'GW_NO_TOKEN' | 'GW_INVALID_TOKEN', message: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof OutcomeError, String(e));
    assert.equal(e.status, 401);
    assert.equal(e.issue, 'login');
    assert.equal(e.code, code);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.equal(
      e.headers['www-authenticate'],
      code === 'GW_NO_TOKEN' ? 'Bearer realm="fhir"' : 'Bearer realm="fhir", error="invalid_token"',
    );
    return true;
  });
}

/** Counts PartnerStore reads (F-02: a bad token must not reach the database). */
function countingPartners(inner: PartnerStore): PartnerStore & { reads: number } {
  const counter = {
    reads: 0,
    get: (id: string) => { counter.reads++; return inner.get(id); },
    list: () => inner.list(),
    upsert: inner.upsert.bind(inner),
    setStatus: inner.setStatus.bind(inner),
  };
  return counter;
}

describe('verifyAccessToken', () => {
  let h: AuthHarness;
  let partners: ReturnType<typeof countingPartners>;
  let token: string;

  before(async () => {
    h = await createAuthHarness();
    partners = countingPartners(h.stores.partners);
    // a second service over the same stores, reading partners through the counter
    const { createAuthService } = await import('../../src/auth/service.js');
    h.auth = createAuthService({
      stores: { partners, replay: h.stores.replay, keys: h.stores.keys },
      clock: h.clock, log: h.log, baseUrl: BASE_URL, fetchJwks: (url) => h.outbound.fetchJson(url),
    });
    await h.addPartner('ehr', { scopes: ['system/*.rs'], address: '1 Main St, Springfield' });
    const partner = (await h.stores.partners.get('ehr'))!;
    token = (await h.auth.issueAccessToken({ partner, scope: 'system/Patient.rs system/Observation.rs' })).access_token;
  });
  after(() => h.close());

  it('issues an RFC 9068 token: typ at+jwt, iss, aud, sub = client_id, scope, jti, purpose, exp - iat = 300', () => {
    const header = decodeProtectedHeader(token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'RS256');
    assert.equal(typeof header.kid, 'string');
    const c = decodeJwt(token);
    assert.equal(c.iss, `${BASE_URL}/auth`);
    assert.equal(c.aud, `${BASE_URL}/fhir`);
    assert.equal(c.sub, 'ehr');
    assert.equal(c.client_id, 'ehr');
    assert.equal(c.scope, 'system/Patient.rs system/Observation.rs');
    assert.equal(c.purpose_of_use, 'TREAT');
    assert.equal(typeof c.jti, 'string');
    assert.equal(c.exp! - c.iat!, 300);
    assert.equal(c.patient, undefined);
  });

  it('returns the Principal of an active partner', async () => {
    const p = await h.auth.verifyAccessToken(`Bearer ${token}`);
    const c = decodeJwt(token);
    assert.deepEqual({ ...p, grants: p.grants.map((g) => g.raw) }, {
      clientId: 'ehr',
      partner: { id: 'ehr', name: 'ehr organization', kind: 'ehr', address: '1 Main St, Springfield', updatedAt: p.partner.updatedAt },
      tokenId: c.jti,
      scope: 'system/Patient.rs system/Observation.rs',
      grants: ['system/Patient.rs', 'system/Observation.rs'],
      purposeOfUse: 'TREAT',
      expiresAt: c.exp,
    });
    assert.equal((await h.auth.verifyAccessToken(`bearer ${token}`)).clientId, 'ehr', 'the scheme is case-insensitive');
  });

  it('carries patient and user context when issued with them', async () => {
    const withContext = (await h.auth.issueAccessToken({
      partner: { id: 'ehr' }, scope: 'patient/*.rs', patient: 'pat-1', user: 'Practitioner/dr-1', purposeOfUse: 'HPAYMT',
    })).access_token;
    const p = await h.auth.verifyAccessToken(`Bearer ${withContext}`);
    assert.equal(p.patient, 'pat-1');
    assert.equal(p.user, 'Practitioner/dr-1');
    assert.equal(p.purposeOfUse, 'HPAYMT');
  });

  it('F-01: no header, an empty bearer token, or another scheme gets 401 with a Bearer challenge', async () => {
    await rejects401(h.auth.verifyAccessToken(undefined), 'GW_NO_TOKEN', 'an access token is required (Authorization: Bearer)');
    await rejects401(h.auth.verifyAccessToken(''), 'GW_NO_TOKEN', 'an access token is required (Authorization: Bearer)');
    await rejects401(h.auth.verifyAccessToken('Bearer'), 'GW_NO_TOKEN', 'the bearer access token is empty');
    await rejects401(h.auth.verifyAccessToken('Bearer   '), 'GW_NO_TOKEN', 'the bearer access token is empty');
    await rejects401(h.auth.verifyAccessToken('Basic ZWhyOnNlY3JldA=='), 'GW_NO_TOKEN', 'only the Bearer authorization scheme is supported');
    await rejects401(h.auth.verifyAccessToken(`Bearer ${token} extra`), 'GW_INVALID_TOKEN', 'malformed access token');
  });

  it('F-02: expired, garbage, alg none and HS/RS-confused tokens get 401 invalid_token without touching the database', async () => {
    const reads = partners.reads;
    const [h64, p64] = token.split('.') as [string, string];
    const claims = decodeJwt(token);
    const header = decodeProtectedHeader(token);
    await rejects401(h.auth.verifyAccessToken('Bearer garbage'), 'GW_INVALID_TOKEN', 'malformed access token');
    await rejects401(h.auth.verifyAccessToken('Bearer a.b.c'), 'GW_INVALID_TOKEN', 'malformed access token');
    await rejects401(h.auth.verifyAccessToken(`Bearer ${'a'.repeat(9000)}`), 'GW_INVALID_TOKEN', 'malformed access token');
    await rejects401(h.auth.verifyAccessToken(`Bearer ${unsecuredJwt({ ...header, alg: 'none' }, claims)}`), 'GW_INVALID_TOKEN', 'access token algorithm does not match the signing key');
    // HS256 keyed with the gateway's public key (published at /auth/jwks)
    const jwk = (await h.auth.publicJwks()).keys[0] as JWK;
    const pem = await exportSPKI(await importJWK(jwk, 'RS256') as never);
    const hsHeader = Buffer.from(JSON.stringify({ ...header, alg: 'HS256' })).toString('base64url');
    const hs = `${hsHeader}.${p64}.${createHmac('sha256', pem).update(`${hsHeader}.${p64}`).digest('base64url')}`;
    await rejects401(h.auth.verifyAccessToken(`Bearer ${hs}`), 'GW_INVALID_TOKEN', 'access token algorithm does not match the signing key');
    // a signature that does not match the content (claims altered)
    const forged = `${h64}.${Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url')}.${token.split('.')[2]}`;
    await rejects401(h.auth.verifyAccessToken(`Bearer ${forged}`), 'GW_INVALID_TOKEN', 'access token signature is invalid');
    await rejects401(h.auth.verifyAccessToken(`Bearer ${unsecuredJwt({ ...header, kid: 'unknown' }, claims)}`), 'GW_INVALID_TOKEN', 'access token is not signed by a key of this server');
    assert.equal(partners.reads, reads, 'no partner lookup for a token that is not genuine');

    const shortLived = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
    await h.auth.verifyAccessToken(`Bearer ${shortLived}`); // now cached
    h.clock.advance(300_000);
    const readsBefore = partners.reads;
    await rejects401(h.auth.verifyAccessToken(`Bearer ${shortLived}`), 'GW_INVALID_TOKEN', 'access token has expired');
    assert.equal(partners.reads, readsBefore);
    const fresh = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
    h.clock.advance(300_000);
    await rejects401(h.auth.verifyAccessToken(`Bearer ${fresh}`), 'GW_INVALID_TOKEN', 'access token has expired');
    token = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs system/Observation.rs' })).access_token;
  });

  it('F-03: a token for another server, a client assertion and an ID token are not access tokens', async () => {
    const ring = await h.stores.keys.list();
    const own = ring.find((k) => !k.retiredAt)!;
    const ownKey = await importJWK(own.privateJwk as JWK, own.alg) as never;
    const now = Math.floor(h.clock.now() / 1000);
    const base = { sub: 'ehr', client_id: 'ehr', scope: 'system/Patient.rs', jti: randomUUID(), iat: now, exp: now + 60, purpose_of_use: 'TREAT' };

    const otherAud = await signJwt(ownKey, { alg: own.alg, kid: own.kid, typ: 'at+jwt' }, { ...base, iss: `${BASE_URL}/auth`, aud: 'https://other.example/fhir' });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${otherAud}`), 'GW_INVALID_TOKEN', 'access token is not meant for this FHIR server');
    const otherIss = await signJwt(ownKey, { alg: own.alg, kid: own.kid, typ: 'at+jwt' }, { ...base, iss: 'https://other.example/auth', aud: `${BASE_URL}/fhir` });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${otherIss}`), 'GW_INVALID_TOKEN', 'access token was not issued by this server');

    const client = await makeClientKey('ES384', 'c1');
    const clientAssertion = await signAssertion({ clientId: 'ehr', key: client, nowSeconds: now });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${clientAssertion}`), 'GW_INVALID_TOKEN', 'not an access token (typ must be at+jwt)');
    const idToken = await signJwt(ownKey, { alg: own.alg, kid: own.kid, typ: 'JWT' }, { ...base, iss: `${BASE_URL}/auth`, aud: 'ehr', nonce: 'n' });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${idToken}`), 'GW_INVALID_TOKEN', 'not an access token (typ must be at+jwt)');
    const noTyp = await signJwt(ownKey, { alg: own.alg, kid: own.kid }, { ...base, iss: `${BASE_URL}/auth`, aud: `${BASE_URL}/fhir` });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${noTyp}`), 'GW_INVALID_TOKEN', 'not an access token (typ must be at+jwt)');
    // a genuine-looking token signed with a key that is not the gateway's
    const { privateKey } = await generateKeyPair('RS256');
    const foreign = await signJwt(privateKey, { alg: 'RS256', kid: own.kid, typ: 'at+jwt' }, { ...base, iss: `${BASE_URL}/auth`, aud: `${BASE_URL}/fhir` });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${foreign}`), 'GW_INVALID_TOKEN', 'access token signature is invalid');
    // sub must be the client
    const mismatch = await signJwt(ownKey, { alg: own.alg, kid: own.kid, typ: 'at+jwt' }, { ...base, sub: 'someone', iss: `${BASE_URL}/auth`, aud: `${BASE_URL}/fhir` });
    await rejects401(h.auth.verifyAccessToken(`Bearer ${mismatch}`), 'GW_INVALID_TOKEN', 'access token claims are incomplete');
  });

  it('T-19/M-06: suspending the partner in the store refuses its tokens on the next request (status is read, never cached)', async () => {
    await h.auth.verifyAccessToken(`Bearer ${token}`); // verified and cached
    const reads = partners.reads;
    await h.stores.partners.setStatus('ehr', 'suspended');
    await rejects401(h.auth.verifyAccessToken(`Bearer ${token}`), 'GW_INVALID_TOKEN', 'the client of this access token is not active');
    assert.equal(partners.reads, reads + 1, 'one partner read per request');
    await h.stores.partners.setStatus('ehr', 'active');
    assert.equal((await h.auth.verifyAccessToken(`Bearer ${token}`)).clientId, 'ehr');
  });

  it('caps the configured lifetime at 300 s', async () => {
    const { createAuthService } = await import('../../src/auth/service.js');
    const long = createAuthService({
      stores: { partners: h.stores.partners, replay: h.stores.replay, keys: h.stores.keys },
      clock: h.clock, log: h.log, baseUrl: BASE_URL, fetchJwks: () => Promise.reject(new Error('unused')), accessTokenTtlSeconds: 3600,
    });
    const issued = await long.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' });
    assert.equal(issued.expires_in, 300);
  });
});

describe('POST /auth/introspect (RFC 7662)', () => {
  let h: AuthHarness;
  let mine: string;
  let theirs: string;

  before(async () => {
    h = await createAuthHarness();
    await h.addPartner('ehr');
    await h.addPartner('pharmacy');
    mine = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs', patient: 'pat-1' })).access_token;
    theirs = (await h.auth.issueAccessToken({ partner: { id: 'pharmacy' }, scope: 'system/Patient.rs' })).access_token;
  });
  after(() => h.close());

  const introspect = (caller: string | undefined, token: string | undefined) => {
    const r = request(h.app).post('/auth/introspect').type('form');
    if (caller) r.set('authorization', `Bearer ${caller}`);
    return r.send(token === undefined ? '' : new URLSearchParams({ token }).toString());
  };

  it('describes an active own token', async () => {
    const res = await introspect(mine, mine);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const c = decodeJwt(mine);
    assert.deepEqual(res.body, {
      active: true, client_id: 'ehr', scope: 'system/Patient.rs', exp: c.exp, iat: c.iat, sub: 'ehr',
      iss: `${BASE_URL}/auth`, aud: `${BASE_URL}/fhir`, token_type: 'Bearer', purpose_of_use: 'TREAT', patient: 'pat-1',
    });
  });

  it("answers exactly {active:false} for another client's token, garbage, expired and suspended-client tokens", async () => {
    for (const token of [theirs, 'garbage', 'a.b.c', TOKEN_URL]) {
      const res = await introspect(mine, token);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { active: false });
    }
    const soon = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
    await h.stores.partners.setStatus('pharmacy', 'suspended');
    const pharmacyToken = (await h.auth.issueAccessToken({ partner: { id: 'pharmacy' }, scope: 'system/Patient.rs' })).access_token;
    assert.deepEqual((await introspect(mine, pharmacyToken)).body, { active: false });
    h.clock.advance(299_000);
    const caller = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
    h.clock.advance(2_000);
    assert.deepEqual((await introspect(caller, soon)).body, { active: false });
  });

  it('requires the caller to authenticate (401) and exactly one token parameter (400)', async () => {
    const noAuth = await introspect(undefined, mine);
    assert.equal(noAuth.status, 401);
    assert.deepEqual(noAuth.body, { error: 'invalid_request', error_description: 'an access token is required (Authorization: Bearer)' });
    assert.equal(noAuth.headers['www-authenticate'], 'Bearer realm="fhir"');
    const badAuth = await introspect('garbage', mine);
    assert.equal(badAuth.status, 401);
    assert.deepEqual(badAuth.body, { error: 'invalid_token', error_description: 'malformed access token' });
    const caller = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
    const missing = await introspect(caller, undefined);
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body, { error: 'invalid_request', error_description: 'exactly one token parameter is required' });
    const get = await request(h.app).get('/auth/introspect');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
  });
});

describe('signing-key rotation', () => {
  it('old tokens verify until they expire, JWKS lists both keys, and retired keys are pruned later', async () => {
    const h = await createAuthHarness();
    try {
      await h.addPartner('ehr');
      const before = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
      const oldKid = decodeProtectedHeader(before).kid;
      // another gateway process over the same database, which has read the key set just now
      const { createAuthService } = await import('../../src/auth/service.js');
      const peer = createAuthService({
        stores: { partners: h.stores.partners, replay: h.stores.replay, keys: h.stores.keys },
        clock: h.clock, log: h.log, baseUrl: BASE_URL, fetchJwks: () => Promise.reject(new Error('unused')),
      });
      assert.equal((await peer.verifyAccessToken(`Bearer ${before}`)).clientId, 'ehr');
      const rotated = await h.auth.rotateKeys();
      assert.deepEqual(rotated.retired, [oldKid]);
      const afterToken = (await h.auth.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token;
      assert.equal(decodeProtectedHeader(afterToken).kid, rotated.kid, 'the new key signs at once');
      assert.notEqual(rotated.kid, oldKid);

      assert.equal((await h.auth.verifyAccessToken(`Bearer ${before}`)).clientId, 'ehr');
      assert.equal((await h.auth.verifyAccessToken(`Bearer ${afterToken}`)).clientId, 'ehr');

      const jwks = await request(h.app).get('/auth/jwks');
      assert.equal(jwks.status, 200);
      assert.match(jwks.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(jwks.body.keys.map((k: { kid: string }) => k.kid).sort(), [oldKid, rotated.kid].sort());
      for (const k of jwks.body.keys as Array<Record<string, unknown>>) {
        assert.deepEqual(Object.keys(k).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
        assert.equal(k.use, 'sig');
      }

      // the peer meets the new kid at the same instant, with a fresh cache: it re-reads and accepts
      assert.equal((await peer.verifyAccessToken(`Bearer ${afterToken}`)).clientId, 'ehr');
      assert.equal((await peer.verifyAccessToken(`Bearer ${before}`)).clientId, 'ehr');
      // and within the reload interval it signs with the new key too
      h.clock.advance(61_000);
      assert.equal(decodeProtectedHeader((await peer.issueAccessToken({ partner: { id: 'ehr' }, scope: 'system/Patient.rs' })).access_token).kid, rotated.kid);

      // past every old token's lifetime: the next rotation prunes the first key
      h.clock.advance((300 + 15) * 1000);
      await assert.rejects(h.auth.verifyAccessToken(`Bearer ${before}`), { code: 'GW_INVALID_TOKEN' });
      const second = await h.auth.rotateKeys();
      assert.equal(second.pruned, 1);
      const kids = (await h.auth.publicJwks()).keys.map((k) => k.kid);
      assert.deepEqual(kids.sort(), [rotated.kid, second.kid].sort());
    } finally {
      await h.close();
    }
  });

  it('ensureSigningKey creates one key once; a restart reuses it', async () => {
    const h = await createAuthHarness();
    try {
      await h.auth.ensureSigningKey();
      await h.auth.ensureSigningKey();
      assert.equal((await h.stores.keys.list()).length, 1);
      const stored = (await h.stores.keys.list())[0]!;
      assert.equal(stored.alg, 'RS256');
      assert.ok(!('d' in (await h.auth.publicJwks()).keys[0]!));
    } finally {
      await h.close();
    }
  });
});
