/**
 * Consent evaluation: which consents count, how provisions and nested exceptions decide, actor, purpose,
 * period, class and label matching, the 42 CFR Part 2 rule and its obligations, and the scenarios.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Consent, ConsentProvision, Resource } from '@medplum/fhirtypes';
import {
  CONSENT_SCOPE_SYSTEM, createConsentEvaluator, PART2_NOTICE_SHORT, PART2_REDISCLOSURE_NOTICE, PARTNER_IDENTIFIER_SYSTEM,
  part2Required, RESOURCE_TYPES_SYSTEM, type ConsentContext, type Recipient,
} from '../../src/policy/consent.js';
import { ACT_CODE_SYSTEM, CONFIDENTIALITY_SYSTEM, SEC_LABEL_BASIS_URL } from '../../src/policy/consent-codes.js';
import { PURPOSE_OF_USE_SYSTEM } from '../../src/core/purpose-of-use.js';
import { explainDisclosure } from '../../src/policy/explain.js';
import type { Partner } from '../../src/store/types.js';

const NOW = '2026-06-15T12:00:00Z';
const EHR: Recipient = { partnerId: 'clinic-ehr', organization: 'Organization/clinic' };
const SPECIALIST: Recipient = { partnerId: 'cardio', organization: 'Organization/cardio-group', careTeams: ['CareTeam/heart'] };

/** Information recipient (v3 ParticipationType IRCP): R4 requires a role on every actor. */
const IRCP = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] };
const partner = (id: string) => ({ role: IRCP, reference: { identifier: { system: PARTNER_IDENTIFIER_SYSTEM, value: id } } });
const ref = (reference: string) => ({ role: IRCP, reference: { reference } });
const purpose = (...codes: string[]) => codes.map((code) => ({ system: PURPOSE_OF_USE_SYSTEM, code }));
const label = (code: string) => ({ system: ACT_CODE_SYSTEM, code });

let n = 0;
function consent(provision: ConsentProvision | undefined, over: Partial<Consent> = {}): Consent {
  return {
    resourceType: 'Consent',
    id: over.id ?? `c${++n}`,
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/p1' },
    ...(provision ? { provision } : {}),
    ...over,
  };
}

const ctx = (recipient: Recipient, over: Partial<ConsentContext> = {}): ConsentContext => ({ recipient, purpose: 'TREAT', now: NOW, patient: 'p1', ...over });

const condition = (id: string, labels: Array<{ system: string; code: string; extension?: unknown[] }> = []): Resource => ({
  resourceType: 'Condition', id, subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] },
  meta: { security: labels as never },
});
const immunization: Resource = { resourceType: 'Immunization', id: 'imm', status: 'completed', patient: { reference: 'Patient/p1' }, vaccineCode: { text: 'flu' }, occurrenceDateTime: '2026-01-01' };
const etcCondition = condition('sud', [label('ETH'), { system: CONFIDENTIALITY_SYSTEM, code: 'R' }]);

describe('which consents count', () => {
  it('ignores every status but active, other scopes and other patients', () => {
    const deny = { type: 'deny' as const };
    const ev = createConsentEvaluator([
      consent(deny, { status: 'inactive' }), consent(deny, { status: 'draft' }), consent(deny, { status: 'proposed' }),
      consent(deny, { status: 'rejected' }), consent(deny, { status: 'entered-in-error' }),
      consent(deny, { scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'research' }] } }),
      consent(deny, { patient: { reference: 'Patient/other' } }),
    ], ctx(EHR));
    assert.equal(ev.patientLevel.effect, 'none');
    assert.equal(ev.forResource(condition('c')).effect, 'none');
    assert.equal(ev.considered.length, 0);
    assert.equal(ev.ignored.length, 7);
    assert.match(ev.ignored[0]?.reason ?? '', /status is inactive/);
  });

  it('reads OPTOUT/OPTIN policy rules when a consent has no provision, and keeps the evidence', () => {
    const out = consent(undefined, {
      policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: 'OPTOUT' }] },
      sourceAttachment: { title: 'signed opt-out form', url: 'Binary/form-1' },
      performer: [{ reference: 'Patient/p1' }], organization: [{ reference: 'Organization/us' }], dateTime: '2026-05-01',
    });
    const ev = createConsentEvaluator([out], ctx(EHR));
    assert.equal(ev.patientLevel.effect, 'deny');
    assert.equal(ev.patientLevel.consentRef, `Consent/${out.id}`);
    assert.deepEqual(ev.considered[0], {
      ref: `Consent/${out.id}`, status: 'active', dateTime: '2026-05-01', policyRule: ['OPTOUT'], performers: ['Patient/p1'],
      organizations: ['Organization/us'], source: 'Binary/form-1', verifiedBy: [],
    });
    const optIn = createConsentEvaluator([consent(undefined, { policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: 'OPTIN' }] } })], ctx(EHR));
    assert.equal(optIn.patientLevel.effect, 'permit');
  });
});

describe('provisions', () => {
  it('deny beats permit at the same level and across consents', () => {
    const siblings = consent({ provision: [{ type: 'permit', actor: [partner('clinic-ehr')] }, { type: 'deny', actor: [partner('clinic-ehr')] }] });
    assert.equal(createConsentEvaluator([siblings], ctx(EHR)).forResource(condition('c')).effect, 'deny');
    const two = [consent({ type: 'permit' }), consent({ type: 'deny', actor: [partner('clinic-ehr')] })];
    const ev = createConsentEvaluator(two, ctx(EHR));
    assert.equal(ev.forResource(condition('c')).effect, 'deny');
    assert.equal(ev.patientLevel.effect, 'deny');
  });

  it('a nested exception overrides its parent; the deepest applying provision decides', () => {
    const c = consent({
      type: 'deny',
      provision: [{
        type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT'),
        provision: [{ type: 'deny', securityLabel: [label('HIV')] }],
      }],
    });
    const ev = createConsentEvaluator([c], ctx(EHR));
    assert.equal(ev.forResource(condition('c')).effect, 'permit');
    assert.equal(ev.forResource(condition('c')).provisionPath, 'provision.provision[0]');
    const hiv = ev.forResource(condition('h', [label('HIV')]));
    assert.equal(hiv.effect, 'deny');
    assert.equal(hiv.provisionPath, 'provision.provision[0].provision[0]');
    assert.deepEqual(ev.patientLevel.obligations.find((o) => o.kind === 'withhold' && o.labels.includes('HIV'))?.kind, 'withhold');
    // another recipient: only the base deny applies
    const other = createConsentEvaluator([c], ctx(SPECIALIST));
    assert.equal(other.forResource(condition('c')).effect, 'deny');
    assert.equal(other.patientLevel.effect, 'deny');
  });

  it('a nested exception applies only where its parent applies', () => {
    const c = consent({ type: 'permit', actor: [partner('clinic-ehr')], provision: [{ type: 'permit', securityLabel: [label('HIV')] }] });
    assert.equal(createConsentEvaluator([c], ctx(SPECIALIST)).forResource(condition('h', [label('HIV')])).effect, 'none');
  });

  it('a whole-record deny with a data-scoped exception is not a patient-level deny', () => {
    const c = consent({ type: 'deny', provision: [{ type: 'permit', class: [{ system: RESOURCE_TYPES_SYSTEM, code: 'Immunization' }] }] });
    const ev = createConsentEvaluator([c], ctx(EHR));
    assert.equal(ev.patientLevel.effect, 'none');
    assert.equal(ev.permitsAny, true);
    assert.equal(ev.forResource(immunization).effect, 'permit');
    assert.equal(ev.forResource(condition('c')).effect, 'deny');
  });

  it('class matches resource types and profiles', () => {
    const profile = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns';
    const c = consent({ type: 'permit', provision: [{ type: 'deny', class: [{ code: profile }] }] });
    const ev = createConsentEvaluator([c], ctx(EHR));
    assert.equal(ev.forResource({ ...condition('p'), meta: { profile: [profile] } } as Resource).effect, 'deny');
    assert.equal(ev.forResource(condition('q')).effect, 'permit');
  });

  it('code matches a resource\'s primary code or its labels', () => {
    const c = consent({ type: 'permit', provision: [
      { type: 'deny', code: [{ coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] }] },
      { type: 'deny', code: [{ coding: [label('PSY')] }] },
    ] });
    const ev = createConsentEvaluator([c], ctx(EHR));
    assert.equal(ev.forResource(condition('hypertension')).effect, 'deny');
    assert.equal(ev.forResource({ ...immunization, meta: { security: [label('PSY')] } } as Resource).effect, 'deny');
    assert.equal(ev.forResource(immunization).effect, 'permit');
  });

  it('data instance references match that resource only', () => {
    const c = consent({ type: 'permit', provision: [{ type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'https://gw.example/fhir/Condition/secret/_history/2' } }] }] });
    const ev = createConsentEvaluator([c], ctx(EHR));
    assert.equal(ev.forResource(condition('secret')).effect, 'deny');
    assert.equal(ev.forResource(condition('other')).effect, 'permit');
  });

  it('fails closed on criteria it cannot evaluate: a deny applies, a permit does not', () => {
    const dataPeriod = { start: '2020-01-01', end: '2021-01-01' };
    assert.equal(createConsentEvaluator([consent({ type: 'permit', provision: [{ type: 'deny', dataPeriod }] })], ctx(EHR)).forResource(condition('c')).effect, 'deny');
    assert.equal(createConsentEvaluator([consent({ type: 'deny', provision: [{ type: 'permit', dataPeriod }] })], ctx(EHR)).forResource(condition('c')).effect, 'deny');
    const foreignPurpose = [{ system: 'urn:local:purpose', code: 'CARE' }];
    assert.equal(createConsentEvaluator([consent({ type: 'permit', purpose: foreignPurpose })], ctx(EHR)).forResource(condition('c')).effect, 'none');
    assert.equal(createConsentEvaluator([consent({ type: 'deny', purpose: foreignPurpose })], ctx(EHR)).forResource(condition('c')).effect, 'deny');
    assert.equal(createConsentEvaluator([consent({ type: 'deny', period: { end: 'never' } })], ctx(EHR)).patientLevel.effect, 'deny');
  });

  it('only disclosure actions count', () => {
    const action = (code: string) => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code }] }];
    assert.equal(createConsentEvaluator([consent({ type: 'deny', action: action('collect') })], ctx(EHR)).patientLevel.effect, 'none');
    assert.equal(createConsentEvaluator([consent({ type: 'deny', action: action('disclose') })], ctx(EHR)).patientLevel.effect, 'deny');
  });
});

describe('actors', () => {
  const deny = (actor: ConsentProvision['actor']) => createConsentEvaluator([consent({ type: 'deny', actor })], ctx(SPECIALIST)).patientLevel.effect;

  it('match by partner identifier, organization, care team, practitioner or another identifier of the recipient', () => {
    assert.equal(deny([partner('cardio')]), 'deny');
    assert.equal(deny([ref('Organization/cardio-group')]), 'deny');
    assert.equal(deny([ref('https://other.example/fhir/Organization/cardio-group')]), 'deny', 'absolute references match by type and id');
    assert.equal(deny([ref('CareTeam/heart')]), 'deny');
    assert.equal(createConsentEvaluator([consent({ type: 'deny', actor: [ref('Practitioner/dr-a')] })], ctx({ ...SPECIALIST, practitioner: 'Practitioner/dr-a' })).patientLevel.effect, 'deny');
    const npi = { role: IRCP, reference: { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' } } };
    assert.equal(createConsentEvaluator([consent({ type: 'deny', actor: [npi] })], ctx({ ...SPECIALIST, identifiers: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }] })).patientLevel.effect, 'deny');
  });

  it('do not match other recipients, or a partner id under another identifier system', () => {
    assert.equal(deny([partner('clinic-ehr')]), 'none');
    assert.equal(deny([ref('Organization/clinic')]), 'none');
    const known = { ...SPECIALIST, identifiers: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }] };
    assert.equal(createConsentEvaluator([consent({ type: 'deny', actor: [{ role: IRCP, reference: { identifier: { system: 'urn:other', value: 'cardio' } } }] })], ctx(known)).patientLevel.effect, 'none');
    assert.equal(deny([ref('CareTeam/lungs')]), 'none');
  });

  it('fail closed on actors they cannot compare: a deny applies, a permit does not', () => {
    // The recipient registered no identifiers, organization, care teams, and no user is behind the request.
    const bare = { partnerId: 'cardio' };
    const idActor = { role: IRCP, reference: { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' } } };
    for (const actor of [idActor, ref('Organization/hospital-b'), ref('CareTeam/heart'), ref('Practitioner/dr-a')]) {
      assert.equal(createConsentEvaluator([consent({ type: 'deny', actor: [actor] })], ctx(bare)).patientLevel.effect, 'deny', JSON.stringify(actor));
      assert.notEqual(createConsentEvaluator([consent({ type: 'permit', actor: [actor] })], ctx(bare)).forResource(condition('c')).effect, 'permit', JSON.stringify(actor));
    }
    assert.equal(deny([{ role: IRCP, reference: { identifier: { system: 'urn:other', value: 'cardio' } } }]), 'deny', 'SPECIALIST registered no identifiers');
  });

  it('ignore actors in source roles (custodian, author): they do not name recipients', () => {
    const role = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code }] });
    assert.equal(deny([{ role: role('CST'), reference: { reference: 'Organization/us' } }, { ...partner('clinic-ehr'), role: role('IRCP') }]), 'none');
    assert.equal(deny([{ ...partner('cardio'), role: role('IRCP') }]), 'deny');
  });
});

describe('purpose and period', () => {
  it('purpose must cover the asserted purpose', () => {
    const c = consent({ type: 'deny', provision: [{ type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT') }] });
    assert.equal(createConsentEvaluator([c], ctx(EHR)).forResource(condition('c')).effect, 'permit');
    assert.equal(createConsentEvaluator([c], ctx(EHR, { purpose: 'ETREAT' })).forResource(condition('c')).effect, 'permit');
    assert.equal(createConsentEvaluator([c], ctx(EHR, { purpose: 'HPAYMT' })).forResource(condition('c')).effect, 'deny');
    assert.equal(createConsentEvaluator([c], ctx(EHR, { purpose: 'CLINTRL' })).forResource(condition('c')).effect, 'deny');
  });

  it('period: start inclusive, end inclusive at its precision', () => {
    const c = consent({ type: 'permit', period: { start: '2026-06-01', end: '2026-06-30T17:00:00Z' } });
    const at = (now: string) => createConsentEvaluator([c], ctx(EHR, { now })).patientLevel.effect;
    assert.equal(at('2026-05-31T23:59:59.999Z'), 'none');
    assert.equal(at('2026-06-01T00:00:00Z'), 'permit');
    assert.equal(at('2026-06-30T17:00:00.999Z'), 'permit');
    assert.equal(at('2026-06-30T17:00:01Z'), 'none');
  });

  it('an expired deny no longer denies', () => {
    const c = consent({ type: 'deny', period: { end: '2026-06-14' } });
    assert.equal(createConsentEvaluator([c], ctx(EHR)).patientLevel.effect, 'none');
  });
});

describe('42 CFR Part 2', () => {
  it('recognizes ETH, 42CFRPart2, and any label whose basis is 42 CFR Part 2, but not SUD or R alone', () => {
    assert.equal(part2Required(condition('a', [label('ETH')])), true);
    assert.equal(part2Required(condition('b', [label('42CFRPart2')])), true);
    const basis = { url: SEC_LABEL_BASIS_URL, valueCoding: { system: ACT_CODE_SYSTEM, code: '42CFRPart2' } };
    assert.equal(part2Required(condition('c', [{ system: CONFIDENTIALITY_SYSTEM, code: 'R', extension: [basis] }])), true);
    assert.equal(part2Required(condition('d', [{ system: CONFIDENTIALITY_SYSTEM, code: 'R' }])), false);
    assert.equal(part2Required(condition('e', [label('SUD')])), false);
  });

  it('withholds Part 2 data without a consent naming the recipient, even under a general permit', () => {
    const general = consent({ type: 'permit', purpose: purpose('TREAT') });
    const ev = createConsentEvaluator([general], ctx(EHR));
    assert.equal(ev.forResource(condition('plain')).effect, 'permit');
    const v = ev.forResource(etcCondition);
    assert.equal(v.effect, 'deny');
    assert.equal(v.code, 'GW_PART2_CONSENT_REQUIRED');
    assert.ok(ev.patientLevel.obligations.some((o) => o.kind === 'withhold' && o.labels.includes('ETH')));
  });

  it('a care-team-only actor or a consent without a purpose does not satisfy Part 2', () => {
    const team = createConsentEvaluator([consent({ type: 'permit', actor: [ref('CareTeam/heart')], purpose: purpose('TREAT') })], ctx(SPECIALIST));
    assert.equal(team.forResource(etcCondition).code, 'GW_PART2_CONSENT_REQUIRED');
    const noPurpose = createConsentEvaluator([consent({ type: 'permit', actor: [partner('cardio')] })], ctx(SPECIALIST));
    assert.equal(noPurpose.forResource(etcCondition).code, 'GW_PART2_CONSENT_REQUIRED');
  });

  it('discloses Part 2 data under a consent naming the recipient and the purpose, with the 2.32 obligations', () => {
    const named = consent({ type: 'permit', actor: [ref('Organization/clinic')], purpose: purpose('TREAT'), securityLabel: [label('ETH')] }, { id: 'p2' });
    const ev = createConsentEvaluator([named], ctx(EHR));
    const v = ev.forResource(etcCondition);
    assert.equal(v.effect, 'permit');
    assert.equal(v.consentRef, 'Consent/p2');
    assert.deepEqual(v.obligations, [
      { kind: 'redisclosure-notice', authority: '42 CFR 2.32(a)(1)', text: PART2_REDISCLOSURE_NOTICE, consentRef: 'Consent/p2' },
      { kind: 'consent-scope', authority: '42 CFR 2.32(b)', consentRef: 'Consent/p2' },
    ]);
    assert.ok(!ev.patientLevel.obligations.some((o) => o.kind === 'withhold' && o.labels.includes('ETH')));
    // the named consent covers TREAT only
    assert.equal(createConsentEvaluator([named], ctx(EHR, { purpose: 'HPAYMT' })).forResource(etcCondition).effect, 'deny');
    // and names the EHR, not the specialist
    assert.equal(createConsentEvaluator([named], ctx(SPECIALIST)).forResource(etcCondition).effect, 'deny');
  });

  it('a deny still beats a Part 2 permit', () => {
    const named = consent({ type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT') });
    const deny = consent({ type: 'deny', securityLabel: [label('ETH')] });
    assert.equal(createConsentEvaluator([named, deny], ctx(EHR)).forResource(etcCondition).code, 'GW_CONSENT_DENIED');
  });

  it('the notice is the 2024 Statement 1 text; Statement 2 is the short form', () => {
    assert.match(PART2_REDISCLOSURE_NOTICE, /^This record which has been disclosed to you is protected by Federal confidentiality rules \(42 CFR part 2\)\./);
    assert.match(PART2_REDISCLOSURE_NOTICE, /\(see 42 CFR 2\.31\)\.$/);
    assert.equal(PART2_NOTICE_SHORT, '42 CFR part 2 prohibits unauthorized use or disclosure of these records.');
  });
});

describe('consent required by the agreement', () => {
  it('denies at patient level and per resource without an applicable permit', () => {
    const ev = createConsentEvaluator([], ctx(EHR, { consentRequired: true }));
    assert.equal(ev.patientLevel.code, 'GW_CONSENT_REQUIRED');
    assert.equal(ev.forResource(condition('c')).code, 'GW_CONSENT_REQUIRED');
    const permitOther = createConsentEvaluator([consent({ type: 'permit', actor: [partner('someone-else')] })], ctx(EHR, { consentRequired: true }));
    assert.equal(permitOther.patientLevel.effect, 'deny');
  });

  it('permits what a consent permits', () => {
    const ev = createConsentEvaluator([consent({ type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT') })], ctx(EHR, { consentRequired: true }));
    assert.equal(ev.patientLevel.effect, 'permit');
    assert.equal(ev.forResource(condition('c')).effect, 'permit');
  });
});

describe('the issue\'s scenarios', () => {
  it('a patient who denies one specialist: that specialist gets nothing, the EHR still reads', () => {
    const c = [consent({ type: 'deny', actor: [partner('cardio')] })];
    const specialist = createConsentEvaluator(c, ctx(SPECIALIST));
    assert.equal(specialist.patientLevel.effect, 'deny');
    assert.equal(specialist.forResource(condition('c')).effect, 'deny');
    const ehr = createConsentEvaluator(c, ctx(EHR));
    assert.notEqual(ehr.patientLevel.effect, 'deny');
    assert.equal(ehr.forResource(condition('c')).effect, 'none');
  });

  it('a Part 2 condition is withheld from the EHR until a consent naming it exists', () => {
    assert.equal(createConsentEvaluator([], ctx(EHR)).forResource(etcCondition).effect, 'deny');
    const named = consent({ type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT') });
    const v = createConsentEvaluator([named], ctx(EHR)).forResource(etcCondition);
    assert.equal(v.effect, 'permit');
    assert.ok(v.obligations.some((o) => o.kind === 'redisclosure-notice'));
  });

  it('a revoked consent no longer counts on the next evaluation', () => {
    const permit = consent({ type: 'permit', actor: [partner('clinic-ehr')], purpose: purpose('TREAT') }, { id: 'r1' });
    assert.equal(createConsentEvaluator([permit], ctx(EHR, { consentRequired: true })).patientLevel.effect, 'permit');
    const revoked = { ...permit, status: 'inactive' as const };
    const ev = createConsentEvaluator([revoked], ctx(EHR, { consentRequired: true }));
    assert.equal(ev.patientLevel.effect, 'deny');
    assert.equal(ev.forResource(etcCondition).effect, 'deny');
  });
});

describe('explainDisclosure tells what release does', () => {
  const denyAll = consent({ type: 'deny' });
  const part = (id: string, kind: Partner['kind']): Partner => ({
    id, name: id, kind, status: 'active', scopes: ['system/*.rs'], createdAt: NOW, updatedAt: NOW,
  } as Partner);
  const explain = (p: Partner) => explainDisclosure({
    partner: p, partnerId: p.id, patient: 'p1', purpose: 'TREAT', now: Date.parse(NOW), consents: [denyAll], resources: [condition('c-x')],
  });

  it('a deny-all consent withholds the record from an EHR', () => {
    assert.equal(explain(part('ehr-x', 'ehr')).outcome, 'deny');
  });

  it('consents do not restrict the organization\'s own systems: an internal partner is explained as permitted, as release permits it', () => {
    const e = explain(part('engine', 'internal'));
    assert.equal(e.outcome, 'permit');
    assert.ok(e.steps.some((s) => s.step === 'consent' && s.ok && /own systems/.test(s.reason)));
  });
});
