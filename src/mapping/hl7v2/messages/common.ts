/**
 * Pieces every message assembler shares: the patient and visit at the head of a message, NTE
 * collection, patient-level clinical segments (AL1, DG1, PR1, OBX outside an order), and the
 * information issue for each segment that is deliberately not mapped.
 */
import type { MapContext } from '../context.js';
import type { Seg } from '../message.js';
import { mapEncounter, type EncounterResult } from '../segments/encounter.js';
import { mapPatient, type PatientResult } from '../segments/patient.js';
import { mapAllergy, mapDiagnosis, mapProcedure } from '../segments/clinical.js';
import { mapObservation } from '../segments/observation.js';

export interface Head {
  patient: PatientResult;
  encounter?: EncounterResult;
  /** Segments consumed by the head (PID, NK1, PV1). */
  used: Set<Seg>;
}

/** Why a segment carries nothing this gateway stores. */
const NOT_MAPPED: Readonly<Record<string, string>> = {
  EVN: 'event details (the trigger comes from MSH-9)',
  PD1: 'additional demographics',
  PV2: 'additional visit information',
  IN1: 'insurance: Coverage is not stored by this gateway', IN2: 'insurance: Coverage is not stored by this gateway', IN3: 'insurance: Coverage is not stored by this gateway',
  GT1: 'guarantor: not stored by this gateway', ACC: 'accident information', UB1: 'billing data', UB2: 'billing data', DRG: 'diagnosis related group',
  ROL: 'role assignments', DB1: 'disability information', SFT: 'software identification', ARV: 'access restrictions',
  TQ2: 'timing relationships', CTI: 'clinical trial identification', CTD: 'contact data', FT1: 'financial transaction', BLG: 'billing',
  NTE: 'comment not attached to a result, order or document',
  RXC: 'pharmacy order components', PRB: 'problem details: PPR problem messages are not supported', VAR: 'variance', MSA: 'acknowledgement', ERR: 'error details',
};

export function ignore(ctx: MapContext, seg: Seg): void {
  const why = NOT_MAPPED[seg.name] ?? (seg.name.startsWith('Z') ? 'site-defined (Z) segment' : 'not a segment this message type maps');
  ctx.issue('information', 'IGNORED_SEGMENT', `${seg.name} not mapped: ${why}`, seg.label);
}

/** The NTE segments directly after position `i`. */
export function notesAfter(ctx: MapContext, i: number): Seg[] {
  const out: Seg[] = [];
  for (let j = i + 1; j < ctx.msg.segments.length && ctx.msg.segments[j]!.name === 'NTE'; j++) out.push(ctx.msg.segments[j]!);
  return out;
}

/** PID (required, exactly one), its NK1 segments and the first PV1. */
export function mapHead(ctx: MapContext, trigger: string): Head {
  const pids = ctx.msg.all('PID');
  if (!pids.length) ctx.fail('the message has no PID segment: records cannot be attributed to a patient', 'PID', 'content', 'MISSING_SEGMENT');
  if (pids.length > 1) ctx.fail('the message has more than one PID: one patient per message is supported', pids[1]!.label, 'content', 'UNSUPPORTED_STRUCTURE');
  const nk1 = ctx.msg.all('NK1');
  const patient = mapPatient(ctx, pids[0]!, nk1);
  const pv1 = ctx.msg.first('PV1');
  const encounter = mapEncounter(ctx, pv1, patient, trigger);
  return { patient, ...(encounter ? { encounter } : {}), used: new Set([pids[0]!, ...nk1, ...(pv1 ? [pv1] : [])]) };
}

/**
 * Maps a patient-level clinical segment (AL1, DG1, PR1, or OBX outside an order) at position `i`.
 * Returns false when the segment is not one of them.
 */
export function mapPatientLevel(ctx: MapContext, head: Head, seg: Seg, i: number): boolean {
  const enc = head.encounter;
  switch (seg.name) {
    case 'AL1': mapAllergy(ctx, seg, head.patient); return true;
    case 'DG1': mapDiagnosis(ctx, seg, head.patient, enc); return true;
    case 'PR1': mapProcedure(ctx, seg, head.patient, enc); return true;
    case 'OBX':
      mapObservation(ctx, seg, notesAfter(ctx, i), {
        patient: head.patient.ref,
        ...(enc ? { encounter: enc.ref } : {}),
        scopeKey: enc ? `encounter|${enc.id}` : `patient|${head.patient.id}`,
        category: 'exam',
      });
      return true;
    default:
      return false;
  }
}

