/**
 * Partner agreements: request-level checks (status, validity, purpose), what may leave (types,
 * categories, excluded labels), the store narrowing that mirrors it, the schema, the TEFCA purpose map
 * and the minimum-necessary defaults per partner kind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import {
  agreementCovers, agreementNarrowing, agreementSchema, agreementTypeAllowed, andNarrowing, CATEGORY, checkAgreement,
  defaultAgreementFor, explainAgreementCoverage, parseAgreement, purposeFromTefca, TEFCA_XP_SYSTEM, type Agreement,
} from '../../src/policy/agreements.js';
import { ACT_CODE_SYSTEM, dateRange, periodContains, purposeCovers } from '../../src/policy/consent-codes.js';
import type { PartnerKind } from '../../src/store/types.js';

const OBS = 'http://terminology.hl7.org/CodeSystem/observation-category';

const agreement = (over: Partial<Agreement> = {}): Agreement => ({
  partnerId: 'clinic-ehr',
  purposes: ['TREAT'],
  resourceTypes: ['Patient', 'Observation', 'Condition', 'DocumentReference'],
  status: 'active',
  consentRequired: false,
  businessAssociate: false,
  ...over,
});

const obs = (category: string, labels: string[] = []): Resource => ({
  resourceType: 'Observation', id: `o-${category}`, status: 'final', code: { text: 'x' },
  category: [{ coding: [{ system: OBS, code: category }] }],
  meta: { security: labels.map((code) => ({ system: ACT_CODE_SYSTEM, code })) },
});

const psychotherapyNote: Resource = {
  resourceType: 'DocumentReference', id: 'pn', status: 'current', content: [{ attachment: { url: 'Binary/1' } }],
  meta: { security: [{ system: ACT_CODE_SYSTEM, code: 'PSYTHPN' }] },
};

describe('checkAgreement', () => {
  const now = '2026-06-15T12:00:00Z';

  it('permits an active agreement within its period for an allowed purpose', () => {
    assert.deepEqual(checkAgreement(agreement({ validFrom: '2026-01-01', validTo: '2026-12-31' }), { purpose: 'TREAT', now }), { ok: true });
  });

  it('refuses a suspended or terminated agreement whatever else holds', () => {
    const s = checkAgreement(agreement({ status: 'suspended' }), { purpose: 'TREAT', now });
    assert.equal(s.ok === false && s.code, 'GW_AGREEMENT_SUSPENDED');
    const t = checkAgreement(agreement({ status: 'terminated', purposes: ['TREAT'] }), { purpose: 'TREAT', now });
    assert.equal(t.ok === false && t.code, 'GW_AGREEMENT_TERMINATED');
  });

  it('refuses before validFrom and after validTo, with inclusive FHIR boundaries at their precision', () => {
    const a = agreement({ validFrom: '2026-03-01', validTo: '2026-06-30' });
    const at = (t: string) => checkAgreement(a, { purpose: 'TREAT', now: t });
    assert.equal((at('2026-02-28T23:59:59.999Z') as { code: string }).code, 'GW_AGREEMENT_NOT_YET_VALID');
    assert.deepEqual(at('2026-03-01T00:00:00Z'), { ok: true }, 'the start is inclusive');
    assert.deepEqual(at('2026-06-30T23:59:59.999Z'), { ok: true }, 'a date-only end covers its whole day');
    assert.equal((at('2026-07-01T00:00:00Z') as { code: string }).code, 'GW_AGREEMENT_EXPIRED');
    const exact = agreement({ validTo: '2026-06-30T17:00:00Z' });
    assert.deepEqual(checkAgreement(exact, { purpose: 'TREAT', now: '2026-06-30T17:00:00.999Z' }), { ok: true });
    assert.equal((checkAgreement(exact, { purpose: 'TREAT', now: '2026-06-30T17:00:01Z' }) as { code: string }).code, 'GW_AGREEMENT_EXPIRED');
  });

  it('refuses a purpose the agreement does not list, without widening through the hierarchy', () => {
    const r = checkAgreement(agreement(), { purpose: 'HPAYMT', now });
    assert.equal(r.ok === false && r.code, 'GW_PURPOSE_NOT_ALLOWED');
    assert.equal(checkAgreement(agreement(), { purpose: 'ETREAT', now }).ok, false, 'ETREAT must be listed explicitly');
  });

  it('refuses an agreement whose period is not a date rather than ignoring it', () => {
    const r = checkAgreement(agreement({ validTo: 'next year' }), { purpose: 'TREAT', now });
    assert.equal(r.ok === false && r.code, 'GW_AGREEMENT_INVALID_PERIOD');
  });
});

describe('what may leave under an agreement', () => {
  it('allows listed types only; * allows every type', () => {
    assert.equal(agreementTypeAllowed(agreement(), 'Observation'), true);
    assert.equal(agreementTypeAllowed(agreement(), 'Claim'), false);
    assert.equal(agreementTypeAllowed(agreement({ resourceTypes: ['*'] }), 'Claim'), true);
    assert.equal(explainAgreementCoverage(agreement(), { resourceType: 'Claim' } as Resource).ok, false);
  });

  it('applies category constraints by system and code', () => {
    const a = agreement({ categories: { Observation: [CATEGORY.vitalSigns] } });
    assert.equal(agreementCovers(a, obs('vital-signs')), true);
    assert.equal(agreementCovers(a, obs('laboratory')), false);
    const other: Resource = { ...obs('x'), category: [{ coding: [{ system: 'urn:other', code: 'vital-signs' }] }] } as Resource;
    assert.equal(agreementCovers(a, other), false, 'the same code in another system is another category');
    const none = { ...obs('x'), category: undefined } as Resource;
    assert.equal(agreementCovers(a, none), false, 'no category: not in an allowed category');
    assert.equal(agreementCovers(a, { resourceType: 'Condition', id: 'c' } as Resource), true, 'other types are not constrained');
  });

  it('reads AllergyIntolerance.category codes with their implicit system', () => {
    const a = agreement({ resourceTypes: ['AllergyIntolerance'], categories: { AllergyIntolerance: ['http://hl7.org/fhir/allergy-intolerance-category|medication'] } });
    const allergy = (category: string) => ({ resourceType: 'AllergyIntolerance', id: 'a', patient: { reference: 'Patient/p' }, category: [category] }) as Resource;
    assert.equal(agreementCovers(a, allergy('medication')), true);
    assert.equal(agreementCovers(a, allergy('food')), false);
  });

  it('never lets excluded labels leave, whatever system the label carries', () => {
    const a = agreement({ excludedLabels: ['PSYTHPN', 'HIV'] });
    assert.equal(agreementCovers(a, obs('laboratory', ['HIV'])), false);
    const oddSystem = { ...obs('laboratory'), meta: { security: [{ system: 'urn:local', code: 'HIV' }] } } as Resource;
    assert.equal(agreementCovers(a, oddSystem), false);
    const r = explainAgreementCoverage(a, obs('laboratory', ['HIV']));
    assert.equal(r.ok === false && r.code, 'GW_LABEL_EXCLUDED');
  });

  it('excludes psychotherapy notes when excludedLabels is omitted, and only when an explicit list says otherwise lets them through', () => {
    assert.equal(agreementCovers(agreement(), psychotherapyNote), false);
    assert.equal(agreementCovers(agreement({ excludedLabels: [] }), psychotherapyNote), true);
  });
});

describe('agreementNarrowing', () => {
  it('matches nothing for a type the agreement does not cover', () => {
    assert.deepEqual(agreementNarrowing(agreement(), 'Claim'), []);
  });

  it('pushes categories and excluded labels into one AND-group', () => {
    const a = agreement({ categories: { Observation: [CATEGORY.vitalSigns, CATEGORY.laboratory] }, excludedLabels: ['PSYTHPN', 'ETH'] });
    assert.deepEqual(agreementNarrowing(a, 'Observation'), [[
      { code: 'category', values: [{ value: CATEGORY.vitalSigns }, { value: CATEGORY.laboratory }] },
      { code: '_security', modifier: 'not', values: [{ value: 'PSYTHPN' }, { value: 'ETH' }] },
    ]]);
    assert.deepEqual(agreementNarrowing(a, 'Patient'), [[{ code: '_security', modifier: 'not', values: [{ value: 'PSYTHPN' }, { value: 'ETH' }] }]]);
  });

  it('does not narrow an unconstrained type of an agreement without exclusions', () => {
    assert.equal(agreementNarrowing(agreement({ excludedLabels: [] }), 'Patient'), undefined);
  });

  it('combines two narrowings as AND, distributing the OR-groups', () => {
    const f = (code: string) => ({ code, values: [{ value: code }] });
    assert.deepEqual(andNarrowing([[f('a')], [f('b')]], [[f('c')]]), [[f('a'), f('c')], [f('b'), f('c')]]);
    assert.deepEqual(andNarrowing(undefined, [[f('c')]]), [[f('c')]]);
    assert.deepEqual(andNarrowing([], [[f('c')]]), []);
    assert.equal(andNarrowing(undefined, undefined), undefined);
  });
});

describe('agreementSchema', () => {
  const input = { partnerId: 'rx-1', purposes: ['TREAT'], resourceTypes: ['Patient', 'Observation'], consentRequired: false };

  it('fills defaults: active, not a business associate, psychotherapy notes excluded', () => {
    const a = parseAgreement(input, 'test');
    assert.equal(a.status, 'active');
    assert.equal(a.businessAssociate, false);
    assert.deepEqual(a.excludedLabels, ['PSYTHPN']);
  });

  it('names the field and the problem', () => {
    const bad = { ...input, purposes: [], validFrom: '2026-02-30', categories: { Patient: ['x|y'] }, extra: 1 };
    assert.throws(() => parseAgreement(bad, 'config/agreements/rx-1.yaml'), (e: Error) => {
      assert.match(e.message, /^config\/agreements\/rx-1\.yaml: invalid agreement: /);
      assert.match(e.message, /purposes: at least one purpose of use/);
      assert.match(e.message, /validFrom: not a valid calendar date/);
      assert.match(e.message, /only these types have categories/);
      assert.match(e.message, /extra/);
      return true;
    });
  });

  it('refuses a period that ends before it starts, categories for unlisted types, and a BA without its agreement', () => {
    const r = agreementSchema.safeParse({
      ...input, validFrom: '2026-06-01', validTo: '2026-05-31', categories: { Condition: [CATEGORY.problemListItem] }, businessAssociate: true,
    });
    assert.equal(r.success, false);
    const messages = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.ok(messages.includes('validTo: must not be before validFrom'), messages.join('\n'));
    assert.ok(messages.includes('categories.Condition: Condition is not in resourceTypes'), messages.join('\n'));
    assert.ok(messages.includes('legalReference: name the business associate agreement'), messages.join('\n'));
  });

  it('refuses category values that are not system|code tokens', () => {
    assert.equal(agreementSchema.safeParse({ ...input, categories: { Observation: ['laboratory'] } }).success, false);
  });

  it('accepts every default agreement', () => {
    for (const kind of ['ehr', 'specialist', 'therapist', 'pharmacy', 'hie', 'payer', 'internal'] as PartnerKind[]) {
      const r = agreementSchema.safeParse(defaultAgreementFor(kind, `p-${kind}`));
      assert.ok(r.success, `${kind}: ${JSON.stringify(r.error?.issues)}`);
    }
  });
});

describe('TEFCA exchange purposes', () => {
  it('map onto PurposeOfUse codes, bare or qualified with the XP system', () => {
    assert.equal(purposeFromTefca('T-TREAT'), 'TREAT');
    assert.equal(purposeFromTefca('T-TRTMNT'), 'TREAT');
    assert.equal(purposeFromTefca('T-PYMNT'), 'HPAYMT');
    assert.equal(purposeFromTefca('T-HCO'), 'HOPERAT');
    assert.equal(purposeFromTefca('T-PH'), 'PUBHLTH');
    assert.equal(purposeFromTefca('T-IAS'), 'PATRQT');
    assert.equal(purposeFromTefca('T-GOVDTRM'), 'GOV');
    assert.equal(purposeFromTefca(`${TEFCA_XP_SYSTEM}#T-IAS`), 'PATRQT');
    assert.equal(purposeFromTefca(`${TEFCA_XP_SYSTEM}|T-PYMNT`), 'HPAYMT');
  });

  it('refuses unknown codes, other systems and the companion-only T-GOVDTRM-ACP', () => {
    assert.equal(purposeFromTefca('T-NOPE'), undefined);
    assert.equal(purposeFromTefca('urn:oid:2.999#T-TREAT'), undefined);
    assert.equal(purposeFromTefca('T-GOVDTRM-ACP'), undefined);
    assert.equal(purposeFromTefca('toString'), undefined);
  });

  it('the TEFCA exchange purposes map into what an HIE default allows', () => {
    const hie = defaultAgreementFor('hie', 'qhin');
    for (const p of ['T-TREAT', 'T-PYMNT', 'T-HCO', 'T-PH', 'T-IAS', 'T-GOVDTRM']) {
      assert.ok(hie.purposes.includes(purposeFromTefca(p) as string), p);
    }
  });
});

describe('defaults per partner kind', () => {
  const kinds: PartnerKind[] = ['ehr', 'specialist', 'therapist', 'pharmacy', 'hie', 'payer', 'internal'];

  it('never include psychotherapy notes', () => {
    for (const kind of kinds) {
      const a = defaultAgreementFor(kind, kind);
      assert.ok(a.excludedLabels?.includes('PSYTHPN'), kind);
      assert.equal(agreementCovers(a, psychotherapyNote), false, kind);
    }
  });

  it('give a pharmacy only what dispensing safely needs', () => {
    const rx = defaultAgreementFor('pharmacy', 'rx');
    assert.deepEqual(rx.purposes, ['TREAT']);
    for (const t of ['MedicationRequest', 'Medication', 'AllergyIntolerance', 'Condition', 'Patient', 'Practitioner']) {
      assert.equal(agreementTypeAllowed(rx, t), true, t);
    }
    for (const t of ['DocumentReference', 'Encounter', 'Procedure', 'Immunization', 'Claim', 'CarePlan', 'DiagnosticReport']) {
      assert.equal(agreementTypeAllowed(rx, t), false, t);
    }
    assert.equal(agreementCovers(rx, obs('vital-signs')), true);
    assert.equal(agreementCovers(rx, obs('laboratory')), true);
    assert.equal(agreementCovers(rx, obs('social-history')), false);
    const condition = (code: string) => ({ resourceType: 'Condition', id: code, subject: { reference: 'Patient/p' },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code }] }] }) as Resource;
    assert.equal(agreementCovers(rx, condition('problem-list-item')), true);
    assert.equal(agreementCovers(rx, condition('encounter-diagnosis')), false);
  });

  it('give a therapist no laboratory results and only radiology reports', () => {
    const pt = defaultAgreementFor('therapist', 'pt');
    assert.equal(agreementCovers(pt, obs('vital-signs')), true);
    assert.equal(agreementCovers(pt, obs('laboratory')), false);
    assert.equal(agreementTypeAllowed(pt, 'Immunization'), false);
    const report = (system: string, code: string) => ({ resourceType: 'DiagnosticReport', id: code, status: 'final', code: { text: 'r' },
      category: [{ coding: [{ system, code }] }] }) as Resource;
    assert.equal(agreementCovers(pt, report('http://loinc.org', 'LP29684-5')), true);
    assert.equal(agreementCovers(pt, report('http://terminology.hl7.org/CodeSystem/v2-0074', 'LAB')), false);
  });

  it('keep payment data away from treating EHRs and clinical notes away from payers', () => {
    const ehr = defaultAgreementFor('ehr', 'e');
    assert.equal(agreementTypeAllowed(ehr, 'Claim'), false);
    assert.equal(agreementTypeAllowed(ehr, 'Observation'), true);
    const payer = defaultAgreementFor('payer', 'p');
    assert.equal(agreementTypeAllowed(payer, 'Claim'), true);
    assert.equal(agreementTypeAllowed(payer, 'DocumentReference'), false);
    assert.equal(agreementTypeAllowed(payer, 'Observation'), false);
    assert.ok(!payer.purposes.includes('TREAT'));
  });

  it('require consent for an HIE only, and let internal systems read every type for TPO', () => {
    for (const kind of kinds) assert.equal(defaultAgreementFor(kind, kind).consentRequired, kind === 'hie', kind);
    const internal = defaultAgreementFor('internal', 'lab');
    assert.equal(agreementTypeAllowed(internal, 'Claim'), true);
    assert.ok(internal.purposes.includes('HOPERAT') && internal.purposes.includes('TREAT'));
  });

  it('return independent copies', () => {
    const a = defaultAgreementFor('pharmacy', 'a');
    a.resourceTypes.push('Claim');
    assert.equal(agreementTypeAllowed(defaultAgreementFor('pharmacy', 'b'), 'Claim'), false);
  });
});

describe('shared date and purpose rules', () => {
  it('dateRange covers a value\'s whole precision and rejects invalid dates', () => {
    assert.deepEqual(dateRange('2026'), { start: Date.UTC(2026, 0, 1), end: Date.UTC(2027, 0, 1) });
    assert.deepEqual(dateRange('2026-02'), { start: Date.UTC(2026, 1, 1), end: Date.UTC(2026, 2, 1) });
    assert.deepEqual(dateRange('2026-02-03T10:00:00.5+01:00'), { start: Date.UTC(2026, 1, 3, 9, 0, 0, 500), end: Date.UTC(2026, 1, 3, 9, 0, 0, 600) });
    assert.equal(dateRange('2026-02-30'), undefined);
    assert.equal(dateRange('2026-02-03T10:00:00'), undefined, 'a time without a zone is not a FHIR dateTime');
    assert.equal(periodContains({ start: 'soon' }, 0), undefined);
  });

  it('permit purposes widen only within the same legal basis; deny purposes widen through the hierarchy', () => {
    assert.equal(purposeCovers('TREAT', 'ETREAT', 'permit'), true);
    assert.equal(purposeCovers('TREAT', 'CLINTRL', 'permit'), false);
    assert.equal(purposeCovers('TREAT', 'CLINTRL', 'deny'), true);
    assert.equal(purposeCovers('HOPERAT', 'GOV', 'permit'), false);
    assert.equal(purposeCovers('HPAYMT', 'ELIGVER', 'permit'), true);
    assert.equal(purposeCovers('ETREAT', 'TREAT', 'deny'), false, 'a narrower deny does not cover the broader purpose');
  });
});

describe('psychotherapy notes stay excluded unless the agreement says so in so many words', () => {
  it('adds PSYTHPN to any other exclusion list; only an explicit empty list admits them', () => {
    const base = { partnerId: 'p', purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false };
    assert.deepEqual(parseAgreement({ ...base, excludedLabels: ['HIV'] }, 't').excludedLabels, ['HIV', 'PSYTHPN']);
    assert.deepEqual(parseAgreement({ ...base, excludedLabels: ['PSYTPN'] }, 't').excludedLabels, ['PSYTPN', 'PSYTHPN'], 'a typo does not re-admit them');
    assert.deepEqual(parseAgreement(base, 't').excludedLabels, ['PSYTHPN']);
    assert.deepEqual(parseAgreement({ ...base, excludedLabels: [] }, 't').excludedLabels, []);
  });
});
