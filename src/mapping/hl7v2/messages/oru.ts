/**
 * ORU^R01: unsolicited observation results. The patient (PID, PV1) and, per order group
 * (ORC? OBR {NTE} {OBX {NTE}} {SPM {OBX}}), a DiagnosticReport with its Observations (report.ts).
 */
import type { MapContext } from '../context.js';
import type { Seg } from '../message.js';
import { mapOrderGroup, type OrderGroup } from '../segments/report.js';
import { ignore, mapHead, mapPatientLevel } from './common.js';

export function mapOru(ctx: MapContext, trigger: string): void {
  const head = mapHead(ctx, trigger);
  const groups: OrderGroup[] = [];
  let pendingOrc: Seg | undefined;
  let group: OrderGroup | undefined;
  let target: OrderGroup['results'] | undefined;
  let lastNotes: Seg[] | undefined;
  for (const seg of ctx.msg.segments) {
    if (seg.name === 'MSH' || head.used.has(seg)) continue;
    switch (seg.name) {
      case 'ORC':
        pendingOrc = seg;
        lastNotes = undefined;
        break;
      case 'OBR':
        group = { ...(pendingOrc ? { orc: pendingOrc } : {}), obr: seg, notes: [], results: [], specimens: [] };
        groups.push(group);
        pendingOrc = undefined;
        target = group.results;
        lastNotes = group.notes;
        break;
      case 'OBX': {
        if (!group || !target) ctx.fail('comes before any OBR: a result must belong to an order', seg.label, 'content', 'UNSUPPORTED_STRUCTURE');
        const item = { obx: seg, notes: [] as Seg[] };
        target!.push(item);
        lastNotes = item.notes;
        break;
      }
      case 'SPM': {
        if (!group) ctx.fail('comes before any OBR', seg.label, 'content', 'UNSUPPORTED_STRUCTURE');
        const s = { spm: seg, results: [] as OrderGroup['results'] };
        group!.specimens.push(s);
        target = s.results;
        lastNotes = undefined;
        break;
      }
      case 'NTE':
        if (lastNotes) lastNotes.push(seg);
        else ignore(ctx, seg);
        break;
      default:
        lastNotes = undefined;
        if (!mapPatientLevel(ctx, head, seg, seg.position)) ignore(ctx, seg);
    }
  }
  if (!groups.length) ctx.fail('the result message has no OBR (order and results)', 'OBR', 'content', 'MISSING_SEGMENT');
  if (pendingOrc) ignore(ctx, pendingOrc);
  for (const g of groups) mapOrderGroup(ctx, g, head.patient.ref, head.encounter?.ref);
}
