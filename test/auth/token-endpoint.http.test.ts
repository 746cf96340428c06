/**
 * POST /auth/token over HTTP (supertest) with the real SQLite store: catalogue T-01..T-15, T-21, T-22.
 * Every negative case asserts status + error + the specific error_description (lesson I1); where the
 * body is deliberately the same for several causes (T-14, no client enumeration) the precise reason
 * is asserted on the auth event instead.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, importJWK, type JWK } from 'jose';
import request from 'supertest';
import { CLIENT_AUTH_FAILED } from '../../src/auth/client-assertion.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  ASSERTION_TYPE, makeClientKey, signAssertion, startJwksServer, TOKEN_URL, tokenForm, unsecuredJwt,
  type ClientKey, type JwksServer,
} from './helpers.js';
import { createAuthHarness, type AuthHarness } from './harness.js';

type Res = request.Response;

function expectOAuthError(res: Res, status: number, error: string, description: string | RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
  assert.equal(res.body.error, error);
  if (typeof description === 'string') assert.equal(res.body.error_description, description);
  else assert.match(res.body.error_description, description);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  // No Bearer challenge at the token endpoint: the client did not authenticate with the Authorization header.
  assert.equal(res.headers['www-authenticate'], undefined);
}

describe('POST /auth/token (SMART Backend Services)', () => {
  let h: AuthHarness;
  let es: ClientKey;
  let rs: ClientKey;
  let rs256: ClientKey;
  let registeredJwks: JwksServer;
  let jkuMock: JwksServer;
  /** Every assertion and token seen, to prove none reaches the log. */
  const secrets: string[] = [];

  before(async () => {
    es = await makeClientKey('ES384', 'es-1');
    rs = await makeClientKey('RS384', 'rs-1');
    rs256 = await makeClientKey('RS256', 'rs256-1');
    registeredJwks = await startJwksServer({ keys: [] }, { 'cache-control': 'max-age=60' });
    jkuMock = await startJwksServer({ keys: [] });
    h = await createAuthHarness({ jwksPorts: [registeredJwks.port, jkuMock.port] });
    registeredJwks.set({ keys: [es.publicJwk] }, { 'cache-control': 'max-age=60' });
    jkuMock.set({ keys: [es.publicJwk] });
    await h.addPartner('ehr', { keys: [es, rs, rs256], scopes: ['system/Observation.rs', 'system/Patient.rs'] });
    await h.addPartner('ehr-url', { jwksUrl: registeredJwks.url });
    await h.addPartner('suspended-ehr', { keys: [es], status: 'suspended' });
    await h.addPartner('terminated-ehr', { keys: [es], status: 'terminated' });
  });
  after(async () => {
    for (const line of h.log.lines) for (const s of secrets) assert.ok(!line.includes(s), 'a token or assertion reached the log');
    await h.close();
    await registeredJwks.close();
    await jkuMock.close();
  });

  const assertion = async (o: { clientId?: string; key?: ClientKey; header?: Record<string, unknown>; claims?: Record<string, unknown> } = {}) => {
    const jwt = await signAssertion({ clientId: o.clientId ?? 'ehr', key: o.key ?? es, nowSeconds: h.nowSeconds(), header: o.header, claims: o.claims });
    secrets.push(jwt);
    return jwt;
  };

  const post = async (fields: Record<string, string | undefined>): Promise<Res> => {
    const res = await request(h.app).post('/auth/token').type('form').send(tokenForm(fields));
    if (typeof res.body?.access_token === 'string') secrets.push(res.body.access_token);
    return res;
  };

  const tokenRequest = async (clientAssertion: string | undefined, extra: Record<string, string | undefined> = {}) =>
    post({
      grant_type: 'client_credentials', scope: 'system/Observation.rs', client_assertion_type: ASSERTION_TYPE,
      client_assertion: clientAssertion, ...extra,
    });

  const issuedCount = (clientId: string) => h.events.filter((e) => e.type === 'token.issued' && e.clientId === clientId).length;

  it('issues a token for a valid ES384 assertion, and for a valid RS384 one', async () => {
    for (const key of [es, rs]) {
      const res = await tokenRequest(await assertion({ key }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.scope, 'system/Observation.rs');
    }
  });

  it('T-22: the token response has no-store, bearer, expires_in <= 300, the granted scope, and no refresh token', async () => {
    const res = await tokenRequest(await assertion());
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(res.body.token_type, 'bearer');
    assert.equal(typeof res.body.access_token, 'string');
    assert.ok(res.body.expires_in > 0 && res.body.expires_in <= 300);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    const principal = await h.auth.verifyAccessToken(`Bearer ${res.body.access_token}`);
    assert.equal(principal.clientId, 'ehr');
    assert.equal(principal.purposeOfUse, 'TREAT');
  });

  it('T-01: grant_type=not_a_grant_type gets 400 unsupported_grant_type and no token', async () => {
    const before = issuedCount('ehr');
    expectOAuthError(await tokenRequest(await assertion(), { grant_type: 'not_a_grant_type' }), 400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    expectOAuthError(await tokenRequest(await assertion(), { grant_type: undefined }), 400, 'invalid_request', 'grant_type is required');
    assert.equal(issuedCount('ehr'), before);
    assert.deepEqual(h.events.at(-1), { type: 'token.rejected', error: 'invalid_request', reason: 'grant_type is required' });
  });

  it('T-02: a wrong or missing client_assertion_type gets 400 invalid_request', async () => {
    const why = `client_assertion_type must be ${ASSERTION_TYPE}`;
    expectOAuthError(await tokenRequest(await assertion(), { client_assertion_type: 'not_an_assertion_type' }), 400, 'invalid_request', why);
    expectOAuthError(await tokenRequest(await assertion(), { client_assertion_type: undefined }), 400, 'invalid_request', why);
    expectOAuthError(await tokenRequest(undefined), 400, 'invalid_request', 'client_assertion is required');
  });

  it('T-03: a malformed assertion gets 400 invalid_request without parser internals', async () => {
    const nullHeader = `${Buffer.from('null').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`;
    const arrayClaims = `${Buffer.from('{"alg":"ES384"}').toString('base64url')}.${Buffer.from('[1]').toString('base64url')}.c2ln`;
    const junk = 'A'.repeat(8 * 1024);
    for (const bad of ['this.notatall.valid', nullHeader, arrayClaims, 'a$b.c*d.e', 'abc.def', 'a.b.c.d', junk, `${junk}.${junk}.${junk}`, '..']) {
      const res = await tokenRequest(bad);
      expectOAuthError(res, 400, 'invalid_request', 'client_assertion is not a well-formed JWT');
    }
  });

  it('T-04: alg none gets 401 invalid_client and no token', async () => {
    const before = issuedCount('ehr');
    const now = h.nowSeconds();
    const jwt = unsecuredJwt({ alg: 'none', typ: 'JWT', kid: 'es-1' }, { iss: 'ehr', sub: 'ehr', aud: TOKEN_URL, exp: now + 60, jti: randomUUID() });
    expectOAuthError(await tokenRequest(jwt), 401, 'invalid_client', 'client_assertion alg must be one of RS384, ES384');
    assert.equal(issuedCount('ehr'), before);
    assert.equal(h.lastRejection(), 'alg');
  });

  it("T-05: HS256 keyed with the client's public RSA key PEM gets 401 invalid_client", async () => {
    const pem = await exportSPKI(await importJWK(rs.publicJwk as JWK, 'RS384') as never);
    const now = h.nowSeconds();
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'rs-1' })}.${b64({ iss: 'ehr', sub: 'ehr', aud: TOKEN_URL, exp: now + 60, jti: randomUUID() })}`;
    const jwt = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    expectOAuthError(await tokenRequest(jwt), 401, 'invalid_client', 'client_assertion alg must be one of RS384, ES384');
  });

  it('T-06: a correctly signed RS256 assertion (alg not advertised) gets 401 invalid_client', async () => {
    expectOAuthError(await tokenRequest(await assertion({ key: rs256 })), 401, 'invalid_client', 'client_assertion alg must be one of RS384, ES384');
  });

  it('T-07: kid injection is only a map key: unknown kids fail cleanly, an oversized kid is refused', async () => {
    for (const kid of ['../../etc/passwd', "' OR 1=1--", 'a\u0000b', 'es-1\u0000']) {
      expectOAuthError(await tokenRequest(await assertion({ header: { kid } })), 401, 'invalid_client', CLIENT_AUTH_FAILED);
      assert.equal(h.lastRejection(), 'key-not-found');
    }
    expectOAuthError(await tokenRequest(await assertion({ header: { kid: 'k'.repeat(10 * 1024) } })), 401, 'invalid_client', 'client_assertion header kid is required (at most 256 characters)');
    expectOAuthError(await tokenRequest(await assertion({ header: { kid: undefined } })), 401, 'invalid_client', 'client_assertion header kid is required (at most 256 characters)');
  });

  it('T-08: two keys sharing the kid, or the kid on a key of the wrong type, both fail', async () => {
    const twin = await makeClientKey('ES384', 'dup');
    const other = await makeClientKey('ES384', 'dup');
    await h.addPartner('dup-ehr', { keys: [twin, other] });
    expectOAuthError(await tokenRequest(await assertion({ clientId: 'dup-ehr', key: twin })), 401, 'invalid_client', 'client authentication failed');
    assert.equal(h.lastRejection(), 'key-ambiguous');

    const ecKey = await makeClientKey('ES384', 'shared-kid');
    const rsaSigner = await makeClientKey('RS384', 'shared-kid');
    await h.addPartner('mixed-ehr', { keys: [ecKey] });
    expectOAuthError(await tokenRequest(await assertion({ clientId: 'mixed-ehr', key: rsaSigner })), 401, 'invalid_client', CLIENT_AUTH_FAILED);
    assert.equal(h.lastRejection(), 'key-not-found');

    // an EC key on another curve does not fit ES384 either
    const signer = await makeClientKey('ES384', 'p256');
    await h.addPartner('curve-ehr', { jwks: { keys: [{ ...signer.publicJwk, crv: 'P-256' }] } });
    expectOAuthError(await tokenRequest(await assertion({ clientId: 'curve-ehr', key: signer })), 401, 'invalid_client', CLIENT_AUTH_FAILED);
    assert.equal(h.lastRejection(), 'key-not-found');
  });

  it('T-09: a jku other than the registered JWKS URL fails without fetching anything', async () => {
    registeredJwks.hits = 0;
    jkuMock.hits = 0;
    for (const jku of [jkuMock.url, 'http://169.254.169.254/latest/meta-data/', `${registeredJwks.url}?x=1`]) {
      expectOAuthError(await tokenRequest(await assertion({ clientId: 'ehr-url', header: { jku } })), 401, 'invalid_client', "client_assertion jku does not match the client's registered JWKS URL");
    }
    // a client registered with a JWKS (no URL) cannot name any jku either
    expectOAuthError(await tokenRequest(await assertion({ header: { jku: jkuMock.url } })), 401, 'invalid_client', "client_assertion jku does not match the client's registered JWKS URL");
    assert.equal(jkuMock.hits, 0);
    assert.equal(registeredJwks.hits, 0);
    // the registered URL itself is fine, and is what gets fetched
    const ok = await tokenRequest(await assertion({ clientId: 'ehr-url', header: { jku: registeredJwks.url } }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(registeredJwks.hits, 1);
    assert.equal(jkuMock.hits, 0);
  });

  it('T-10: a replayed assertion gets 401; of 20 parallel posts of one assertion exactly one gets a token', async () => {
    const once = await assertion();
    assert.equal((await tokenRequest(once)).status, 200);
    expectOAuthError(await tokenRequest(once), 401, 'invalid_client', 'client_assertion jti has already been used');

    const before = issuedCount('ehr');
    const shared = await assertion();
    const results = await Promise.all(Array.from({ length: 20 }, () => tokenRequest(shared)));
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    for (const r of results.filter((x) => x.status !== 200)) expectOAuthError(r, 401, 'invalid_client', 'client_assertion jti has already been used');
    assert.equal(issuedCount('ehr') - before, 1);
  });

  it('T-10: the same jti is per client: another client may use it', async () => {
    const jti = randomUUID();
    const other = await makeClientKey('ES384', 'o-1');
    await h.addPartner('other-ehr', { keys: [other] });
    assert.equal((await tokenRequest(await assertion({ claims: { jti } }))).status, 200);
    assert.equal((await tokenRequest(await assertion({ clientId: 'other-ehr', key: other, claims: { jti } }))).status, 200);
  });

  it('T-12: exp missing, an hour ahead, 30 s past, iat 120 s ahead and nbf ahead are refused; 10 s past is within the skew', async () => {
    const now = h.nowSeconds();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ exp: undefined }, 'client_assertion exp is required and must be an integer'],
      [{ exp: String(now + 60) }, 'client_assertion exp is required and must be an integer'],
      [{ exp: now + 60.5 }, 'client_assertion exp is required and must be an integer'],
      [{ exp: now + 3600 }, 'client_assertion exp is more than 300 seconds in the future'],
      [{ exp: now + 300 + 16 }, 'client_assertion exp is more than 300 seconds in the future'],
      [{ exp: now - 30 }, 'client_assertion has expired'],
      [{ exp: now - 15 }, 'client_assertion has expired'],
      [{ iat: now + 120 }, 'client_assertion iat is not a number or is in the future'],
      [{ nbf: now + 120 }, 'client_assertion is not valid yet (nbf)'],
    ];
    for (const [claims, why] of cases) {
      expectOAuthError(await tokenRequest(await assertion({ claims })), 401, 'invalid_client', why);
    }
    for (const claims of [{ exp: now - 10 }, { exp: now + 300 + 15 }, { iat: now + 10, exp: now + 60 }, { nbf: now + 5 }]) {
      const res = await tokenRequest(await assertion({ claims }));
      assert.equal(res.status, 200, `${JSON.stringify(claims)}: ${JSON.stringify(res.body)}`);
    }
  });

  it('T-12: the skew is measured against the server clock (a fast client is tolerated up to 15 s)', async () => {
    const clientNow = h.nowSeconds() + 14;
    const res = await tokenRequest(await signAssertion({ clientId: 'ehr', key: es, nowSeconds: clientNow, claims: { iat: clientNow } }));
    assert.equal(res.status, 200);
  });

  it('T-13: aud must be the token endpoint URL', async () => {
    for (const aud of ['https://gw.test/fhir', 'https://other.example/auth/token', ['https://gw.test/fhir'], undefined, `${TOKEN_URL}/`, 'https://gw.test']) {
      expectOAuthError(await tokenRequest(await assertion({ claims: { aud } })), 401, 'invalid_client', 'client_assertion aud must be the token endpoint URL');
    }
    assert.equal((await tokenRequest(await assertion({ claims: { aud: ['https://gw.test/fhir', TOKEN_URL] } }))).status, 200);
  });

  it('T-14: iss != sub and iss != client_id are refused', async () => {
    expectOAuthError(await tokenRequest(await assertion({ claims: { sub: 'someone-else' } })), 401, 'invalid_client', 'client_assertion iss and sub must both be the client_id');
    expectOAuthError(await tokenRequest(await assertion({ claims: { iss: undefined } })), 401, 'invalid_client', 'client_assertion iss and sub must both be the client_id');
    expectOAuthError(await tokenRequest(await assertion(), { client_id: 'other-client' }), 401, 'invalid_client', 'client_assertion iss does not match the client_id parameter');
    assert.equal((await tokenRequest(await assertion(), { client_id: 'ehr' })).status, 200, 'client_id equal to iss is fine (openid-client sends it)');
  });

  it('T-14: unknown, suspended and terminated clients, and a wrong signature, get the very same answer', async () => {
    const forger = await makeClientKey('ES384', 'es-1'); // same kid as the real key, different key
    const answers: Res[] = [];
    const reasons: Array<string | undefined> = [];
    for (const [clientId, key] of [['nobody', es], ['suspended-ehr', es], ['terminated-ehr', es], ['ehr', forger]] as const) {
      answers.push(await tokenRequest(await assertion({ clientId, key })));
      reasons.push(h.lastRejection());
    }
    for (const res of answers) expectOAuthError(res, 401, 'invalid_client', CLIENT_AUTH_FAILED);
    const shape = (r: Res) => ({ status: r.status, body: r.body, www: r.headers['www-authenticate'], cc: r.headers['cache-control'] });
    for (const res of answers.slice(1)) assert.deepEqual(shape(res), shape(answers[0]!));
    assert.deepEqual(reasons, ['client-unknown', 'client-inactive', 'client-inactive', 'signature']);
  });

  it('T-15: scope escalation is down-scoped to the registration, or refused with invalid_scope', async () => {
    const wide = await tokenRequest(await assertion(), { scope: 'system/*.*' });
    assert.equal(wide.status, 200);
    assert.equal(wide.body.scope, 'system/Observation.rs system/Patient.rs');
    const principal = await h.auth.verifyAccessToken(`Bearer ${wide.body.access_token}`);
    assert.deepEqual(principal.grants.map((g) => g.raw), ['system/Observation.rs', 'system/Patient.rs']);

    expectOAuthError(await tokenRequest(await assertion(), { scope: 'user/*.*' }), 400, 'invalid_scope', 'none of the requested scopes is allowed for this client');
    expectOAuthError(await tokenRequest(await assertion(), { scope: 'system/MedicationRequest.rs' }), 400, 'invalid_scope', 'none of the requested scopes is allowed for this client');
    expectOAuthError(await tokenRequest(await assertion(), { scope: 'system/Observation.dus' }), 400, 'invalid_scope', 'scope 1 is not a valid SMART scope: permissions must be a subset of "cruds" in that order');
    expectOAuthError(await tokenRequest(await assertion(), { scope: undefined }), 400, 'invalid_request', 'scope is required');
    expectOAuthError(await tokenRequest(await assertion(), { scope: '' }), 400, 'invalid_request', 'scope is required');
  });

  it('carries the hl7-b2b purpose_of_use into the token, and refuses several purposes', async () => {
    const b2b = (purpose_of_use: unknown) => ({ extensions: { 'hl7-b2b': { version: '1', organization_id: 'https://ehr.example', purpose_of_use } } });
    const res = await tokenRequest(await assertion({ claims: b2b(['urn:oid:2.16.840.1.113883.5.8#HPAYMT']) }));
    assert.equal(res.status, 200);
    assert.equal((await h.auth.verifyAccessToken(`Bearer ${res.body.access_token}`)).purposeOfUse, 'HPAYMT');
    const tefca = await tokenRequest(await assertion({ claims: b2b(['urn:oid:2.16.840.1.113883.3.7204.1.5.2.1#T-TREAT']) }));
    assert.equal((await h.auth.verifyAccessToken(`Bearer ${tefca.body.access_token}`)).purposeOfUse, 'urn:oid:2.16.840.1.113883.3.7204.1.5.2.1#T-TREAT');
    expectOAuthError(await tokenRequest(await assertion({ claims: b2b(['TREAT', 'HPAYMT']) })), 400, 'invalid_request', 'hl7-b2b purpose_of_use must be an array with exactly one code');
    expectOAuthError(await tokenRequest(await assertion({ claims: b2b('TREAT') })), 400, 'invalid_request', 'hl7-b2b purpose_of_use must be an array with exactly one code');
  });

  it('refuses a missing typ, a typ other than JWT, jti missing, and repeated parameters', async () => {
    expectOAuthError(await tokenRequest(await assertion({ header: { typ: undefined } })), 401, 'invalid_client', 'client_assertion header typ must be "JWT"');
    expectOAuthError(await tokenRequest(await assertion({ header: { typ: 'at+jwt' } })), 401, 'invalid_client', 'client_assertion header typ must be "JWT"');
    expectOAuthError(await tokenRequest(await assertion({ claims: { jti: undefined } })), 401, 'invalid_client', 'client_assertion jti is required (at most 256 characters)');
    const jwt = await assertion();
    const body = `${tokenForm({ grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt })}&scope=system%2FObservation.rs`;
    expectOAuthError(await request(h.app).post('/auth/token').type('form').send(body), 400, 'invalid_request', 'parameter scope is repeated');
  });

  it('T-21: JSON or text/plain bodies get 400 invalid_request; GET gets 405 with Allow', async () => {
    const jwt = await assertion();
    const fields = { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt };
    expectOAuthError(await request(h.app).post('/auth/token').set('content-type', 'application/json').send(JSON.stringify(fields)), 400, 'invalid_request', 'the request body must be application/x-www-form-urlencoded');
    expectOAuthError(await request(h.app).post('/auth/token').set('content-type', 'text/plain').send(tokenForm(fields)), 400, 'invalid_request', 'the request body must be application/x-www-form-urlencoded');
    expectOAuthError(await request(h.app).post('/auth/token'), 400, 'invalid_request', 'the request body must be application/x-www-form-urlencoded');
    const get = await request(h.app).get('/auth/token');
    expectOAuthError(get, 405, 'invalid_request', 'GET is not allowed here; use POST');
    assert.equal(get.headers.allow, 'POST');
    expectOAuthError(await request(h.app).put('/auth/token').type('form').send(tokenForm(fields)), 405, 'invalid_request', 'PUT is not allowed here; use POST');
    // the same form with a charset parameter (openid-client sends one) is fine
    const ok = await request(h.app).post('/auth/token').set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8').send(tokenForm(fields));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('refuses an oversized form with 413 invalid_request', async () => {
    const res = await request(h.app).post('/auth/token').type('form').send(`scope=${'a'.repeat(70 * 1024)}`);
    expectOAuthError(res, 413, 'invalid_request', 'request body is too large');
  });
});

describe('T-11: jti replay across a restart', () => {
  it('a new gateway over the same database still refuses the used assertion', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fxg-auth-'));
    const filename = join(dir, 'gateway.db');
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const key = await makeClientKey('ES384', 'k1');
    try {
      const first = await createAuthHarness({ filename, clock });
      await first.addPartner('ehr', { keys: [key] });
      const jwt = await signAssertion({ clientId: 'ehr', key, nowSeconds: first.nowSeconds() });
      const form = tokenForm({ grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
      const ok = await request(first.app).post('/auth/token').type('form').send(form);
      assert.equal(ok.status, 200);
      await first.close();

      clock.advance(60_000);
      const second = await createAuthHarness({ filename, clock });
      try {
        const replay = await request(second.app).post('/auth/token').type('form').send(form);
        expectOAuthError(replay, 401, 'invalid_client', 'client_assertion jti has already been used');
        // and the token issued before the restart still verifies (signing keys are durable too)
        assert.equal((await second.auth.verifyAccessToken(`Bearer ${ok.body.access_token}`)).clientId, 'ehr');
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
