/**
 * Which elements of each resource type carry the codes that decide its sensitivity. Only coded
 * clinical content is inspected: narrative, free text and references are not (see
 * docs/security-labels.md). A type that is not listed is never labelled sensitive by rules (it still
 * gets its confidentiality code), so adding a type here is a deliberate decision.
 */
import type { Coding, Resource } from '@medplum/fhirtypes';

/**
 * Element paths (dot-separated, arrays are walked) whose values are CodeableConcepts or Codings.
 * Keep docs/security-labels.md in step with this table.
 */
export const INSPECTED_ELEMENTS: Readonly<Record<string, readonly string[]>> = {
  Condition: ['code'],
  Observation: ['code', 'valueCodeableConcept', 'component.code', 'component.valueCodeableConcept'],
  DiagnosticReport: ['code', 'conclusionCode'],
  ServiceRequest: ['code', 'reasonCode'],
  Procedure: ['code', 'reasonCode'],
  MedicationRequest: ['medicationCodeableConcept', 'reasonCode'],
  MedicationStatement: ['medicationCodeableConcept', 'reasonCode'],
  MedicationAdministration: ['medicationCodeableConcept', 'reasonCode'],
  MedicationDispense: ['medicationCodeableConcept'],
  Medication: ['code', 'ingredient.itemCodeableConcept'],
  AllergyIntolerance: ['code'],
  Encounter: ['type', 'reasonCode'],
  EpisodeOfCare: ['type'],
  DocumentReference: ['type', 'category', 'context.event', 'context.practiceSetting'],
  CarePlan: ['category', 'activity.detail.code', 'activity.detail.reasonCode'],
  Goal: ['description'],
  FamilyMemberHistory: ['condition.code'],
  Claim: ['diagnosis.diagnosisCodeableConcept', 'procedure.procedureCodeableConcept', 'item.productOrService'],
  ExplanationOfBenefit: ['diagnosis.diagnosisCodeableConcept', 'procedure.procedureCodeableConcept', 'item.productOrService'],
};

/** Resource types whose medication may be a reference to a Medication (labelled through it). */
export const MEDICATION_REFERRERS: ReadonlySet<string> = new Set([
  'MedicationRequest', 'MedicationStatement', 'MedicationAdministration', 'MedicationDispense',
]);

/** The codings found at the inspected elements of one resource (not its contained resources). */
export function inspectedCodings(resource: Resource): Coding[] {
  const paths = INSPECTED_ELEMENTS[resource.resourceType] ?? [];
  const out: Coding[] = [];
  for (const path of paths) collect(resource, path.split('.'), out);
  return out;
}

function collect(value: unknown, path: readonly string[], out: Coding[]): void {
  if (Array.isArray(value)) {
    for (const item of value) collect(item, path, out);
    return;
  }
  if (!value || typeof value !== 'object') return;
  if (!path.length) {
    const node = value as { coding?: unknown; system?: unknown; code?: unknown };
    if (Array.isArray(node.coding)) {
      for (const c of node.coding) if (c && typeof c === 'object') out.push(c as Coding);
    } else if (typeof node.code === 'string') {
      out.push(node as Coding);
    }
    return;
  }
  const [head, ...rest] = path;
  if (!Object.hasOwn(value, head as string)) return;
  collect((value as Record<string, unknown>)[head as string], rest, out);
}
