import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
import { validateForIngest } from '../src/mapping/validate.js';
const defs = loadFhirDefinitions();
const mk = (ref: string) => ({ resourceType: 'Observation', meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab'] }, status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2339-0' }] }, subject: { reference: ref }, effectiveDateTime: '2024-01-01', valueQuantity: { value: 1, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' } });
for (const ref of ['Patient/x', 'urn:uuid:5b8f0c58-0000-4000-8000-000000000001', 'Group/g']) console.log(ref, JSON.stringify(validateForIngest(defs, mk(ref) as any).profile.map((i) => [i.details?.text, i.expression])));
