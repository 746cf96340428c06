import { tryGetDataType } from '@medplum/core';
import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
loadFhirDefinitions();
const s = tryGetDataType('Observation')!;
console.log(Object.keys(s.elements).slice(0, 40));
console.log(s.elements['value[x]']?.type?.map((t) => t.code), s.elements['value']?.type?.map((t) => t.code));
console.log([...s.summaryProperties!], [...tryGetDataType('Patient')!.mandatoryProperties!]);
