/**
 * VXU^V04: immunization record. The patient (PID, NK1, PV1) and, per order group (ORC? RXA RXR?
 * {OBX {NTE}}), an Immunization. A VXU without RXA updates the patient only (an information issue
 * says so).
 */
import type { MapContext } from '../context.js';
import type { Seg } from '../message.js';
import { mapImmunization, type ImmunizationGroup } from '../segments/immunization.js';
import { ignore, mapHead, mapPatientLevel } from './common.js';

export function mapVxu(ctx: MapContext, trigger: string): void {
  const head = mapHead(ctx, trigger);
  const groups: ImmunizationGroup[] = [];
  let pendingOrc: Seg | undefined;
  let group: ImmunizationGroup | undefined;
  let lastNotes: Seg[] | undefined;
  for (const seg of ctx.msg.segments) {
    if (seg.name === 'MSH' || head.used.has(seg)) continue;
    switch (seg.name) {
      case 'ORC':
        if (pendingOrc) ignore(ctx, pendingOrc);
        pendingOrc = seg;
        group = undefined;
        lastNotes = undefined;
        break;
      case 'RXA':
        group = { ...(pendingOrc ? { orc: pendingOrc } : {}), rxa: seg, rxr: [], results: [] };
        groups.push(group);
        pendingOrc = undefined;
        lastNotes = undefined;
        break;
      case 'RXR':
        if (group) group.rxr.push(seg);
        else ignore(ctx, seg);
        break;
      case 'OBX':
        if (group) {
          const item = { obx: seg, notes: [] as Seg[] };
          group.results.push(item);
          lastNotes = item.notes;
        } else {
          lastNotes = undefined;
          mapPatientLevel(ctx, head, seg, seg.position);
        }
        break;
      case 'NTE':
        if (lastNotes) lastNotes.push(seg);
        else if (!group) ignore(ctx, seg);
        else ctx.issue('information', 'IGNORED_SEGMENT', 'NTE not mapped: comment on the administration before any OBX', seg.label);
        break;
      default:
        lastNotes = undefined;
        if (!mapPatientLevel(ctx, head, seg, seg.position)) ignore(ctx, seg);
    }
  }
  if (pendingOrc) ignore(ctx, pendingOrc);
  if (!groups.length) ctx.issue('information', 'NO_IMMUNIZATION', 'the message has no RXA: only the patient is updated', 'RXA');
  for (const g of groups) mapImmunization(ctx, g, head.patient, head.encounter?.ref);
}
