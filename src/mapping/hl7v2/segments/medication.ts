/**
 * Pharmacy orders: ORC + RXE (RDE^O11, encoded order) or ORC + RXO (OMP^O09 / ORM^O01, requested
 * order), with RXR routes, TQ1 timing and NTE comments -> US Core MedicationRequest + Medication.
 * Identity: the placer order number (ORC-2, the prescriber system's number, shared by the OMP and the
 * pharmacy's RDE for the same order), else the filler number (ORC-3). The Medication's identity is
 * its code as sent.
 */
import type { Dosage, Medication, MedicationRequest } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { V2_TABLE, codeKey, concept } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { eiIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { organizationRef, practitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';
import { notesOf } from './observation.js';

export interface PharmacyOrder {
  orc: Seg;
  /** RXE or RXO. */
  rx: Seg;
  rxr: Seg[];
  tq1: Seg[];
  notes: Seg[];
}

/** ORC-5 order status (table 0038). */
const ORDER_STATUS: Readonly<Record<string, MedicationRequest['status']>> = {
  A: 'active', IP: 'active', SC: 'active', CM: 'completed', CA: 'cancelled', DC: 'stopped', HD: 'on-hold', ER: 'entered-in-error', RP: 'stopped',
};
/** ORC-1 order control (table 0119), when ORC-5 is empty. */
const CONTROL_STATUS: Readonly<Record<string, MedicationRequest['status']>> = {
  NW: 'active', OK: 'active', SN: 'active', RO: 'active', RE: 'active', XO: 'active', XR: 'active', SC: 'active', RL: 'active', RP: 'active', RU: 'active', PA: 'active',
  CA: 'cancelled', CR: 'cancelled', OC: 'cancelled', OR: 'cancelled', DC: 'stopped', DR: 'stopped', OD: 'stopped', HD: 'on-hold', HR: 'on-hold', OH: 'on-hold',
};

/** Field positions of the same content in RXE and RXO. */
const FIELDS = {
  RXE: { code: 2, amount: 3, units: 5, form: 6, substitution: 9, dispense: 10, dispenseUnits: 11, refills: 12, provider: 13 },
  RXO: { code: 1, amount: 2, units: 4, form: 5, substitution: 9, dispense: 11, dispenseUnits: 12, refills: 13, provider: 14 },
} as const;

export function mapPharmacyOrder(ctx: MapContext, o: PharmacyOrder, patient: Ref, encounter: Ref | undefined): Ref {
  const { orc, rx } = o;
  const f = FIELDS[rx.name as 'RXE' | 'RXO'];
  const placer = eiIdentifier(ctx, orc.rep(2), 'placer-order');
  const filler = eiIdentifier(ctx, orc.rep(3), 'filler-order');
  const key = placer ?? filler;
  if (!key) ctx.fail('has neither a placer (ORC-2) nor a filler (ORC-3) order number: the order could not be found again by a later change', orc.label, 'content', 'MISSING_FIELD');

  const code = concept(ctx, rx.rep(f.code), `${rx.name}-${f.code}`);
  if (!code) ctx.fail('the medication (give code) is empty', rx.loc(f.code), 'content', 'MISSING_FIELD');
  const form = concept(ctx, rx.rep(f.form), `${rx.name}-${f.form}`);
  const medication: Medication & { id: string } = {
    resourceType: 'Medication',
    id: stableId('hl7v2', 'Medication', codeKey(rx.rep(f.code), `${rx.name}-${f.code}`)),
    code: code!,
    ...(form ? { form } : {}),
  };
  const medicationReference = { ...ctx.add(medication, PROFILES.Medication, rx.loc(f.code)), ...(code!.text ? { display: code!.text } : {}) };

  const requester = practitionerRef(ctx, orc.rep(12)) ?? practitionerRef(ctx, rx.rep(f.provider)) ?? organizationRef(ctx, orc.rep(21));
  if (!requester) {
    ctx.fail('ordering provider (ORC-12) and ordering facility (ORC-21) are both empty: a medication order needs its prescriber', orc.loc(12), 'content', 'MISSING_FIELD');
  }

  const request: MedicationRequest & { id: string } = {
    resourceType: 'MedicationRequest',
    id: stableId('hl7v2', 'MedicationRequest', key!.system, key!.value),
    identifier: [
      ...(placer ? [{ ...placer, type: { coding: [{ system: V2_TABLE('0203'), code: 'PLAC' }] } }] : []),
      ...(filler ? [{ ...filler, type: { coding: [{ system: V2_TABLE('0203'), code: 'FILL' }] } }] : []),
    ],
    status: status(ctx, orc),
    intent: 'order',
    medicationReference,
    subject: patient,
    ...(encounter ? { encounter } : {}),
    requester: requester!,
  };
  const authored = ctx.time(orc, 9);
  if (authored) request.authoredOn = authored.dateTime;
  const dosage = dosageOf(ctx, o, f);
  if (dosage) request.dosageInstruction = [dosage];
  const dispense = Number(rx.get(f.dispense));
  const refills = Number(rx.get(f.refills));
  if ((rx.get(f.dispense) && Number.isFinite(dispense)) || (rx.get(f.refills) && Number.isInteger(refills))) {
    request.dispenseRequest = {
      ...(rx.get(f.refills) && Number.isInteger(refills) && refills >= 0 ? { numberOfRepeatsAllowed: refills } : {}),
      ...(rx.get(f.dispense) && Number.isFinite(dispense) ? { quantity: { value: dispense, ...(rx.get(f.dispenseUnits, 2) || rx.get(f.dispenseUnits) ? { unit: rx.get(f.dispenseUnits, 2) || rx.get(f.dispenseUnits) } : {}) } } : {}),
    };
  }
  const substitution = rx.get(f.substitution).toUpperCase();
  if (substitution === 'N' || substitution === 'G' || substitution === 'T') request.substitution = { allowedBoolean: substitution !== 'N' };
  const note = notesOf(o.notes);
  if (note.length) request.note = note;
  return ctx.add(request, PROFILES.MedicationRequest, orc.label);
}

function status(ctx: MapContext, orc: Seg): MedicationRequest['status'] {
  const s = ORDER_STATUS[orc.get(5).toUpperCase()] ?? CONTROL_STATUS[orc.get(1).toUpperCase()];
  if (s) return s;
  ctx.issue('warning', 'UNKNOWN_VALUE', `order control "${orc.get(1)}" / order status "${orc.get(5)}" give no MedicationRequest status; recorded as unknown`, orc.loc(1));
  return 'unknown';
}

/** Dosage from the give amount/units, RXR route/site and the timing (TQ1, else RXE-1/ORC-7 TQ). */
function dosageOf(ctx: MapContext, o: PharmacyOrder, f: (typeof FIELDS)['RXE' | 'RXO']): Dosage | undefined {
  const { rx, orc } = o;
  const dosage: Dosage = {};
  const amount = rx.get(f.amount);
  if (amount) {
    if (!/^\d+(\.\d+)?$/.test(amount)) ctx.fail(`"${amount}" is not a number (give amount)`, rx.loc(f.amount), 'content', 'INVALID_VALUE');
    const unit = rx.get(f.units, 2) || rx.get(f.units);
    dosage.doseAndRate = [{ doseQuantity: { value: Number(amount), ...(unit ? { unit } : {}) } }];
  }
  const rxr = o.rxr[0];
  if (rxr) {
    const route = rxr.rep(1) && rxr.get(1) && !rxr.get(3) && /^[A-Z]{1,4}$/.test(rxr.get(1))
      ? { coding: [{ system: V2_TABLE('0162'), code: rxr.get(1), ...(rxr.get(1, 2) ? { display: rxr.get(1, 2) } : {}) }] }
      : concept(ctx, rxr.rep(1), 'RXR-1');
    if (route) dosage.route = route;
    const site = concept(ctx, rxr.rep(2), 'RXR-2');
    if (site) dosage.site = site;
    if (o.rxr.length > 1) ctx.issue('information', 'IGNORED_SEGMENT', 'only the first route (RXR) is recorded', o.rxr[1]!.label);
  }
  const tq1 = o.tq1[0];
  const tqSeg = tq1 ? undefined : rx.name === 'RXE' && rx.has(1) ? { seg: rx, field: 1 } : orc.has(7) ? { seg: orc, field: 7 } : undefined;
  let pattern = '';
  let start: string | undefined;
  let end: string | undefined;
  let text = '';
  if (tq1) {
    pattern = tq1.get(3, 1) || tq1.get(3, 2);
    start = ctx.time(tq1, 7)?.dateTime;
    end = ctx.time(tq1, 8)?.dateTime;
    text = tq1.get(11);
  } else if (tqSeg) {
    const rep = tqSeg.seg.rep(tqSeg.field)!;
    pattern = rep.get(2, 1);
    start = ctx.repTime(rep, 4)?.dateTime;
    end = ctx.repTime(rep, 5)?.dateTime;
    text = rep.get(8);
  }
  if (pattern || start || end) {
    dosage.timing = {
      ...(start || end ? { repeat: { boundsPeriod: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } } : {}),
      ...(pattern ? { code: { text: pattern } } : {}),
    };
  }
  const sig = [text, pattern].filter(Boolean).join(' ');
  if (sig) dosage.text = sig;
  return Object.keys(dosage).length ? dosage : undefined;
}
