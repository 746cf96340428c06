/**
 * Pharmacy orders: RDE^O11 (ORC RXE {NTE} {TQ1} {RXR} {RXC} {OBX}), OMP^O09 and ORM^O01 (ORC RXO
 * {NTE} {RXR} {RXC} {OBX}). Each ORC group gives a MedicationRequest and its Medication; OBX in an
 * order (e.g. the weight the dose was computed from) and AL1/DG1 give patient-level resources.
 * An ORM^O01 without RXO is a service order (ServiceRequest), which is refused.
 */
import type { MapContext } from '../context.js';
import type { Seg } from '../message.js';
import { mapPharmacyOrder, type PharmacyOrder } from '../segments/medication.js';
import { ignore, mapHead, mapPatientLevel, notesAfter } from './common.js';

export function mapPharmacy(ctx: MapContext, trigger: string, rxName: 'RXE' | 'RXO'): void {
  const head = mapHead(ctx, trigger);
  const orders: Array<Partial<PharmacyOrder> & { orc: Seg; rxr: Seg[]; tq1: Seg[]; notes: Seg[] }> = [];
  let current: (typeof orders)[number] | undefined;
  let afterObx = false;
  ctx.msg.segments.forEach((seg, i) => {
    if (seg.name === 'MSH' || head.used.has(seg)) return;
    if (seg.name === 'NTE' && afterObx) return;
    afterObx = seg.name === 'OBX';
    switch (seg.name) {
      case 'ORC':
        current = { orc: seg, rxr: [], tq1: [], notes: [] };
        orders.push(current);
        return;
      case rxName:
        if (!current) ctx.fail(`comes before any ORC`, seg.label, 'content', 'UNSUPPORTED_STRUCTURE');
        if (current!.rx) ctx.fail(`is a second ${rxName} in one order (ORC)`, seg.label, 'content', 'UNSUPPORTED_STRUCTURE');
        current!.rx = seg;
        current!.notes.push(...notesAfter(ctx, i));
        return;
      case 'RXR':
        if (current) current.rxr.push(seg);
        else ignore(ctx, seg);
        return;
      case 'TQ1':
        if (current) current.tq1.push(seg);
        else ignore(ctx, seg);
        return;
      case 'NTE':
        // Notes right after RXE/RXO were taken with it; others after ORC belong to the order too.
        if (current && !current.rx) current.notes.push(seg);
        else if (!current?.notes.includes(seg)) ignore(ctx, seg);
        return;
      case 'OBR':
        return ctx.fail('is a service order: ServiceRequest is not stored by this gateway', seg.label, 'unprocessable', 'UNSUPPORTED_MESSAGE');
      default:
        if (!mapPatientLevel(ctx, head, seg, i)) ignore(ctx, seg);
    }
  });
  if (!orders.length) ctx.fail(`the order message has no ORC/${rxName} group`, 'ORC', 'content', 'MISSING_SEGMENT');
  for (const o of orders) {
    if (!o.rx) ctx.fail(`has no ${rxName} segment (the medication ordered)`, o.orc.label, 'content', 'MISSING_SEGMENT');
    mapPharmacyOrder(ctx, o as PharmacyOrder, head.patient.ref, head.encounter?.ref);
  }
}
