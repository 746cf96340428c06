/** Small FHIR resources for HTTP tests (written for the project; fictional people). */
import type { Observation, Patient } from '@medplum/fhirtypes';

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
