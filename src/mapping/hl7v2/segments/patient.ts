/**
 * PID (+ NK1) -> US Core Patient. Identity: the first PID-3 identifier (system from its assigning
 * authority, or the sending facility when none), so every message about the same identifier lands on
 * the same Patient. PID-2 (external id, v2.3) and PID-4 (alternate id) are kept as further identifiers.
 */
import type { Extension, Identifier, Patient, PatientContact } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { V2_TABLE, concept } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { cxIdentifier, xadAddress, xpnName, xtnContact } from '../datatypes.js';
import type { Rep, Seg } from '../message.js';
import { PROFILES } from '../profiles.js';

export interface PatientResult {
  ref: Ref;
  id: string;
  patient: Patient & { id: string };
}

/** PID-8 administrative sex (table 0001), plus the spelled-out values some senders use. */
const GENDER: Readonly<Record<string, Patient['gender']>> = {
  F: 'female', M: 'male', O: 'other', U: 'unknown', A: 'other', N: 'unknown',
  FEMALE: 'female', MALE: 'male', OTHER: 'other', UNKNOWN: 'unknown',
};

/** Table 0002 marital status -> v3-MaritalStatus, where the meaning is the same. */
const MARITAL: Readonly<Record<string, [string, string]>> = {
  A: ['L', 'Legally Separated'], E: ['L', 'Legally Separated'], D: ['D', 'Divorced'], M: ['M', 'Married'], S: ['S', 'Never Married'],
  W: ['W', 'Widowed'], P: ['T', 'Domestic partner'], R: ['T', 'Domestic partner'], N: ['A', 'Annulled'], I: ['I', 'Interlocutory'], B: ['U', 'unmarried'],
};

const OMB_RACE = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3']);
const OMB_ETHNICITY: Readonly<Record<string, [string, string]>> = {
  '2135-2': ['2135-2', 'Hispanic or Latino'], '2186-5': ['2186-5', 'Not Hispanic or Latino'],
  H: ['2135-2', 'Hispanic or Latino'], N: ['2186-5', 'Not Hispanic or Latino'],
};
const CDC_REC = 'urn:oid:2.16.840.1.113883.6.238';

/** The Patient id for a CX (PID-3 or MRG-1 repetition): stableId of its system and value. */
export function patientIdFor(ctx: MapContext, rep: Rep): { id: string; identifier: Identifier } | undefined {
  const identifier = cxIdentifier(ctx, rep);
  if (!identifier) return undefined;
  return { id: stableId('hl7v2', 'Patient', identifier.system, identifier.value), identifier };
}

/** Maps PID (and the NK1 segments that follow it) to a Patient; refuses without PID-3 or PID-5. */
export function mapPatient(ctx: MapContext, pid: Seg, nk1: Seg[], extra: Partial<Patient> = {}): PatientResult {
  const ids = pid.reps(3).flatMap((r) => patientIdFor(ctx, r) ?? []);
  if (!ids.length) ctx.fail('patient identifier list is empty (no identifier value)', pid.loc(3), 'content', 'MISSING_FIELD');
  // The first identifier names the Patient, by the same rule the merge messages use (patientIdFor).
  const id = ids[0]!.id;

  const identifier: Identifier[] = ids.map((x) => x.identifier);
  for (const f of [2, 4]) {
    for (const r of pid.reps(f)) {
      const other = cxIdentifier(ctx, r);
      if (other && !identifier.some((i) => i.system === other.system && i.value === other.value)) {
        // Without an authority, PID-2/PID-4 values are scoped by their field so they cannot collide with PID-3.
        if (!r.get(4) && !r.get(5)) other.system = `${other.system}/PID-${f}`;
        identifier.push(other);
      }
    }
  }
  const ssn = pid.get(19);
  if (ssn) identifier.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn, type: { coding: [{ system: V2_TABLE('0203'), code: 'SS' }] } });

  const name = pid.reps(5).map(xpnName).filter((n) => n !== undefined);
  if (!name.length) ctx.fail('patient name has neither a family nor a given name', pid.loc(5), 'content', 'MISSING_FIELD');

  const patient: Patient & { id: string } = {
    resourceType: 'Patient',
    id,
    ...raceEthnicity(ctx, pid),
    identifier: dedupeIdentifiers(identifier),
    name,
    gender: gender(ctx, pid),
  };
  const telecom = [...pid.reps(13).map((r) => xtnContact(r, 'home')), ...pid.reps(14).map((r) => xtnContact(r, 'work'))].filter((t) => t !== undefined);
  if (telecom.length) patient.telecom = telecom;
  const birth = ctx.time(pid, 7);
  if (birth) patient.birthDate = birth.date;
  const address = pid.reps(11).map(xadAddress).filter((a) => a !== undefined);
  if (address.length) patient.address = address;
  const marital = maritalStatus(ctx, pid);
  if (marital) patient.maritalStatus = marital;
  const language = concept(ctx, pid.rep(15), 'PID-15');
  if (language) patient.communication = [{ language }];
  const death = ctx.time(pid, 29);
  const deathIndicator = pid.get(30).toUpperCase();
  if (death) patient.deceasedDateTime = death.dateTime;
  else if (deathIndicator === 'Y' || deathIndicator === 'N') patient.deceasedBoolean = deathIndicator === 'Y';
  const birthOrder = Number(pid.get(25));
  if (pid.get(24).toUpperCase() === 'Y' && Number.isInteger(birthOrder) && birthOrder > 0) patient.multipleBirthInteger = birthOrder;
  else if (pid.get(24).toUpperCase() === 'Y') patient.multipleBirthBoolean = true;

  const contact = nk1.map((s) => nextOfKin(ctx, s)).filter((c) => c !== undefined);
  if (contact.length) patient.contact = contact;
  Object.assign(patient, extra);
  const ref = ctx.add(patient, PROFILES.Patient, pid.label);
  return { ref, id, patient };
}

function gender(ctx: MapContext, pid: Seg): NonNullable<Patient['gender']> {
  const raw = pid.get(8);
  const g = GENDER[raw.toUpperCase()];
  if (g) {
    if (raw.length > 1) ctx.issue('information', 'NONSTANDARD_VALUE', `administrative sex "${raw}" is not a table 0001 code; read as ${g}`, pid.loc(8));
    return g;
  }
  ctx.issue('warning', raw ? 'UNKNOWN_VALUE' : 'MISSING_FIELD', raw ? `administrative sex "${raw}" is not a table 0001 code; recorded as unknown` : 'administrative sex is empty; recorded as unknown (US Core requires a gender)', pid.loc(8));
  return 'unknown';
}

function maritalStatus(ctx: MapContext, pid: Seg) {
  const rep = pid.rep(16);
  if (!rep) return undefined;
  const code = rep.get(1).toUpperCase();
  const sys = rep.get(3).toUpperCase();
  const v3 = MARITAL[code];
  if (v3 && (!sys || sys === 'HL70002')) {
    return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: v3[0], display: v3[1] }], ...(rep.get(2) ? { text: rep.get(2) } : {}) };
  }
  return concept(ctx, rep, 'PID-16');
}

/** US Core race and ethnicity extensions from PID-10/PID-22 when they carry CDC race/ethnicity codes. */
function raceEthnicity(ctx: MapContext, pid: Seg): { extension?: Extension[] } {
  const ext: Extension[] = [];
  const race: Extension[] = [];
  const raceTexts: string[] = [];
  for (const r of pid.reps(10)) {
    const code = r.get(1);
    if (/^\d{4}-\d$/.test(code)) {
      race.push({ url: OMB_RACE.has(code) ? 'ombCategory' : 'detailed', valueCoding: { system: CDC_REC, code, ...(r.get(2) ? { display: r.get(2) } : {}) } });
      raceTexts.push(r.get(2) || code);
    } else if (code || r.get(2)) {
      ctx.issue('warning', 'UNMAPPED_CODE', `race "${code || r.get(2)}" is not a CDC race code (e.g. 2106-3); not recorded`, r.location);
    }
  }
  if (race.length) {
    ext.push({ url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race', extension: [...race, { url: 'text', valueString: raceTexts.join(', ') }] });
  }
  const eth = pid.rep(22);
  if (eth) {
    const m = OMB_ETHNICITY[eth.get(1).toUpperCase()];
    if (m) {
      ext.push({
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
        extension: [{ url: 'ombCategory', valueCoding: { system: CDC_REC, code: m[0], display: m[1] } }, { url: 'text', valueString: eth.get(2) || m[1] }],
      });
    } else {
      ctx.issue('warning', 'UNMAPPED_CODE', `ethnic group "${eth.get(1) || eth.get(2)}" is not a CDC ethnicity or table 0189 code; not recorded`, eth.location);
    }
  }
  return ext.length ? { extension: ext } : {};
}

/** NK1 -> Patient.contact (name, relationship, address, phones); undefined when it carries none of them. */
function nextOfKin(ctx: MapContext, nk1: Seg): PatientContact | undefined {
  const name = nk1.reps(2).map(xpnName).find((n) => n !== undefined);
  const address = nk1.reps(4).map(xadAddress).find((a) => a !== undefined);
  const telecom = [...nk1.reps(5).map((r) => xtnContact(r, 'home')), ...nk1.reps(6).map((r) => xtnContact(r, 'work'))].filter((t) => t !== undefined);
  if (!name && !address && !telecom.length) {
    ctx.issue('information', 'IGNORED_SEGMENT', 'next of kin without name, address or phone', nk1.label);
    return undefined;
  }
  const rel = nk1.rep(3);
  const relationship = rel
    ? /^[A-Z]{3}$/.test(rel.get(1)) && (!rel.get(3) || rel.get(3).toUpperCase() === 'HL70063')
      ? [{ coding: [{ system: V2_TABLE('0063'), code: rel.get(1), ...(rel.get(2) ? { display: rel.get(2) } : {}) }] }]
      : [concept(ctx, rel, 'NK1-3')!]
    : undefined;
  return {
    ...(relationship ? { relationship } : {}),
    ...(name ? { name } : {}),
    ...(telecom.length ? { telecom } : {}),
    ...(address ? { address } : {}),
  };
}

function dedupeIdentifiers(ids: Identifier[]): Identifier[] {
  const seen = new Set<string>();
  return ids.filter((i) => {
    const k = `${i.system}|${i.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
