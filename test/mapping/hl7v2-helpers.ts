/**
 * Shared pieces of the HL7 v2 mapper tests: a small in-memory Terminology (the real ConceptMap-backed
 * one lives in src/mapping/terminology.ts), fixture loading and validation of every produced resource.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeableConcept, Coding, Resource } from '@medplum/fhirtypes';
import { PROJECT_ROOT, loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { validateForIngest } from '../../src/mapping/validate.js';
import type { MappingIssue, Terminology } from '../../src/mapping/types.js';

/** A Terminology over a fixed map `system|code` -> target codings; everything else is unmapped. */
export function memoryTerminology(map: Record<string, Coding[]> = {}): Terminology {
  const translate = (source: Coding) => {
    const targets = map[`${source.system}|${source.code}`] ?? [];
    return { codings: [source, ...targets], mapped: targets.length > 0 };
  };
  return {
    translate,
    concept(source: Coding, issues: MappingIssue[], location?: string): CodeableConcept {
      const t = translate(source);
      if (!t.mapped) issues.push({ severity: 'warning', code: 'UNMAPPED_CODE', message: `no ConceptMap for ${source.system}|${source.code}`, ...(location ? { location } : {}) });
      return { coding: t.codings, ...(source.display ? { text: source.display } : {}) };
    },
  };
}

export const FIXTURES = join(PROJECT_ROOT, 'fixtures', 'hl7v2');
export const SHARED = join(PROJECT_ROOT, '..', 'shared', 'data', 'hl7v2');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES).filter((f) => f.endsWith('.hl7')).sort();
}

/** Validation errors (base R4 and claimed profiles) of each resource, as readable lines. */
export function validationErrors(resources: Resource[]): string[] {
  const defs = loadFhirDefinitions();
  const out: string[] = [];
  for (const r of resources) {
    const report = validateForIngest(defs, r);
    for (const i of [...report.invalid, ...report.profile]) out.push(`${r.resourceType}/${r.id}: ${i.details?.text} at ${i.expression?.join(', ')}`);
  }
  return out;
}

export function byType<T extends Resource['resourceType']>(resources: Resource[], type: T): Array<Extract<Resource, { resourceType: T }>> {
  return resources.filter((r) => r.resourceType === type) as Array<Extract<Resource, { resourceType: T }>>;
}
