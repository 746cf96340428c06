/**
 * What a withheld resource references, or what references it, never leaves with the response (found by an
 * audit of the disclosure paths): `_include`, `_revinclude` and `$everything` look up what comes along from
 * the matches policy released, and labelled resources that name no patient (a Medication or a Provenance
 * written with a Part 2 record) leave only alongside a released match of a patient whose consent allows them.
 * Over HTTP, with the gateway's own labeler and ingest pipeline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { withProvenance } from '../../src/mapping/ingest.js';
import { ICD10, patient, problem, treatmentConsent } from '../helpers/resources.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
/** A patient's opt-out of all disclosure (policyRule OPTOUT, no provisions). */
const optOut = (id: string, p: string): Resource => ({
  resourceType: 'Consent', id, status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${p}` }, dateTime: '2026-01-01',
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
} as Resource);
const bearer = { type: 'bearer' as const };
const ids = (b: Bundle) => (b.entry ?? []).filter((e) => e.resource?.resourceType !== 'OperationOutcome')
  .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`).sort();
const hasNext = (b: Bundle) => (b.link ?? []).some((l) => l.relation === 'next');

describe('what comes along with withheld data', () => {
  let t: TestApp;
  const get = async (partner: string, path: string) => request(t.app).get(path).auth(await t.token({ partner }), bearer);

  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'ehr', kind: 'ehr', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'pharmacy', kind: 'pharmacy', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'consented-ehr', kind: 'ehr', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'engine', kind: 'internal', scopes: ['system/*.rs'] });
    // The labeler marks the buprenorphine prescription and its Medication as 42 CFR Part 2 data.
    const [medication, prescription] = t.gw.ingest.labeler.labelAll([
      { resourceType: 'Medication', id: 'bup', code: { coding: [{ system: RX, code: '351266', display: 'buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet' }] } },
      { resourceType: 'MedicationRequest', id: 'sam-rx', status: 'active', intent: 'order', medicationReference: { reference: 'Medication/bup' },
        subject: { reference: 'Patient/sam' }, authoredOn: '2026-01-05', requester: { display: 'Dr. Test' } },
    ] as Resource[]);
    assert.ok(medication?.meta?.security?.some((c) => c.code === 'ETH'), 'the Medication is labelled');
    await t.addPartner({ id: 'open-ehr', kind: 'ehr', scopes: ['system/*.rs'], agreement: { purposes: ['TREAT'], resourceTypes: ['Medication', 'MedicationRequest', 'Condition'], consentRequired: false, excludedLabels: [], legalReference: 'test' } });
    await t.seed(patient('sam', 'Sierra'), medication!, prescription!, treatmentConsent('sam-part2', 'sam', 'consented-ehr'));
    // Alice and Dan take an unlabelled Medication; Dan opted out of all disclosure.
    const lisinopril: Resource = { resourceType: 'Medication', id: 'lisin', code: { coding: [{ system: RX, code: '314076', display: 'lisinopril 10 MG Oral Tablet' }] } };
    const rx = (id: string, p: string): Resource => ({ resourceType: 'MedicationRequest', id, status: 'active', intent: 'order',
      medicationReference: { reference: 'Medication/lisin' }, subject: { reference: `Patient/${p}` }, authoredOn: '2026-01-06', requester: { display: 'Dr. Test' } } as Resource);
    await t.seed(patient('alice', 'Alpha'), patient('dan', 'Delta'), ...t.gw.ingest.labeler.labelAll([lisinopril, rx('alice-rx', 'alice'), rx('dan-rx', 'dan')]), optOut('dan-optout', 'dan'));
    // Pat: two Part 2 conditions first, then a plain one (stored in this order; ids sort the same way for ties).
    await t.seed(patient('pat', 'Papa'), ...t.gw.ingest.labeler.labelAll([problem('pat-1-oud', 'pat', 'F11.20')]));
    await t.seed(...t.gw.ingest.labeler.labelAll([problem('pat-2-oud', 'pat', 'F11.20')]));
    await t.seed(...t.gw.ingest.labeler.labelAll([problem('pat-3-dm', 'pat', 'E11.9')]));
    // Sue: a plain condition, then a Part 2 one, and a consent naming consented-ehr.
    await t.seed(patient('sue', 'Sugar'), treatmentConsent('sue-part2', 'sue', 'consented-ehr'), ...t.gw.ingest.labeler.labelAll([problem('sue-1-asthma', 'sue', 'J45.909')]));
    await t.seed(...t.gw.ingest.labeler.labelAll([problem('sue-2-oud', 'sue', 'F11.20')]));
    // Two opioid-use conditions from a record export, each with the Provenance the pipeline writes (no patient in it).
    for (const id of ['sam-oud-1', 'sam-oud-2']) {
      await t.gw.ingest.pipeline.store(withProvenance({ source: `clinic/problems.csv:${id}`, resources: [problem(id, 'sam', 'F11.20')], issues: [] },
        { agent: 'clinic export', recorded: '2026-01-01T00:00:00Z' }));
    }
  });
  after(() => t.close());

  it('_include and $everything bring no Medication for a prescription policy withheld, and record nothing', async () => {
    for (const partner of ['ehr', 'pharmacy']) {
      const before = (await t.stores.disclosures.listByPatient('sam')).length;
      const search = await get(partner, '/fhir/MedicationRequest?patient=sam&_include=MedicationRequest:medication');
      assert.equal(search.status, 200);
      assert.deepEqual(ids(search.body), [], partner);
      const everything = await get(partner, '/fhir/Patient/sam/$everything?_type=Patient,MedicationRequest,Medication');
      assert.equal(everything.status, 200);
      assert.deepEqual(ids(everything.body), ['Patient/sam'], partner);
      // The Medication names no patient; labelled, it does not leave on its own either.
      assert.equal((await get(partner, '/fhir/Medication/bup')).status, 404);
      assert.deepEqual(ids((await get(partner, '/fhir/Medication?_id=bup')).body), []);
      const entries = (await t.stores.disclosures.listByPatient('sam')).slice(before);
      assert.deepEqual(entries.map((e) => e.resources.map((r) => `${r.resourceType}/${r.id}`)), [['Patient/sam']], 'only the Patient left');
    }
  });

  it('_revinclude brings no Provenance of a withheld condition, and a Provenance search finds none', async () => {
    const res = await get('ehr', '/fhir/Condition?patient=sam&_revinclude=Provenance:target');
    assert.equal(res.status, 200);
    assert.deepEqual(ids(res.body), []);
    const provenances = await get('ehr', '/fhir/Provenance?target=Condition/sam-oud-1');
    assert.deepEqual(ids(provenances.body), []);
    // The organization's own engine sees them (consents restrict disclosures to others).
    const own = await get('engine', '/fhir/Provenance?target=Condition/sam-oud-1');
    assert.equal(ids(own.body).length, 1);
  });

  it('looks up includes from the released matches only: an opted-out patient\'s prescription brings no Medication', async () => {
    // Dan opted out; his prescription's Medication carries no label of its own, so only the order of the steps keeps it in.
    const res = await get('ehr', '/fhir/MedicationRequest?patient=dan&_include=MedicationRequest:medication');
    assert.equal(res.status, 200);
    assert.deepEqual(ids(res.body), []);
    const everything = await get('ehr', '/fhir/Patient/alice/$everything?_type=MedicationRequest,Medication');
    assert.deepEqual(ids(everything.body), ['Medication/lisin', 'MedicationRequest/alice-rx'], 'the same Medication comes with a released prescription');
  });

  it('links to a next page only when a later match may leave', async () => {
    // Both of Sam's opioid-use conditions are withheld: no page says that more of them exist.
    const probe = await get('ehr', `/fhir/Condition?patient=sam&code=${encodeURIComponent(`${ICD10}|F11.20`)}&_count=1`);
    assert.deepEqual(ids(probe.body), []);
    assert.equal(hasNext(probe.body), false);
    // Pat's plain condition comes after two withheld ones: the emptied pages still lead to it.
    const first = await get('ehr', '/fhir/Condition?patient=pat&_count=1');
    assert.deepEqual(ids(first.body), []);
    assert.equal(hasNext(first.body), true, 'a later match (two positions on) may leave');
    const second = await get('ehr', '/fhir/Condition?patient=pat&_count=1&_offset=1');
    assert.deepEqual(ids(second.body), []);
    assert.equal(hasNext(second.body), true, 'the next match may leave');
    const third = await get('ehr', '/fhir/Condition?patient=pat&_count=1&_offset=2');
    assert.deepEqual(ids(third.body), ['Condition/pat-3-dm']);
    assert.equal(hasNext(third.body), false);
    // Asking whether later matches may leave records nothing: only the plain condition was disclosed.
    assert.deepEqual((await t.stores.disclosures.listByPatient('pat')).flatMap((e) => e.resources.map((r) => r.id)), ['pat-3-dm']);
    // Nor does a total: for a partner it counts what may leave, not what the store holds.
    const byIdDescending = await get('open-ehr', '/fhir/Condition?patient=pat&_count=1&_sort=-_id&_total=accurate');
    assert.deepEqual(ids(byIdDescending.body), ['Condition/pat-3-dm']);
    assert.equal(hasNext(byIdDescending.body), false);
    assert.equal(byIdDescending.body.total, 1);
    // $everything pages the same way.
    const everything = await get('ehr', '/fhir/Patient/sam/$everything?_type=Condition&_count=1');
    assert.deepEqual(ids(everything.body), []);
    assert.equal(hasNext(everything.body), false);
    const pages = [];
    for (const offset of [0, 1, 2]) {
      const page = (await get('ehr', `/fhir/Patient/pat/$everything?_type=Condition&_count=1&_offset=${offset}`)).body;
      pages.push([ids(page), hasNext(page)]);
    }
    assert.deepEqual(pages, [[[], true], [[], true], [['Condition/pat-3-dm'], false]]);
    // The organization's own engine pages through all of them.
    const own = await get('engine', `/fhir/Condition?patient=sam&code=${encodeURIComponent(`${ICD10}|F11.20`)}&_count=1`);
    assert.equal(ids(own.body).length, 1);
    assert.equal(hasNext(own.body), true);
  });

  it('asks the first match of the next page with this one, but sends only what this page carries', async () => {
    const before = (await t.stores.disclosures.listByPatient('sue')).length;
    const res = await get('consented-ehr', '/fhir/Condition?patient=sue&_count=1');
    assert.deepEqual(ids(res.body), ['Condition/sue-1-asthma']);
    assert.equal(hasNext(res.body), true, 'the Part 2 condition after it may leave under Sue\'s consent');
    // Not the 42 CFR 2.32 notice of the next page's Part 2 condition.
    assert.equal(res.body.entry.some((e: { resource: Resource }) => e.resource.resourceType === 'OperationOutcome'), false);
    const entries = (await t.stores.disclosures.listByPatient('sue')).slice(before);
    assert.deepEqual(entries.map((e) => e.resources.map((r) => r.id)), [['sue-1-asthma']]);
    assert.equal(entries[0]!.labels, undefined);
    const next = await get('consented-ehr', '/fhir/Condition?patient=sue&_count=1&_offset=1');
    assert.deepEqual(ids(next.body), ['Condition/sue-2-oud']);
    assert.equal(next.body.entry.some((e: { resource: Resource }) => e.resource.resourceType === 'OperationOutcome'), true);
    // A Part 2 page whose next match may leave too keeps its own notice and label.
    const part2 = await get('consented-ehr', `/fhir/Condition?patient=sam&code=${encodeURIComponent(`${ICD10}|F11.20`)}&_count=1`);
    assert.deepEqual(ids(part2.body), ['Condition/sam-oud-1']);
    assert.equal(hasNext(part2.body), true);
    assert.equal(part2.body.entry.some((e: { resource: Resource }) => e.resource.resourceType === 'OperationOutcome'), true);
    assert.ok(part2.body.entry[0].resource.meta.security.some((c: { code: string }) => c.code === 'NORDSCLCD'));
  });

  it('counts for a partner only what may leave, for data that names no patient too', async () => {
    const res = await get('open-ehr', `/fhir/Medication?code=${encodeURIComponent('http://www.nlm.nih.gov/research/umls/rxnorm|351266')}&_summary=count`);
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 0, 'the labelled Medication cannot leave on its own, so it is not counted');
  });

  it('with the patient\'s consent naming the recipient, the prescription leaves with its Medication and provenance', async () => {
    const search = await get('consented-ehr', '/fhir/MedicationRequest?patient=sam&_include=MedicationRequest:medication');
    assert.deepEqual(ids(search.body), ['Medication/bup', 'MedicationRequest/sam-rx']);
    const medication = search.body.entry.find((e: { resource: Resource }) => e.resource.resourceType === 'Medication').resource as Resource;
    assert.ok(medication.meta?.security?.some((c) => c.code === 'NORDSCLCD'), 'the Medication carries the redisclosure label');
    const conditions = await get('consented-ehr', '/fhir/Condition?patient=sam&_revinclude=Provenance:target');
    assert.equal(ids(conditions.body).filter((i) => i.startsWith('Provenance/')).length, 2);
    assert.equal(ids(conditions.body).filter((i) => i.startsWith('Condition/')).length, 2);
    // Alone, without the prescription it came with, the Medication still does not leave.
    assert.equal((await get('consented-ehr', '/fhir/Medication/bup')).status, 404);
    // On a page with another patient's prescription it answers to Sam's consent only (whose prescription names it).
    const both = await get('consented-ehr', '/fhir/MedicationRequest?patient=sam,alice&_include=MedicationRequest:medication');
    assert.deepEqual(ids(both.body), ['Medication/bup', 'Medication/lisin', 'MedicationRequest/alice-rx', 'MedicationRequest/sam-rx']);
  });
});
