/**
 * PV1 -> US Core Encounter (+ Location, Practitioners). Identity: PV1-19 visit number (system from its
 * authority, else the sender); without one, the patient plus PV1-44 admit date/time. A PV1 with
 * neither, or with patient class N (not applicable, as in A28 registrations), produces no Encounter.
 */
import type { Coding, Encounter, EncounterParticipant } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { V2_TABLE, concept, localSystem } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { cxIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { locationRef, practitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';

const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/** PV1-2 patient class (table 0004) -> v3 ActEncounterCode. */
const CLASS: Readonly<Record<string, [string, string]>> = {
  E: ['EMER', 'emergency'], I: ['IMP', 'inpatient encounter'], O: ['AMB', 'ambulatory'], P: ['PRENC', 'pre-admission'],
  R: ['AMB', 'ambulatory'], B: ['IMP', 'inpatient encounter'], C: ['AMB', 'ambulatory'],
};

/** Encounter.status implied by the ADT trigger (PV1 dates decide for updates). */
const TRIGGER_STATUS: Readonly<Record<string, Encounter['status']>> = {
  A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'arrived', A05: 'planned', A06: 'in-progress', A07: 'in-progress', A13: 'in-progress',
};

/** PV1-7/8/9/17 participant roles (v3-ParticipationType). */
const PARTICIPANTS: ReadonlyArray<[number, string, string]> = [
  [7, 'ATND', 'attender'], [8, 'REF', 'referrer'], [9, 'CON', 'consultant'], [17, 'ADM', 'admitter'],
];

export interface EncounterResult {
  ref: Ref;
  id: string;
}

export function mapEncounter(ctx: MapContext, pv1: Seg | undefined, patient: { ref: Ref; id: string }, trigger: string): EncounterResult | undefined {
  if (!pv1) return undefined;
  const classCode = pv1.get(2).toUpperCase();
  if (classCode === 'N') {
    ctx.issue('information', 'NO_ENCOUNTER', 'patient class N (not applicable): no Encounter', pv1.loc(2));
    return undefined;
  }
  const visit = pv1.rep(19) ? cxIdentifier(ctx, pv1.rep(19)!) : undefined;
  const admit = ctx.time(pv1, 44);
  const discharge = ctx.time(pv1, 45);
  if (!visit && !admit) {
    ctx.issue('information', 'NO_ENCOUNTER', 'PV1 has neither a visit number (PV1-19) nor an admit date/time (PV1-44): no Encounter', pv1.label);
    return undefined;
  }
  const id = visit ? stableId('hl7v2', 'Encounter', visit.system, visit.value) : stableId('hl7v2', 'Encounter', patient.id, 'admit', admit!.dateTime);

  const enc: Encounter & { id: string } = {
    resourceType: 'Encounter',
    id,
    ...(visit ? { identifier: [{ ...visit, type: { coding: [{ system: V2_TABLE('0203'), code: 'VN' }] } }] } : {}),
    status: status(trigger, admit !== undefined, discharge !== undefined),
    class: encounterClass(ctx, pv1, classCode),
    type: [encounterType(ctx, pv1, classCode)],
    subject: patient.ref,
  };
  const participant: EncounterParticipant[] = [];
  for (const [field, code, display] of PARTICIPANTS) {
    for (const rep of pv1.reps(field)) {
      const individual = practitionerRef(ctx, rep);
      if (individual) participant.push({ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code, display }] }], individual });
    }
  }
  if (participant.length) enc.participant = participant;
  if (admit || discharge) enc.period = { ...(admit ? { start: admit.dateTime } : {}), ...(discharge ? { end: discharge.dateTime } : {}) };
  const location = locationRef(ctx, pv1.rep(3));
  if (location) enc.location = [{ location, status: discharge ? 'completed' : 'active' }];
  const admitSource = pv1.rep(14);
  const disposition = pv1.rep(36);
  if (admitSource || disposition) {
    enc.hospitalization = {
      ...(admitSource ? { admitSource: concept(ctx, admitSource, 'PV1-14')! } : {}),
      ...(disposition ? { dischargeDisposition: concept(ctx, disposition, 'PV1-36')! } : {}),
    };
  }
  const ref = ctx.add(enc, PROFILES.Encounter, pv1.label);
  return { ref, id };
}

function status(trigger: string, admitted: boolean, discharged: boolean): Encounter['status'] {
  if (discharged) return 'finished';
  return TRIGGER_STATUS[trigger] ?? (admitted ? 'in-progress' : 'unknown');
}

function encounterClass(ctx: MapContext, pv1: Seg, code: string): Coding {
  const known = CLASS[code];
  if (known) return { system: ACT, code: known[0], display: known[1] };
  if (!code) {
    ctx.issue('warning', 'MISSING_FIELD', 'patient class is empty; Encounter.class recorded as unknown', pv1.loc(2));
    return { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' };
  }
  ctx.issue('warning', 'UNKNOWN_VALUE', `patient class "${pv1.get(2)}" is not a table 0004 code; kept as a local code`, pv1.loc(2));
  return { system: localSystem('', 'PV1-2'), code: pv1.get(2) };
}

/**
 * Encounter.type (US Core requires one): hospital service (PV1-10), else admission type (PV1-4), else
 * patient type (PV1-18), else the class as text.
 */
function encounterType(ctx: MapContext, pv1: Seg, classCode: string) {
  for (const f of [10, 4, 18]) {
    const cc = concept(ctx, pv1.rep(f), `PV1-${f}`);
    if (cc) return cc;
  }
  return { text: CLASS[classCode]?.[1] ?? 'encounter' };
}
