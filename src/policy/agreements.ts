/**
 * Partner agreements: what a partner may ever receive, independent of any one patient. A partner exists
 * for the policy only through its agreement (design.md §5): the purposes of use it may assert, the resource
 * types and categories it may receive (minimum necessary), the labels it never receives, validity, status,
 * whether an explicit patient consent is required, and the legal instrument behind it (BAA, DURSA).
 *
 * Pure rules, no storage: the policy calls checkAgreement() once per request, agreementNarrowing() to
 * push the type/category/label limits into the store query, and agreementCovers() on every resource that
 * would leave (after _include), so a resource the query could not exclude still never leaves.
 * Defaults per partner kind and their reasons: docs/agreements.md.
 */
import type { CodeableConcept, Coding, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import { basisForPurpose, TPO_PURPOSES, type LegalBasis } from '../core/purpose-of-use.js';
import type { PartnerKind, SearchFilter } from '../store/types.js';
import { dateRange, labelCodes, PSYCHOTHERAPY_NOTE_LABEL, toEpochMs } from './consent-codes.js';

export type AgreementStatus = 'active' | 'suspended' | 'terminated';

export interface Agreement {
  /** The partner (SMART client) this agreement is with: Partner.id. */
  partnerId: string;
  /** HL7 PurposeOfUse codes (v3 ActReason) the partner may assert; matched exactly (no hierarchy). */
  purposes: string[];
  /** Resource types the partner may receive; `*` = every type (internal systems only, in practice). */
  resourceTypes: string[];
  /**
   * Per resource type, the categories allowed (`system|code` tokens, OR-ed): a resource of that type leaves
   * only when one of its categories is listed. Types not listed here are not constrained by category.
   * Only types with a `category` element and search parameter may be constrained (CATEGORIZED_TYPES).
   */
  categories?: Record<string, string[]>;
  /**
   * Security-label codes (v3 ActCode sensitivity or v3 Confidentiality) never disclosed to this partner,
   * whatever consent exists. Matched on the code alone, so a label with an unexpected system still
   * excludes. Defaults to [PSYTHPN] when a file omits it: psychotherapy notes need an explicit decision.
   */
  excludedLabels?: string[];
  /** FHIR date or dateTime; the agreement is valid from the start of this value's precision. */
  validFrom?: string;
  /** FHIR date or dateTime; inclusive at its precision (a date: valid through that whole day, UTC). */
  validTo?: string;
  status: AgreementStatus;
  /** When true, nothing leaves unless an active patient consent permits this partner (consent.ts). */
  consentRequired: boolean;
  /** The legal instrument, for the explanation and the disclosure log: `BAA 2026-014`, `DURSA`, ... */
  legalReference?: string;
  /** The partner is the organization's business associate (45 CFR 160.103) under `legalReference`. */
  businessAssociate: boolean;
  /**
   * The legal basis recorded for a purpose when the purpose alone does not say it (core/purpose-of-use.ts
   * basisForPurpose): e.g. a police department's agreement maps GOV to `law-enforcement`, so its disclosures
   * are accounted (and suspendable) as law enforcement, not health oversight.
   */
  purposeBases?: Record<string, LegalBasis>;
  /**
   * Who the partner is, for matching consent actors: its Organization (`Organization/<id>`), other identifiers
   * (its NPI, say) and the care teams it serves. A consent naming an Organization, identifier or care team is
   * compared with these; when the agreement does not say, such a deny applies and such a permit does not.
   */
  recipient?: { organization?: string; identifiers?: Array<{ system: string; value: string }>; careTeams?: string[] };
}

/** Stable refusal codes (OperationOutcome details / audit). */
export type AgreementRefusalCode =
  | 'GW_AGREEMENT_SUSPENDED'
  | 'GW_AGREEMENT_TERMINATED'
  | 'GW_AGREEMENT_NOT_YET_VALID'
  | 'GW_AGREEMENT_EXPIRED'
  | 'GW_AGREEMENT_INVALID_PERIOD'
  | 'GW_PURPOSE_NOT_ALLOWED'
  | 'GW_TYPE_NOT_ALLOWED'
  | 'GW_CATEGORY_NOT_ALLOWED'
  | 'GW_LABEL_EXCLUDED';

export type AgreementCheck = { ok: true } | { ok: false; code: AgreementRefusalCode; reason: string };

const OK: AgreementCheck = { ok: true };
const refuse = (code: AgreementRefusalCode, reason: string): AgreementCheck => ({ ok: false, code, reason });

// ---------------------------------------------------------------- categories

const ALLERGY_CATEGORY_SYSTEM = 'http://hl7.org/fhir/allergy-intolerance-category';

const codingsOf = (cc: CodeableConcept | CodeableConcept[] | undefined): Coding[] =>
  cc === undefined ? [] : Array.isArray(cc) ? cc.flatMap((c) => c.coding ?? []) : cc.coding ?? [];

/**
 * Types whose category can be constrained, and how to read it. Each has an R4 `category` search parameter
 * over the same element, so agreementNarrowing() and agreementCovers() agree. AllergyIntolerance.category is
 * a bare code; its implicit system is the FHIR allergy-intolerance-category code system.
 */
const CATEGORY_READERS: Readonly<Record<string, (r: Resource) => Coding[]>> = {
  Observation: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  Condition: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  DiagnosticReport: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  DocumentReference: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  CarePlan: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  ServiceRequest: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  MedicationRequest: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  MedicationStatement: (r) => codingsOf((r as { category?: CodeableConcept }).category),
  Goal: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  CareTeam: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  Communication: (r) => codingsOf((r as { category?: CodeableConcept[] }).category),
  Procedure: (r) => codingsOf((r as { category?: CodeableConcept }).category),
  AllergyIntolerance: (r) => ((r as { category?: string[] }).category ?? []).map((code) => ({ system: ALLERGY_CATEGORY_SYSTEM, code })),
};

/** Resource types an agreement may constrain by category. */
export const CATEGORIZED_TYPES: readonly string[] = Object.keys(CATEGORY_READERS);

// ---------------------------------------------------------------- well-known categories

const OBS = 'http://terminology.hl7.org/CodeSystem/observation-category';
const COND = 'http://terminology.hl7.org/CodeSystem/condition-category';
const US_CORE_COND = 'http://hl7.org/fhir/us/core/CodeSystem/condition-category';
const DOCREF = 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category';

export const CATEGORY = {
  vitalSigns: `${OBS}|vital-signs`,
  laboratory: `${OBS}|laboratory`,
  socialHistory: `${OBS}|social-history`,
  exam: `${OBS}|exam`,
  imaging: `${OBS}|imaging`,
  procedure: `${OBS}|procedure`,
  therapy: `${OBS}|therapy`,
  activity: `${OBS}|activity`,
  problemListItem: `${COND}|problem-list-item`,
  encounterDiagnosis: `${COND}|encounter-diagnosis`,
  healthConcern: `${US_CORE_COND}|health-concern`,
  clinicalNote: `${DOCREF}|clinical-note`,
  /** US Core DiagnosticReport category: LOINC part Radiology, and v2-0074 RAD. */
  radiologyLoinc: 'http://loinc.org|LP29684-5',
  radiologyV2: 'http://terminology.hl7.org/CodeSystem/v2-0074|RAD',
} as const;

// ---------------------------------------------------------------- defaults per partner kind

/** The US Core 6.1.0 resource types that carry clinical information useful for treatment. */
const US_CORE_TREATMENT_TYPES = [
  'Patient', 'AllergyIntolerance', 'CarePlan', 'CareTeam', 'Condition', 'Device', 'DiagnosticReport',
  'DocumentReference', 'Encounter', 'Goal', 'ImagingStudy', 'Immunization', 'Location', 'Medication',
  'MedicationDispense', 'MedicationRequest', 'Observation', 'Organization', 'Practitioner', 'PractitionerRole',
  'Procedure', 'Provenance', 'QuestionnaireResponse', 'RelatedPerson', 'ServiceRequest', 'Specimen',
];

/** Who is who around the data: needed to read any clinical resource, reveal nothing clinical themselves. */
const DIRECTORY_TYPES = ['Practitioner', 'PractitionerRole', 'Organization'];

type Defaults = Omit<Agreement, 'partnerId'>;

const base: Pick<Defaults, 'status' | 'excludedLabels' | 'businessAssociate'> = {
  status: 'active', excludedLabels: [PSYCHOTHERAPY_NOTE_LABEL], businessAssociate: false,
};

/**
 * Minimum-necessary defaults per partner kind (45 CFR 164.502(b), 164.514(d)); docs/agreements.md gives
 * the table and the reasons. Every default excludes psychotherapy notes (PSYTHPN): their disclosure needs
 * the patient's authorization (164.508(a)(2)), which a partner agreement cannot stand in for.
 */
const DEFAULTS: Readonly<Record<PartnerKind, Defaults>> = {
  // An external EHR treating the patient: the US Core clinical set. No Coverage, Claim, or
  // ExplanationOfBenefit: payment data does not serve treatment.
  ehr: { ...base, purposes: ['TREAT'], resourceTypes: US_CORE_TREATMENT_TYPES, consentRequired: false },
  // A specialist the patient was referred to: the clinical record, without the patient's contacts
  // (RelatedPerson) and questionnaire answers (SDOH and screening surveys), and notes limited to clinical notes.
  specialist: {
    ...base,
    purposes: ['TREAT'],
    resourceTypes: US_CORE_TREATMENT_TYPES.filter((t) => t !== 'RelatedPerson' && t !== 'QuestionnaireResponse'),
    categories: { DocumentReference: [CATEGORY.clinicalNote] },
    consentRequired: false,
  },
  // A physical or occupational therapist: the referral and what shapes a safe therapy plan (diagnoses,
  // surgeries, devices, medications that change exercise tolerance or bleeding/fall risk, allergies such as
  // latex, vital signs and functional observations, imaging results), not the lab record or immunizations.
  therapist: {
    ...base,
    purposes: ['TREAT'],
    resourceTypes: [
      'Patient', 'AllergyIntolerance', 'CarePlan', 'Condition', 'Device', 'DiagnosticReport', 'DocumentReference',
      'Encounter', 'Goal', 'Medication', 'MedicationRequest', 'Observation', 'Procedure', 'Provenance',
      'ServiceRequest', 'Location', ...DIRECTORY_TYPES,
    ],
    categories: {
      Condition: [CATEGORY.problemListItem, CATEGORY.encounterDiagnosis],
      Observation: [CATEGORY.vitalSigns, CATEGORY.exam, CATEGORY.therapy, CATEGORY.activity, CATEGORY.imaging],
      DiagnosticReport: [CATEGORY.radiologyLoinc, CATEGORY.radiologyV2],
      DocumentReference: [CATEGORY.clinicalNote],
    },
    consentRequired: false,
  },
  // A pharmacy dispensing a prescription (design.md §1): the prescription and what a pharmacist needs to
  // review it safely: medications and dispenses (interactions, duplicates), allergies, the problem list
  // (contraindications: renal or hepatic disease, pregnancy), vital signs (weight and height for dosing) and
  // laboratory results (renal function, INR, potassium), and the prescriber. Nothing else.
  pharmacy: {
    ...base,
    purposes: ['TREAT'],
    resourceTypes: [
      'Patient', 'MedicationRequest', 'Medication', 'MedicationDispense', 'AllergyIntolerance', 'Condition',
      'Observation', ...DIRECTORY_TYPES,
    ],
    categories: {
      Condition: [CATEGORY.problemListItem],
      Observation: [CATEGORY.vitalSigns, CATEGORY.laboratory],
    },
    consentRequired: false,
  },
  // A health-information exchange in its responding role: treatment plus the TEFCA exchange purposes
  // (purposeFromTefca). Patient consent is required: many states make HIE participation opt-in, and the
  // catalogue (b.3) gates HIE exchange on consent.
  hie: {
    ...base,
    purposes: ['TREAT', 'ETREAT', 'HPAYMT', 'HOPERAT', 'PUBHLTH', 'PATRQT', 'GOV'],
    resourceTypes: US_CORE_TREATMENT_TYPES,
    consentRequired: true,
  },
  // A health plan paying for care: coverage, claims and what a claim states (encounters, encounter
  // diagnoses, procedures, orders for prior authorization, prescriptions), not the clinical record.
  payer: {
    ...base,
    purposes: ['HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER'],
    resourceTypes: [
      'Patient', 'Coverage', 'Claim', 'ExplanationOfBenefit', 'Encounter', 'Condition', 'Procedure',
      'ServiceRequest', 'MedicationRequest', 'Medication', 'Location', ...DIRECTORY_TYPES,
    ],
    categories: { Condition: [CATEGORY.encounterDiagnosis] },
    consentRequired: false,
  },
  // The organization's own systems: every type for treatment, payment and operations (a use, not a
  // disclosure), still without psychotherapy notes.
  internal: { ...base, purposes: [...TPO_PURPOSES], resourceTypes: ['*'], consentRequired: false },
};

/**
 * The default agreement for a partner of `kind`: what an administrator starts from when registering one.
 * Returns fresh arrays, so callers may edit the result.
 */
export function defaultAgreementFor(kind: PartnerKind, partnerId: string): Agreement {
  const d = DEFAULTS[kind];
  return structuredClone({ partnerId, ...d });
}

// ---------------------------------------------------------------- TEFCA exchange purposes

/** TEFCA Exchange Purpose (XP) code system (RCE SOP: Exchange Purposes). */
export const TEFCA_XP_SYSTEM = 'urn:oid:2.16.840.1.113883.3.7204.1.5.2.1';

/**
 * TEFCA XP code -> HL7 PurposeOfUse. Codes from the XP SOP v4.0 table (spec-rules §3.2, as encoded in
 * udap-dotnet) and the six added by XP SOP v5.1 (T-HCO-QAI, T-HCO-POP, T-HCO-PTSAFETY, T-HCO-PERF,
 * T-GOVDTRM-SSD, T-GOVDTRM-ACP), which also retired T-HCO-QM (still accepted: a partner on v4.0 sends it).
 * T-GOVDTRM-ACP is deliberately absent: it only accompanies T-GOVDTRM-SSD and is not a purpose by itself.
 */
const TEFCA_TO_POU: Readonly<Record<string, string>> = {
  'T-TREAT': 'TREAT',
  'T-TRTMNT': 'TREAT', // TEFCA Required Treatment
  'T-PYMNT': 'HPAYMT',
  'T-HCO': 'HOPERAT',
  'T-HCO-CC': 'CAREMGT', // care coordination, an operations activity under TEFCA
  'T-HCO-HED': 'PERFMSR', // HEDIS: monitoring performance of recommended practices
  'T-HCO-QM': 'PERFMSR', // quality measure reporting (SOP v4.0)
  'T-HCO-QAI': 'HQUALIMP', // quality assessment and improvement
  'T-HCO-POP': 'HOPERAT', // population-based activities (164.501 operations)
  'T-HCO-PTSAFETY': 'PATSFTY',
  'T-HCO-PERF': 'HOPERAT', // review of professionals' performance (164.501 operations)
  'T-PH': 'PUBHLTH',
  'T-PH-ECR': 'PUBHLTH',
  'T-PH-ELR': 'PUBHLTH',
  'T-IAS': 'PATRQT', // Individual Access Services: the patient's own request
  'T-GOVDTRM': 'GOV',
  'T-GOVDTRM-SSD': 'GOV',
};

/**
 * The PurposeOfUse a TEFCA exchange purpose maps to, or undefined for an unknown code. Accepts the bare
 * code (`T-TREAT`), the UDAP form `urn:oid:2.16.840.1.113883.3.7204.1.5.2.1#T-TREAT`, or a token
 * `urn:oid:...|T-TREAT`; a code qualified with any other system is not a TEFCA code.
 */
export function purposeFromTefca(code: string): string | undefined {
  const m = /^(.*)[#|](T-[A-Z-]+)$/.exec(code);
  if (m) return m[1] === TEFCA_XP_SYSTEM ? TEFCA_TO_POU[m[2] as string] : undefined;
  return Object.hasOwn(TEFCA_TO_POU, code) ? TEFCA_TO_POU[code] : undefined;
}

// ---------------------------------------------------------------- checks

/**
 * The request-level check: status, validity period (at `now`, the server's clock) and purpose.
 * Suspension and termination are checked first so an administrator's action reads as the reason.
 */
export function checkAgreement(agreement: Agreement, req: { purpose: string; now: string | number | Date }): AgreementCheck {
  if (agreement.status === 'terminated') return refuse('GW_AGREEMENT_TERMINATED', `the agreement with ${agreement.partnerId} is terminated`);
  if (agreement.status === 'suspended') return refuse('GW_AGREEMENT_SUSPENDED', `the agreement with ${agreement.partnerId} is suspended`);
  if (agreement.status !== 'active') return refuse('GW_AGREEMENT_SUSPENDED', `the agreement with ${agreement.partnerId} is not active`);
  const now = toEpochMs(req.now);
  if (agreement.validFrom !== undefined) {
    const r = dateRange(agreement.validFrom);
    if (!r) return refuse('GW_AGREEMENT_INVALID_PERIOD', `the agreement's validFrom (${agreement.validFrom}) is not a FHIR date`);
    if (now < r.start) return refuse('GW_AGREEMENT_NOT_YET_VALID', `the agreement with ${agreement.partnerId} is valid from ${agreement.validFrom}`);
  }
  if (agreement.validTo !== undefined) {
    const r = dateRange(agreement.validTo);
    if (!r) return refuse('GW_AGREEMENT_INVALID_PERIOD', `the agreement's validTo (${agreement.validTo}) is not a FHIR date`);
    if (now >= r.end) return refuse('GW_AGREEMENT_EXPIRED', `the agreement with ${agreement.partnerId} expired (valid to ${agreement.validTo})`);
  }
  if (!agreement.purposes.includes(req.purpose)) {
    return refuse('GW_PURPOSE_NOT_ALLOWED', `the agreement with ${agreement.partnerId} does not allow purpose of use ${req.purpose}`);
  }
  return OK;
}

/** Whether the agreement lets resources of `type` leave at all (before categories and labels). */
export function agreementTypeAllowed(agreement: Agreement, type: string): boolean {
  return agreement.resourceTypes.includes('*') || agreement.resourceTypes.includes(type);
}

/** Labels an agreement excludes: the explicit list, or PSYTHPN when the agreement does not say. */
export function excludedLabelsOf(agreement: Agreement): readonly string[] {
  return agreement.excludedLabels ?? [PSYCHOTHERAPY_NOTE_LABEL];
}

/** Why `resource` may or may not leave under the agreement: type, then category, then excluded labels. */
export function explainAgreementCoverage(agreement: Agreement, resource: Resource): AgreementCheck {
  const type = resource.resourceType;
  if (!agreementTypeAllowed(agreement, type)) return refuse('GW_TYPE_NOT_ALLOWED', `the agreement does not cover ${type}`);
  const allowed = agreement.categories?.[type];
  if (allowed) {
    const reader = CATEGORY_READERS[type];
    const tokens = new Set(allowed);
    const has = reader ? reader(resource).some((c) => c.code !== undefined && tokens.has(`${c.system ?? ''}|${c.code}`)) : false;
    if (!has) return refuse('GW_CATEGORY_NOT_ALLOWED', `the agreement covers ${type} only in categories ${allowed.join(', ')}`);
  }
  const excluded = excludedLabelsOf(agreement);
  if (excluded.length) {
    const labels = labelCodes(resource);
    const hit = excluded.filter((l) => labels.has(l));
    if (hit.length) return refuse('GW_LABEL_EXCLUDED', `the agreement excludes data labelled ${hit.join(', ')}`);
  }
  return OK;
}

/** Whether `resource` may leave under the agreement (type, categories, excluded labels). */
export function agreementCovers(agreement: Agreement, resource: Resource): boolean {
  return explainAgreementCoverage(agreement, resource).ok;
}

/**
 * The agreement's limits on a search of `type` as store narrowing (SearchQuery.narrow.anyOf: OR of
 * AND-groups): `[]` when the type is not allowed (nothing matches), undefined when nothing narrows it,
 * otherwise one AND-group holding the category filter (its tokens OR-ed) and `_security:not` on the
 * excluded labels (bare codes, so any system matches, as in agreementCovers). Combine with other narrowing
 * through andNarrowing(). agreementCovers() still runs on what leaves.
 */
export function agreementNarrowing(agreement: Agreement, type: string): SearchFilter[][] | undefined {
  if (!agreementTypeAllowed(agreement, type)) return [];
  const group: SearchFilter[] = [];
  const categories = agreement.categories?.[type];
  if (categories) group.push({ code: 'category', values: categories.map((value) => ({ value })) });
  const excluded = excludedLabelsOf(agreement);
  if (excluded.length) group.push({ code: '_security', modifier: 'not', values: excluded.map((value) => ({ value })) });
  return group.length ? [group] : undefined;
}

/**
 * Both narrowings at once (AND of two OR-of-AND-groups, distributed): undefined means "no narrowing".
 * `[]` on either side stays `[]` (nothing matches).
 */
export function andNarrowing(a: SearchFilter[][] | undefined, b: SearchFilter[][] | undefined): SearchFilter[][] | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.flatMap((ga) => b.map((gb) => [...ga, ...gb]));
}

// ---------------------------------------------------------------- schema (files, admin API)

const FHIR_DATE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;
const fhirDate = () => z.string().regex(FHIR_DATE, 'must be a FHIR date or dateTime (2026-01-31 or 2026-01-31T17:00:00Z)')
  .refine((s) => dateRange(s) !== undefined, 'not a valid calendar date');
const PURPOSE = /^[A-Z][A-Z0-9]*$/;
const LEGAL_BASES: readonly LegalBasis[] = [
  'tpo', 'individual', 'authorization', 'limited-data-set', 'national-security', 'correctional', 'required-by-law',
  'public-health', 'health-oversight', 'judicial', 'law-enforcement', 'research', 'decedent', 'organ-donation',
  'serious-threat', 'workers-comp',
];
const RESOURCE_TYPE = /^([A-Z][A-Za-z]+|\*)$/;
const TOKEN = /^[^|\s]+\|[^|\s]+$/;

/**
 * Agreement input (config files, admin API). Messages name the field and what is expected. Omitted
 * `excludedLabels` becomes [PSYTHPN]; disclosing psychotherapy notes takes an explicit `[]`.
 */
export const agreementSchema = z.object({
  partnerId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (at most 64)'),
  purposes: z.array(z.string().regex(PURPOSE, 'HL7 PurposeOfUse codes such as TREAT, HPAYMT, HOPERAT'))
    .min(1, 'at least one purpose of use'),
  resourceTypes: z.array(z.string().regex(RESOURCE_TYPE, 'FHIR resource type names (Patient, Observation) or *'))
    .min(1, 'at least one resource type'),
  categories: z.record(
    z.string(),
    z.array(z.string().regex(TOKEN, 'each category is a system|code token')).min(1, 'list at least one category, or omit the type'),
  ).optional(),
  excludedLabels: z.array(z.string().regex(/^[A-Za-z0-9-]+$/, 'security label codes such as PSYTHPN, ETH, HIV'))
    .default([PSYCHOTHERAPY_NOTE_LABEL])
    // Listing other labels never re-admits psychotherapy notes by omission (or a typo): only an explicit
    // empty list does.
    .transform((labels) => (labels.length && !labels.includes(PSYCHOTHERAPY_NOTE_LABEL) ? [...labels, PSYCHOTHERAPY_NOTE_LABEL] : labels)),
  validFrom: fhirDate().optional(),
  validTo: fhirDate().optional(),
  status: z.enum(['active', 'suspended', 'terminated'], { message: 'active, suspended or terminated' }).default('active'),
  consentRequired: z.boolean({ message: 'true or false' }),
  legalReference: z.string().min(1).max(200, 'at most 200 characters').optional(),
  businessAssociate: z.boolean({ message: 'true or false' }).default(false),
  recipient: z.object({
    organization: z.string().regex(/^Organization\/[A-Za-z0-9\-.]{1,64}$/, 'Organization/<id>').optional(),
    identifiers: z.array(z.object({ system: z.string().min(1), value: z.string().min(1) }).strict()).optional(),
    careTeams: z.array(z.string().regex(/^CareTeam\/[A-Za-z0-9\-.]{1,64}$/, 'CareTeam/<id>')).optional(),
  }).strict().optional(),
  purposeBases: z.record(
    z.string().regex(PURPOSE, 'a PurposeOfUse code of this agreement'),
    z.enum([...LEGAL_BASES] as [LegalBasis, ...LegalBasis[]], { message: `one of ${LEGAL_BASES.join(', ')}` }),
  ).optional(),
}).strict().superRefine((a, ctx) => {
  for (const purpose of Object.keys(a.purposeBases ?? {})) {
    if (!a.purposes.includes(purpose)) ctx.addIssue({ code: 'custom', path: ['purposeBases', purpose], message: `${purpose} is not in purposes` });
    if (TPO_PURPOSES.has(purpose) && a.purposeBases?.[purpose] !== 'tpo') {
      ctx.addIssue({ code: 'custom', path: ['purposeBases', purpose], message: `${purpose} is treatment, payment or operations: its basis is tpo` });
    }
  }
  if (a.validFrom && a.validTo) {
    const from = dateRange(a.validFrom);
    const to = dateRange(a.validTo);
    if (from && to && to.end <= from.start) ctx.addIssue({ code: 'custom', path: ['validTo'], message: 'must not be before validFrom' });
  }
  for (const t of Object.keys(a.categories ?? {})) {
    if (!CATEGORIZED_TYPES.includes(t)) {
      ctx.addIssue({ code: 'custom', path: ['categories', t], message: `only these types have categories: ${CATEGORIZED_TYPES.join(', ')}` });
    } else if (!a.resourceTypes.includes(t) && !a.resourceTypes.includes('*')) {
      ctx.addIssue({ code: 'custom', path: ['categories', t], message: `${t} is not in resourceTypes` });
    }
  }
  if (a.businessAssociate && !a.legalReference) {
    ctx.addIssue({ code: 'custom', path: ['legalReference'], message: 'name the business associate agreement' });
  }
});

/** Parses agreement input, or throws an Error whose message lists every problem (`source: path: message`). */
export function parseAgreement(raw: unknown, source: string): Agreement {
  const r = agreementSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`${source}: invalid agreement: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { validFrom, validTo, legalReference, categories, purposeBases, recipient, ...rest } = r.data;
  return {
    ...rest,
    ...(recipient && Object.keys(recipient).length ? { recipient: recipient as NonNullable<Agreement['recipient']> } : {}),
    ...(purposeBases && Object.keys(purposeBases).length ? { purposeBases } : {}),
    ...(categories ? { categories } : {}),
    ...(validFrom ? { validFrom } : {}),
    ...(validTo ? { validTo } : {}),
    ...(legalReference ? { legalReference } : {}),
  };
}

/** The legal basis a disclosure for `purpose` under this agreement is recorded with. */
export function legalBasisFor(agreement: Agreement, purpose: string): LegalBasis {
  return agreement.purposeBases?.[purpose] ?? basisForPurpose(purpose);
}
