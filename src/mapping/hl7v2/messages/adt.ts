/**
 * ADT: patient and visit events. A01/A04/A05/A08/A28/A31 and the transfer/discharge events are
 * snapshots: the Patient (PID), the Encounter (PV1) and the patient-level clinical segments (OBX,
 * AL1, DG1, PR1) are written by their deterministic ids, so an update (A08, A31) lands on the resources
 * an admission or registration created. A34/A40 merges are in merge.ts.
 */
import type { MapContext } from '../context.js';
import { ignore, mapHead, mapPatientLevel } from './common.js';

export function mapAdt(ctx: MapContext, trigger: string): void {
  const head = mapHead(ctx, trigger);
  const segs = ctx.msg.segments;
  let afterObx = false;
  segs.forEach((seg, i) => {
    if (seg.name === 'MSH' || head.used.has(seg)) return;
    if (seg.name === 'NTE' && afterObx) return; // consumed by the OBX before it
    afterObx = seg.name === 'OBX';
    if (!mapPatientLevel(ctx, head, seg, i)) ignore(ctx, seg);
  });
}
