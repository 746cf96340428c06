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
const compiled = new WeakMap<FhirDefinitions, Map<string, CompiledParam[]>>();

/**
 * A compartment expression, compiled: plain dotted paths (`Observation.subject`, nearly all of them) are
 * walked directly; anything else runs through the FHIRPath engine.
 */
interface CompiledParam { code: string; atom?: FhirPathAtom; paths?: string[][] }

const SIMPLE_PATH = /^[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)+$/;

/** Values at each dotted path (arrays flattened at every step), as FHIRPath would return them. */
function walk(resource: Resource, paths: string[][]): unknown[] {
  const out: unknown[] = [];
  for (const path of paths) {
    let values: unknown[] = [resource];
    for (const seg of path) {
      const next: unknown[] = [];
      for (const v of values) {
        const child = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
        if (Array.isArray(child)) next.push(...child);
        else if (child !== undefined && child !== null) next.push(child);
      }
      values = next;
    }
    out.push(...values);
  }
  return out;
}

/** Parameters naming the resource's subject: a link there without a literal reference cannot be placed. */
const SUBJECT_PARAMS: ReadonlySet<string> = new Set(['patient', 'subject']);
/** Built by the gateway from its own log, with literal references only. */
const GATEWAY_GENERATED: ReadonlySet<string> = new Set(['AuditEvent']);

/** Parsed compartment-parameter expressions of one type (`.where(resolve() is X)` removed: nothing resolves in memory). */
function atomsFor(defs: FhirDefinitions, resourceType: string): CompiledParam[] {
  let byType = compiled.get(defs);
  if (!byType) compiled.set(defs, (byType = new Map()));
  let atoms = byType.get(resourceType);
  if (!atoms) {
    atoms = [];
    for (const code of defs.patientCompartmentParams(resourceType)) {
      const p = defs.searchParam(resourceType, code);
      if (!p || p.type !== 'reference') continue;
      const expression = p.expression.replace(/\.where\(resolve\(\) is [A-Za-z]+\)/g, '');
      const parts = expression.split('|').map((x) => x.trim());
      if (parts.every((x) => SIMPLE_PATH.test(x) && x.startsWith(`${resourceType}.`))) {
        atoms.push({ code, paths: parts.map((x) => x.split('.').slice(1)) });
        continue;
      }
      try {
        atoms.push({ code, atom: parseFhirPath(expression) });
      } catch {
        // An expression the parser cannot read puts nothing in the compartment (and is caught by tests).
      }
    }
    byType.set(resourceType, atoms);
  }
  return atoms;
}

export interface PatientLinks {
  /** Ids of the Patients whose compartment contains the resource (a Patient is in its own). */
  patients: string[];
  /**
   * True when the resource's subject (or any reference typed Patient) names no resource literally
   * (identifier-only, display-only, or a contained `#` reference): it may be about a patient the gateway
   * cannot name, so it must not leave, since its disclosure could not be logged against that patient.
   */
  unresolved: boolean;
}

/** Where a resource sits in Patient compartments. */
export function patientLinksOf(defs: FhirDefinitions, resource: Resource): PatientLinks {
  const out = new Set<string>();
  let unresolved = false;
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  const atoms = atomsFor(defs, resource.resourceType);
  if (atoms.length) {
    const checkLinks = !GATEWAY_GENERATED.has(resource.resourceType);
    let input: ReturnType<typeof toTypedValue>[] | undefined;
    for (const { code, atom, paths } of atoms) {
      let values: unknown[];
      try {
        if (paths) values = walk(resource, paths);
        else values = evalFhirPathTyped(atom as FhirPathAtom, (input ??= [toTypedValue(resource)])).map((v) => v.value);
      } catch {
        unresolved = checkLinks;
        continue;
      }
      for (const v of values) {
        const r = v as Reference | undefined;
        const ref = r?.reference;
        if (typeof ref !== 'string' || ref.startsWith('#')) {
          if (checkLinks && (SUBJECT_PARAMS.has(code) || r?.type === 'Patient')) unresolved = true;
          continue;
        }
        const m = PATIENT_REF.exec(ref);
        if (m?.[1]) out.add(m[1]);
      }
    }
  }
  return { patients: [...out], unresolved };
}

/** Ids of the Patients whose compartment contains this resource (a Patient is in its own). */
export function patientCompartmentOf(defs: FhirDefinitions, resource: Resource): string[] {
  return patientLinksOf(defs, resource).patients;
}
