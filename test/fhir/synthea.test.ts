/**
 * Acceptance: real Synthea transaction Bundles (third-party data in ../shared/data/synthea, absent in a
 * fresh clone: the suite then skips) load as-is through the transaction path, and searches answer what
 * a FHIR server must answer about them.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { createHarness, entries, SYSTEM, type Harness } from './harness.js';

const DIR = fileURLToPath(new URL('../../../shared/data/synthea', import.meta.url));
const skip = existsSync(DIR) ? false : `Synthea data not found at ${DIR} (../shared/data/synthea): acceptance suite skipped`;
if (skip) console.log(`# ${skip}`);

/** The three smallest patient bundles (the practitioner-only bundle is not a patient). */
function pickBundles(): Array<{ name: string; bundle: Bundle }> {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json') && !f.startsWith('practitionerInformation'))
    .map((f) => ({ f, size: statSync(join(DIR, f)).size }))
    .sort((a, b) => a.size - b.size)
    .slice(0, 3)
    .map(({ f }) => ({ name: f, bundle: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Bundle }));
}

const resourcesOf = (b: Bundle, type: string) => (b.entry ?? []).map((e) => e.resource as Resource).filter((r) => r.resourceType === type);
const isLab = (o: Observation) => (o.category ?? []).some((c) => (c.coding ?? []).some((x) => x.code === 'laboratory'));

describe('Synthea transaction bundles', { skip }, () => {
  let h: Harness;
  let loaded: Array<{ name: string; bundle: Bundle; patientId: string }>;

  before(async () => {
    h = await createHarness({ limits: { maxBundleEntries: 5000, maxCount: 1000 } });
    loaded = [];
    let resources = 0;
    const t0 = performance.now();
    for (const { name, bundle } of pickBundles()) {
      const res = await h.call(SYSTEM, 'POST', '', { body: bundle });
      assert.equal(res.status, 200, `${name}: ${JSON.stringify(res.body).slice(0, 2000)}`);
      const out = res.body as Bundle;
      assert.equal(out.entry?.length, bundle.entry?.length);
      assert.ok(out.entry?.every((e) => e.response?.status === '201 Created'), name);
      resources += out.entry?.length ?? 0;
      const patientIndex = (bundle.entry ?? []).findIndex((e) => e.resource?.resourceType === 'Patient');
      const location = out.entry?.[patientIndex]?.response?.location ?? '';
      const patientId = /\/Patient\/([^/]+)\/_history\//.exec(location)?.[1] as string;
      loaded.push({ name, bundle, patientId });
    }
    const ms = performance.now() - t0;
    console.log(`imported ${resources} Synthea resources in ${Math.round(ms)} ms (${Math.round((resources / ms) * 1000)} resources/s, validation included)`);
  });
  after(() => h?.close());

  const searchAll = async (query: string) => {
    const res = await h.call(SYSTEM, 'GET', `${query}&_count=1000&_total=accurate`);
    assert.equal(res.status, 200, query);
    return res.body as Bundle;
  };

  it('answers Observation?patient=X&category=laboratory with exactly the bundle\'s lab Observations', async () => {
    for (const { name, bundle, patientId } of loaded) {
      const expected = (resourcesOf(bundle, 'Observation') as Observation[]).filter(isLab).length;
      const b = await searchAll(`Observation?patient=${patientId}&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory`);
      assert.equal(b.total, expected, name);
      assert.equal(entries(b, 'match').length, expected, name);
    }
  });

  it('finds every resource of each patient by patient search and by $everything', async () => {
    for (const { name, bundle, patientId } of loaded) {
      for (const type of ['Encounter', 'Condition', 'Immunization', 'Procedure', 'MedicationRequest', 'DiagnosticReport', 'CarePlan']) {
        const b = await searchAll(`${type}?patient=${patientId}`);
        assert.equal(b.total, resourcesOf(bundle, type).length, `${name} ${type}`);
      }
      const all = (await h.call(SYSTEM, 'GET', `Patient/${patientId}/$everything?_count=1000`)).body as Bundle;
      const inCompartment = (bundle.entry ?? []).filter((e) => !['Organization', 'Practitioner'].includes(e.resource?.resourceType ?? '')).length;
      assert.equal(entries(all, 'match').length, inCompartment, name);
    }
  });

  it('rewrote every urn:uuid reference to a stored Type/id', async () => {
    for (const { patientId } of loaded) {
      const b = await searchAll(`Encounter?patient=${patientId}`);
      assert.doesNotMatch(JSON.stringify(b), /urn:uuid:/);
      const enc = entries(b)[0] as { serviceProvider?: { reference?: string } } | undefined;
      const org = enc?.serviceProvider?.reference;
      if (org) assert.equal((await h.call(SYSTEM, 'GET', org)).status, 200, org);
    }
  });

  it('finds the patients by name and identifier as US Core requires', async () => {
    for (const { name, bundle, patientId } of loaded) {
      const p = resourcesOf(bundle, 'Patient')[0] as Patient;
      const family = p.name?.[0]?.family as string;
      const ident = p.identifier?.find((i) => i.system && i.value);
      const byName = await searchAll(`Patient?name=${encodeURIComponent(family)}&gender=${p.gender}`);
      assert.ok(entries(byName).some((r) => r.id === patientId), name);
      const byId = await searchAll(`Patient?identifier=${encodeURIComponent(`${ident?.system}|${ident?.value}`)}`);
      assert.deepEqual(entries(byId).map((r) => r.id), [patientId], name);
    }
  });
});
