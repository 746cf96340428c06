/**
 * MDM^T02 (original document with content), T04 (status change with content), T08 (edit with
 * content): TXA + OBX body -> DocumentReference. ORC/OBR in an MDM name the order the document
 * answers; ServiceRequest is not stored, so they are reported as not mapped.
 */
import type { MapContext } from '../context.js';
import type { Seg } from '../message.js';
import { mapDocument } from '../segments/document.js';
import { ignore, mapHead, mapPatientLevel } from './common.js';

export function mapMdm(ctx: MapContext, trigger: string): void {
  const head = mapHead(ctx, trigger);
  const txas = ctx.msg.all('TXA');
  if (!txas.length) ctx.fail('the document message has no TXA (document header)', 'TXA', 'content', 'MISSING_SEGMENT');
  if (txas.length > 1) ctx.fail('a second TXA: one document per message', txas[1]!.label, 'content', 'UNSUPPORTED_STRUCTURE');
  const txa = txas[0]!;
  const body: Array<{ obx: Seg; notes: Seg[] }> = [];
  let lastNotes: Seg[] | undefined;
  for (const seg of ctx.msg.segments) {
    if (seg.name === 'MSH' || seg === txa || head.used.has(seg)) continue;
    if (seg.name === 'OBX' && seg.position > txa.position) {
      const item = { obx: seg, notes: [] as Seg[] };
      body.push(item);
      lastNotes = item.notes;
    } else if (seg.name === 'NTE' && lastNotes) {
      lastNotes.push(seg);
    } else {
      lastNotes = undefined;
      if (seg.name === 'OBX' || !mapPatientLevel(ctx, head, seg, seg.position)) ignore(ctx, seg);
    }
  }
  mapDocument(ctx, txa, body, head.patient.ref, head.encounter?.ref);
}
