import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
import { validateForIngest } from '../src/mapping/validate.js';
const defs = loadFhirDefinitions();
const mk = (agent: unknown[]) => ({ resourceType: 'Provenance', meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance'] }, target: [{ reference: 'Observation/o1' }], recorded: '2024-01-01T00:00:00Z', agent });
const type = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] };
for (const a of [[{ type, who: { reference: 'Practitioner/p1' }, onBehalfOf: { reference: 'Organization/o1' } }], [{ type }], [], [{ who: { reference: 'Practitioner/p1' } }]])
  console.log(JSON.stringify(validateForIngest(defs, mk(a) as any).profile.map((i) => [i.details?.text, i.expression])), JSON.stringify(validateForIngest(defs, mk(a) as any).invalid.map((i) => [i.details?.text, i.expression])));
