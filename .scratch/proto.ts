import { validateResource } from '@medplum/core';
import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
loadFhirDefinitions();
const polluted = JSON.parse('{"resourceType":"Patient","__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}');
console.log(Object.keys(polluted), Object.getPrototypeOf(polluted) === Object.prototype);
const c = structuredClone(polluted);
console.log(Object.keys(c), (c as any).admin, JSON.stringify(c));
for (const b of [polluted, JSON.parse('{"resourceType":"Patient","constructor":{"x":1}}'), JSON.parse('{"resourceType":"Patient","toString":{"x":1}}'), JSON.parse('{"resourceType":"Patient","__proto__":{"x":1}}')]) {
  try { console.log('ok', validateResource(b)); } catch (e: any) { console.log('err', JSON.stringify(e.outcome.issue)); }
}
