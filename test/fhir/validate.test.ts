import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { OutcomeError } from '../../src/core/outcome.js';
import { assertValid, combinedError, MAX_REPORTED_ISSUES, validateForIngest } from '../../src/mapping/validate.js';

const defs = loadFhirDefinitions();
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';

const provenance = (agent: unknown[]): Resource => ({
  resourceType: 'Provenance', meta: { profile: [`${US_CORE}us-core-provenance`] },
  target: [{ reference: 'Observation/o1' }], recorded: '2024-01-01T00:00:00Z', agent,
} as Resource);

describe('validateForIngest', () => {
  it('accepts valid R4 without claimed profiles', () => {
    const r = validateForIngest(defs, { resourceType: 'Observation', status: 'final', code: { text: 'x' } } as Resource);
    assert.deepEqual([r.invalid, r.profile], [[], []]);
  });

  it('places issues under the given location (transaction entries)', () => {
    const r = validateForIngest(defs, { resourceType: 'Patient', birthDate: 'x' } as Resource, { location: 'Bundle.entry[4].resource' });
    assert.deepEqual(r.invalid.map((i) => i.expression), [['Bundle.entry[4].resource.birthDate']]);
    assert.equal(r.invalid[0]?.details?.coding?.[0]?.code, 'GW_INVALID_RESOURCE');
  });

  it('validates US Core Provenance (a profile medplum cannot parse as published)', () => {
    const author = { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
      who: { reference: 'Practitioner/p1' }, onBehalfOf: { reference: 'Organization/o1' } };
    assert.deepEqual(validateForIngest(defs, provenance([author])).profile, []);
    // US Core invariant provenance-1: onBehalfOf is required when the agent is a Practitioner.
    const noOnBehalf = validateForIngest(defs, provenance([{ who: { reference: 'Practitioner/p1' } }]));
    assert.deepEqual(noOnBehalf.profile.map((i) => i.expression), [['Provenance.agent[0]']]);
    assert.match(noOnBehalf.profile[0]?.details?.text ?? '', /provenance-1/);
  });

  it('refuses a top-level "value", which medplum would validate as a Quantity instead of the resource', () => {
    const r = validateForIngest(defs, { resourceType: 'Observation', value: 1 } as unknown as Resource);
    assert.deepEqual(r.invalid.map((i) => [i.details?.coding?.[0]?.code, i.expression?.[0]]).filter(([, e]) => e === 'Observation.value'),
      [['GW_INVALID_RESOURCE', 'Observation.value']]);
  });

  it('refuses keys that shadow Object.prototype anywhere in the resource', () => {
    const r = validateForIngest(defs, JSON.parse('{"resourceType":"Patient","name":[{"toString":"x","family":"F"}],"hasOwnProperty":1}') as Resource);
    assert.deepEqual(r.invalid.map((i) => i.expression?.[0]).sort(), ['Patient.hasOwnProperty', 'Patient.name[0].toString']);
  });

  it('throws 400 for invalid R4 and 422 for a profile violation, listing every issue', () => {
    assert.throws(() => assertValid(defs, { resourceType: 'Patient', gender: 1, birthDate: 'x' } as unknown as Resource),
      (e: unknown) => e instanceof OutcomeError && e.status === 400 && e.toOutcome().issue.length === 2);
    assert.throws(() => assertValid(defs, { resourceType: 'Patient', meta: { profile: [`${US_CORE}us-core-patient`] } } as Resource),
      (e: unknown) => e instanceof OutcomeError && e.status === 422 && e.code === 'GW_PROFILE_VIOLATION');
  });

  it('caps the number of issues reported', () => {
    const name = Array.from({ length: MAX_REPORTED_ISSUES + 10 }, () => ({ family: 1 }));
    const err = combinedError([validateForIngest(defs, { resourceType: 'Patient', name } as unknown as Resource)]);
    const issues = err?.toOutcome().issue ?? [];
    assert.equal(issues.length, MAX_REPORTED_ISSUES + 1);
    assert.equal(issues.at(-1)?.details?.coding?.[0]?.code, 'GW_ISSUES_TRUNCATED');
  });
});
