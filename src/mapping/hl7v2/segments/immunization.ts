/**
 * VXU order groups (ORC? RXA RXR? {OBX {NTE}}) -> US Core Immunization. Identity: ORC-3 (the sending
 * registry's or EHR's immunization id, which CDC's IG makes the key for updates and deletions), else
 * the patient plus vaccine (RXA-5) plus administration date/time (RXA-3). The OBX segments CDC's IG
 * defines for an administration become Immunization elements; other OBX become notes.
 */
import type { Immunization, ImmunizationEducation } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { SYSTEMS } from '../../types.js';
import { V2_TABLE, codeKey, concept, standardSystem } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { eiIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { practitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';

export interface ImmunizationGroup {
  orc?: Seg;
  rxa: Seg;
  rxr: Seg[];
  results: Array<{ obx: Seg; notes: Seg[] }>;
}

/** NIP001 immunization information source: 00 = new record (administered here); others are historical. */
const NIP001 = 'urn:oid:2.16.840.1.114222.4.5.274';

export function mapImmunization(ctx: MapContext, g: ImmunizationGroup, patient: { ref: Ref; id: string }, encounter: Ref | undefined): Ref {
  const { rxa } = g;
  const vaccineCode = concept(ctx, rxa.rep(5), 'RXA-5');
  if (!vaccineCode) ctx.fail('administered code (vaccine) is empty', rxa.loc(5), 'content', 'MISSING_FIELD');
  const when = ctx.time(rxa, 3);
  if (!when) ctx.fail('date/time start of administration is empty', rxa.loc(3), 'content', 'MISSING_FIELD');
  const filler = eiIdentifier(ctx, g.orc?.rep(3), 'filler-order');
  const id = filler
    ? stableId('hl7v2', 'Immunization', filler.system, filler.value)
    : stableId('hl7v2', 'Immunization', patient.id, codeKey(rxa.rep(5), 'RXA-5'), when!.dateTime);

  const imm: Immunization & { id: string } = {
    resourceType: 'Immunization',
    id,
    ...(filler ? { identifier: [{ ...filler, type: { coding: [{ system: V2_TABLE('0203'), code: 'FILL' }] } }] } : {}),
    status: status(rxa),
    vaccineCode: vaccineCode!,
    patient: patient.ref,
    ...(encounter ? { encounter } : {}),
    occurrenceDateTime: when!.dateTime,
  };
  if (imm.status === 'not-done') {
    const reason = concept(ctx, rxa.rep(18), 'RXA-18');
    if (reason) imm.statusReason = reason;
  }
  const amount = rxa.get(6);
  if (amount && amount !== '999' && /^\d+(\.\d+)?$/.test(amount)) {
    const u = rxa.rep(7);
    const ucum = u && standardSystem(u.get(3)) === 'http://unitsofmeasure.org';
    imm.doseQuantity = { value: Number(amount), ...(u ? { unit: u.get(2) || u.get(1) } : {}), ...(ucum ? { system: 'http://unitsofmeasure.org', code: u!.get(1) } : {}) };
  }
  const source = rxa.rep(9);
  if (source) {
    const code = source.get(1);
    if (code === '00') imm.primarySource = true;
    else if (/^0[1-8]$/.test(code)) {
      imm.primarySource = false;
      imm.reportOrigin = { coding: [{ system: NIP001, code, ...(source.get(2) ? { display: source.get(2) } : {}) }] };
    }
  }
  const performer = practitionerRef(ctx, rxa.rep(10));
  if (performer) imm.performer = [{ function: { coding: [{ system: V2_TABLE('0443'), code: 'AP', display: 'Administering Provider' }] }, actor: performer }];
  const lot = rxa.get(15);
  if (lot) imm.lotNumber = lot;
  const expiry = ctx.time(rxa, 16);
  if (expiry) imm.expirationDate = expiry.date;
  const mvx = rxa.rep(17);
  if (mvx) {
    const system = standardSystem(mvx.get(3)) ?? 'http://hl7.org/fhir/sid/mvx';
    imm.manufacturer = { type: 'Organization', identifier: { system, value: mvx.get(1) }, ...(mvx.get(2) ? { display: mvx.get(2) } : {}) };
  }
  const rxr = g.rxr[0];
  if (rxr) {
    const route = concept(ctx, rxr.rep(1), 'RXR-1');
    if (route) imm.route = route;
    const site = concept(ctx, rxr.rep(2), 'RXR-2');
    if (site) imm.site = site;
  }
  applyObservations(ctx, imm, g.results);
  return ctx.add(imm, PROFILES.Immunization, rxa.label);
}

/** RXA-20 completion status and RXA-21 action code. */
function status(rxa: Seg): Immunization['status'] {
  if (rxa.get(21).toUpperCase() === 'D') return 'entered-in-error';
  const s = rxa.get(20).toUpperCase();
  return s === 'RE' || s === 'NA' ? 'not-done' : 'completed';
}

/** CDC IG observations about an administration -> Immunization elements; anything else -> a note. */
function applyObservations(ctx: MapContext, imm: Immunization, results: ImmunizationGroup['results']): void {
  const education = new Map<string, ImmunizationEducation>();
  const notes: string[] = [];
  for (const { obx, notes: nte } of results) {
    const code = obx.get(3, 1);
    const system = standardSystem(obx.get(3, 3));
    const loinc = system === SYSTEMS.loinc ? code : '';
    const valueText = () => obx.get(5, 2) || obx.get(5, 1);
    const group = obx.get(4) || obx.get(1);
    const edu = () => {
      let e = education.get(group);
      if (!e) education.set(group, (e = {}));
      return e;
    };
    switch (loinc) {
      case '64994-7': {
        const cc = concept(ctx, obx.rep(5), 'OBX-5');
        if (cc) imm.programEligibility = [...(imm.programEligibility ?? []), cc];
        break;
      }
      case '30963-3': {
        const cc = concept(ctx, obx.rep(5), 'OBX-5');
        if (cc) imm.fundingSource = cc;
        break;
      }
      case '29768-9': {
        const t = ctx.timeOf(obx.get(5), obx.loc(5));
        if (t) edu().publicationDate = t.dateTime;
        break;
      }
      case '29769-7': {
        const t = ctx.timeOf(obx.get(5), obx.loc(5));
        if (t) edu().presentationDate = t.dateTime;
        break;
      }
      case '69764-9':
        edu().documentType = valueText();
        break;
      case '31044-1': {
        const date = ctx.time(obx, 14)?.dateTime;
        imm.reaction = [...(imm.reaction ?? []), { ...(date ? { date } : {}), detail: { display: valueText() } }];
        break;
      }
      default: {
        const label = obx.get(3, 2) || code || 'observation';
        const unit = obx.get(6, 2) || obx.get(6, 1);
        notes.push(`${label.trim()}: ${valueText()}${unit ? ` ${unit}` : ''}`);
        ctx.issue('information', 'OBX_AS_NOTE', `observation "${label.trim()}" is not an Immunization element; kept as a note`, obx.label);
      }
    }
    notes.push(...nte.map((n) => n.text(3)).filter((t) => t.trim()));
  }
  const eds = [...education.values()].filter((e) => e.documentType || e.publicationDate || e.presentationDate);
  // FHIR imm-1: education needs documentType or reference; a VIS sent by dates only names no document.
  const valid = eds.filter((e) => e.documentType);
  if (valid.length) imm.education = valid;
  for (const e of eds.filter((x) => !x.documentType)) {
    notes.push(`Vaccine information statement${e.publicationDate ? ` published ${e.publicationDate}` : ''}${e.presentationDate ? `, presented ${e.presentationDate}` : ''}`);
  }
  if (notes.length) imm.note = [...(imm.note ?? []), ...notes.map((text) => ({ text }))];
}

