/**
 * GET {base}/fhir/.well-known/smart-configuration (SMART conformance; spec-rules D1-D6, Part 2 A).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { BASE_URL } from './helpers.js';
import { createAuthHarness, type AuthHarness } from './harness.js';

describe('SMART discovery document', () => {
  let h: AuthHarness;
  before(async () => { h = await createAuthHarness(); });
  after(() => h.close());

  it('states exactly the backend-services capabilities, as application/json with CORS', async () => {
    const res = await request(h.app).get('/fhir/.well-known/smart-configuration').set('accept', 'application/fhir+json').set('origin', 'https://inferno.example');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.deepEqual(res.body, {
      token_endpoint: `${BASE_URL}/auth/token`,
      introspection_endpoint: `${BASE_URL}/auth/introspect`,
      jwks_uri: `${BASE_URL}/auth/jwks`,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.rs', 'system/*.cruds', 'system/*.read', 'system/*.write', 'system/*.*'],
      response_types_supported: [],
      capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
      code_challenge_methods_supported: ['S256'],
    });
    assert.equal('issuer' in res.body, false, 'no issuer without sso-openid-connect (Inferno item 8)');
  });

  it('advertises the same token URL the assertion aud is checked against', () => {
    assert.equal(h.auth.smartConfiguration().token_endpoint, h.auth.tokenEndpointUrl);
  });
});
