/**
 * Patient compartment membership: the direct path walk must agree with the FHIRPath engine, and links
 * that name no patient literally are flagged.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { evalFhirPath } from '@medplum/core';
import type { Bundle, Reference, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions, PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { patientCompartmentOf, patientLinksOf } from '../../src/store/compartment.js';

const defs = loadFhirDefinitions();

/** The reference answer: every compartment expression through FHIRPath. */
function viaFhirPath(r: Resource): string[] {
  const out = new Set<string>(r.resourceType === 'Patient' && r.id ? [r.id] : []);
  for (const code of defs.patientCompartmentParams(r.resourceType)) {
    const p = defs.searchParam(r.resourceType, code);
    if (!p) continue;
    for (const v of evalFhirPath(p.expression.replace(/\.where\(resolve\(\) is [A-Za-z]+\)/g, ''), r)) {
      const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})/.exec((v as Reference)?.reference ?? '');
      if (m?.[1]) out.add(m[1]);
    }
  }
  return [...out].sort();
}

describe('patient compartment', () => {
  it('agrees with the FHIRPath engine on every resource of the clinical fixture', () => {
    const seed = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'fhir', 'clinical-seed.json'), 'utf8')) as Bundle | Resource[];
    const resources = Array.isArray(seed) ? seed : (seed.entry ?? []).map((e) => e.resource as Resource);
    assert.ok(resources.length > 10);
    let inSome = 0;
    for (const r of resources) {
      const fast = patientCompartmentOf(defs, r).sort();
      assert.deepEqual(fast, viaFhirPath(r), `${r.resourceType}/${r.id}`);
      if (fast.length) inSome++;
    }
    assert.ok(inSome > 5);
  });

  it('flags a subject given only by identifier, and not a performer given only by display', () => {
    const obs = (subject: Reference, performer?: Reference[]): Resource => ({
      resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject, ...(performer ? { performer } : {}),
    } as Resource);
    assert.equal(patientLinksOf(defs, obs({ identifier: { value: 'MRN-1' } })).unresolved, true);
    assert.equal(patientLinksOf(defs, obs({ reference: '#contained-patient' })).unresolved, true);
    assert.deepEqual(patientLinksOf(defs, obs({ reference: 'Patient/p1' }, [{ display: 'Dr. Who' }])), { patients: ['p1'], unresolved: false });
    assert.equal(patientLinksOf(defs, obs({ reference: 'Patient/p1' }, [{ type: 'Patient', identifier: { value: 'x' } }])).unresolved, true);
  });
});
