/** Small FHIR resources for HTTP tests (written for the project; fictional people). */
import type { Condition, Consent, Observation, Patient } from '@medplum/fhirtypes';
import { PURPOSE_OF_USE_SYSTEM } from '../../src/core/purpose-of-use.js';
import { PARTNER_IDENTIFIER_SYSTEM } from '../../src/policy/consent.js';

export const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category';

export const patient = (id: string, family: string): Patient => ({
  resourceType: 'Patient', id,
  identifier: [{ system: 'https://test.fhir-exchange-gateway.dev/mrn', value: `MRN-${id}` }],
  name: [{ family, given: ['Test'] }], gender: 'female', birthDate: '1980-02-03',
});

export const observation = (id: string, patientId: string, category = 'laboratory', code = '2345-7'): Observation => ({
  resourceType: 'Observation', id, status: 'final',
  category: [{ coding: [{ system: LAB, code: category }] }],
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: '2026-01-05T10:00:00Z',
  valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
});

export const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';

/** A confirmed, active problem-list Condition coded in ICD-10-CM. */
export const problem = (id: string, patientId: string, code: string, display?: string): Condition => ({
  resourceType: 'Condition', id,
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
  code: { coding: [{ system: ICD10, code, ...(display ? { display } : {}) }] },
  subject: { reference: `Patient/${patientId}` },
});

/** The patient permits one partner, by name, for treatment: what 42 CFR 2.31 needs for Part 2 records to leave. */
export const treatmentConsent = (id: string, patientId: string, partnerId: string): Consent => ({
  resourceType: 'Consent', id, status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${patientId}` }, dateTime: '2026-01-01',
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  provision: {
    type: 'permit',
    actor: [{
      role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
      reference: { identifier: { system: PARTNER_IDENTIFIER_SYSTEM, value: partnerId } },
    }],
    purpose: [{ system: PURPOSE_OF_USE_SYSTEM, code: 'TREAT' }],
  },
});
