/**
 * An order group of a result message (ORC? OBR {NTE} {OBX {NTE}} {SPM {OBX}}) -> DiagnosticReport and
 * its Observations. OBR-24 (diagnostic service section) decides the profiles: laboratory sections (or
 * none) give US Core Laboratory Result observations and a Laboratory DiagnosticReport; imaging and
 * other sections give Clinical Result observations and a Report and Note DiagnosticReport.
 *
 * Specimen is not a type this gateway stores, so SPM is recorded on the DiagnosticReport and each
 * Observation as a logical reference (Reference.identifier = SPM-2, display = SPM-4 type), and SPM-17
 * collection time stands in for the effective time when OBR-7 is empty.
 */
import type { Attachment, DiagnosticReport, Identifier } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { V2_TABLE, codeKey, concept } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { eiIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { ndlPractitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';
import { isNarrativeOnly, mapObservation, type ObservationCategory } from './observation.js';

export interface OrderGroup {
  orc?: Seg;
  obr: Seg;
  notes: Seg[];
  results: Array<{ obx: Seg; notes: Seg[] }>;
  specimens: Array<{ spm: Seg; results: Array<{ obx: Seg; notes: Seg[] }> }>;
}

const LAB_SECTIONS = new Set(['', 'LAB', 'BG', 'BLB', 'CH', 'CP', 'CG', 'GE', 'HM', 'IMM', 'MB', 'MCB', 'MYC', 'OSL', 'SP', 'SR', 'TX', 'VR', 'URN', 'HLA', 'PAT', 'TOX']);
const IMAGING_SECTIONS = new Set(['RAD', 'CT', 'MR', 'MRI', 'NMR', 'NMS', 'US', 'VUS', 'XRC', 'RX', 'CUS', 'OUS', 'MG', 'NM']);
const CARDIOLOGY_SECTIONS = new Set(['CUS', 'EC', 'CTH']);

/** OBR-25 result status (table 0123) -> DiagnosticReport.status. */
const STATUS: Readonly<Record<string, DiagnosticReport['status']>> = {
  O: 'registered', I: 'registered', S: 'registered', A: 'partial', P: 'preliminary', C: 'corrected', R: 'partial', F: 'final', X: 'cancelled', Y: 'unknown', Z: 'unknown',
};
const NEEDS_EFFECTIVE = new Set(['partial', 'preliminary', 'final', 'amended', 'corrected', 'appended']);

/** The order's business identifiers: filler (OBR-3, else ORC-3) and placer (OBR-2, else ORC-2). */
export function orderIdentifiers(ctx: MapContext, obr: Seg | undefined, orc: Seg | undefined) {
  const filler = eiIdentifier(ctx, obr?.rep(3) ?? orc?.rep(3), 'filler-order');
  const placer = eiIdentifier(ctx, obr?.rep(2) ?? orc?.rep(2), 'placer-order');
  return { filler, placer };
}

export function mapOrderGroup(ctx: MapContext, g: OrderGroup, patient: Ref, encounter: Ref | undefined): Ref {
  const { obr, orc } = g;
  const { filler, placer } = orderIdentifiers(ctx, obr, orc);
  const key = filler ?? placer;
  if (!key) {
    ctx.fail('has neither a placer (OBR-2/ORC-2) nor a filler (OBR-3/ORC-3) order number: its results could not be found again by a correction', obr.label, 'content', 'MISSING_FIELD');
  }
  const code = concept(ctx, obr.rep(4), 'OBR-4');
  if (!code) ctx.fail('universal service identifier (what was tested) is empty', obr.loc(4), 'content', 'MISSING_FIELD');
  const scopeKey = `order|${filler ? 'filler' : 'placer'}|${key!.system}|${key!.value}|${codeKey(obr.rep(4), 'OBR-4')}`;

  const section = obr.get(24).toUpperCase();
  const isLab = LAB_SECTIONS.has(section);
  if (!isLab && !IMAGING_SECTIONS.has(section) && !CARDIOLOGY_SECTIONS.has(section)) {
    ctx.issue('information', 'UNKNOWN_VALUE', `diagnostic service section "${obr.get(24)}" is not a table 0074 code; reported as a clinical (non-laboratory) report`, obr.loc(24));
  }
  const category: ObservationCategory = isLab ? 'laboratory' : IMAGING_SECTIONS.has(section) ? 'imaging' : 'procedure';

  const specimen = g.specimens.map(({ spm }) => specimenRef(ctx, spm));
  const collected = g.specimens.map(({ spm }) => ctx.time(spm, 17, 1)?.dateTime).find(Boolean);
  const effective = ctx.time(obr, 7)?.dateTime ?? ctx.time(obr, 8)?.dateTime ?? collected;
  const issued = ctx.time(obr, 22)?.instant;

  const result: Ref[] = [];
  const narrative: string[] = [];
  const observe = (items: OrderGroup['results'], spec: Ref | undefined) => {
    for (const { obx, notes } of items) {
      if (isNarrativeOnly(obx)) {
        const text = obx.text(5);
        if (text.trim()) narrative.push(text);
        if (notes.length) narrative.push(...notes.map((n) => n.text(3)));
        continue;
      }
      result.push(mapObservation(ctx, obx, notes, {
        patient, encounter, scopeKey, category, effective, issued,
        specimen: spec ?? (specimen.length === 1 ? specimen[0] : undefined),
      }));
    }
  };
  observe(g.results, undefined);
  g.specimens.forEach((s, i) => observe(s.results, specimen[i]));
  if (narrative.length) {
    ctx.issue('information', 'NARRATIVE_RESULT', `${narrative.length} OBX line(s) without an observation identifier kept as the report text (presentedForm)`, obr.label);
  }
  if (g.notes.length) {
    ctx.issue('warning', 'NOTE_NOT_MAPPED', 'order comments (NTE after OBR) are added to the report text: R4 DiagnosticReport has no note element', g.notes[0]!.label);
    narrative.push(...g.notes.map((n) => `Comment: ${n.text(3)}`));
  }

  const statusCode = obr.get(25).toUpperCase();
  const status = STATUS[statusCode] ?? 'unknown';
  if (!STATUS[statusCode]) ctx.issue('warning', statusCode ? 'UNKNOWN_VALUE' : 'MISSING_FIELD', statusCode ? `result status "${obr.get(25)}" is not a table 0123 code; recorded as unknown` : 'result status is empty; recorded as unknown', obr.loc(25));
  if (NEEDS_EFFECTIVE.has(status) && !effective) {
    ctx.fail(`observation date/time (OBR-7) is empty on a ${status} report (US Core requires when the results are clinically relevant)`, obr.loc(7), 'content', 'MISSING_FIELD');
  }

  const identifier: Identifier[] = [
    ...(filler ? [{ ...filler, type: { coding: [{ system: V2_TABLE('0203'), code: 'FILL' }] } }] : []),
    ...(placer ? [{ ...placer, type: { coding: [{ system: V2_TABLE('0203'), code: 'PLAC' }] } }] : []),
  ];
  const report: DiagnosticReport & { id: string } = {
    resourceType: 'DiagnosticReport',
    id: stableId('hl7v2', 'DiagnosticReport', scopeKey),
    identifier,
    status,
    category: reportCategory(section, isLab),
    code: code!,
    subject: patient,
    ...(encounter ? { encounter } : {}),
    ...(effective ? { effectiveDateTime: effective } : {}),
    // The report was issued no later than the message carrying it (US Core needs `issued` on released reports).
    issued: issued ?? ctx.sender.recorded.instant,
  };
  const interpreter = obr.reps(32).map((r) => ndlPractitionerRef(ctx, r)).filter((r) => r !== undefined);
  if (interpreter.length) report.resultsInterpreter = interpreter;
  if (specimen.length) report.specimen = specimen;
  if (result.length) report.result = result;
  if (narrative.length) report.presentedForm = [textAttachment(narrative.join('\n'), code!.text ?? code!.coding?.[0]?.display)];
  return ctx.add(report, isLab ? PROFILES.DiagnosticReportLab : PROFILES.DiagnosticReportNote, obr.label);
}

function reportCategory(section: string, isLab: boolean) {
  if (isLab) return [{ coding: [{ system: V2_TABLE('0074'), code: 'LAB', display: 'Laboratory' }, ...(section && section !== 'LAB' ? [{ system: V2_TABLE('0074'), code: section }] : [])] }];
  const loinc = IMAGING_SECTIONS.has(section) && !CARDIOLOGY_SECTIONS.has(section)
    ? [{ system: 'http://loinc.org', code: 'LP29684-5', display: 'Radiology' }]
    : CARDIOLOGY_SECTIONS.has(section) ? [{ system: 'http://loinc.org', code: 'LP29708-2', display: 'Cardiology' }] : [];
  return [{ coding: [...loinc, { system: V2_TABLE('0074'), code: section }] }];
}

/** SPM -> logical Specimen reference (identifier SPM-2, display SPM-4). */
function specimenRef(ctx: MapContext, spm: Seg): Ref {
  const rep = spm.rep(2);
  // SPM-2 is an EIP: placer EI (component 1, subcomponents) ^ filler EI (component 2).
  const filler = rep ? eiIdentifier(ctx, rep.sub(2), 'specimen') : undefined;
  const placer = rep ? eiIdentifier(ctx, rep.sub(1), 'specimen') : undefined;
  const type = concept(ctx, spm.rep(4), 'SPM-4');
  const display = [type?.text ?? type?.coding?.[0]?.display ?? type?.coding?.[0]?.code, 'specimen'].filter(Boolean).join(' ');
  const identifier = filler ?? placer;
  return { type: 'Specimen', ...(identifier ? { identifier } : {}), display };
}

export function textAttachment(text: string, title?: string): Attachment {
  return {
    contentType: 'text/plain; charset=utf-8',
    data: Buffer.from(text, 'utf8').toString('base64'),
    ...(title ? { title } : {}),
  };
}
