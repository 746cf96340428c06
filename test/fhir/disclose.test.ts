/**
 * What leaves with a 42 CFR Part 2 resource: the NORDSCLCD obligation label, for every form of Part 2 label
 * policy recognizes (ETH, 42CFRPart2, or any label whose sec-label-basis is 42 CFR Part 2), on a copy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Condition, Resource } from '@medplum/fhirtypes';
import { screen } from '../../src/fhir/disclose.js';
import type { FhirContext } from '../../src/fhir/types.js';
import { SYSTEM } from './harness.js';

const BASIS = 'http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-sec-label-basis';
const notice = { kind: 'redisclosure-notice', authority: '42 CFR 2.32(a)(1)', text: 'notice', consentRef: 'Consent/c1' } as const;
/** A policy that lets everything leave with the Part 2 notice: what screen() does with it is under test. */
const policy = { release: async (_p: unknown, resources: Resource[]) => ({ resources, obligations: [notice], legalBasisByPatient: new Map() }) };
const ctx = { principal: SYSTEM, requestId: 'r1' } as unknown as FhirContext;

const condition = (security: NonNullable<Condition['meta']>['security']): Condition => ({
  resourceType: 'Condition', id: 'c', subject: { reference: 'Patient/p' }, meta: { security },
});

describe('screen: the no-redisclosure label on Part 2 data', () => {
  for (const [name, security] of [
    ['ETH', [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'ETH' }]],
    ['restricted with a 42 CFR Part 2 basis', [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R',
      extension: [{ url: BASIS, valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2' } }] }]],
  ] as const) {
    it(`is added for ${name}, on a copy`, async () => {
      const r = condition(security as never);
      const out = await screen({ policy } as never, ctx, 'read', [r]);
      assert.ok(out.resources[0]?.meta?.security?.some((c) => c.code === 'NORDSCLCD'));
      assert.ok(!r.meta?.security?.some((c) => c.code === 'NORDSCLCD'), 'the stored resource is unchanged');
    });
  }

  it('is not added to a resource that is not Part 2 data', async () => {
    const out = await screen({ policy } as never, ctx, 'read', [condition([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }])]);
    assert.ok(!out.resources[0]?.meta?.security?.some((c) => c.code === 'NORDSCLCD'));
  });
});
