/**
 * OBX (+ its NTE) -> Observation. The value follows OBX-2: NM/SN -> Quantity (or Range/Ratio),
 * ST/TX/FT -> string, CE/CWE/CNE -> CodeableConcept, DT/TS/DTM -> dateTime, TM -> time. Identity:
 * the order (filler, else placer number) plus OBX-3 code, OBX-4 sub-id and OBX-1 set id; for an OBX
 * outside an order, the encounter (else patient) plus code, sub-id, set id and OBX-14.
 */
import type { Annotation, Observation, ObservationReferenceRange, Quantity } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { SYSTEMS } from '../../types.js';
import { codeKey, concept, standardSystem } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import type { Seg } from '../message.js';
import { practitionerRef, organizationRef } from '../actors.js';
import { PROFILES } from '../profiles.js';

const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const INTERPRETATION_CODES = new Set(['N', 'A', 'AA', 'H', 'HH', 'HU', 'L', 'LL', 'LU', '<', '>', 'I', 'R', 'S', 'MS', 'VS', 'POS', 'NEG', 'IND', 'DET', 'ND', 'E', 'EX', 'B', 'W', 'U', 'D']);

/** OBX-11 result status (table 0085) -> Observation.status. */
const STATUS: Readonly<Record<string, Observation['status']>> = {
  F: 'final', C: 'corrected', P: 'preliminary', R: 'preliminary', S: 'preliminary', I: 'registered', X: 'cancelled',
  D: 'entered-in-error', W: 'entered-in-error', U: 'final', A: 'amended', O: 'registered', N: 'cancelled',
};

export type ObservationCategory = 'laboratory' | 'imaging' | 'procedure' | 'exam';

export interface ObservationScope {
  patient: Ref;
  encounter?: Ref;
  /** Identity of the order the OBX belongs to (filler/placer number), or of its context (encounter/patient). */
  scopeKey: string;
  category: ObservationCategory;
  /** OBR-7 (or specimen collection time) when OBX-14 is empty. */
  effective?: string;
  issued?: string;
  specimen?: Ref;
}

const TEXT_TYPES = new Set(['ST', 'TX', 'FT']);
/** OBX without OBX-3 carrying text: report narrative, not an observation (see report.ts). */
export function isNarrativeOnly(obx: Seg): boolean {
  return !obx.rep(3) && (TEXT_TYPES.has(obx.get(2).toUpperCase()) || !obx.get(2));
}

export function mapObservation(ctx: MapContext, obx: Seg, notes: Seg[], scope: ObservationScope): Ref {
  const code = concept(ctx, obx.rep(3), 'OBX-3');
  if (!code) ctx.fail('observation identifier is empty', obx.loc(3), 'content', 'MISSING_FIELD');
  const statusCode = obx.get(11).toUpperCase();
  const status = STATUS[statusCode];
  if (!status) {
    ctx.issue(statusCode ? 'warning' : 'information', statusCode ? 'UNKNOWN_VALUE' : 'MISSING_FIELD',
      statusCode ? `result status "${obx.get(11)}" is not a table 0085 code; recorded as unknown` : 'result status is empty; recorded as unknown', obx.loc(11));
  }
  const id = stableId('hl7v2', 'Observation', scope.scopeKey, codeKey(obx.rep(3), 'OBX-3'), obx.get(4), obx.get(1), scope.scopeKey.startsWith('order|') ? '' : obx.get(14));
  const obs: Observation & { id: string } = {
    resourceType: 'Observation',
    id,
    status: status ?? 'unknown',
    category: [{ coding: [{ system: OBS_CATEGORY, code: scope.category, display: CATEGORY_DISPLAY[scope.category] }] }],
    code: code!,
    subject: scope.patient,
    ...(scope.encounter ? { encounter: scope.encounter } : {}),
  };
  const effective = ctx.time(obx, 14)?.dateTime ?? scope.effective;
  if (effective) obs.effectiveDateTime = effective;
  if (scope.issued) obs.issued = scope.issued;
  const performer = [...obx.reps(16).map((r) => practitionerRef(ctx, r)), organizationRef(ctx, obx.rep(23))].filter((r) => r !== undefined);
  if (performer.length) obs.performer = performer;
  Object.assign(obs, value(ctx, obx));
  if (obs.status === 'cancelled' && !hasValue(obs)) obs.dataAbsentReason = absent('not-performed', 'Not Performed');
  else if (!hasValue(obs)) obs.dataAbsentReason = absent('unknown', 'Unknown');
  const interpretation = obx.reps(8).map((r) => {
    const c = r.get(1).toUpperCase();
    return INTERPRETATION_CODES.has(c) && (!r.get(3) || /^HL70078$/i.test(r.get(3)))
      ? { coding: [{ system: INTERPRETATION, code: c }], ...(r.get(2) ? { text: r.get(2) } : {}) }
      : concept(ctx, r, 'OBX-8')!;
  });
  if (interpretation.length) obs.interpretation = interpretation;
  const range = referenceRange(obx, obs.valueQuantity);
  if (range) obs.referenceRange = [range];
  const method = concept(ctx, obx.rep(17), 'OBX-17');
  if (method) obs.method = method;
  if (scope.specimen) obs.specimen = scope.specimen;
  const note = notesOf(notes);
  const extra = TEXT_TYPES.has(obx.get(2).toUpperCase()) ? [] : obx.reps(5).slice(1).map((r) => r.text(1)).filter(Boolean);
  if (extra.length) note.push({ text: `Further values sent in OBX-5: ${extra.join('; ')}` });
  if (note.length) obs.note = note;

  const profile = profileFor(scope.category, obs);
  if (scope.category === 'laboratory' && profile !== PROFILES.ObservationLab) {
    ctx.issue('information', 'PROFILE_CHOICE', 'coded result is not SNOMED CT: claims US Core Clinical Result instead of US Core Laboratory Result', obx.loc(5));
  }
  return ctx.add(obs, profile, obx.label);
}

const CATEGORY_DISPLAY: Record<ObservationCategory, string> = { laboratory: 'Laboratory', imaging: 'Imaging', procedure: 'Procedure', exam: 'Exam' };

/**
 * US Core Laboratory Result only allows SNOMED CT codings in valueCodeableConcept (us-core-4); a lab
 * result coded otherwise claims the Clinical Result profile, which has no such rule.
 */
function profileFor(category: ObservationCategory, obs: Observation): string {
  if (category === 'exam') return PROFILES.ObservationSimple;
  if (category !== 'laboratory') return PROFILES.ObservationClinicalResult;
  const codings = obs.valueCodeableConcept?.coding ?? [];
  return codings.every((c) => c.system === SYSTEMS.snomed) ? PROFILES.ObservationLab : PROFILES.ObservationClinicalResult;
}

function hasValue(o: Observation): boolean {
  return Object.keys(o).some((k) => k.startsWith('value'));
}

function absent(code: string, display: string) {
  return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code, display }] };
}

export function notesOf(notes: Seg[]): Annotation[] {
  const text = notes.map((n) => n.text(3)).filter((t) => t.trim()).join('\n');
  return text ? [{ text }] : [];
}

/** OBX-6 units: UCUM (system and code) when the sender says UCUM or the text is a UCUM unit we recognise. */
function units(ctx: MapContext, obx: Seg): Pick<Quantity, 'unit' | 'system' | 'code'> {
  const rep = obx.rep(6);
  if (!rep) return {};
  const code = rep.get(1);
  const text = rep.get(2) || code;
  const sys = standardSystem(rep.get(3));
  if (sys === 'http://unitsofmeasure.org' || /^ISO\+?$/i.test(rep.get(3))) {
    return { unit: text, system: 'http://unitsofmeasure.org', code };
  }
  return text ? { unit: text } : {};
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function value(ctx: MapContext, obx: Seg): Partial<Observation> {
  const type = obx.get(2).toUpperCase();
  const reps = obx.reps(5);
  if (!reps.length) return {};
  const loc = obx.loc(5);
  if (reps.length > 1 && !TEXT_TYPES.has(type)) {
    ctx.issue('warning', 'REPEATED_VALUE', `${reps.length} values for a ${type} result; the first is the value, the others are kept in a note`, loc);
  }
  const first = reps[0]!;
  switch (type) {
    case 'NM': {
      const raw = first.get(1);
      if (!NUMBER.test(raw)) ctx.fail(`"${raw}" is not a number (OBX-2 is NM)`, loc, 'content', 'INVALID_VALUE');
      return { valueQuantity: { value: Number(raw), ...units(ctx, obx) } };
    }
    case 'SN': return structuredNumeric(ctx, obx);
    case 'ST': case 'TX': case 'FT': case 'ID': case 'IS': {
      const text = obx.text(5);
      return text ? { valueString: text } : {};
    }
    case 'CE': case 'CWE': case 'CNE': case 'CF': {
      const cc = concept(ctx, first, 'OBX-5');
      return cc ? { valueCodeableConcept: cc } : {};
    }
    case 'DT': case 'TS': case 'DTM': {
      const t = ctx.timeOf(first.get(1), loc);
      return t ? { valueDateTime: t.dateTime } : {};
    }
    case 'TM': {
      const m = /^(\d{2})(\d{2})?(\d{2})?(\.\d+)?$/.exec(first.get(1));
      if (!m || Number(m[1]) > 23 || Number(m[2] ?? 0) > 59 || Number(m[3] ?? 0) > 59) ctx.fail(`"${first.get(1)}" is not an HL7 time (HH[MM[SS]])`, loc, 'content', 'INVALID_VALUE');
      return { valueTime: `${m![1]}:${m![2] ?? '00'}:${m![3] ?? '00'}${m![4] ?? ''}` };
    }
    case '':
      return ctx.fail('value type (OBX-2) is empty but OBX-5 has a value', obx.loc(2), 'content', 'MISSING_FIELD');
    default:
      return ctx.fail(`value type "${obx.get(2)}" is not supported (NM, SN, ST, TX, FT, CE, CWE, CNE, DT, TS, DTM, TM, ID, IS are)`, obx.loc(2), 'content', 'UNSUPPORTED_VALUE_TYPE');
  }
}

/** SN: comparator^num1^separator^num2 -> Quantity with comparator, Range (num1-num2) or Ratio (num1:num2, num1/num2). */
function structuredNumeric(ctx: MapContext, obx: Seg): Partial<Observation> {
  const r = obx.rep(5)!;
  const comparator = r.get(1);
  const n1 = r.get(2);
  const sep = r.get(3);
  const n2 = r.get(4);
  const u = units(ctx, obx);
  const bad = () => ctx.fail(`"${[comparator, n1, sep, n2].join('^')}" is not a structured numeric value`, obx.loc(5), 'content', 'INVALID_VALUE');
  if (!NUMBER.test(n1) || (n2 && !NUMBER.test(n2))) return bad();
  if (!sep && !n2) {
    const cmp = ({ '<': '<', '>': '>', '<=': '<=', '>=': '>=', '': undefined } as Record<string, Quantity['comparator']>)[comparator];
    if (comparator && !cmp) return bad();
    return { valueQuantity: { value: Number(n1), ...(cmp ? { comparator: cmp } : {}), ...u } };
  }
  if (sep === '-' && n2 && !comparator) return { valueRange: { low: { value: Number(n1), ...u }, high: { value: Number(n2), ...u } } };
  if ((sep === ':' || sep === '/') && n2 && !comparator) return { valueRatio: { numerator: { value: Number(n1) }, denominator: { value: Number(n2) } } };
  return bad();
}

/** OBX-7 as low/high when it is `low-high`, `<high` or `>low` for a numeric result; else as text. */
function referenceRange(obx: Seg, q: Quantity | undefined): ObservationReferenceRange | undefined {
  const text = obx.get(7);
  if (!text) return undefined;
  const u = q ? { ...(q.unit ? { unit: q.unit } : {}), ...(q.system ? { system: q.system, code: q.code } : {}) } : {};
  const m = /^\s*([+-]?\d+(?:\.\d+)?)\s*-\s*([+-]?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (m && q) return { low: { value: Number(m[1]), ...u }, high: { value: Number(m[2]), ...u }, text };
  return { text };
}
