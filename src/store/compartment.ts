/**
 * Patient compartment membership, from the R4 Patient CompartmentDefinition.
 * See: https://hl7.org/fhir/R4/compartmentdefinition-patient.html
 * Computed on every write (stored as index rows) and, in memory, by policy and the disclosure log on
 * what leaves, so it is on the hot path: each type's expressions are parsed once and reused.
 */
import { evalFhirPathTyped, parseFhirPath, toTypedValue, type FhirPathAtom } from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';
import type { FhirDefinitions } from '../core/fhir-definitions.js';

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/;
const compiled = new WeakMap<FhirDefinitions, Map<string, FhirPathAtom[]>>();

/** Parsed compartment-parameter expressions of one type (`.where(resolve() is X)` removed: nothing resolves in memory). */
function atomsFor(defs: FhirDefinitions, resourceType: string): FhirPathAtom[] {
  let byType = compiled.get(defs);
  if (!byType) compiled.set(defs, (byType = new Map()));
  let atoms = byType.get(resourceType);
  if (!atoms) {
    atoms = [];
    for (const code of defs.patientCompartmentParams(resourceType)) {
      const p = defs.searchParam(resourceType, code);
      if (!p || p.type !== 'reference') continue;
      try {
        atoms.push(parseFhirPath(p.expression.replace(/\.where\(resolve\(\) is [A-Za-z]+\)/g, '')));
      } catch {
        // An expression the parser cannot read puts nothing in the compartment (and is caught by tests).
      }
    }
    byType.set(resourceType, atoms);
  }
  return atoms;
}

/** Ids of the Patients whose compartment contains this resource (a Patient is in its own). */
export function patientCompartmentOf(defs: FhirDefinitions, resource: Resource): string[] {
  const out = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  const atoms = atomsFor(defs, resource.resourceType);
  if (!atoms.length) return [...out];
  const input = [toTypedValue(resource)];
  for (const atom of atoms) {
    let values;
    try {
      values = evalFhirPathTyped(atom, input);
    } catch {
      continue;
    }
    for (const v of values) {
      const ref = (v.value as Reference | undefined)?.reference;
      if (typeof ref !== 'string') continue;
      const m = PATIENT_REF.exec(ref);
      if (m?.[1]) out.add(m[1]);
    }
  }
  return [...out];
}
