/**
 * Contracts between the mappers (hl7v2/, records/), terminology, security labels and the ingest
 * pipeline (mapping/ingest.ts). A mapper turns one input unit (an HL7 v2 message, one record of an
 * export) into a MappedUnit; the pipeline labels, validates and stores it whole or not at all, or
 * queues it in the error queue with the reason.
 */
import type { CodeableConcept, Coding, Resource } from '@medplum/fhirtypes';

export interface MappingIssue {
  severity: 'error' | 'warning' | 'information';
  /** Machine code, e.g. UNMAPPED_CODE, MISSING_FIELD, UNSUPPORTED_MESSAGE. */
  code: string;
  message: string;
  /** Where in the input: `PID-3`, `OBX[2]-5`, `patients.csv:14 column dob`. */
  location?: string;
}

/** What one input unit becomes. Every resource carries its deterministic id (core/ids.ts stableId). */
export interface MappedUnit {
  /** Human-readable origin: `MSH-10 MSG00001`, `clinic/patients.csv:14`. */
  source: string;
  /** Resources to store together (PUT semantics: create or update by id). Includes the Provenance. */
  resources: Resource[];
  /** Non-fatal findings (unmapped local codes kept as local codings, ignored segments). */
  issues: MappingIssue[];
}

/**
 * A mapping failure. `kind` decides the HL7 ACK: 'content' (the input is wrong: AE),
 * 'unprocessable' (not a message this gateway can process at all: AR).
 */
export class MappingError extends Error {
  constructor(
    readonly kind: 'content' | 'unprocessable',
    message: string,
    readonly issues: MappingIssue[] = [{ severity: 'error', code: 'MAPPING_FAILED', message }],
  ) {
    super(message);
    this.name = 'MappingError';
  }
}

/** Local codes to standard code systems through ConceptMaps (config/terminology). */
export interface Terminology {
  /**
   * The codings a local code becomes: the local coding itself (always kept) plus every mapped target.
   * `mapped` is false when no ConceptMap knows the code; the caller reports it (UNMAPPED_CODE), never drops it.
   */
  translate(source: Coding): { codings: Coding[]; mapped: boolean };
  /** translate() as a CodeableConcept (text = the source display), recording an UNMAPPED_CODE issue into `issues` when unmapped. */
  concept(source: Coding, issues: MappingIssue[], location?: string): CodeableConcept;
}

/** DS4P security labels from config/labels. */
export interface Labeler {
  /**
   * Sets resource.meta.security: exactly one confidentiality code (N by default, R for 42 CFR Part 2 and
   * other restricted categories) plus the sensitivity codes (ETH, PSY, HIV, ...) the rules match.
   * Keeps labels that are not confidentiality/sensitivity codes. Returns the same object.
   */
  label<T extends Resource>(resource: T): T;
  /**
   * Labels a set stored together; a medication order also gets the labels of the Medication it
   * references within the set (a buprenorphine Medication makes its MedicationRequest Part 2 data).
   */
  labelAll<T extends Resource>(resources: T[]): T[];
}

/** Well-known code systems. */
export const SYSTEMS = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  confidentiality: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  /** Prefix of the organization's local code systems: `${localPrefix}/{table}`. */
  localPrefix: 'urn:fxg:local',
} as const;
