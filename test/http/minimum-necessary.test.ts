/**
 * What leaves is what the scopes and the patient link allow, nothing more: the permission that a path
 * needs, subjects the gateway can name, writes only from internal systems, the disclosure log behind
 * explicit scopes even at the token endpoint, and conditional-create matches recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { grantScopes } from '../../src/auth/scopes.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { LAB, observation, patient } from '../helpers/resources.js';

describe('minimum necessary', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'ehr-1', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'writer-ehr', scopes: ['system/*.cruds'] });
    await t.addPartner({ id: 'internal-1', kind: 'internal', scopes: ['system/*.cruds'] });
    await t.addPartner({ id: 'lab-reader', scopes: [`system/Observation.r?category=${LAB}|laboratory`, 'system/Observation.s'] });
    await t.addPartner({ id: 'patient-reader', scopes: ['system/Patient.r', 'system/Observation.s'] });
    await t.seed(patient('erin', 'Echo'), observation('obs-lab', 'erin'), observation('obs-vital', 'erin', 'vital-signs', '8867-4'), {
      ...observation('obs-anon', 'erin'),
      subject: { identifier: { system: 'https://test.fhir-exchange-gateway.dev/mrn', value: 'MRN-erin' } },
    });
  });
  after(() => t.close());

  it('reads with read grants only: a search-only grant does not widen a constrained read', async () => {
    const tok = await t.token({ partner: 'lab-reader' });
    assert.equal((await request(t.app).get('/fhir/Observation/obs-lab').auth(tok, { type: 'bearer' })).status, 200);
    assert.equal((await request(t.app).get('/fhir/Observation/obs-vital').auth(tok, { type: 'bearer' })).status, 404);
  });

  it('$everything releases only types the token may read', async () => {
    const tok = await t.token({ partner: 'patient-reader' });
    const res = await request(t.app).get('/fhir/Patient/erin/$everything').auth(tok, { type: 'bearer' });
    assert.equal(res.status, 200);
    const types = new Set((res.body.entry ?? []).map((e: { resource: { resourceType: string } }) => e.resource.resourceType));
    assert.deepEqual([...types], ['Patient']);
  });

  it('never releases a resource whose subject names no patient literally, and logs nothing for it', async () => {
    const tok = await t.token({ partner: 'ehr-1' });
    const before = await t.stores.disclosures.count();
    const read = await request(t.app).get('/fhir/Observation/obs-anon').auth(tok, { type: 'bearer' });
    assert.equal(read.status, 404);
    const search = await request(t.app).get('/fhir/Observation?code=2345-7').auth(tok, { type: 'bearer' });
    assert.ok(!(search.body.entry ?? []).some((e: { resource: { id: string } }) => e.resource.id === 'obs-anon'));
    assert.equal(search.body.total, undefined, 'a filtered search omits the total');
    const after = await t.stores.disclosures.count();
    assert.equal(after - before, 1, 'only the search that released obs-lab was recorded');
  });

  it('lets only the organization\'s internal systems write, whatever the scopes', async () => {
    const outside = await t.token({ partner: 'writer-ehr' });
    const res = await request(t.app).post('/fhir/Patient').auth(outside, { type: 'bearer' })
      .set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient', name: [{ family: 'Foxtrot' }] });
    assert.equal(res.status, 403);
    assert.equal(res.body.issue[0].details.coding[0].code, 'GW_WRITE_NOT_ALLOWED');
  });

  it('records a conditional-create match as a disclosure: the match itself says something about the patient', async () => {
    const tok = await t.token({ partner: 'internal-1' });
    const before = (await t.stores.disclosures.listByPatient('erin')).length;
    const res = await request(t.app).post('/fhir/Patient').auth(tok, { type: 'bearer' })
      .set('Content-Type', 'application/fhir+json').set('If-None-Exist', 'identifier=MRN-erin')
      .send({ resourceType: 'Patient', identifier: [{ system: 'https://test.fhir-exchange-gateway.dev/mrn', value: 'MRN-erin' }] });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.location), /\/Patient\/erin\//);
    const log = await t.stores.disclosures.listByPatient('erin');
    assert.equal(log.length, before + 1);
    assert.equal(log.at(-1)!.channel, 'search');
  });

  it('never grants the disclosure log through a wildcard registration', () => {
    assert.throws(() => grantScopes('system/AuditEvent.rs', ['system/*.rs']), (e: { oauthError?: string }) => e.oauthError === 'invalid_scope');
    const mixed = grantScopes('system/*.rs system/AuditEvent.rs', ['system/*.rs']);
    assert.equal(mixed.scope, 'system/*.rs');
    const explicit = grantScopes('system/AuditEvent.rs', ['system/*.rs', 'system/AuditEvent.rs']);
    assert.equal(explicit.scope, 'system/AuditEvent.rs');
  });
});

describe('totals over patient data', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
    // An agreement that withholds no label: the query is not narrowed, so a count may be given (the
    // default agreement withholds psychotherapy notes, which narrows every search and drops totals).
    await t.addPartner({
      id: 'ehr-1', scopes: ['system/*.rs'],
      agreement: { purposes: ['TREAT'], resourceTypes: ['Patient', 'Observation'], consentRequired: false, excludedLabels: [] },
    });
    await t.seed(patient('gail', 'Golf'), observation('g1', 'gail'), observation('g2', 'gail'));
  });
  after(() => t.close());

  it('counts with _summary=count only what may leave, and records the count as a disclosure of those resources', async () => {
    const tok = await t.token({ partner: 'ehr-1' });
    const before = (await t.stores.disclosures.listByPatient('gail')).length;
    const res = await request(t.app).get('/fhir/Observation?patient=gail&_summary=count').auth(tok, { type: 'bearer' });
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 2);
    assert.equal((res.body.entry ?? []).length, 0);
    const log = await t.stores.disclosures.listByPatient('gail');
    assert.equal(log.length, before + 1);
    assert.deepEqual(log.at(-1)!.resources.map((r) => r.id).sort(), ['g1', 'g2']);
  });

  it('gives no total to a partner whose agreement filters what leaves', async () => {
    await t.addPartner({ id: 'ehr-default', scopes: ['system/*.rs'] });
    const tok = await t.token({ partner: 'ehr-default' });
    const res = await request(t.app).get('/fhir/Observation?patient=gail&_summary=count').auth(tok, { type: 'bearer' });
    assert.equal(res.status, 200);
    assert.equal(res.body.total, undefined);
  });

  it('confirms that an identifier belongs to a patient only with a recorded disclosure', async () => {
    const tok = await t.token({ partner: 'ehr-1' });
    const before = (await t.stores.disclosures.listByPatient('gail')).length;
    const res = await request(t.app).get('/fhir/Patient?identifier=MRN-gail&_summary=count').auth(tok, { type: 'bearer' });
    assert.equal(res.body.total, 1);
    assert.equal((await t.stores.disclosures.listByPatient('gail')).length, before + 1);
  });
});
