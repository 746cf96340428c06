/**
 * Issue #3: "The example clinic export imports through fxg import --mapping, and searches over it
 * return the right records." The real `fxg` command imports fixtures/clinic into a SQLite data dir;
 * the gateway started on that data dir answers FHIR searches over HTTP with the fixture's rows, each
 * labelled on ingest; a second import changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import type { Gateway } from '../../src/app.js';
import { CLINIC_DIR, fxg, gatewayOn, tokenFor } from './helpers.js';

const FILES = ['patients.csv', 'visits.csv', 'problems.csv', 'allergies.json', 'labs.ndjson', 'prescriptions.csv', 'immunizations.csv'];
const MRN = 'https://riverside-clinic.example.org/fhir/sid/mrn';
const TYPES = ['Patient', 'Encounter', 'Condition', 'AllergyIntolerance', 'Observation', 'MedicationRequest', 'Practitioner', 'Immunization', 'Provenance'];
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

describe('fxg import --mapping clinic: the example clinic export', { timeout: 60_000 }, () => {
  let dir: string;
  let first: Awaited<ReturnType<typeof fxg>>;
  let gw: Gateway;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fxg-clinic-'));
    first = await fxg(dir, 'import', '--mapping', 'clinic', ...FILES.map((f) => join(CLINIC_DIR, f)));
    gw = await gatewayOn(dir);
    token = await tokenFor(gw, { id: 'clinic-portal', kind: 'internal', scopes: ['system/*.rs'] });
  });
  after(async () => {
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A FHIR search over HTTP; the resources of the searchset. */
  async function search<T extends Resource = Resource>(query: string): Promise<T[]> {
    const res = await request(gw.app).get(`/fhir/${query}`).auth(token, { type: 'bearer' });
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
    return ((res.body as Bundle).entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as T);
  }
  const idsOf = (rs: Resource[]) => rs.map((r) => (r as { identifier?: Array<{ value?: string }> }).identifier?.[0]?.value).sort();
  const codes = (c: { coding?: Coding[] } | undefined) => (c?.coding ?? []).map((x) => `${x.system}|${x.code}`);
  async function patientId(mrn: string): Promise<string> {
    const found = await search(`Patient?identifier=${encodeURIComponent(`${MRN}|${mrn}`)}`);
    assert.equal(found.length, 1, `one Patient for MRN ${mrn}`);
    return found[0]!.id!;
  }

  it('imports every record of the seven files and reports the counts', () => {
    assert.equal(first.code, 0, first.stdout + first.stderr);
    // 9 patients, 10 visits, 11 problems, 5 allergies, 11 labs, 9 prescriptions, 5 immunizations.
    assert.match(first.stdout, /^60 records \(mapping clinic\): 60 stored, 0 unchanged, 0 failed/m);
    assert.doesNotMatch(first.stdout, /FAILED|warning/);
  });

  it('Patient search by MRN returns the patient as exported', async () => {
    const [p] = await search<import('@medplum/fhirtypes').Patient>(`Patient?identifier=${encodeURIComponent(`${MRN}|100001`)}`);
    assert.equal(p?.name?.[0]?.family, 'Okafor');
    assert.deepEqual(p?.name?.[0]?.given, ['Adaeze', 'N']);
    assert.equal(p?.birthDate, '1968-03-14');
    assert.equal(p?.gender, 'female');
    assert.equal(p?.telecom?.find((t) => t.system === 'phone')?.value, '(312) 555-0142');
    assert.equal(p?.address?.[0]?.line?.[0], '1450 W Lake St, Apt 3', 'a quoted CSV field with a comma');
    const ramirez = await search<import('@medplum/fhirtypes').Patient>('Patient?family=Ram%C3%ADrez');
    assert.deepEqual(idsOf(ramirez), ['100003'], 'UTF-8 names survive the BOM-prefixed CRLF export');
  });

  it('Condition?patient= returns exactly that patient\'s problems, coded locally, in SNOMED CT and ICD-10-CM', async () => {
    const conditions = await search<import('@medplum/fhirtypes').Condition>(`Condition?patient=${await patientId('100001')}`);
    assert.deepEqual(idsOf(conditions), ['P-7001', 'P-7002']);
    const dm2 = conditions.find((c) => c.identifier?.[0]?.value === 'P-7001');
    assert.deepEqual(codes(dm2?.code), ['urn:fxg:local/clinic-problem|DM2', 'http://snomed.info/sct|44054006', 'http://hl7.org/fhir/sid/icd-10-cm|E11.9']);
    assert.equal(dm2?.onsetDateTime, '2016-04');
    assert.deepEqual(idsOf(await search(`Condition?patient=${await patientId('100006')}&clinical-status=resolved`)), ['P-7008']);
    assert.deepEqual(idsOf(await search(`Condition?code=${encodeURIComponent('http://hl7.org/fhir/sid/icd-10-cm|I10')}`)), ['P-7002', 'P-7003']);
  });

  it('Observation?patient=&category=laboratory returns the patient\'s lab results with LOINC codes and UCUM values', async () => {
    const id = await patientId('100001');
    const labs = await search<import('@medplum/fhirtypes').Observation>(`Observation?patient=${id}&category=laboratory`);
    assert.deepEqual(idsOf(labs), ['L-40001', 'L-40002', 'L-40003']);
    const glucose = labs.find((o) => o.identifier?.[0]?.value === 'L-40001');
    assert.ok(codes(glucose?.code).includes('http://loinc.org|2345-7'));
    assert.deepEqual(glucose?.valueQuantity, { value: 142, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    assert.equal(glucose?.effectiveDateTime, '2024-03-05T08:45:00-06:00', 'Chicago wall-clock time with the offset of that day');
    assert.deepEqual(idsOf(await search(`Observation?patient=${id}&code=${encodeURIComponent('http://loinc.org|4548-4')}`)), ['L-40002']);
    assert.deepEqual(idsOf(await search(`Observation?patient=${await patientId('100007')}&status=preliminary`)), ['L-40010']);
  });

  it('MedicationRequest?patient= returns the prescriptions with RxNorm codes and one shared prescriber', async () => {
    const meds = await search<import('@medplum/fhirtypes').MedicationRequest>(`MedicationRequest?patient=${await patientId('100001')}`);
    assert.deepEqual(idsOf(meds), ['RX-9001', 'RX-9002']);
    assert.deepEqual(meds.map((m) => codes(m.medicationCodeableConcept).find((c) => c.startsWith('http://www.nlm.nih.gov/research/umls/rxnorm|'))).sort(),
      ['http://www.nlm.nih.gov/research/umls/rxnorm|314076', 'http://www.nlm.nih.gov/research/umls/rxnorm|860975']);
    const requesters = new Set(meds.map((m) => m.requester?.reference));
    assert.equal(requesters.size, 1, 'both rows name the same prescriber');
    const [prescriber] = await search<import('@medplum/fhirtypes').Practitioner>(`Practitioner?_id=${[...requesters][0]!.split('/')[1]}`);
    assert.equal(prescriber?.identifier?.[0]?.value, '1234567893');
    assert.equal(prescriber?.name?.[0]?.family, 'Whitfield');
    assert.deepEqual(idsOf(await search(`MedicationRequest?patient=${await patientId('100002')}&status=stopped`)), ['RX-9009']);
  });

  it('Encounter, AllergyIntolerance and Immunization searches return the rows of the right patient', async () => {
    const id = await patientId('100001');
    assert.deepEqual(idsOf(await search(`Encounter?patient=${id}`)), ['V-5001', 'V-5002']);
    const [allergy, ...more] = await search<import('@medplum/fhirtypes').AllergyIntolerance>(`AllergyIntolerance?patient=${id}`);
    assert.equal(more.length, 0);
    assert.equal(allergy?.identifier?.[0]?.value, 'A-2001');
    assert.ok(codes(allergy?.code).includes('http://www.nlm.nih.gov/research/umls/rxnorm|70618'));
    const [imm, ...moreImm] = await search<import('@medplum/fhirtypes').Immunization>(`Immunization?patient=${id}`);
    assert.equal(moreImm.length, 0);
    assert.equal(imm?.identifier?.[0]?.value, 'IM-3001');
    assert.ok(codes(imm?.vaccineCode).includes('http://hl7.org/fhir/sid/cvx|140'));
    assert.deepEqual(idsOf(await search(`Immunization?patient=${await patientId('100006')}&status=not-done`)), ['IM-3005']);
  });

  it('labels sensitive records on ingest: substance use ETH + R (42 CFR Part 2), HIV, mental health PSY; the rest exactly one N', async () => {
    const labels = (r: Resource) => {
      const sec = r.meta?.security ?? [];
      const conf = sec.filter((s) => s.system === CONFIDENTIALITY);
      assert.equal(conf.length, 1, `${r.resourceType}/${r.id}: exactly one confidentiality code`);
      const basis = (conf[0]!.extension ?? []).map((e) => e.valueCoding?.code);
      return [conf[0]!.code, ...sec.filter((s) => s.system === ACT_CODE).map((s) => s.code).sort(), ...basis.map((b) => `basis:${b}`)].join(' ');
    };
    const all = await gw.stores.resources.search({ resourceType: 'Condition', filters: [], count: 100, offset: 0 });
    const byProblem = Object.fromEntries(all.resources.map((c) => [(c as { identifier?: Array<{ value?: string }> }).identifier?.[0]?.value, labels(c)]));
    assert.deepEqual(byProblem, {
      'P-7001': 'N', 'P-7002': 'N', 'P-7003': 'N', 'P-7004': 'N', 'P-7006': 'N', 'P-7008': 'N',
      'P-7005': 'R PSY', // major depression
      'P-7010': 'R PSY', // generalized anxiety
      'P-7007': 'R ETH basis:42CFRPart2', // opioid use disorder
      'P-7011': 'R ETH basis:42CFRPart2', // alcohol use disorder
      'P-7009': 'R HIV',
    });
    const meds = await gw.stores.resources.search({ resourceType: 'MedicationRequest', filters: [], count: 100, offset: 0 });
    const byRx = Object.fromEntries(meds.resources.map((m) => [(m as { identifier?: Array<{ value?: string }> }).identifier?.[0]?.value, labels(m)]));
    assert.equal(byRx['RX-9008'], 'R ETH basis:42CFRPart2', 'buprenorphine/naloxone film is Part 2 information');
    assert.equal(byRx['RX-9005'], 'N', 'sertraline alone is not labelled');
    for (const type of ['Patient', 'Encounter', 'Observation', 'Immunization', 'AllergyIntolerance']) {
      const rs = await gw.stores.resources.search({ resourceType: type, filters: [], count: 100, offset: 0 });
      assert.ok(rs.resources.length > 0);
      for (const r of rs.resources) assert.equal(labels(r), 'N', `${type}/${r.id}`);
    }
  });

  it('importing the same export again changes nothing', async () => {
    const versions = async () => {
      const out: Record<string, string> = {};
      for (const type of TYPES) {
        for (const r of (await gw.stores.resources.search({ resourceType: type, filters: [], count: 1000, offset: 0 })).resources) {
          out[`${type}/${r.id}`] = `${r.meta?.versionId} ${r.meta?.lastUpdated}`;
        }
      }
      return out;
    };
    const before = await versions();
    assert.ok(Object.keys(before).length >= 60 + 3, 'the resources of every record, the prescribers and the Provenances');
    const again = await fxg(dir, 'import', '--mapping', 'clinic', ...FILES.map((f) => join(CLINIC_DIR, f)));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /^60 records \(mapping clinic\): 0 stored, 60 unchanged, 0 failed/m);
    assert.deepEqual(await versions(), before, 'no new version, no new resource');
  });
});
