/**
 * The purpose of use a token carries, decided at POST /auth/token from the UDAP hl7-b2b extension
 * (spec-rules §3.2) and the partner's agreement (docs/agreements.md), through the whole gateway
 * (createApp wires resolvePurpose) with real signed client assertions: omitted when the agreement allows
 * one purpose, mapped from TEFCA exchange purposes, refused with invalid_grant when the agreement does not
 * allow it, allows several and none was asserted, or is not in force. The token then works at /fhir for
 * exactly that purpose.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { patient } from '../helpers/resources.js';
import { ASSERTION_TYPE, makeClientKey, signAssertion, tokenForm, type ClientKey } from './helpers.js';

const TEFCA = 'urn:oid:2.16.840.1.113883.3.7204.1.5.2.1';
const b2b = (purpose?: string) => ({
  extensions: {
    'hl7-b2b': {
      version: '1', subject_name: 'Dr. Test', organization_name: 'Test Org', organization_id: 'https://org.example',
      ...(purpose === undefined ? {} : { purpose_of_use: [purpose] }),
    },
  },
});

describe('purpose of use at the token endpoint (hl7-b2b + agreement)', () => {
  let t: TestApp;
  let key: ClientKey;

  before(async () => {
    t = await createTestApp();
    key = await makeClientKey('ES384');
    const jwks = { keys: [key.publicJwk] };
    const partner = async (id: string, agreement?: Record<string, unknown>, kind: 'ehr' | 'hie' = 'ehr') =>
      t.addPartner({ id, kind, jwks, scopes: ['system/Patient.rs'], ...(agreement ? { agreement } : {}) });
    await partner('treat-only'); // ehr default: TREAT alone
    await partner('two-purposes', { purposes: ['TREAT', 'HPAYMT'], resourceTypes: ['Patient'], consentRequired: false });
    await partner('paused', { purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false, status: 'suspended' });
    await partner('lapsed', { purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false, validTo: '2020-12-31' });
    await partner('broken', { purposes: [], resourceTypes: ['Patient'], consentRequired: false });
    await t.seed(patient('dana', 'Delta'));
  });
  after(() => t.close());

  const tokenRequest = async (clientId: string, claims: Record<string, unknown> = {}) => {
    const assertion = await signAssertion({ clientId, key, nowSeconds: Math.floor(Date.now() / 1000), claims });
    return request(t.app).post('/auth/token').type('form').send(tokenForm({
      grant_type: 'client_credentials', scope: 'system/Patient.rs', udap: '1',
      client_assertion_type: ASSERTION_TYPE, client_assertion: assertion,
    }));
  };

  /** The purpose as the token says it (the JWT claim) and as introspection reports it. */
  const purposeOf = async (accessToken: string) => {
    const claim = decodeJwt(accessToken).purpose_of_use;
    const intro = await request(t.app).post('/auth/introspect').auth(accessToken, { type: 'bearer' })
      .type('form').send(tokenForm({ token: accessToken }));
    assert.equal(intro.status, 200);
    assert.equal(intro.body.active, true);
    assert.equal(intro.body.purpose_of_use, claim, 'introspection agrees with the token');
    return claim;
  };

  const expectInvalidGrant = (res: request.Response, description: RegExp) => {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error, 'invalid_grant');
    assert.match(res.body.error_description, description);
    assert.equal(res.body.access_token, undefined);
    assert.equal(res.headers['cache-control'], 'no-store');
  };

  it('gives a partner whose agreement allows only TREAT a TREAT token when it asserts no purpose', async () => {
    const res = await tokenRequest('treat-only');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(await purposeOf(res.body.access_token), 'TREAT');
    const read = await request(t.app).get('/fhir/Patient/dana').auth(res.body.access_token, { type: 'bearer' });
    assert.equal(read.status, 200);
    const logged = (await t.stores.disclosures.listByPatient('dana')).at(-1)!;
    assert.equal(logged.purposeOfUse, 'TREAT');
    assert.equal(logged.legalBasis, 'tpo');
  });

  it('accepts TREAT asserted in its bare, OID-qualified and TEFCA forms, all carried as TREAT', async () => {
    for (const asserted of ['TREAT', 'urn:oid:2.16.840.1.113883.5.8#TREAT', `${TEFCA}#T-TREAT`, `${TEFCA}|T-TRTMNT`]) {
      const res = await tokenRequest('treat-only', b2b(asserted));
      assert.equal(res.status, 200, `${asserted}: ${JSON.stringify(res.body)}`);
      assert.equal(await purposeOf(res.body.access_token), 'TREAT', asserted);
    }
  });

  it('refuses a purpose the agreement does not allow with invalid_grant', async () => {
    expectInvalidGrant(await tokenRequest('treat-only', b2b('HRESCH')), /^the agreement with treat-only does not allow purpose of use HRESCH$/);
    // Emergency treatment is not granted through the hierarchy: it must be listed.
    expectInvalidGrant(await tokenRequest('treat-only', b2b('ETREAT')), /does not allow purpose of use ETREAT$/);
    // A TEFCA payment purpose maps to HPAYMT, which a treating EHR's agreement does not list.
    expectInvalidGrant(await tokenRequest('treat-only', b2b(`${TEFCA}#T-PYMNT`)), /does not allow purpose of use HPAYMT$/);
    // An unknown TEFCA code is not silently read as something else.
    expectInvalidGrant(await tokenRequest('treat-only', b2b(`${TEFCA}#T-NOSUCH`)), /does not allow purpose of use urn:oid:2\.16\.840\.1\.113883\.3\.7204\.1\.5\.2\.1#T-NOSUCH$/);
  });

  it('makes a partner whose agreement allows two purposes assert one', async () => {
    expectInvalidGrant(await tokenRequest('two-purposes'), /allows several purposes of use \(TREAT, HPAYMT\): assert one in the hl7-b2b extension/);
    const pay = await tokenRequest('two-purposes', b2b('HPAYMT'));
    assert.equal(pay.status, 200, JSON.stringify(pay.body));
    assert.equal(await purposeOf(pay.body.access_token), 'HPAYMT');
    const treat = await tokenRequest('two-purposes', b2b(`${TEFCA}#T-TREAT`));
    assert.equal(await purposeOf(treat.body.access_token), 'TREAT');
  });

  it('refuses every purpose when the agreement is suspended, expired or invalid', async () => {
    expectInvalidGrant(await tokenRequest('paused'), /^the agreement with paused is suspended$/);
    expectInvalidGrant(await tokenRequest('paused', b2b('TREAT')), /suspended/);
    expectInvalidGrant(await tokenRequest('lapsed', b2b('TREAT')), /^the agreement with lapsed expired \(valid to 2020-12-31\)$/);
    expectInvalidGrant(await tokenRequest('broken'), /^partner broken: invalid agreement: purposes: at least one purpose of use$/);
  });

  it('refuses a malformed hl7-b2b extension as invalid_request, before any agreement check', async () => {
    // Several purposes in one token (UDAP B7), and an hl7-b2b object without its required purpose_of_use:
    // omitting the purpose means omitting the extension, not sending it empty.
    for (const claims of [b2b(undefined), { extensions: { 'hl7-b2b': { version: '1', purpose_of_use: ['TREAT', 'HPAYMT'] } } }]) {
      for (const partner of ['treat-only', 'two-purposes']) {
        const res = await tokenRequest(partner, claims);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error, 'invalid_request');
        assert.equal(res.body.error_description, 'hl7-b2b purpose_of_use must be an array with exactly one code');
      }
    }
  });
});
