/**
 * Patient compartment membership, from the R4 Patient CompartmentDefinition.
 * See: https://hl7.org/fhir/R4/compartmentdefinition-patient.html
 * Computed on every write (stored as index rows) and, in memory, by policy on what leaves.
 */
import { evalFhirPath } from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';
import type { FhirDefinitions } from '../core/fhir-definitions.js';

/** Ids of the Patients whose compartment contains this resource (a Patient is in its own). */
export function patientCompartmentOf(defs: FhirDefinitions, resource: Resource): string[] {
  const out = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  for (const code of defs.patientCompartmentParams(resource.resourceType)) {
    const p = defs.searchParam(resource.resourceType, code);
    if (!p || p.type !== 'reference') continue;
    for (const v of safeEval(p.expression, resource)) {
      const ref = (v as Reference | undefined)?.reference;
      if (typeof ref !== 'string') continue;
      const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(ref);
      if (m?.[1]) out.add(m[1]);
    }
  }
  return [...out];
}

function safeEval(expression: string, resource: Resource): unknown[] {
  try {
    // `.where(resolve() is Patient)` cannot resolve in memory; strip it and filter on the reference text.
    return evalFhirPath(expression.replace(/\.where\(resolve\(\) is [A-Za-z]+\)/g, ''), resource);
  } catch {
    return [];
  }
}
