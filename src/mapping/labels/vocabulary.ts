/**
 * The HL7 vocabularies security labels are drawn from, and the code-system aliases the labeler
 * recognises. Kept apart from the matching logic so the rule loader can refuse a typo ("PYS")
 * before it silently labels nothing.
 *
 * Sources: HL7 Terminology (THO) CodeSystem v3-Confidentiality (OID 2.16.840.1.113883.5.25) and
 * v3-ActCode (OID 2.16.840.1.113883.5.4), value set v3-ActInformationSensitivityPolicy
 * (OID 2.16.840.1.113883.1.11.20429); DS4P IG extension sec-label-basis.
 */
import { SYSTEMS } from '../types.js';

/**
 * v3 Confidentiality codes from least to most restrictive. U (unrestricted) is below L: it is in the
 * code system and a sender may use it; the Healthcare Privacy and Security Classification System
 * (HCS) orders the rest L < M < N < R < V.
 */
export const CONFIDENTIALITY_ORDER = ['U', 'L', 'M', 'N', 'R', 'V'] as const;
export type ConfidentialityCode = (typeof CONFIDENTIALITY_ORDER)[number];

export const CONFIDENTIALITY_DISPLAY: Record<ConfidentialityCode, string> = {
  U: 'unrestricted', L: 'low', M: 'moderate', N: 'normal', R: 'restricted', V: 'very restricted',
};

export const DEFAULT_CONFIDENTIALITY: ConfidentialityCode = 'N';

export function isConfidentialityCode(code: string | undefined): code is ConfidentialityCode {
  return (CONFIDENTIALITY_ORDER as readonly string[]).includes(code ?? '');
}

export function confidentialityRank(code: ConfidentialityCode): number {
  return CONFIDENTIALITY_ORDER.indexOf(code);
}

/**
 * Every concept of v3 ActCode's _ActInformationSensitivityPolicy (THO, ActCode 8.0.0 / 9.0.0),
 * with its display. A rule file may only use these: sensitivity codes outside this value set are
 * not understood by DS4P consumers.
 */
export const SENSITIVITY_DISPLAY: Readonly<Record<string, string>> = {
  BH: 'behavioral health information sensitivity',
  COGN: 'cognitive disability information sensitivity',
  DVD: 'developmental disability information sensitivity',
  EMOTDIS: 'emotional disturbance information sensitivity',
  ETH: 'substance abuse information sensitivity',
  ETHUD: 'alcohol use disorder information sensitivity',
  GDIS: 'genetic disease information sensitivity',
  HIV: 'HIV/AIDS information sensitivity',
  IDS: 'Identifier Sensitivity',
  MH: 'mental health information sensitivity',
  MST: 'military sexual trauma information sensitivity',
  OPIOIDUD: 'opioid use disorder information sensitivity',
  PREGNANT: 'pregnancy information sensitivity',
  PSY: 'psychiatry disorder information sensitivity',
  PSYTHPN: 'psychotherapy note information sensitivity',
  SCA: 'sickle cell anemia information sensitivity',
  SDV: 'sexual assault, abuse, or domestic violence information sensitivity',
  SEX: 'sexuality and reproductive health information sensitivity',
  SICKLE: 'sickle cell',
  SPI: 'specially protected information sensitivity',
  STD: 'sexually transmitted disease information sensitivity',
  SUD: 'substance use disorder information sensitivity',
  TBOO: 'taboo',
  VIO: 'violence information sensitivity',
};

/** DS4P IG (http://hl7.org/fhir/uv/security-label-ds4p) extension naming the law or policy behind a label. */
export const SEC_LABEL_BASIS_URL = 'http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-sec-label-basis';

export const ICD10PCS = 'http://www.cms.gov/Medicare/Coding/ICD10';
export const ICD9CM = 'http://hl7.org/fhir/sid/icd-9-cm';
export const CPT = 'http://www.ama-assn.org/go/cpt';

/**
 * Other spellings of the code systems rules are written for (HL7 OIDs as `urn:oid:`, the STU3
 * v3 URLs). Codings are compared after mapping through this table, so a feed that still sends OIDs
 * is labelled like one that sends canonical URLs.
 */
const SYSTEM_ALIASES: Readonly<Record<string, string>> = {
  'urn:oid:2.16.840.1.113883.6.1': SYSTEMS.loinc,
  'urn:oid:2.16.840.1.113883.6.96': SYSTEMS.snomed,
  'urn:oid:2.16.840.1.113883.6.88': SYSTEMS.rxnorm,
  'urn:oid:2.16.840.1.113883.6.90': SYSTEMS.icd10cm,
  'urn:oid:2.16.840.1.113883.6.4': ICD10PCS,
  'urn:oid:2.16.840.1.113883.6.103': ICD9CM,
  'urn:oid:2.16.840.1.113883.6.12': CPT,
  'urn:oid:2.16.840.1.113883.5.25': SYSTEMS.confidentiality,
  'http://hl7.org/fhir/v3/Confidentiality': SYSTEMS.confidentiality,
  'urn:oid:2.16.840.1.113883.5.4': SYSTEMS.actCode,
  'http://hl7.org/fhir/v3/ActCode': SYSTEMS.actCode,
};

export function canonicalSystem(system: string | undefined): string | undefined {
  if (system === undefined) return undefined;
  const trimmed = system.trim();
  return SYSTEM_ALIASES[trimmed] ?? trimmed;
}

/**
 * Classifications whose codes are hierarchical by their characters, so that a code prefix names a
 * whole block (F10 covers F10.10 ... F10.99). Prefix rules are refused for any other system: a
 * prefix of a SNOMED CT or RxNorm identifier means nothing and would label unrelated concepts.
 */
export const PREFIX_SYSTEMS: ReadonlySet<string> = new Set([SYSTEMS.icd10cm, ICD10PCS, ICD9CM]);

/**
 * Code as compared: ICD codes are sent both dotted (F11.20) and undotted (F1120) and sometimes in
 * lower case; both forms must hit the same rule. Other systems' codes are compared exactly.
 */
export function normalizeCode(system: string, code: string): string {
  const trimmed = code.trim();
  return PREFIX_SYSTEMS.has(system) ? trimmed.replace(/\./g, '').toUpperCase() : trimmed;
}
