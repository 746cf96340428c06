/**
 * Issue #3, on a real gateway and store (SQLite; PostgreSQL too when TEST_PG_URL is set):
 * - replaying the same message file twice leaves the store unchanged;
 * - A08 updates land on the same Patient; A40 merges;
 * - nothing is stored half: a unit with one invalid resource stores nothing and is queued with why.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Observation, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { OutcomeError } from '../../src/core/outcome.js';
import type { IngestResult } from '../../src/mapping/ingest.js';
import { mapHl7v2 } from '../../src/mapping/hl7v2/index.js';
import { MappingError } from '../../src/mapping/types.js';
import type { Stores } from '../../src/store/types.js';
import { createTestApp, pgSkip, type StoreKind, type TestApp } from '../helpers/test-app.js';
import { HL7_DIR, hl7Fixture, patientByMrn } from './helpers.js';

type Ref = { resourceType: string; id: string };

/** versionId, lastUpdated and the number of versions of each resource ('absent' when not stored). */
async function snapshot(stores: Stores, refs: Ref[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of refs) {
    const key = `${r.resourceType}/${r.id}`;
    try {
      const cur = await stores.resources.read(r.resourceType, r.id);
      const history = await stores.resources.history(r.resourceType, r.id, { count: 1, offset: 0 });
      out[key] = `v${cur.meta?.versionId} ${cur.meta?.lastUpdated} (${history.total} versions)`;
    } catch (err) {
      // Only "not stored" counts as absent; any other failure fails the test.
      if (!(err instanceof OutcomeError) || err.status !== 404) throw err;
      out[key] = 'absent';
    }
  }
  return out;
}

const refsOf = (results: Array<IngestResult | undefined>): Ref[] =>
  results.flatMap((r) => (r && r.status !== 'failed' ? r.resources : []));

/** How many current resources of each type the store holds. */
async function totals(stores: Stores, types: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of [...new Set(types)].sort()) {
    out[type] = (await stores.resources.search({ resourceType: type, filters: [], count: 0, offset: 0, total: true })).total ?? -1;
  }
  return out;
}

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition';

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`ingest replay, updates, merges and whole units (${kind})`, { skip: kind === 'postgres' ? pgSkip : false, timeout: 30_000 }, () => {
    let t: TestApp;
    before(async () => { t = await createTestApp({ store: kind }); });
    after(() => t?.close());

    it('replaying each fixture file right after itself changes nothing: every result unchanged, same versions, same history', async () => {
      const files = readdirSync(HL7_DIR).filter((f) => f.endsWith('.hl7')).sort();
      assert.ok(files.length >= 10);
      for (const file of files) {
        const text = hl7Fixture(file);
        const first = await t.gw.ingest.hl7.messages(text, 'import');
        assert.ok(first.length >= 1 && first.every((o) => o.ack === 'AA'), `${file}: ${first.map((o) => o.result?.status === 'failed' ? o.result.reason : o.ack).join('; ')}`);
        const refs = refsOf(first.map((o) => o.result));
        const before = await snapshot(t.stores, refs);
        const countsBefore = await totals(t.stores, refs.map((r) => r.resourceType));

        const second = await t.gw.ingest.hl7.messages(text, 'import');
        assert.deepEqual(second.map((o) => o.controlId), first.map((o) => o.controlId));
        for (const o of second) {
          assert.equal(o.ack, 'AA', file);
          assert.equal(o.result?.status, 'unchanged', `${file} ${o.controlId}: ${JSON.stringify(o.result)}`);
          if (o.result?.status === 'unchanged') assert.deepEqual([o.result.created, o.result.updated], [0, 0]);
        }
        assert.deepEqual(await snapshot(t.stores, refs), before, `${file}: no resource got a new version`);
        assert.deepEqual(await totals(t.stores, refs.map((r) => r.resourceType)), countsBefore, `${file}: no resource was added`);
      }
      assert.deepEqual(await t.stores.ingestErrors.list({}), [], 'nothing was queued');
    });

    it('an A08 lands on the A01 Patient and Encounter as version 2 with the new data; version 1 stays in the history', async () => {
      const retag = (s: string) => s.replace(/MRN-448812/g, 'MRN-UPD-1').replace(/V2024-0311-0042/g, 'V-UPD-1');
      const a01 = await t.gw.ingest.hl7.message(retag(hl7Fixture('adt-a01-admit.hl7')), 'import');
      assert.equal(a01.ack, 'AA');
      const created = await patientByMrn(t.stores, 'MRN-UPD-1');
      assert.ok(created?.id);
      assert.equal(created.meta?.versionId, '1');
      assert.equal(created.address?.[0]?.line?.[0], '1742 Juniper Ridge Rd');
      const encounterId = refsOf([a01.result]).find((r) => r.resourceType === 'Encounter')?.id;
      assert.ok(encounterId);

      const a08 = await t.gw.ingest.hl7.message(retag(hl7Fixture('adt-a08-update.hl7')), 'import');
      assert.equal(a08.ack, 'AA');
      assert.equal(a08.result?.status, 'stored');
      const refs = refsOf([a08.result]);
      assert.equal(refs.find((r) => r.resourceType === 'Patient')?.id, created.id, 'the A08 maps to the same Patient id');
      assert.equal(refs.find((r) => r.resourceType === 'Encounter')?.id, encounterId, 'and the same Encounter id');

      const updated = await t.stores.resources.read<Patient>('Patient', created.id);
      assert.equal(updated.meta?.versionId, '2');
      assert.equal(updated.address?.[0]?.line?.[0], '88 Alder Court');
      assert.deepEqual(await t.stores.resources.search({ resourceType: 'Patient', filters: [{ code: 'identifier', values: [{ value: 'MRN-UPD-1' }] }], count: 10, offset: 0 })
        .then((r) => r.resources.map((p) => p.id)), [created.id], 'still one Patient for the MRN');
      const v1 = await t.stores.resources.vread<Patient>('Patient', created.id, '1');
      assert.equal(v1.address?.[0]?.line?.[0], '1742 Juniper Ridge Rd');
      assert.equal((await t.stores.resources.history('Patient', created.id, { count: 10, offset: 0 })).total, 2);
    });

    it('an A40 merge: the survivor replaces the prior Patient, which is retired on the id its own messages gave it', async () => {
      const prior = hl7Fixture('adt-a28-add-person.hl7').replace('RGH-ADT-1004', 'MERGE-0').replace('MRN-602214', 'MRN-PRIOR-1')
        .replace('Vasquez-Lindholm^Perpetua', 'Okafor^Ada');
      const survivor = hl7Fixture('adt-a01-admit.hl7').replace('RGH-ADT-1001', 'MERGE-1').replace(/MRN-448812/g, 'MRN-SURV-1')
        .replace(/V2024-0311-0042/g, 'V-MERGE-1');
      const merge = hl7Fixture('adt-a40-merge.hl7').replace('MRN-448812', 'MRN-SURV-1').replace('MRN-771001', 'MRN-PRIOR-1');
      for (const m of [prior, survivor]) assert.equal((await t.gw.ingest.hl7.message(m, 'import')).ack, 'AA');
      const priorBefore = await patientByMrn(t.stores, 'MRN-PRIOR-1');
      const survivorBefore = await patientByMrn(t.stores, 'MRN-SURV-1');
      assert.ok(priorBefore?.id && survivorBefore?.id && priorBefore.id !== survivorBefore.id);
      assert.notEqual(priorBefore.active, false);

      const merged = await t.gw.ingest.hl7.message(merge, 'import');
      assert.equal(merged.ack, 'AA', merged.result?.status === 'failed' ? merged.result.reason : '');
      const s = await t.stores.resources.read<Patient>('Patient', survivorBefore.id);
      const p = await t.stores.resources.read<Patient>('Patient', priorBefore.id);
      assert.equal(s.link?.length, 1);
      assert.equal(s.link?.[0]?.type, 'replaces');
      assert.equal(s.link?.[0]?.other?.reference, `Patient/${priorBefore.id}`);
      assert.notEqual(s.active, false, 'the survivor stays active');
      assert.equal(p.active, false, 'the prior Patient is retired');
      assert.equal(p.link?.length, 1);
      assert.equal(p.link?.[0]?.type, 'replaced-by');
      assert.equal(p.link?.[0]?.other?.reference, `Patient/${survivorBefore.id}`);
      assert.equal(p.meta?.versionId, String(Number(priorBefore.meta?.versionId) + 1), 'the retirement is a new version of the prior Patient');
      assert.equal((await patientByMrn(t.stores, 'MRN-PRIOR-1'))?.id, priorBefore.id, 'the retired Patient is still found by its MRN');

      const replay = await t.gw.ingest.hl7.message(merge, 'import');
      assert.equal(replay.result?.status, 'unchanged');
    });

    it('nothing is stored half: an ORU whose last result is not valid FHIR stores none of its resources and is queued with the OperationOutcome', async () => {
      const clean = hl7Fixture('oru-r01-lab-specimen.hl7').replace('RGH-LAB-2001', 'HALF-1').replace(/MRN-448812/g, 'MRN-HALF-1')
        .replace(/V2024-0311-0042/g, 'V-HALF-1').replace(/ORD-77120/g, 'ORD-HALF-1').replace(/ACC-2024-55831/g, 'ACC-HALF-1');
      // OBX-5 of the last result carries a control character (HL7 escape \X01\): the mapper passes it
      // through as text, FHIR string rejects it.
      const bad = clean.replace('||Cloudy||', '||Clo\\X01\\udy||');
      assert.notEqual(bad, clean);
      const unit = mapHl7v2(clean, { terminology: t.gw.ingest.terminology });
      const refs = unit.resources.map((r) => ({ resourceType: r.resourceType, id: r.id! }));
      const fresh = refs.filter((r) => ['Patient', 'Encounter', 'DiagnosticReport', 'Observation', 'Provenance'].includes(r.resourceType));
      assert.ok(fresh.filter((r) => r.resourceType === 'Observation').length >= 4);
      const before = await snapshot(t.stores, refs);
      assert.ok(fresh.every((r) => before[`${r.resourceType}/${r.id}`] === 'absent'));

      const r = await t.gw.ingest.hl7.message(bad, 'import');
      assert.equal(r.ack, 'AE');
      assert.equal(r.result?.status, 'failed');
      if (r.result?.status !== 'failed') return;
      assert.equal(r.result.kind, 'content');
      assert.match(r.result.reason, /^MSH-10 HALF-1: a mapped resource is not valid: Invalid string format \(at Observation\[\d+\]\.value\[x\]\)/);
      assert.deepEqual(await snapshot(t.stores, refs), before, 'no resource of the unit was written, not even the valid ones');

      const queued = await t.stores.ingestErrors.get(r.result.errorId);
      assert.equal(queued?.input, bad, 'the message is queued verbatim');
      assert.equal(queued?.source, 'MSH-10 HALF-1');
      const issues = (queued?.outcome as unknown as OperationOutcome).issue;
      assert.ok(issues.some((i) => i.details?.coding?.[0]?.code === 'GW_INVALID_RESOURCE' && /^Observation\[\d+\]\.value\[x\]$/.test(i.expression?.[0] ?? '')),
        JSON.stringify(issues));

      // The same message without the bad character is stored whole: the ids checked above were the right ones.
      const ok = await t.gw.ingest.hl7.message(clean, 'import');
      assert.equal(ok.ack, 'AA');
      const afterOk = await snapshot(t.stores, fresh);
      assert.ok(Object.values(afterOk).every((v) => v.startsWith('v1 ')), JSON.stringify(afterOk));
    });

    it('nothing is stored half: a unit with one resource violating its US Core profile is refused whole and queued', async () => {
      const patient: Patient = {
        resourceType: 'Patient', id: 'half-unit-patient', meta: { profile: [`${US_CORE}/us-core-patient`] },
        identifier: [{ system: 'urn:test:mrn', value: 'HALF-UNIT-1' }], name: [{ family: 'Halfway' }], gender: 'female',
      };
      const lab = (withCategory: boolean): Observation => ({
        resourceType: 'Observation', id: 'half-unit-glucose', meta: { profile: [`${US_CORE}/us-core-observation-lab`] }, status: 'final',
        ...(withCategory ? { category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] } : {}),
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] }, subject: { reference: 'Patient/half-unit-patient' },
        effectiveDateTime: '2024-03-05T08:45:00-06:00', valueQuantity: { value: 142, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
      });
      const unit = (withCategory: boolean) => ({ source: 'half-unit.csv:2', resources: [patient, lab(withCategory)] as Resource[], issues: [] });
      const refs = [{ resourceType: 'Patient', id: 'half-unit-patient' }, { resourceType: 'Observation', id: 'half-unit-glucose' }];

      await assert.rejects(t.gw.ingest.pipeline.store(unit(false)), (err: unknown) =>
        err instanceof MappingError && err.kind === 'content' && /half-unit\.csv:2: a mapped resource is not valid/.test(err.message));
      const r = await t.gw.ingest.pipeline.ingest({ channel: 'import', format: 'test', input: 'the raw record', source: 'half-unit.csv:2' }, () => unit(false));
      assert.equal(r.status, 'failed');
      if (r.status !== 'failed') return;
      assert.ok(r.outcome.issue.some((i) => i.details?.coding?.[0]?.code === 'GW_PROFILE_VIOLATION' && (i.expression?.[0] ?? '').startsWith('Observation[1]')),
        JSON.stringify(r.outcome));
      assert.deepEqual(Object.values(await snapshot(t.stores, refs)), ['absent', 'absent'], 'the valid Patient was not stored either');
      const queued = await t.stores.ingestErrors.get(r.errorId);
      assert.equal(queued?.input, 'the raw record');
      assert.deepEqual(queued?.outcome, r.outcome);

      const ok = await t.gw.ingest.pipeline.ingest({ channel: 'import', format: 'test', input: 'the raw record', source: 'half-unit.csv:2' }, () => unit(true));
      assert.equal(ok.status, 'stored');
      assert.deepEqual(Object.values(await snapshot(t.stores, refs)).map((v) => v.slice(0, 3)), ['v1 ', 'v1 ']);
    });
  });
}
