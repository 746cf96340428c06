import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
import { validateForIngest } from '../src/mapping/validate.js';
const defs = loadFhirDefinitions();
const prov = { resourceType: 'Provenance', meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance'] },
  target: [{ reference: 'Patient/a' }], recorded: '2024-01-01T00:00:00Z',
  agent: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] }, who: { reference: 'Organization/o' }, onBehalfOf: { reference: 'Organization/o' } }] };
console.log(JSON.stringify(validateForIngest(defs, prov as any), null, 1));
for (const url of defs.profileUrls()) {
  const sd = defs.profile(url)!;
  if (sd.kind !== 'resource') continue;
  const r = validateForIngest(defs, { resourceType: sd.type, meta: { profile: [url] } } as any);
  const bad = r.profile.filter((i) => i.details?.text === 'the resource could not be validated');
  if (bad.length) console.log('CANNOT', url);
}
