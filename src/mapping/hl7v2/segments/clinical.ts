/**
 * Patient-level clinical segments: AL1 -> AllergyIntolerance, DG1 -> Condition (encounter diagnosis),
 * PR1 -> Procedure. Identity: the patient plus the coded allergen (AL1-3); DG1-20 diagnosis identifier,
 * else the encounter (or patient) plus diagnosis code; PR1-19 procedure identifier, else the encounter
 * (or patient) plus procedure code and date/time. Set ids (AL1-1, DG1-1, PR1-1) are positions in one
 * message, not identities, and are not used.
 */
import type { AllergyIntolerance, Condition, Procedure } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { codeKey, concept } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { eiIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { practitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';

interface Subject { ref: Ref; id: string }

/** AL1-2 allergen type (table 0127) -> category and type. */
const ALLERGEN_TYPE: Readonly<Record<string, { category?: AllergyIntolerance['category']; type?: AllergyIntolerance['type'] }>> = {
  DA: { category: ['medication'], type: 'allergy' }, FA: { category: ['food'], type: 'allergy' }, MA: { type: 'allergy' },
  MC: {}, EA: { category: ['environment'], type: 'allergy' }, AA: { category: ['environment'], type: 'allergy' },
  PA: { category: ['environment'], type: 'allergy' }, LA: { category: ['environment'], type: 'allergy' },
  DI: { category: ['medication'], type: 'intolerance' }, FI: { category: ['food'], type: 'intolerance' },
  EI: { category: ['environment'], type: 'intolerance' }, MI: { type: 'intolerance' },
};
/** AL1-4 severity (table 0128) -> reaction severity. */
const SEVERITY: Readonly<Record<string, 'mild' | 'moderate' | 'severe'>> = { SV: 'severe', MO: 'moderate', MI: 'mild' };

export function mapAllergy(ctx: MapContext, al1: Seg, patient: Subject): Ref {
  const code = concept(ctx, al1.rep(3), 'AL1-3');
  if (!code) ctx.fail('allergen code/mnemonic/description is empty', al1.loc(3), 'content', 'MISSING_FIELD');
  const typeCode = al1.get(2).toUpperCase();
  const kind = ALLERGEN_TYPE[typeCode];
  if (typeCode && !kind) ctx.issue('warning', 'UNKNOWN_VALUE', `allergen type "${al1.get(2)}" is not a table 0127 code; category not recorded`, al1.loc(2));
  const allergy: AllergyIntolerance & { id: string } = {
    resourceType: 'AllergyIntolerance',
    id: stableId('hl7v2', 'AllergyIntolerance', patient.id, codeKey(al1.rep(3), 'AL1-3')),
    // An AL1 reports an allergy the sending system holds as current.
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active', display: 'Active' }] },
    ...(kind?.type ? { type: kind.type } : {}),
    ...(kind?.category ? { category: kind.category } : {}),
    code: code!,
    patient: patient.ref,
  };
  const identified = ctx.time(al1, 6);
  if (identified) allergy.onsetDateTime = identified.dateTime;
  const manifestations = al1.reps(5).map((r) => r.get(1)).filter(Boolean);
  const severityCode = al1.get(4).toUpperCase();
  const severity = SEVERITY[severityCode];
  if (severityCode && !severity && severityCode !== 'U') ctx.issue('warning', 'UNKNOWN_VALUE', `allergy severity "${al1.get(4)}" is not a table 0128 code`, al1.loc(4));
  if (manifestations.length) {
    allergy.reaction = [{ manifestation: manifestations.map((text) => ({ text })), ...(severity ? { severity } : {}) }];
  } else if (severity) {
    allergy.criticality = severity === 'severe' ? 'high' : 'low';
  }
  return ctx.add(allergy, PROFILES.AllergyIntolerance, al1.label);
}

/** DG1-6 diagnosis type (table 0052) -> verification status. */
const DIAGNOSIS_VERIFICATION: Readonly<Record<string, [string, string]>> = {
  A: ['provisional', 'Provisional'], W: ['provisional', 'Provisional'], F: ['confirmed', 'Confirmed'],
};

export function mapDiagnosis(ctx: MapContext, dg1: Seg, patient: Subject, encounter: Subject | undefined): Ref {
  // DG1-3 is the coded diagnosis; v2.3 senders sometimes use only DG1-4 (description).
  const code = concept(ctx, dg1.rep(3), 'DG1-3') ?? (dg1.get(4) ? { text: dg1.get(4) } : undefined);
  if (!code) ctx.fail('diagnosis code (DG1-3) and description (DG1-4) are empty', dg1.loc(3), 'content', 'MISSING_FIELD');
  const given = eiIdentifier(ctx, dg1.rep(20), 'diagnosis');
  const scope = encounter?.id ?? patient.id;
  const condition: Condition & { id: string } = {
    resourceType: 'Condition',
    id: given ? stableId('hl7v2', 'Condition', given.system, given.value) : stableId('hl7v2', 'Condition', scope, codeKey(dg1.rep(3), 'DG1-3') || `text|${dg1.get(4)}`),
    ...(given ? { identifier: [given] } : {}),
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
    code: code!,
    subject: patient.ref,
    ...(encounter ? { encounter: encounter.ref } : {}),
  };
  const v = DIAGNOSIS_VERIFICATION[dg1.get(6).toUpperCase()];
  if (v) condition.verificationStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: v[0], display: v[1] }] };
  const when = ctx.time(dg1, 5);
  if (when) condition.onsetDateTime = when.dateTime;
  const asserter = practitionerRef(ctx, dg1.rep(16));
  if (asserter) condition.asserter = asserter;
  return ctx.add(condition, PROFILES.ConditionEncounterDiagnosis, dg1.label);
}

export function mapProcedure(ctx: MapContext, pr1: Seg, patient: Subject, encounter: Subject | undefined): Ref {
  const code = concept(ctx, pr1.rep(3), 'PR1-3') ?? (pr1.get(4) ? { text: pr1.get(4) } : undefined);
  if (!code) ctx.fail('procedure code (PR1-3) and description (PR1-4) are empty', pr1.loc(3), 'content', 'MISSING_FIELD');
  const when = ctx.time(pr1, 5);
  if (!when) ctx.fail('procedure date/time is empty (US Core requires when a completed procedure was performed)', pr1.loc(5), 'content', 'MISSING_FIELD');
  const given = eiIdentifier(ctx, pr1.rep(19), 'procedure');
  const scope = encounter?.id ?? patient.id;
  const procedure: Procedure & { id: string } = {
    resourceType: 'Procedure',
    id: given ? stableId('hl7v2', 'Procedure', given.system, given.value) : stableId('hl7v2', 'Procedure', scope, codeKey(pr1.rep(3), 'PR1-3') || `text|${pr1.get(4)}`, when!.dateTime),
    ...(given ? { identifier: [given] } : {}),
    // PR1 reports procedures that were done (HL7 v2 chapter 6).
    status: 'completed',
    code: code!,
    subject: patient.ref,
    ...(encounter ? { encounter: encounter.ref } : {}),
    performedDateTime: when!.dateTime,
  };
  const performer = [...pr1.reps(8), ...pr1.reps(11), ...pr1.reps(12)].map((r) => practitionerRef(ctx, r)).filter((r) => r !== undefined);
  if (performer.length) procedure.performer = performer.map((actor) => ({ actor }));
  return ctx.add(procedure, PROFILES.Procedure, pr1.label);
}
