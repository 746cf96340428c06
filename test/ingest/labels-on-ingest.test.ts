/**
 * Security labels through the ingest pipeline: what references labelled data in the same message carries its
 * labels (so a Provenance or an Encounter cannot reveal a withheld Part 2 Condition), and a replay never
 * lowers labels the stored version carries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { hl7Fixture } from './helpers.js';

const codes = (r: Resource | undefined) => (r?.meta?.security ?? []).map((c) => c.code).sort();

describe('labels on ingest', () => {
  let t: TestApp;
  // The fixture admission, with an opioid dependence diagnosis (ICD-10-CM F11.20: 42 CFR Part 2) instead of pneumonia.
  const message = hl7Fixture('adt-a01-admit.hl7')
    .replace('RGH-ADT-1001', 'LBL-1').replace('MRN-448812', 'MRN-LBL-1')
    .replace('J18.9^Pneumonia, unspecified organism^I10', 'F11.20^Opioid dependence, uncomplicated^I10');

  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'clinic-ehr', kind: 'ehr', scopes: ['system/*.rs'] });
  });
  after(() => t.close());

  it('gives the Provenance the labels of the Part 2 diagnosis it names, so an EHR without consent gets neither', async () => {
    const out = await t.gw.ingest.hl7.message(message, 'test');
    assert.equal(out.ack, 'AA', out.ackMessage);
    assert.ok(out.result && out.result.status !== 'failed');
    const stored = await t.stores.resources.readMany(out.result.resources);
    const condition = stored.find((r) => r.resourceType === 'Condition');
    const provenance = stored.find((r) => r.resourceType === 'Provenance');
    const encounter = stored.find((r) => r.resourceType === 'Encounter');
    const patient = stored.find((r) => r.resourceType === 'Patient');
    assert.ok(codes(condition).includes('ETH'), `condition ${codes(condition)}`);
    assert.ok(codes(provenance).includes('ETH') && codes(provenance).includes('R'), `provenance ${codes(provenance)}`);
    assert.deepEqual(codes(patient), ['N'], 'the patient references no diagnosis');
    // This admission's Encounter does not reference the diagnosis, so it stays normal: labels follow references only.
    assert.deepEqual(codes(encounter), ['N']);

    const tok = await t.token({ partner: 'clinic-ehr' });
    const everything = await request(t.app).get(`/fhir/Patient/${patient!.id}/$everything`).auth(tok, { type: 'bearer' });
    assert.equal(everything.status, 200);
    const text = JSON.stringify(everything.body);
    assert.ok(!text.includes(`Condition/${condition!.id}`), 'no resource that leaves names the withheld condition');
    assert.ok(!(everything.body.entry ?? []).some((e: { resource: Resource }) => e.resource.resourceType === 'Provenance'));
  });

  it('keeps labels added after ingest when the same message is replayed', async () => {
    const first = await t.gw.ingest.hl7.message(message, 'test');
    assert.ok(first.result && first.result.status !== 'failed');
    const patientRef = first.result.resources.find((r) => r.resourceType === 'Patient')!;
    const patient = await t.stores.resources.read('Patient', patientRef.id);
    // A privacy officer marks the patient record very restricted (a VIP, say).
    await t.stores.resources.update({
      ...patient,
      meta: { ...patient.meta, security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'V', display: 'very restricted' }] },
    });
    const replay = await t.gw.ingest.hl7.message(message, 'test');
    assert.ok(replay.result && replay.result.status !== 'failed');
    const after = await t.stores.resources.read('Patient', patientRef.id);
    assert.deepEqual(codes(after), ['V'], 'never lowered to N by a replay');
    assert.equal(replay.result.status, 'unchanged', 'and the replay changes nothing');
  });
});
