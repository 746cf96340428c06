/**
 * ADT^A40 (merge patient, identifier list) and ADT^A34 (merge patient id only): each PID/MRG pair
 * says the patient identified by MRG-1 is now the patient identified by PID-3. The survivor is written
 * with `link: replaces` the prior Patient; the prior Patient (same id it got from its own messages)
 * is written with `active: false` and `link: replaced-by` the survivor, its former identifier, and the
 * name MRG-7 gives for it (else the survivor's). The prior patient's other resources are not moved:
 * they keep pointing to the retired Patient, whose link leads to the survivor.
 */
import type { Patient } from '@medplum/fhirtypes';
import type { MapContext } from '../context.js';
import { xpnName } from '../datatypes.js';
import { PROFILES } from '../profiles.js';
import { mapPatient, patientIdFor } from '../segments/patient.js';
import { ignore } from './common.js';

export function mapMerge(ctx: MapContext): void {
  const segs = ctx.msg.segments;
  const pids = segs.filter((s) => s.name === 'PID');
  if (!pids.length) ctx.fail('a merge message needs a PID (the surviving patient)', 'PID', 'content', 'MISSING_SEGMENT');
  const used = new Set(pids);
  for (const pid of pids) {
    const next = segs.findIndex((s, i) => i > pid.position && s.name === 'PID');
    const group = segs.slice(pid.position + 1, next < 0 ? undefined : next);
    const mrg = group.find((s) => s.name === 'MRG');
    if (!mrg) ctx.fail('has no MRG segment naming the patient to merge', pid.label, 'content', 'MISSING_SEGMENT');
    used.add(mrg!);
    const mrgRep = mrg!.rep(1);
    const prior = mrgRep ? patientIdFor(ctx, mrgRep) : undefined;
    if (!prior) ctx.fail('prior patient identifier list is empty', mrg!.loc(1), 'content', 'MISSING_FIELD');

    const survivor = mapPatient(ctx, pid, [], { link: [{ other: { reference: `Patient/${prior!.id}` }, type: 'replaces' }] });
    if (survivor.id === prior!.id) ctx.fail('names the same patient as the surviving PID-3', mrg!.loc(1), 'content', 'INVALID_CONTENT');
    const priorName = mrg!.reps(7).map(xpnName).filter((n) => n !== undefined);
    const retired: Patient & { id: string } = {
      resourceType: 'Patient',
      id: prior!.id,
      identifier: [prior!.identifier],
      active: false,
      name: priorName.length ? priorName : survivor.patient.name!,
      gender: survivor.patient.gender!,
      ...(survivor.patient.birthDate ? { birthDate: survivor.patient.birthDate } : {}),
      link: [{ other: survivor.ref, type: 'replaced-by' }],
    };
    ctx.add(retired, PROFILES.Patient, mrg!.label);
  }
  for (const seg of segs) if (seg.name !== 'MSH' && !used.has(seg)) ignore(ctx, seg);
}
