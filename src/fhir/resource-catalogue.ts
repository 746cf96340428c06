/**
 * What the FHIR API serves: the resource types, their search parameters, _include/_revinclude
 * targets and profiles. Built once from the US Core 6.1.0 server table plus the few base-R4 parameters
 * the gateway needs beyond it. The router, the search parser and the CapabilityStatement all read this
 * one catalogue, so the CapabilityStatement cannot claim more (or less) than the handlers accept.
 *
 * See: https://hl7.org/fhir/R4/capabilitystatement.html and
 * https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html
 */
import { createHash } from 'node:crypto';
import type { FhirDefinitions, SearchParamType } from '../core/fhir-definitions.js';
import { US_CORE_RESOURCES } from './us-core-search.js';
import { canonicalJson } from '../core/hash-chain.js';
import type { SearchIndexSelection } from '../store/types.js';
import { CATEGORIZED_TYPES } from '../policy/agreements.js';

/** A search parameter as the gateway supports it. */
export interface CatalogueParam {
  code: string;
  type: SearchParamType;
  /** Canonical URL of the SearchParameter (US Core's where US Core defines it, else base R4's). */
  definition: string;
  /** FHIRPath for this resource type (from the definitions the store indexes with). */
  expression: string;
  /** Reference targets (reference parameters only). */
  target: readonly string[];
}

export interface CatalogueResource {
  type: string;
  /** US Core profiles the gateway validates against and declares. Empty for supplementary types. */
  profiles: readonly string[];
  params: ReadonlyMap<string, CatalogueParam>;
  /** `Type:param` pairs accepted by `_include` (every supported reference parameter). */
  includes: readonly string[];
  /** `Source:param` pairs accepted by `_revinclude` (supported reference parameters that can point here). */
  revIncludes: readonly string[];
  /**
   * Reference parameters that name the Patient whose compartment a resource is in (from the Patient
   * CompartmentDefinition, plus `patient`); for Patient itself, `_id`. Their values are the patients a
   * search explicitly asks about (FhirOperation.patients).
   */
  patientParams: readonly string[];
}

export interface ResourceCatalogue {
  /** Supported types in CapabilityStatement order. */
  readonly types: readonly string[];
  get(type: string): CatalogueResource | undefined;
  has(type: string): boolean;
}

/**
 * Base R4 parameters served in addition to the US Core ones, each for a reason:
 * - `subject`: the generic compartment parameter clients use (`Observation?subject=Patient/x`); policy must see it;
 * - `encounter`, `performer`, `requester`, `medication`, `result`, `location`: reference parameters `_include`
 *   and `_revinclude` walk (US Core requires `MedicationRequest:medication`);
 * - Provenance `target`/`patient`/`agent`: `_revinclude=Provenance:target`, required by US Core on every clinical type;
 * - Medication `code`: looking a medication up by RxNorm code.
 */
const EXTRA_PARAMS: Readonly<Record<string, readonly string[]>> = {
  Observation: ['subject', 'encounter', 'performer'],
  Condition: ['subject'],
  MedicationRequest: ['subject', 'medication', 'requester'],
  Encounter: ['subject', 'practitioner'],
  Procedure: ['subject', 'encounter'],
  DiagnosticReport: ['subject', 'encounter', 'result', 'performer'],
  DocumentReference: ['subject', 'encounter'],
  CarePlan: ['subject', 'encounter'],
  Goal: ['subject'],
  Immunization: ['location', 'performer'],
  Medication: ['code'],
  Provenance: ['target', 'patient', 'agent'],
};

/**
 * Types outside US Core that internal systems load (Synthea and EHR transaction bundles carry them),
 * and the Consent resources policy reads.
 * Served with read/search by patient only, under the same policy as everything else.
 */
const SUPPLEMENTARY_TYPES: Readonly<Record<string, readonly string[]>> = {
  // Patient privacy consents (policy/consent.ts), written by internal systems; partners reach them only
  // when their agreement lists Consent.
  Consent: ['patient', 'status', 'scope', 'actor', 'purpose', 'period', 'category'],
  Claim: ['patient'],
  ExplanationOfBenefit: ['patient'],
  ImagingStudy: ['patient'],
};

/** Parameters every type supports. See: https://hl7.org/fhir/R4/search.html#all */
const COMMON_PARAMS = ['_id', '_lastUpdated'] as const;

/** Builds the catalogue; throws at start-up when a parameter is missing from the definitions the store indexes. */
export function buildResourceCatalogue(defs: FhirDefinitions): ResourceCatalogue {
  const raw = new Map<string, { profiles: readonly string[]; params: Map<string, CatalogueParam> }>();

  const param = (type: string, code: string, definition?: string): CatalogueParam => {
    const def = defs.searchParam(type, code);
    if (!def) throw new Error(`search parameter ${type}.${code} is not in the FHIR definitions`);
    return { code, type: def.type, definition: definition ?? def.url, expression: def.expression, target: def.target };
  };

  for (const r of US_CORE_RESOURCES) {
    const params = new Map<string, CatalogueParam>();
    for (const p of r.searchParam) {
      const cp = param(r.type, p.name, p.definition);
      if (cp.type !== p.type) throw new Error(`search parameter ${r.type}.${p.name}: US Core says ${p.type}, definitions ${cp.type}`);
      params.set(p.name, cp);
    }
    for (const code of EXTRA_PARAMS[r.type] ?? []) if (!params.has(code)) params.set(code, param(r.type, code));
    raw.set(r.type, { profiles: r.supportedProfile, params });
  }
  for (const [type, codes] of Object.entries(SUPPLEMENTARY_TYPES)) {
    raw.set(type, { profiles: [], params: new Map(codes.map((c) => [c, param(type, c)])) });
  }
  for (const [type, entry] of raw) {
    if (!defs.isResourceType(type)) throw new Error(`${type} is not an R4 resource type`);
    for (const code of COMMON_PARAMS) if (!entry.params.has(code)) entry.params.set(code, param(type, code));
  }

  const resources = new Map<string, CatalogueResource>();
  for (const [type, entry] of raw) {
    const includes = [...entry.params.values()].filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`);
    const revIncludes: string[] = [];
    for (const [source, other] of raw) {
      for (const p of other.params.values()) {
        if (p.type === 'reference' && p.target.includes(type)) revIncludes.push(`${source}:${p.code}`);
      }
    }
    const compartment = new Set([...defs.patientCompartmentParams(type), 'patient']);
    const patientParams = type === 'Patient'
      ? ['_id']
      : [...entry.params.values()].filter((p) => p.type === 'reference' && p.target.includes('Patient') && compartment.has(p.code))
        .map((p) => p.code);
    resources.set(type, { type, profiles: entry.profiles, params: entry.params, includes, revIncludes, patientParams });
  }

  const types = [...resources.keys()];
  return {
    types,
    get: (type) => resources.get(type),
    has: (type) => resources.has(type),
  };
}

/**
 * Parameters the gateway searches on its own (policy/agreements.ts agreementNarrowing): `_security` on every
 * type (agreements exclude security labels), `category` on every type an agreement may limit by category.
 */
const INTERNAL_PARAMS = ['_security'] as const;
const internalParamsOf = (type: string): string[] => [...INTERNAL_PARAMS, ...(CATEGORIZED_TYPES.includes(type) ? ['category'] : [])];

const selections = new WeakMap<FhirDefinitions, SearchIndexSelection>();

/**
 * The search parameters the store indexes: what the catalogue serves, plus the gateway's own (INTERNAL_PARAMS,
 * `category` of the categorized types). Nothing else
 * is ever searched, so nothing else is written: about half the index rows of indexing every R4 parameter.
 * The fingerprint changes with the set, and the store rebuilds its rows when it does.
 */
export function searchIndexSelection(defs: FhirDefinitions): SearchIndexSelection {
  let selection = selections.get(defs);
  if (selection) return selection;
  const catalogue = buildResourceCatalogue(defs);
  const internal: ReadonlySet<string> = new Set(INTERNAL_PARAMS);
  const byType = new Map<string, ReadonlySet<string>>();
  for (const type of catalogue.types) byType.set(type, new Set([...catalogue.get(type)!.params.keys(), ...internalParamsOf(type)]));
  for (const type of CATEGORIZED_TYPES) if (!byType.has(type)) byType.set(type, new Set(internalParamsOf(type)));
  const listed = Object.fromEntries([...byType].map(([type, codes]) => [type, [...codes].sort()]));
  selection = {
    params: (type) => byType.get(type) ?? internal,
    fingerprint: createHash('sha256').update(canonicalJson({ version: 1, types: listed, other: [...internal] })).digest('hex'),
  };
  selections.set(defs, selection);
  return selection;
}
