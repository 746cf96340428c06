/**
 * DS4P security labels on ingest: the shipped rules in config/labels, the meta.security contract
 * (exactly one confidentiality code, never lowered, idempotent, other labels kept) and rule-file
 * validation. Resources are written for the project (fictional patients).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Coding, Condition, MedicationRequest, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions, PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { createLabeler, LabelRuleError, loadLabeler, SEC_LABEL_BASIS_URL, type RuleSource } from '../../src/mapping/labels.js';
import { SYSTEMS } from '../../src/mapping/types.js';
import { validateForIngest } from '../../src/mapping/validate.js';

const LABELS_DIR = join(PROJECT_ROOT, 'config', 'labels');
const labeler = loadLabeler(LABELS_DIR);
const CPT = 'http://www.ama-assn.org/go/cpt';
const PCS = 'http://www.cms.gov/Medicare/Coding/ICD10';

const cc = (system: string, code: string) => ({ coding: [{ system, code }] });
const condition = (system: string, code: string): Condition => ({
  resourceType: 'Condition', id: 'c1', code: cc(system, code), subject: { reference: 'Patient/p1' },
});
const observation = (code: string): Resource => ({
  resourceType: 'Observation', id: 'o1', status: 'final', code: cc(SYSTEMS.loinc, code), subject: { reference: 'Patient/p1' },
});
const medicationRequest = (code: string): MedicationRequest => ({
  resourceType: 'MedicationRequest', id: 'm1', status: 'active', intent: 'order',
  medicationCodeableConcept: cc(SYSTEMS.rxnorm, code), subject: { reference: 'Patient/p1' },
});

const security = (r: Resource): Coding[] => r.meta?.security ?? [];
const confidentialities = (r: Resource) => security(r).filter((c) => c.system === SYSTEMS.confidentiality).map((c) => c.code);
const sensitivities = (r: Resource) => security(r).filter((c) => c.system === SYSTEMS.actCode).map((c) => c.code).sort();
const basisCodes = (r: Resource) => security(r).find((c) => c.system === SYSTEMS.confidentiality)?.extension
  ?.filter((e) => e.url === SEC_LABEL_BASIS_URL).map((e) => e.valueCoding?.code) ?? [];

/** Asserts the resource carries exactly one confidentiality code, `conf`, and exactly these sensitivity codes. */
function assertLabels(r: Resource, conf: string, sens: string[]): void {
  assert.deepEqual(confidentialities(r), [conf], `confidentiality of ${r.resourceType}`);
  assert.deepEqual(sensitivities(r), [...sens].sort(), `sensitivity of ${r.resourceType}`);
}

describe('security labels: shipped rules per category', () => {
  it('loads every rule file in config/labels, each naming its sources', () => {
    const files = readdirSync(LABELS_DIR).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, ['genetic.yaml', 'hiv.yaml', 'mental-health.yaml', 'sexual-reproductive-health.yaml', 'substance-use.yaml']);
    for (const f of files) assert.match(readFileSync(join(LABELS_DIR, f), 'utf8'), /^# Sources:$/m, `${f} has a Sources header`);
    assert.ok(labeler.ruleCount >= 30, `rule count ${labeler.ruleCount}`);
  });

  it('substance use (42 CFR Part 2): ETH, R and the 42CFRPart2 basis on diagnoses, prescriptions and tests', () => {
    for (const r of [
      condition(SYSTEMS.icd10cm, 'F11.20'),
      condition(SYSTEMS.icd10cm, 'f1020'), // undotted, lower case: as some feeds send it
      condition(SYSTEMS.snomed, '66590003'),
      medicationRequest('351267'),
      observation('3879-4'),
      { resourceType: 'Procedure', id: 'pr1', status: 'completed', code: cc(PCS, 'HZ30ZZZ'), subject: { reference: 'Patient/p1' } } as Resource,
    ]) {
      labeler.label(r);
      assertLabels(r, 'R', ['ETH']);
      assert.deepEqual(basisCodes(r), ['42CFRPart2']);
    }
  });

  it('substance use: nicotine dependence (F17) and pain-only buprenorphine are not Part 2 information', () => {
    const nicotine = labeler.label(condition(SYSTEMS.icd10cm, 'F17.210'));
    assertLabels(nicotine, 'N', []);
    assert.deepEqual(basisCodes(nicotine), []);
    assertLabels(labeler.label(medicationRequest('904870')), 'N', []); // 168 HR buprenorphine transdermal (pain)
  });

  it('mental health: PSY and R on diagnoses, psychotherapy and PHQ-9; dementia is not labelled', () => {
    assertLabels(labeler.label(condition(SYSTEMS.snomed, '370143000')), 'R', ['PSY']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'F32.1')), 'R', ['PSY']);
    assertLabels(labeler.label({ resourceType: 'Procedure', id: 'p', status: 'completed', code: cc(CPT, '90834'), subject: { reference: 'Patient/p1' } } as Resource), 'R', ['PSY']);
    assertLabels(labeler.label(observation('44261-6')), 'R', ['PSY']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'F03.90')), 'N', []);
    assert.deepEqual(basisCodes(labeler.label(condition(SYSTEMS.icd10cm, 'F20.9'))), [], 'no Part 2 basis outside SUD');
  });

  it('HIV: HIV and R on tests, diagnoses and antiretroviral statements', () => {
    assertLabels(labeler.label(observation('75622-1')), 'R', ['HIV']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'B20')), 'R', ['HIV']);
    const statement: Resource = {
      resourceType: 'MedicationStatement', id: 's', status: 'active', subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: cc(SYSTEMS.rxnorm, '1433868'),
    };
    assertLabels(labeler.label(statement), 'R', ['HIV']);
  });

  it('sexual and reproductive health: STD on infections, SEX on contraception and sexual orientation', () => {
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'A54.00')), 'R', ['STD']);
    assertLabels(labeler.label(condition(SYSTEMS.snomed, '15628003')), 'R', ['STD']);
    assertLabels(labeler.label(medicationRequest('748856')), 'R', ['SEX']);
    assertLabels(labeler.label(observation('76690-7')), 'R', ['SEX']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'Z30.011')), 'R', ['SEX']);
  });

  it('genetic information: GDIS and R on genetic reports and susceptibility; not on a manifested disease', () => {
    const report: Resource = { resourceType: 'DiagnosticReport', id: 'd', status: 'final', code: cc(SYSTEMS.loinc, '51969-4'), subject: { reference: 'Patient/p1' } };
    assertLabels(labeler.label(report), 'R', ['GDIS']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'Z15.01')), 'R', ['GDIS']);
    assertLabels(labeler.label(condition(SYSTEMS.icd10cm, 'E84.0')), 'N', []); // cystic fibrosis itself
  });

  it('a resource matching several categories carries all their sensitivity codes and one confidentiality', () => {
    const r = labeler.label({
      resourceType: 'Encounter', id: 'e', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      reasonCode: [cc(SYSTEMS.icd10cm, 'F11.20'), cc(SYSTEMS.icd10cm, 'B20')],
    } as Resource);
    assertLabels(r, 'R', ['ETH', 'HIV']);
  });

  it('inspects the documented elements: Observation.valueCodeableConcept, DocumentReference practice setting, Claim diagnosis', () => {
    const obs: Resource = { ...observation('11450-4'), valueCodeableConcept: cc(SYSTEMS.snomed, '86406008') } as Resource;
    assertLabels(labeler.label(obs), 'R', ['HIV']);
    const doc: Resource = {
      resourceType: 'DocumentReference', id: 'dr', status: 'current', content: [{ attachment: { contentType: 'text/plain' } }],
      context: { practiceSetting: cc(SYSTEMS.snomed, '394587001') },
    } as Resource;
    assertLabels(labeler.label(doc), 'R', ['PSY']);
    const claim: Resource = {
      resourceType: 'Claim', id: 'cl', status: 'active', use: 'claim', created: '2026-01-01',
      diagnosis: [{ sequence: 1, diagnosisCodeableConcept: cc(SYSTEMS.icd10cm, 'F10.20') }],
    } as Resource;
    assertLabels(labeler.label(claim), 'R', ['ETH']);
    // Immunization is not inspected: a CVX code never makes it sensitive.
    assertLabels(labeler.label({ resourceType: 'Immunization', id: 'i', status: 'completed', vaccineCode: cc(SYSTEMS.cvx, '08') } as Resource), 'N', []);
  });

  it('accepts HL7 OIDs for the code system', () => {
    assertLabels(labeler.label(condition('urn:oid:2.16.840.1.113883.6.90', 'F11.20')), 'R', ['ETH']);
  });
});

describe('security labels: meta.security contract', () => {
  it('labels N by default, with no sensitivity code', () => {
    const r = labeler.label(condition(SYSTEMS.snomed, '38341003')); // hypertension
    assert.deepEqual(security(r), [{ system: SYSTEMS.confidentiality, code: 'N', display: 'normal' }]);
  });

  it('returns the same object', () => {
    const r = condition(SYSTEMS.snomed, '38341003');
    assert.equal(labeler.label(r), r);
  });

  it('leaves exactly one confidentiality code when several are present (legacy and OID systems included)', () => {
    const r = condition(SYSTEMS.snomed, '38341003');
    r.meta = { security: [
      { system: SYSTEMS.confidentiality, code: 'N' },
      { system: 'http://hl7.org/fhir/v3/Confidentiality', code: 'R' },
      { system: 'urn:oid:2.16.840.1.113883.5.25', code: 'M' },
      { system: SYSTEMS.confidentiality, code: 'nonsense' },
    ] };
    labeler.label(r);
    assertLabels(r, 'R', []);
    assert.equal(security(r).length, 1);
  });

  it('never lowers an existing higher confidentiality (V stays V) and still adds the matched labels', () => {
    const r = condition(SYSTEMS.icd10cm, 'F11.20');
    r.meta = { security: [{ system: SYSTEMS.confidentiality, code: 'V' }] };
    labeler.label(r);
    assertLabels(r, 'V', ['ETH']);
    assert.deepEqual(basisCodes(r), ['42CFRPart2']);
  });

  it('keeps an existing R on a resource no rule matches', () => {
    const r = condition(SYSTEMS.snomed, '38341003');
    r.meta = { security: [{ system: SYSTEMS.confidentiality, code: 'R' }] };
    assertLabels(labeler.label(r), 'R', []);
  });

  it('raises a sender L to the N floor, since stored resources are identifiable PHI', () => {
    const r = condition(SYSTEMS.snomed, '38341003');
    r.meta = { security: [{ system: SYSTEMS.confidentiality, code: 'L' }] };
    assertLabels(labeler.label(r), 'N', []);
  });

  it('is idempotent: labelling twice gives the same meta.security, without duplicates', () => {
    const r = condition(SYSTEMS.icd10cm, 'F11.20');
    r.meta = { security: [{ system: SYSTEMS.actCode, code: 'ETH' }, { system: 'urn:fxg:local/tags', code: 'imported' }] };
    labeler.label(r);
    const once = structuredClone(r.meta?.security);
    labeler.label(labeler.label(r));
    assert.deepEqual(r.meta?.security, once);
    const keys = security(r).map((c) => `${c.system}|${c.code}`);
    assert.equal(new Set(keys).size, keys.length, 'no duplicate codes');
    assert.equal(security(r)[0]?.extension?.length, 1, 'one basis extension');
  });

  it('keeps unrelated labels and other meta fields as they were', () => {
    const other: Coding[] = [
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST', display: 'test health data' },
      { system: 'urn:fxg:local/tags', code: 'imported' },
      { system: SYSTEMS.actCode, code: 'NORDSCLCD' },
    ];
    const r = condition(SYSTEMS.icd10cm, 'B20');
    r.meta = { profile: ['http://example.org/p'], tag: [{ system: 'urn:x', code: 'y' }], security: structuredClone(other) };
    labeler.label(r);
    assert.deepEqual(security(r).filter((c) => c.system !== SYSTEMS.confidentiality && c.code !== 'HIV'), other);
    assert.deepEqual(r.meta?.profile, ['http://example.org/p']);
    assert.deepEqual(r.meta?.tag, [{ system: 'urn:x', code: 'y' }]);
    assertLabels(r, 'R', ['HIV', 'NORDSCLCD']);
  });

  it('labels a MedicationRequest through its contained Medication, and a Medication on its own', () => {
    const mr = {
      resourceType: 'MedicationRequest', id: 'm', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' },
      contained: [{ resourceType: 'Medication', id: 'med', code: cc(SYSTEMS.rxnorm, '1010604') }],
      medicationReference: { reference: '#med' },
    } as MedicationRequest;
    assertLabels(labeler.label(mr), 'R', ['ETH']);
    assertLabels(labeler.label({ resourceType: 'Medication', id: 'x', code: cc(SYSTEMS.rxnorm, '351266') } as Resource), 'R', ['ETH']);
  });

  it('labelAll gives a MedicationRequest the labels of the Medication it references in the same unit', () => {
    const med = { resourceType: 'Medication', id: 'bup', code: cc(SYSTEMS.rxnorm, '1010604') } as Resource;
    const mr = { ...medicationRequest('0'), medicationCodeableConcept: undefined, medicationReference: { reference: 'Medication/bup' } } as MedicationRequest;
    const unrelated = condition(SYSTEMS.snomed, '38341003');
    labeler.labelAll([mr, med, unrelated]);
    assertLabels(mr, 'R', ['ETH']);
    assertLabels(med, 'R', ['ETH']);
    assertLabels(unrelated, 'N', []);
    // label() alone cannot see the referenced Medication.
    const alone = { ...medicationRequest('0'), medicationCodeableConcept: undefined, medicationReference: { reference: 'Medication/bup' } } as MedicationRequest;
    assertLabels(labeler.label(alone), 'N', []);
  });

  it('a labelled US Core Condition still passes validation on ingest', () => {
    const r: Condition = {
      resourceType: 'Condition', id: 'uscore-sud',
      meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns'] },
      clinicalStatus: cc('http://terminology.hl7.org/CodeSystem/condition-clinical', 'active'),
      verificationStatus: cc('http://terminology.hl7.org/CodeSystem/condition-ver-status', 'confirmed'),
      category: [cc('http://terminology.hl7.org/CodeSystem/condition-category', 'problem-list-item')],
      code: { coding: [{ system: SYSTEMS.icd10cm, code: 'F11.20', display: 'Opioid dependence, uncomplicated' }] },
      subject: { reference: 'Patient/p1' },
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/condition-assertedDate', valueDateTime: '2026-01-05' }],
      recordedDate: '2026-01-05',
    };
    labeler.label(r);
    assertLabels(r, 'R', ['ETH']);
    const report = validateForIngest(loadFhirDefinitions(), r);
    assert.deepEqual(report.invalid, []);
    assert.deepEqual(report.profile, []);
  });
});

describe('security labels: rule files', () => {
  const file = (rules: unknown[], extra: Record<string, unknown> = {}): RuleSource => ({
    source: 'labels/test.yaml',
    content: { category: 'test', description: 'test rules', sensitivity: 'PSY', confidentiality: 'R', rules, ...extra },
  });
  const refused = (files: RuleSource[], pattern: RegExp) => {
    assert.throws(() => createLabeler(files), (err: unknown) => {
      assert.ok(err instanceof LabelRuleError, 'a LabelRuleError');
      assert.match((err as Error).message, pattern);
      return true;
    });
  };

  it('builds a labeler from inline rules; a rule can override the file sensitivity and confidentiality', () => {
    const l = createLabeler([file([
      { id: 'a', system: SYSTEMS.snomed, codes: [{ code: '1', display: 'one' }] },
      { id: 'b', system: SYSTEMS.snomed, sensitivity: ['SDV', 'SEX'], confidentiality: 'V', codes: [{ code: '2', display: 'two' }] },
    ])]);
    assertLabels(l.label(condition(SYSTEMS.snomed, '1')), 'R', ['PSY']);
    assertLabels(l.label(condition(SYSTEMS.snomed, '2')), 'V', ['SDV', 'SEX']);
    assertLabels(l.label(condition(SYSTEMS.snomed, '12')), 'N', []);
  });

  it('refuses an unknown sensitivity code, naming the file and the rule', () => {
    refused([file([{ id: 'typo', system: SYSTEMS.snomed, sensitivity: 'PYS', codes: [{ code: '1', display: 'x' }] }])],
      /labels\/test\.yaml.*\n.*rule "typo" \(rules\[0\]\) sensitivity.*InformationSensitivityPolicy/);
  });

  it('refuses prefixes for a non-hierarchical code system', () => {
    refused([file([{ id: 'snomed-prefix', system: SYSTEMS.snomed, prefixes: [{ prefix: '123', display: 'x' }] }])],
      /rule "snomed-prefix" \(rules\[0\]\) prefixes: prefixes are only allowed/);
  });

  it('refuses a rule with neither codes nor prefixes, an unknown field, and a bad confidentiality', () => {
    refused([file([{ id: 'empty', system: SYSTEMS.snomed }])], /rule "empty" \(rules\[0\]\): give exactly one of `codes` or `prefixes`/);
    refused([file([{ id: 'extra', system: SYSTEMS.snomed, code: '1' }])], /rule "extra" \(rules\[0\]\).*code/);
    refused([file([{ id: 'ok', system: SYSTEMS.snomed, codes: [{ code: '1', display: 'x' }] }], { confidentiality: 'X' })], /confidentiality/);
  });

  it('refuses a rule id used twice, naming both files', () => {
    const rule = { id: 'dup', system: SYSTEMS.snomed, codes: [{ code: '1', display: 'x' }] };
    refused([file([rule]), { ...file([rule]), source: 'labels/other.yaml' }], /labels\/other\.yaml: rule "dup".*already used in labels\/test\.yaml/);
  });

  it('refuses a directory without rule files', () => {
    assert.throws(() => loadLabeler(join(PROJECT_ROOT, 'src', 'core')), /no \*\.yaml rule files/);
  });
});
