/**
 * Coded values (CE, CWE, CNE, CF) as CodeableConcepts. HL7 v2 names coding systems with short
 * mnemonics (table 0396); the standard ones map straight to their FHIR system URIs. Codes from a
 * local system go through the organization's ConceptMaps (Terminology), which keeps the local coding
 * and adds every mapped standard coding, and reports unmapped ones.
 *
 * Local systems are named `${SYSTEMS.localPrefix}/<field>` (e.g. `urn:fxg:local/OBX-3`) for codes sent
 * with `L` or no system, and `${SYSTEMS.localPrefix}/<name>` for site-defined (`99zzz`) or unrecognised
 * system names (e.g. `urn:fxg:local/99USL`): ConceptMaps in config/terminology use these as source systems.
 */
import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import { SYSTEMS } from '../types.js';
import type { MapContext } from './context.js';
import type { Rep } from './message.js';

export const V2_TABLE = (table: string) => `http://terminology.hl7.org/CodeSystem/v2-${table.padStart(4, '0')}`;

/** Table 0396 mnemonics (and common variants) with a FHIR system URI. */
const STANDARD: Readonly<Record<string, string>> = {
  LN: SYSTEMS.loinc, LOINC: SYSTEMS.loinc,
  SCT: SYSTEMS.snomed, SNM: SYSTEMS.snomed, SNM3: SYSTEMS.snomed, SCT2: SYSTEMS.snomed, SNOMED: SYSTEMS.snomed, SNOMEDCT: SYSTEMS.snomed,
  RXNORM: SYSTEMS.rxnorm, RXN: SYSTEMS.rxnorm,
  CVX: SYSTEMS.cvx,
  MVX: 'http://hl7.org/fhir/sid/mvx',
  I10: SYSTEMS.icd10cm, I10C: SYSTEMS.icd10cm, ICD10CM: SYSTEMS.icd10cm, 'ICD-10-CM': SYSTEMS.icd10cm,
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm', I9CDX: 'http://hl7.org/fhir/sid/icd-9-cm', I9: 'http://hl7.org/fhir/sid/icd-9-cm', ICD9: 'http://hl7.org/fhir/sid/icd-9-cm',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  UCUM: 'http://unitsofmeasure.org',
  C4: 'http://www.ama-assn.org/go/cpt', CPT: 'http://www.ama-assn.org/go/cpt', CPT4: 'http://www.ama-assn.org/go/cpt',
  HCPCS: 'urn:oid:2.16.840.1.113883.6.285', HPC: 'urn:oid:2.16.840.1.113883.6.285',
  NCIT: 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
  NUCC: 'http://nucc.org/provider-taxonomy',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
  ISO3166: 'urn:iso:std:iso:3166',
  NIP001: 'urn:oid:2.16.840.1.114222.4.5.274',
  CDCPHINVS: 'urn:oid:2.16.840.1.114222.4.5.274',
};

/** FHIR system for a table 0396 mnemonic, or undefined when it is local or unknown. */
export function standardSystem(name: string): string | undefined {
  const n = name.trim().toUpperCase();
  if (!n) return undefined;
  if (STANDARD[n]) return STANDARD[n];
  const table = /^HL7(\d{4})$/.exec(n);
  if (table) return V2_TABLE(table[1]!);
  if (n.startsWith('URN:') || n.startsWith('HTTP://') || n.startsWith('HTTPS://')) return name.trim();
  return undefined;
}

/** The local system for a code sent with `L`, no system, `99zzz` or an unrecognised name. */
export function localSystem(name: string, field: string): string {
  const n = name.trim();
  if (!n || n.toUpperCase() === 'L') return `${SYSTEMS.localPrefix}/${field}`;
  return `${SYSTEMS.localPrefix}/${encodeURIComponent(n)}`;
}

interface Triple { code: string; display: string; systemName: string; version: string }

function triples(rep: Rep): Triple[] {
  const out: Triple[] = [];
  for (const base of [1, 4, 10, 14, 17]) {
    // CWE 2.7+: 10-12 second alternate; 14-16 / 17-19 are further alternates in v2.8.
    const code = rep.get(base);
    const display = rep.get(base + 1);
    if (!code && !display) continue;
    out.push({ code, display, systemName: rep.get(base + 2), version: base === 1 ? rep.get(7) : base === 4 ? rep.get(8) : '' });
  }
  return out;
}

/**
 * A CE/CWE/CNE value as a CodeableConcept, or undefined when empty. `field` names the local system
 * (e.g. `OBX-3`); the issue location is the value's own location.
 */
export function concept(ctx: MapContext, rep: Rep | undefined, field: string): CodeableConcept | undefined {
  if (!rep || rep.isEmpty) return undefined;
  const parts = triples(rep);
  const originalText = rep.get(9);
  const standard: Coding[] = [];
  const local: Coding[] = [];
  for (const t of parts) {
    if (!t.code) continue;
    const sys = standardSystem(t.systemName);
    const coding: Coding = { system: sys ?? localSystem(t.systemName, field), code: t.code, ...(t.display ? { display: t.display } : {}), ...(t.version && sys ? { version: t.version } : {}) };
    if (sys) standard.push(coding);
    else {
      local.push(coding);
      const n = t.systemName.trim().toUpperCase();
      if (n && n !== 'L' && !n.startsWith('99')) {
        ctx.issue('information', 'UNKNOWN_CODE_SYSTEM', `coding system "${t.systemName}" is not a known HL7 v2 system name; code "${t.code}" kept as a local code of ${coding.system}`, rep.location);
      }
    }
  }
  const text = originalText || parts.find((t) => t.display)?.display || (parts.length && !parts.some((t) => t.code) ? parts[0]!.display : '');
  if (!standard.length && !local.length) return text ? { text } : undefined;
  if (standard.length) {
    return { coding: dedupe([...standard, ...local]), ...(text ? { text } : {}) };
  }
  // Only local codes: the first goes through the ConceptMaps (recording UNMAPPED_CODE when none knows it).
  const translated = ctx.terminology.concept(local[0]!, ctx.issues, rep.location);
  const coding = dedupe([...(translated.coding ?? []), ...local.slice(1)]);
  const finalText = text || translated.text;
  return { ...(coding.length ? { coding } : {}), ...(finalText ? { text: finalText } : {}) };
}

function dedupe(codings: Coding[]): Coding[] {
  const seen = new Set<string>();
  return codings.filter((c) => {
    const k = `${c.system}|${c.code}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * A stable key for a coded value as sent (first code with its system; the text when no code), for
 * deterministic ids. Built from the message, not from the translation, so that a change to the
 * ConceptMaps never moves a resource to another id.
 */
export function codeKey(rep: Rep | undefined, field: string): string {
  if (!rep) return '';
  for (const t of triples(rep)) {
    if (t.code) return `${standardSystem(t.systemName) ?? localSystem(t.systemName, field)}|${t.code}`;
  }
  return `text|${rep.get(2) || rep.get(1)}`;
}
