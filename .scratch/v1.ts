import { validateResource } from '@medplum/core';
import { loadFhirDefinitions } from '../src/core/fhir-definitions.ts';
const defs = loadFhirDefinitions();
try {
  const r = validateResource({ resourceType: 'Patient', gender: 'bogus', birthDate: 'x', foo: 1, name: [{ family: 3 }] } as any);
  console.log('returned', JSON.stringify(r));
} catch (e: any) { console.log('threw', JSON.stringify(e.outcome, null, 1)); }
const prof = defs.profile('http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient')!;
try {
  const r = validateResource({ resourceType: 'Patient', gender: 'male' } as any, { profile: prof });
  console.log('returned', JSON.stringify(r));
} catch (e: any) { console.log('threw', JSON.stringify(e.outcome, null, 1)); }
