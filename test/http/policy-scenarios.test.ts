/**
 * The policy scenarios of issue #4, through HTTP with real tokens: agreements, consents and security
 * labels deciding together on every path (read, search, _include, $everything), the legal basis and
 * labels reaching the disclosure log, and the admin API changing agreements with a trail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Condition, Consent, ConsentProvision, MedicationRequest, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { PURPOSE_OF_USE_SYSTEM } from '../../src/core/purpose-of-use.js';
import { PART2_REDISCLOSURE_NOTICE, PARTNER_IDENTIFIER_SYSTEM } from '../../src/policy/consent.js';
import { parseAgreement } from '../../src/policy/agreements.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';

const IRCP = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] };
const actor = (partnerId: string) => ({ role: IRCP, reference: { identifier: { system: PARTNER_IDENTIFIER_SYSTEM, value: partnerId } } });

function consent(id: string, patientId: string, provision: ConsentProvision, status: Consent['status'] = 'active'): Consent {
  return {
    resourceType: 'Consent', id, status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-01-01',
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision,
  };
}

const condition = (id: string, patientId: string, code: { system: string; code: string; display: string }): Condition => ({
  resourceType: 'Condition', id,
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
  code: { coding: [code] },
  subject: { reference: `Patient/${patientId}` },
});

const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';
const bearer = (tok: string) => ({ type: 'bearer' as const });
const get = (t: TestApp, tok: string, path: string) => request(t.app).get(path).auth(tok, bearer(tok));
const ids = (body: { entry?: Array<{ resource: Resource; search?: { mode?: string } }> }) =>
  (body.entry ?? []).filter((e) => e.search?.mode !== 'outcome').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

describe('policy scenarios over HTTP', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'clinic-ehr', kind: 'ehr', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'cardio', kind: 'specialist', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'corner-pharmacy', kind: 'pharmacy', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'admin-console', kind: 'internal', scopes: ['admin/partners.read', 'admin/partners.write', 'admin/policy.read', 'system/*.cruds'] });
    const label = <T extends Resource>(r: T) => t.gw.ingest.labeler.label(r);
    await t.seed(
      patient('dana', 'Delta'),
      patient('sam', 'Sierra'),
      label(condition('dana-htn', 'dana', { system: ICD10, code: 'I10', display: 'Essential (primary) hypertension' })),
      label(condition('sam-oud', 'sam', { system: ICD10, code: 'F11.20', display: 'Opioid dependence, uncomplicated' })),
      label(condition('sam-asthma', 'sam', { system: ICD10, code: 'J45.909', display: 'Unspecified asthma, uncomplicated' })),
      label(observation('dana-glucose', 'dana')),
      label(observation('dana-phq', 'dana', 'survey', '44249-1')),
      label({
        resourceType: 'MedicationRequest', id: 'dana-rx', status: 'active', intent: 'order',
        medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361', display: 'amlodipine 5 MG Oral Tablet' }] },
        subject: { reference: 'Patient/dana' }, authoredOn: '2026-01-05', requester: { display: 'Dr. Test' },
      } satisfies MedicationRequest),
      { resourceType: 'Encounter', id: 'dana-visit', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/dana' } },
      // Dana denies the cardiology group everything.
      consent('dana-deny-cardio', 'dana', { type: 'deny', actor: [actor('cardio')] }),
    );
  });
  after(() => t.close());

  it('labels the Part 2 condition on ingest (ETH, restricted) and leaves the others normal', async () => {
    const oud = await t.stores.resources.read('Condition', 'sam-oud');
    const codes = (oud.meta?.security ?? []).map((c) => c.code).sort();
    assert.ok(codes.includes('ETH') && codes.includes('R'), `labels were ${codes.join(',')}`);
    const asthma = await t.stores.resources.read('Condition', 'sam-asthma');
    assert.deepEqual((asthma.meta?.security ?? []).map((c) => c.code), ['N']);
  });

  it('a patient who denies a specialist: the specialist gets not found and nothing is logged; the EHR still reads', async () => {
    const cardio = await t.token({ partner: 'cardio' });
    const before = (await t.stores.disclosures.listByPatient('dana')).length;
    assert.equal((await get(t, cardio, '/fhir/Patient/dana')).status, 404);
    assert.equal((await get(t, cardio, '/fhir/Condition/dana-htn')).status, 404);
    const search = await get(t, cardio, '/fhir/Condition?patient=dana');
    assert.equal(search.status, 200);
    assert.deepEqual(ids(search.body), []);
    assert.equal((await get(t, cardio, '/fhir/Patient/dana/$everything')).status, 404);
    assert.equal((await t.stores.disclosures.listByPatient('dana')).length, before, 'nothing disclosed, nothing logged');

    const ehr = await t.token({ partner: 'clinic-ehr' });
    assert.equal((await get(t, ehr, '/fhir/Condition/dana-htn')).status, 200);
    const log = await t.stores.disclosures.listByPatient('dana');
    assert.equal(log.at(-1)?.recipient.partnerId, 'clinic-ehr');
    assert.equal(log.at(-1)?.legalBasis, 'tpo');
    // The specialist still sees another patient, who denied nothing.
    assert.equal((await get(t, cardio, '/fhir/Condition/sam-asthma')).status, 200);
  });

  it('a Part 2 condition is withheld from the EHR until a consent names it, then leaves with the redisclosure notice', async () => {
    const ehr = await t.token({ partner: 'clinic-ehr' });
    assert.equal((await get(t, ehr, '/fhir/Condition/sam-oud')).status, 404);
    const before = await get(t, ehr, '/fhir/Condition?patient=sam');
    assert.deepEqual(ids(before.body), ['Condition/sam-asthma']);
    assert.equal(before.body.total, undefined, 'a filtered search gives no total');
    const everything = await get(t, ehr, '/fhir/Patient/sam/$everything');
    assert.ok(!ids(everything.body).includes('Condition/sam-oud'), '$everything obeys the Part 2 rule');

    await t.seed(consent('sam-part2-ehr', 'sam', {
      type: 'permit', actor: [actor('clinic-ehr')], purpose: [{ system: PURPOSE_OF_USE_SYSTEM, code: 'TREAT' }],
    }));
    const read = await get(t, ehr, '/fhir/Condition/sam-oud');
    assert.equal(read.status, 200);
    assert.ok(read.body.meta.security.some((c: { code: string }) => c.code === 'NORDSCLCD'), 'the obligation label travels with the record');
    const search = await get(t, ehr, '/fhir/Condition?patient=sam&_include=Condition:subject');
    assert.deepEqual(ids(search.body), ['Condition/sam-asthma', 'Condition/sam-oud', 'Patient/sam']);
    const notice = search.body.entry.find((e: { search?: { mode?: string } }) => e.search?.mode === 'outcome');
    assert.equal(notice?.resource.issue[0].details.text, PART2_REDISCLOSURE_NOTICE);
    const last = (await t.stores.disclosures.listByPatient('sam')).at(-1);
    assert.equal(last?.legalBasis, 'tpo;consent=Consent/sam-part2-ehr');
    assert.ok(last?.labels?.includes('ETH'), 'the log knows Part 2 data left');
  });

  it('consents are written over FHIR by internal systems, and one that could never apply is refused', async () => {
    const admin = await t.token({ partner: 'admin-console', scope: 'system/*.cruds', purposeOfUse: 'HOPERAT' });
    const noPatient = { ...consent('orphan', 'sam', { type: 'deny', actor: [actor('cardio')] }), patient: { display: 'Sam' } };
    const refused = await request(t.app).put('/fhir/Consent/orphan').auth(admin, bearer(admin)).type('application/fhir+json').send(noPatient);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.issue[0].details.coding[0].code, 'GW_CONSENT_PATIENT');
    const ehr = await t.token({ partner: 'clinic-ehr' });
    assert.equal((await request(t.app).put('/fhir/Consent/sam-deny-ehr').auth(ehr, bearer(ehr)).type('application/fhir+json')
      .send(consent('sam-deny-ehr', 'sam', { type: 'deny', actor: [actor('cardio')] }))).status, 403, 'partners do not write consents');
    const cardio = await t.token({ partner: 'cardio' });
    assert.equal((await get(t, cardio, '/fhir/Condition/sam-asthma')).status, 200);
    const put = await request(t.app).put('/fhir/Consent/sam-deny-cardio').auth(admin, bearer(admin)).type('application/fhir+json')
      .send(consent('sam-deny-cardio', 'sam', { type: 'deny', actor: [actor('cardio')] }));
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal((await get(t, cardio, '/fhir/Condition/sam-asthma')).status, 404, 'effective on the next request');
    const revoked = await request(t.app).put('/fhir/Consent/sam-deny-cardio').auth(admin, bearer(admin)).type('application/fhir+json')
      .send(consent('sam-deny-cardio', 'sam', { type: 'deny', actor: [actor('cardio')] }, 'inactive'));
    assert.equal(revoked.status, 200);
    assert.equal((await get(t, cardio, '/fhir/Condition/sam-asthma')).status, 200, 'revoked on the next request');
    const history = await request(t.app).get('/fhir/Consent/sam-deny-cardio/_history').auth(admin, bearer(admin));
    assert.equal(history.body.entry.length, 2, 'history is kept');
  });

  it('a revoked consent takes effect on the very next request', async () => {
    const ehr = await t.token({ partner: 'clinic-ehr' });
    assert.equal((await get(t, ehr, '/fhir/Condition/sam-oud')).status, 200);
    await t.seed(consent('sam-part2-ehr', 'sam', { type: 'permit', actor: [actor('clinic-ehr')] }, 'inactive'));
    assert.equal((await get(t, ehr, '/fhir/Condition/sam-oud')).status, 404);
  });

  it('a pharmacy reaches only the minimum necessary', async () => {
    const rx = await t.token({ partner: 'corner-pharmacy' });
    assert.equal((await get(t, rx, '/fhir/MedicationRequest/dana-rx')).status, 200);
    assert.equal((await get(t, rx, '/fhir/Patient/dana')).status, 200);
    assert.equal((await get(t, rx, '/fhir/Observation/dana-glucose')).status, 200, 'laboratory results (renal function, INR) are for dosing');
    assert.equal((await get(t, rx, '/fhir/Observation/dana-phq')).status, 404, 'a depression questionnaire is not');
    const enc = await get(t, rx, '/fhir/Encounter/dana-visit');
    assert.equal(enc.status, 403);
    assert.equal(enc.body.issue[0].details.coding[0].code, 'GW_TYPE_NOT_ALLOWED');
    const all = await get(t, rx, '/fhir/Patient/dana/$everything');
    const types = new Set(ids(all.body).map((r) => r.split('/')[0]));
    assert.ok(!types.has('Encounter'), '$everything obeys the agreement');
    assert.ok(types.has('MedicationRequest'));
    const obs = await get(t, rx, '/fhir/Observation?patient=dana');
    assert.deepEqual(ids(obs.body), ['Observation/dana-glucose']);
  });

  it('a suspended or expired agreement refuses every request, and the admin trail records the change', async () => {
    const admin = await t.token({ partner: 'admin-console', scope: 'admin/partners.read admin/partners.write' });
    const ehr = await t.token({ partner: 'clinic-ehr' });
    const agreement = {
      purposes: ['TREAT'], resourceTypes: ['Patient', 'Condition'], consentRequired: false, status: 'suspended',
      legalReference: 'Data sharing agreement 2026-07',
    };
    const put = await request(t.gw.adminApp).put('/admin/partners/clinic-ehr/agreement').auth(admin, bearer(admin)).send(agreement);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const refused = await get(t, ehr, '/fhir/Patient/dana');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.issue[0].details.coding[0].code, 'GW_AGREEMENT_SUSPENDED');

    const expired = await request(t.gw.adminApp).put('/admin/partners/clinic-ehr/agreement').auth(admin, bearer(admin))
      .send({ ...agreement, status: 'active', validTo: '2020-12-31' });
    assert.equal(expired.status, 200);
    assert.equal((await get(t, ehr, '/fhir/Condition?patient=dana')).body.issue[0].details.coding[0].code, 'GW_AGREEMENT_EXPIRED');

    const bad = await request(t.gw.adminApp).put('/admin/partners/clinic-ehr/agreement').auth(admin, bearer(admin)).send({ purposes: [] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.issue[0].details.text, /purposes/);

    assert.equal((await request(t.gw.adminApp).delete('/admin/partners/clinic-ehr/agreement').auth(admin, bearer(admin))).status, 200);
    assert.equal((await get(t, ehr, '/fhir/Patient/dana')).status, 200, 'back on the defaults for its kind');

    const trail = await request(t.gw.adminApp).get('/admin/trail?target=partner/clinic-ehr').auth(admin, bearer(admin));
    assert.deepEqual(trail.body.map((e: { action: string }) => e.action), ['agreement.update', 'agreement.update', 'agreement.reset']);
    assert.equal(trail.body[0].actor, 'partner:admin-console');
    assert.deepEqual(trail.body[0].before, { default: 'ehr' });
    assert.equal(trail.body[0].after.status, 'suspended');
    assert.equal(trail.body[1].before.status, 'suspended');

    // Only internal systems with the admin scope, and only on the administration listener.
    const notAdmin = await request(t.gw.adminApp).get('/admin/partners').auth(ehr, bearer(ehr));
    assert.equal(notAdmin.status, 403);
    assert.equal((await request(t.app).get('/admin/partners').auth(admin, bearer(admin))).status, 404, 'not routed on the public listener');
  });

  it('an agreement can name the legal basis of a purpose: law enforcement is accounted and suspendable as such', async () => {
    await t.addPartner({
      id: 'county-sheriff', kind: 'hie', scopes: ['system/Patient.rs'],
      agreement: { purposes: ['GOV'], resourceTypes: ['Patient'], consentRequired: false, purposeBases: { GOV: 'law-enforcement' }, legalReference: 'Subpoena 2026-118' },
    });
    const tok = await t.token({ partner: 'county-sheriff', purposeOfUse: 'GOV' });
    assert.equal((await get(t, tok, '/fhir/Patient/dana')).status, 200);
    const entry = (await t.stores.disclosures.listByPatient('dana')).at(-1);
    assert.equal(entry?.legalBasis, 'law-enforcement');
    const listed = await t.gw.accounting.report({ patient: 'dana', kind: 'hipaa' });
    assert.ok(listed.entries.some((l) => l.recipient.partnerId === 'county-sheriff'), 'a law-enforcement disclosure is accounted');
    await t.stores.accounting.addSuspension({
      id: 'sheriff-hold', patient: 'dana',
      body: { agency: 'County Sheriff', recipientPartnerId: 'county-sheriff', form: 'written', requestedBy: 'Sgt. Test', start: '2020-01-01', end: '2099-01-01' },
    });
    const held = await t.gw.accounting.report({ patient: 'dana', kind: 'hipaa' });
    assert.ok(!held.entries.some((l) => l.recipient.partnerId === 'county-sheriff'), 'hidden while the suspension is in effect');
    assert.throws(() => parseAgreement({ partnerId: 'x', purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false, purposeBases: { TREAT: 'research' } }, 'test'), /tpo/);
  });

  it('the disclosure log, read as AuditEvents, obeys consents and the Part 2 rule like any data', async () => {
    await t.addPartner({
      id: 'auditor', kind: 'ehr', scopes: ['system/AuditEvent.rs'],
      agreement: { purposes: ['TREAT'], resourceTypes: ['AuditEvent'], consentRequired: false },
    });
    await t.seed(consent('dana-deny-auditor', 'dana', { type: 'deny', actor: [actor('auditor')] }));
    const tok = await t.token({ partner: 'auditor', scope: 'system/AuditEvent.rs' });
    const before = await t.stores.disclosures.count();
    const denied = await get(t, tok, '/fhir/AuditEvent?patient=dana');
    assert.equal(denied.status, 200);
    assert.deepEqual(denied.body.entry ?? [], [], 'dana denied this partner: her disclosure history is withheld too');
    assert.equal(await t.stores.disclosures.count(), before, 'nothing left, nothing logged');
    const sam = await get(t, tok, '/fhir/AuditEvent?patient=sam');
    const events = (sam.body.entry ?? []).map((e: { resource: { meta?: { security?: Array<{ code: string }> } } }) => e.resource);
    assert.ok(events.length > 0, 'sam denied nothing');
    assert.ok(events.every((e: { meta?: { security?: Array<{ code: string }> } }) => !(e.meta?.security ?? []).some((c) => c.code === 'ETH')),
      'events about Part 2 disclosures need a consent naming this partner');
    const all = await t.stores.disclosures.listByPatient('sam');
    const part2Seqs = all.filter((e) => e.labels?.includes('42CFRPart2')).map((e) => String(e.seq));
    assert.ok(part2Seqs.length > 0, 'the log marks Part 2 disclosures');
    // By identity, not only by label: no event about a Part 2 disclosure came back, whatever it carries.
    const returned = (sam.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
    assert.deepEqual(returned.filter((id: string) => part2Seqs.includes(id)), []);
  });

  it('explains a decision without disclosing anything', async () => {
    const admin = await t.token({ partner: 'admin-console', scope: 'admin/policy.read' });
    const before = (await t.stores.disclosures.count());
    const denied = await request(t.gw.adminApp).get('/admin/explain?partner=cardio&patient=dana&purpose=TREAT').auth(admin, bearer(admin));
    assert.equal(denied.status, 200);
    assert.equal(denied.body.outcome, 'deny');
    assert.equal(denied.body.steps.find((s: { step: string }) => s.step === 'consent').ok, false);
    assert.match(denied.body.steps.find((s: { step: string }) => s.step === 'consent').reason, /Consent\/dana-deny-cardio|denied|deny/i);
    const pharmacy = await request(t.gw.adminApp).get('/admin/explain?partner=corner-pharmacy&patient=dana&purpose=TREAT').auth(admin, bearer(admin));
    assert.equal(pharmacy.body.outcome, 'permit');
    const enc = pharmacy.body.resources.find((r: { resourceType: string }) => r.resourceType === 'Encounter');
    assert.deepEqual(enc, { resourceType: 'Encounter', released: 0, withheld: { GW_TYPE_NOT_ALLOWED: 1 } });
    const wrongPurpose = await request(t.gw.adminApp).get('/admin/explain?partner=corner-pharmacy&patient=dana&purpose=HRESCH').auth(admin, bearer(admin));
    assert.equal(wrongPurpose.body.outcome, 'deny');
    assert.equal(wrongPurpose.body.steps.at(-1).step, 'purpose');
    assert.equal(await t.stores.disclosures.count(), before, 'an explanation is not a disclosure');
    const recorded = await t.stores.adminTrail.list({ target: 'patient/dana' });
    assert.ok(recorded.some((e) => e.action === 'policy.explain' && (e.after as { partner?: string }).partner === 'cardio'), 'but it is recorded');
    const partnersOnly = await t.token({ partner: 'admin-console', scope: 'admin/partners.read' });
    const trail = await request(t.gw.adminApp).get('/admin/trail').auth(partnersOnly, bearer(partnersOnly));
    assert.ok(!trail.body.some((e: { target: string }) => e.target.startsWith('patient/')), 'entries about patients need admin/accounting.read');
  });
});
