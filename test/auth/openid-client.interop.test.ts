/**
 * Interop: the real openid-client 6 (a certified OAuth client) gets tokens from a listening gateway on
 * 127.0.0.1 with client_credentials + private_key_jwt, ES384 and RS384, with a registered JWKS and with
 * a JWKS URL. Per spec-rules item 66, openid-client's defaults (aud = issuer, no typ) are not SMART's;
 * `[modifyAssertion]` sets typ JWT and aud = the token URL, and the defaults are refused precisely.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { ManualClock } from '../../src/core/clock.js';
import { makeClientKey, startJwksServer, type ClientKey, type JwksServer } from './helpers.js';
import { createAuthHarness, type AuthHarness } from './harness.js';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

describe('openid-client 6 against the listening token endpoint', () => {
  let h: AuthHarness;
  let server: Server;
  let base: string;
  let tokenUrl: string;
  let es: ClientKey;
  let rs: ClientKey;
  let jwks: JwksServer;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    tokenUrl = `${base}/auth/token`;
    es = await makeClientKey('ES384', 'ehr-es384');
    rs = await makeClientKey('RS384', 'ehr-rs384');
    jwks = await startJwksServer({ keys: [{ ...rs.publicJwk, alg: 'RS384', use: 'sig' }] }, { 'cache-control': 'max-age=300' });
    h = await createAuthHarness({ baseUrl: base, clock: new ManualClock(Date.now()), jwksPorts: [jwks.port] });
    await h.addPartner('real-ehr', { jwks: { keys: [{ ...es.publicJwk, alg: 'ES384', use: 'sig' }] }, scopes: ['system/Patient.rs', 'system/Observation.rs'] });
    await h.addPartner('url-ehr', { jwksUrl: jwks.url, scopes: ['system/*.rs'] });
    server = h.app.listen(port, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', r));
  });
  after(async () => {
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
    await h.close();
    await jwks.close();
  });

  /** `fix`: which of openid-client's defaults to change to SMART's (both by default). */
  function client(clientId: string, key: ClientKey, fix: { typ: boolean; aud: boolean } = { typ: true, aud: true }): oidc.Configuration {
    const config = new oidc.Configuration(
      { issuer: base, token_endpoint: tokenUrl },
      clientId,
      { token_endpoint_auth_signing_alg: key.alg },
      oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }, {
        [oidc.modifyAssertion]: (header: Record<string, unknown>, payload: Record<string, unknown>) => {
          if (fix.typ) header.typ = 'JWT';
          if (fix.aud) payload.aud = tokenUrl;
        },
      }),
    );
    oidc.allowInsecureRequests(config);
    return config;
  }

  it('ES384 with a registered JWKS: bearer token, expires_in <= 300, granted scope, no refresh token', async () => {
    const tokens = await oidc.clientCredentialsGrant(client('real-ehr', es), { scope: 'system/Patient.rs system/Observation.rs' });
    assert.equal(tokens.token_type, 'bearer');
    assert.ok(tokens.expires_in !== undefined && tokens.expires_in > 0 && tokens.expires_in <= 300);
    assert.equal(tokens.scope, 'system/Patient.rs system/Observation.rs');
    assert.equal(tokens.refresh_token, undefined);
    const principal = await h.auth.verifyAccessToken(`Bearer ${tokens.access_token}`);
    assert.equal(principal.clientId, 'real-ehr');
  });

  it('RS384 with a JWKS URL fetched from a local server', async () => {
    const tokens = await oidc.clientCredentialsGrant(client('url-ehr', rs), { scope: 'system/Observation.rs' });
    assert.equal(tokens.scope, 'system/Observation.rs');
    assert.equal(jwks.hits, 1);
    assert.equal((await h.auth.verifyAccessToken(`Bearer ${tokens.access_token}`)).clientId, 'url-ehr');
  });

  it("openid-client's defaults (no typ, aud = issuer) are refused with invalid_client, naming the rule", async () => {
    await assert.rejects(oidc.clientCredentialsGrant(client('real-ehr', es, { typ: false, aud: false }), { scope: 'system/Patient.rs' }), (e: unknown) => {
      // a 401 without a challenge surfaces as ResponseBodyError carrying the RFC 6749 error body
      assert.ok(e instanceof oidc.ResponseBodyError, String(e));
      assert.equal(e.status, 401);
      assert.equal(e.error, 'invalid_client');
      assert.equal(e.error_description, 'client_assertion header typ must be "JWT"');
      assert.equal(h.lastRejection(), 'typ');
      return true;
    });
    await assert.rejects(oidc.clientCredentialsGrant(client('real-ehr', es, { typ: true, aud: false }), { scope: 'system/Patient.rs' }), (e: unknown) => {
      assert.ok(e instanceof oidc.ResponseBodyError);
      assert.equal(e.error_description, 'client_assertion aud must be the token endpoint URL');
      return true;
    });
  });

  it('serves a discovery document openid-client-style clients can read', async () => {
    const res = await fetch(`${base}/fhir/.well-known/smart-configuration`, { headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const doc = (await res.json()) as Record<string, unknown>;
    assert.equal(doc.token_endpoint, tokenUrl);
  });
});
