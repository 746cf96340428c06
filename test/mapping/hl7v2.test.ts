/**
 * HL7 v2 -> FHIR R4 / US Core 6.1.0 mapper: the project's fixtures (every message type the gateway
 * maps), identity and determinism, merges, separators, refusals, header parsing, dates and time
 * zones, terminology, and the third-party corpus in ../shared (skipped when absent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { isFhirId } from '../../src/core/ids.js';
import { MappingError } from '../../src/mapping/types.js';
import { hl7Header, mapHl7v2, splitHl7Messages } from '../../src/mapping/hl7v2/index.js';
import { parseHl7Time } from '../../src/mapping/hl7v2/datetime.js';
import { unescapeHl7 } from '../../src/mapping/hl7v2/escape.js';
import { isValidNpi } from '../../src/mapping/hl7v2/actors.js';
import { SHARED, byType, fixture, fixtureNames, memoryTerminology, validationErrors } from './hl7v2-helpers.js';

const deps = { terminology: memoryTerminology() };
const map = (text: string) => mapHl7v2(text, deps);
const one = (name: string) => map(fixture(name));

/** Expects a MappingError of `kind` whose message matches `pattern`; returns it. */
function refused(text: string, kind: 'content' | 'unprocessable', pattern: RegExp): MappingError {
  try {
    map(text);
  } catch (err) {
    assert.ok(err instanceof MappingError, `expected a MappingError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.match(err.message, pattern);
    assert.ok(err.issues.length >= 1 && err.issues[0]!.severity === 'error');
    return err;
  }
  assert.fail(`expected the message to be refused (${pattern})`);
}

const A01 = fixture('adt-a01-admit.hl7');
const msg = (...segments: string[]) => segments.join('\r');
const MSH = (type: string, ctl = 'T-1', ts = '20240311083015-0500') => `MSH|^~\\&|TEST_APP|TEST_FAC|FXG|FXG|${ts}||${type}|${ctl}|P|2.5.1`;
const PID = 'PID|1||MRN-1^^^TEST_FAC^MR||Quillfeather^Orla^^^^^L||19800101|F';

test('every fixture message maps and every resource validates against base R4 and its US Core profile', () => {
  for (const name of fixtureNames()) {
    for (const [i, text] of splitHl7Messages(fixture(name)).entries()) {
      const unit = map(text);
      assert.deepEqual(validationErrors(unit.resources), [], `${name} message ${i + 1}`);
      for (const r of unit.resources) {
        assert.ok(r.id && isFhirId(r.id), `${name}: ${r.resourceType} id ${r.id}`);
        assert.match(r.meta?.profile?.[0] ?? '', /^http:\/\/hl7\.org\/fhir\/us\/core\/StructureDefinition\/us-core-/, `${name}: ${r.resourceType} profile`);
        assert.match(r.meta?.source ?? '', /^urn:hl7v2:[^\s#]+:[^\s#]*#\S+$/, `${name}: ${r.resourceType} meta.source`);
      }
    }
  }
});

test('every message type the gateway maps is covered by a fixture', () => {
  const types = new Set(fixtureNames().flatMap((n) => splitHl7Messages(fixture(n)).map((m) => { const h = hl7Header(m); return `${h.messageType}^${h.trigger}`; })));
  for (const t of ['ADT^A01', 'ADT^A03', 'ADT^A04', 'ADT^A08', 'ADT^A28', 'ADT^A31', 'ADT^A40', 'ORU^R01', 'RDE^O11', 'OMP^O09', 'VXU^V04', 'MDM^T02']) {
    assert.ok(types.has(t), t);
  }
});

test('mapping is deterministic: the same message twice gives identical resources, ids and Provenance', () => {
  for (const name of fixtureNames()) {
    const text = fixture(name);
    assert.deepEqual(splitHl7Messages(text).map(map), splitHl7Messages(text).map(map), name);
  }
});

test('the Provenance targets every other resource, is recorded at MSH-7 and names the sender and the message', () => {
  const unit = one('adt-a01-admit.hl7');
  const [prov] = byType(unit.resources, 'Provenance');
  assert.ok(prov);
  assert.equal(unit.source, 'MSH-10 RGH-ADT-1001');
  assert.equal(prov.recorded, '2024-03-11T08:30:15-05:00');
  const others = unit.resources.filter((r) => r.resourceType !== 'Provenance').map((r) => `${r.resourceType}/${r.id}`);
  assert.deepEqual(prov.target.map((t) => t.reference).sort(), others.sort());
  const [org] = byType(unit.resources, 'Organization');
  assert.equal(org?.name, 'RIVERSIDE_GH');
  assert.deepEqual(org?.identifier, [{ system: 'urn:ietf:rfc:3986', value: 'urn:oid:2.16.840.1.113883.3.9999.1' }]);
  assert.deepEqual(prov.agent.map((a) => [a.type?.coding?.[0]?.code, a.who?.reference]), [['author', `Organization/${org!.id}`], ['transmitter', `Organization/${org!.id}`]]);
  assert.deepEqual(prov.entity?.[0]?.what?.identifier, { system: 'urn:hl7v2:RIVERSIDE_EHR:RIVERSIDE_GH', value: 'RGH-ADT-1001' });
  assert.equal(prov.meta?.source, 'urn:hl7v2:RIVERSIDE_EHR:RIVERSIDE_GH#RGH-ADT-1001');
});

test('A01 admission: Patient, Encounter, Location, attending Practitioner, weight, allergy, diagnosis, procedure', () => {
  const r = one('adt-a01-admit.hl7').resources;
  const [p] = byType(r, 'Patient');
  assert.equal(p?.identifier?.[0]?.system, 'urn:oid:2.16.840.1.113883.3.9999.1');
  assert.equal(p?.identifier?.[0]?.value, 'MRN-448812');
  assert.ok(p?.identifier?.some((i) => i.system === 'http://hl7.org/fhir/sid/us-ssn' && i.value === '999-12-3456'));
  assert.deepEqual(p?.name?.[0], { use: 'official', family: 'Okafor', given: ['Adaeze', 'Nkem'] });
  assert.equal(p?.gender, 'female');
  assert.equal(p?.birthDate, '1986-02-14');
  assert.deepEqual(p?.telecom, [
    { system: 'phone', value: '+1 (503) 5550142', use: 'home' },
    { system: 'email', value: 'ada.okafor@example.org' },
    { system: 'phone', value: '+1 (503) 5550199 x12', use: 'work' },
  ]);
  assert.equal(p?.maritalStatus?.coding?.[0]?.code, 'M');
  assert.equal(p?.contact?.[0]?.relationship?.[0]?.coding?.[0]?.code, 'SPO');
  assert.deepEqual(p?.extension?.map((e) => e.url.split('/').pop()), ['us-core-race', 'us-core-ethnicity']);

  const [enc] = byType(r, 'Encounter');
  assert.equal(enc?.status, 'in-progress');
  assert.equal(enc?.class.code, 'IMP');
  assert.equal(enc?.period?.start, '2024-03-11T07:45:00-05:00');
  assert.equal(enc?.identifier?.[0]?.value, 'V2024-0311-0042');
  assert.equal(enc?.subject?.reference, `Patient/${p!.id}`);
  const [loc] = byType(r, 'Location');
  assert.equal(enc?.location?.[0]?.location.reference, `Location/${loc!.id}`);
  const [doc] = byType(r, 'Practitioner');
  assert.deepEqual(doc?.identifier, [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }]);
  assert.equal(enc?.participant?.length, 2, 'attending and admitting');

  const [weight] = byType(r, 'Observation');
  assert.deepEqual(weight?.valueQuantity, { value: 68.2, unit: 'kilogram', system: 'http://unitsofmeasure.org', code: 'kg' });
  assert.deepEqual(weight?.note, [{ text: 'Weighed on admission, without shoes' }]);
  assert.equal(weight?.encounter?.reference, `Encounter/${enc!.id}`);
  const [allergy] = byType(r, 'AllergyIntolerance');
  assert.equal(allergy?.code?.coding?.[0]?.system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
  assert.deepEqual(allergy?.category, ['medication']);
  assert.deepEqual(allergy?.reaction?.[0], { manifestation: [{ text: 'Hives' }, { text: 'Shortness of breath' }], severity: 'severe' });
  const [dx] = byType(r, 'Condition');
  assert.deepEqual(dx?.code?.coding?.[0], { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'J18.9', display: 'Pneumonia, unspecified organism' });
  const [proc] = byType(r, 'Procedure');
  assert.equal(proc?.performedDateTime, '2024-03-11T08:15:00-05:00');
});

test('A08 and A03 land on the A01 Patient and Encounter; A31 on the A28 Patient', () => {
  const ids = (name: string, type: string) => {
    const found = one(name).resources.filter((r) => r.resourceType === type).map((r) => r.id);
    assert.equal(found.length, 1, `${name}: one ${type}`);
    return found;
  };
  assert.deepEqual(ids('adt-a08-update.hl7', 'Patient'), ids('adt-a01-admit.hl7', 'Patient'));
  assert.deepEqual(ids('adt-a08-update.hl7', 'Encounter'), ids('adt-a01-admit.hl7', 'Encounter'));
  assert.deepEqual(ids('adt-a03-discharge.hl7', 'Encounter'), ids('adt-a01-admit.hl7', 'Encounter'));
  assert.deepEqual(ids('adt-a31-update-person.hl7', 'Patient'), ids('adt-a28-add-person.hl7', 'Patient'));
  const [updated] = byType(one('adt-a08-update.hl7').resources, 'Patient');
  assert.equal(updated?.address?.[0]?.line?.[0], '88 Alder Court');
  const [discharged] = byType(one('adt-a03-discharge.hl7').resources, 'Encounter');
  assert.equal(discharged?.status, 'finished');
  assert.equal(discharged?.period?.end, '2024-03-15T11:00:00-05:00');
  // A28/A31 with patient class N: person registration, no Encounter.
  assert.equal(byType(one('adt-a28-add-person.hl7').resources, 'Encounter').length, 0);
});

test('A40 merge: survivor replaces the prior Patient, which is retired with the id its own messages gave it', () => {
  const r = one('adt-a40-merge.hl7').resources;
  const [survivor, prior] = byType(r, 'Patient');
  assert.equal(survivor?.id, byType(one('adt-a01-admit.hl7').resources, 'Patient')[0]?.id);
  const priorAlone = map(msg(MSH('ADT^A04'), 'PID|1||MRN-771001^^^RIVERSIDE_GH&2.16.840.1.113883.3.9999.1&ISO^MR||Okafor^Ada^^^^^L||19860214|F'));
  assert.equal(prior?.id, byType(priorAlone.resources, 'Patient')[0]?.id);
  assert.deepEqual(survivor?.link, [{ other: { reference: `Patient/${prior!.id}` }, type: 'replaces' }]);
  assert.equal(prior?.active, false);
  assert.deepEqual(prior?.link, [{ other: { reference: `Patient/${survivor!.id}` }, type: 'replaced-by' }]);
  assert.deepEqual(prior?.name, [{ use: 'official', family: 'Okafor', given: ['Ada'] }], 'MRG-7 prior name');
  refused(msg(MSH('ADT^A40'), PID), 'content', /PID: has no MRG segment/);
  refused(msg(MSH('ADT^A40'), PID, 'MRG|MRN-1^^^TEST_FAC^MR'), 'content', /MRG-1: names the same patient/);
});

test('ORU^R01: lab DiagnosticReport with results, specimen recorded by logical reference, SN and SNOMED values', () => {
  const r = one('oru-r01-lab-specimen.hl7').resources;
  const [report] = byType(r, 'DiagnosticReport');
  const obs = byType(r, 'Observation');
  assert.equal(report?.status, 'final');
  assert.equal(report?.meta?.profile?.[0], 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-diagnosticreport-lab');
  assert.equal(report?.effectiveDateTime, '2024-03-11T09:30:00-05:00');
  assert.equal(report?.issued, '2024-03-11T16:05:00-05:00');
  assert.deepEqual(report?.result?.map((x) => x.reference), obs.map((o) => `Observation/${o.id}`));
  const specimen = { type: 'Specimen', identifier: { system: 'urn:fxg:local/id/RIVERSIDE_LIS', value: 'SPC-55831-1' }, display: 'Urine specimen specimen' };
  assert.deepEqual(report?.specimen, [specimen]);
  assert.ok(obs.every((o) => JSON.stringify(o.specimen) === JSON.stringify(specimen)));
  assert.ok(obs.every((o) => o.category?.[0]?.coding?.[0]?.code === 'laboratory'));
  assert.deepEqual(obs.map((o) => o.meta?.profile?.[0]?.split('/').pop()), Array(4).fill('us-core-observation-lab'));
  assert.deepEqual(obs[0]?.referenceRange?.[0]?.low, { value: 5, unit: 'pH', system: 'http://unitsofmeasure.org', code: '[pH]' });
  assert.equal(obs[1]?.valueCodeableConcept?.coding?.[0]?.system, 'http://snomed.info/sct');
  assert.deepEqual(obs[2]?.valueQuantity, { value: 50, comparator: '>', unit: 'per high power field', system: 'http://unitsofmeasure.org', code: '/[HPF]' });
  assert.equal(obs[2]?.interpretation?.[0]?.coding?.[0]?.code, 'H');
  assert.deepEqual(obs[2]?.note, [{ text: 'Repeat collection advised if symptoms persist' }]);
  assert.equal(obs[3]?.valueString, 'Cloudy');
});

test('a correction of a result lands on the same Observation and DiagnosticReport', () => {
  const original = one('oru-r01-lab-specimen.hl7');
  const corrected = map(fixture('oru-r01-lab-specimen.hl7').replace('RGH-LAB-2001', 'RGH-LAB-2002').replace('|6.5|', '|6.0|').replace('5.0-8.0|N|||F', '5.0-8.0|N|||C'));
  const ids = (u: typeof original) => u.resources.filter((r) => r.resourceType !== 'Provenance').map((r) => r.id);
  assert.deepEqual(ids(corrected), ids(original));
  assert.equal(byType(corrected.resources, 'Observation')[0]?.status, 'corrected');
  assert.notEqual(byType(corrected.resources, 'Provenance')[0]?.id, byType(original.resources, 'Provenance')[0]?.id);
});

test('OMP^O09 and the pharmacy RDE^O11 for the same placer order give one MedicationRequest and Medication', () => {
  const omp = one('omp-o09-order.hl7').resources;
  const rde = one('rde-o11-pharmacy.hl7').resources;
  const [mrO] = byType(omp, 'MedicationRequest');
  const [mrR] = byType(rde, 'MedicationRequest');
  assert.equal(mrO?.id, mrR?.id);
  assert.equal(byType(omp, 'Medication')[0]?.id, byType(rde, 'Medication')[0]?.id);
  assert.equal(mrO?.status, 'active');
  assert.equal(mrO?.intent, 'order');
  assert.equal(mrO?.requester?.reference?.startsWith('Practitioner/'), true);
  assert.deepEqual(mrO?.note, [{ text: 'Hold if systolic pressure below 100' }]);
  assert.deepEqual(mrO?.substitution, { allowedBoolean: false });
  assert.deepEqual(mrO?.dispenseRequest, { numberOfRepeatsAllowed: 2, quantity: { value: 30, unit: 'tablet' } });
  assert.equal(mrR?.dosageInstruction?.[0]?.text, 'Take one tablet by mouth twice a day BID');
  assert.deepEqual(mrR?.dosageInstruction?.[0]?.route?.coding?.[0], { system: 'http://terminology.hl7.org/CodeSystem/v2-0162', code: 'PO', display: 'Oral' });
  assert.deepEqual(mrR?.dosageInstruction?.[0]?.doseAndRate?.[0]?.doseQuantity, { value: 5, unit: 'milligram' });
  assert.equal(byType(rde, 'Medication')[0]?.code?.coding?.[0]?.code, '197361');
});

test('a medication order without prescriber is refused (US Core and pharmacies need the requester)', () => {
  refused(msg(MSH('OMP^O09'), PID, 'ORC|NW|RX-1', 'RXO|197361^Amlodipine 5 MG Oral Tablet^RXNORM'), 'content', /ORC-12: ordering provider \(ORC-12\) and ordering facility \(ORC-21\) are both empty/);
  refused(msg(MSH('OMP^O09'), PID, 'ORC|NW|||||||||||1234567893^Lindqvist^Maren', 'RXO|197361^Amlodipine^RXNORM'), 'content', /ORC: has neither a placer \(ORC-2\) nor a filler/);
});

test('VXU^V04: Immunization with CVX, lot, manufacturer, route, site, eligibility, VIS; AL1 allergy', () => {
  const r = one('vxu-v04-immunization.hl7').resources;
  const [imm] = byType(r, 'Immunization');
  assert.equal(imm?.status, 'completed');
  assert.deepEqual(imm?.vaccineCode.coding?.[0], { system: 'http://hl7.org/fhir/sid/cvx', code: '20', display: 'DTaP' });
  assert.equal(imm?.occurrenceDateTime, '2024-04-15T10:05:00-05:00');
  assert.equal(imm?.primarySource, true);
  assert.equal(imm?.lotNumber, 'U7182AB');
  assert.equal(imm?.expirationDate, '2025-11-30');
  assert.deepEqual(imm?.manufacturer, { type: 'Organization', identifier: { system: 'http://hl7.org/fhir/sid/mvx', value: 'PMC' }, display: 'Sanofi Pasteur' });
  assert.deepEqual(imm?.doseQuantity, { value: 0.5, unit: 'milliliter', system: 'http://unitsofmeasure.org', code: 'mL' });
  assert.equal(imm?.route?.coding?.[0]?.code, 'C28161');
  assert.equal(imm?.site?.coding?.[0]?.code, 'RT');
  assert.equal(imm?.programEligibility?.[0]?.coding?.[0]?.code, 'V03');
  assert.deepEqual(imm?.education, [{ documentType: 'Diphtheria/Tetanus/Pertussis (DTaP) VIS', presentationDate: '2024-04-15' }]);
  assert.equal(imm?.performer?.[0]?.actor.reference?.startsWith('Practitioner/'), true);
  assert.deepEqual(byType(r, 'AllergyIntolerance')[0]?.category, ['food']);
});

test('MDM^T02: DocumentReference with the OBX body as text, type from table 0270 and LOINC', () => {
  const r = one('mdm-t02-document.hl7').resources;
  const [doc] = byType(r, 'DocumentReference');
  assert.deepEqual(doc?.masterIdentifier, { system: 'urn:fxg:local/id/RIVERSIDE_EHR', value: 'DOC-2024-00871' });
  assert.equal(doc?.type?.coding?.[0]?.code, '18842-5');
  assert.equal(doc?.docStatus, 'final');
  assert.equal(doc?.date, '2024-03-15T11:30:00-05:00');
  const text = Buffer.from(doc?.content[0]?.attachment.data ?? '', 'base64').toString('utf8');
  assert.equal(text.split('\n').length, 4);
  assert.match(text, /^DISCHARGE SUMMARY\nAdmitted 2024-03-11/);
  assert.equal(doc?.context?.encounter?.[0]?.reference, `Encounter/${byType(r, 'Encounter')[0]!.id}`);
  refused(fixture('mdm-t02-document.hl7').replace('DOC-2024-00871^RIVERSIDE_EHR', ''), 'content', /TXA-12: unique document number is empty/);
});

test('CR, LF, CRLF, MLLP framing and blank lines give the same messages and resources', () => {
  const cr = A01;
  const variants = [cr.replace(/\r/g, '\n'), cr.replace(/\r/g, '\r\n'), `\x0b${cr.replace(/\r/g, '\r\n\r\n')}\x1c\r`];
  for (const v of variants) {
    const parts = splitHl7Messages(v);
    assert.equal(parts.length, 1);
    assert.deepEqual(map(parts[0]!), map(cr));
    assert.deepEqual(map(v), map(cr), 'mapHl7v2 accepts the raw variant too');
  }
  const crlf = splitHl7Messages(fixture('adt-a01-crlf-mllp.hl7'));
  assert.equal(crlf.length, 1);
  assert.ok(!crlf[0]!.includes('\n') && !crlf[0]!.includes('\x0b') && !crlf[0]!.includes('\x1c'));
});

test('a batch file with several LF-separated messages splits into its messages; envelope segments are dropped', () => {
  const parts = splitHl7Messages(fixture('batch-lf-three-messages.hl7'));
  assert.equal(parts.length, 3);
  assert.deepEqual(parts.map((p) => hl7Header(p).controlId), ['RGH-BATCH-001', 'RGH-BATCH-002', 'RGH-BATCH-003']);
  assert.ok(parts.every((p) => !/(^|\r)(FHS|BHS|BTS|FTS)\|/.test(p)));
  const patients = parts.map((p) => byType(map(p).resources, 'Patient')[0]?.name?.[0]?.family);
  assert.deepEqual(patients, ['Thibodeaux', 'Abernathy-Quill', 'Nakashima']);
  assert.deepEqual(splitHl7Messages('no message here\n'), []);
});

test('refusals say specifically what is wrong and where', () => {
  refused('hello world', 'unprocessable', /not an HL7 v2 message/);
  refused(fixture('batch-lf-three-messages.hl7').replace(/^FHS.*\n^BHS.*\n/m, ''), 'unprocessable', /the text holds 3 messages; map them one at a time/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||OML^O21|X|P|2.5.1', PID), 'unprocessable', /OML\^O21: laboratory orders map to ServiceRequest/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||DFT^P03|X|P|2.5.1', PID), 'unprocessable', /DFT\^P03: financial transactions/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||ADT^A11|X|P|2.5.1', PID), 'unprocessable', /ADT\^A11: cancellations .* ADT\^A08 update/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||ADT^Z99|X|P|2.5.1', PID), 'unprocessable', /ADT\^Z99 is not a supported trigger \(this gateway maps ADT\^A01/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X|P|2.2', PID), 'unprocessable', /HL7 version "2.2" is not supported/);
  refused(msg('MSH|^~\\&|A|B|C|D|20240101||ADT|X|P|2.5.1', PID), 'unprocessable', /MSH-9/);
  refused(msg(MSH('ADT^A01', '')), 'content', /MSH-10/);
  refused(msg(MSH('ADT^A01', 'X', '')), 'content', /MSH-7/);
  refused(msg(MSH('ADT^A01', 'X', '2024-03-11')), 'content', /date\/time of message "2024-03-11" is not a valid HL7 date\/time/);
  refused(msg('MSH|^~\\&|||C|D|20240101||ADT^A01|X|P|2.5.1', PID), 'content', /MSH-3 sending application and MSH-4 sending facility are both empty/);
  refused(msg(MSH('ADT^A01'), 'EVN|A01'), 'content', /no PID segment/);
  refused(msg(MSH('ADT^A01'), 'PID|1||^^^TEST_FAC^MR||Quillfeather^Orla||19800101|F'), 'content', /^PID-3: patient identifier list is empty/);
  refused(msg(MSH('ADT^A01'), 'PID|1||MRN-1^^^TEST_FAC^MR||||19800101|F'), 'content', /^PID-5: patient name/);
  const bad = refused(msg(MSH('ADT^A01'), PID.replace('19800101', '19801345')), 'content', /^PID-7: "19801345" is not a valid HL7 date\/time/);
  assert.equal(bad.issues[0]?.location, 'PID-7');
  assert.equal(bad.issues[0]?.code, 'INVALID_DATE');
  refused(msg(MSH('ORU^R01'), PID, 'OBR|1||F-1|24356-8^UA^LN|||20240101', 'OBX|1|NM|2756-7^pH^LN||six||||||F'), 'content', /^OBX-5: "six" is not a number \(OBX-2 is NM\)/);
  refused(msg(MSH('ORU^R01'), PID, 'OBX|1|NM|2756-7^pH^LN||6||||||F'), 'content', /^OBX: comes before any OBR/);
  refused(msg(MSH('ORU^R01'), PID, 'OBR|1|||24356-8^UA^LN|||20240101', 'OBX|1|NM|2756-7^pH^LN||6||||||F'), 'content', /^OBR: has neither a placer .* nor a filler/);
  refused(msg(MSH('ORU^R01'), PID, `OBR|1||F-1|24356-8^UA^LN${'|'.repeat(21)}F`, 'OBX|1|NM|2756-7^pH^LN||6||||||F'), 'content', /^OBR-7: observation date\/time \(OBR-7\) is empty on a final report/);
  refused(msg(MSH('ORU^R01'), PID, 'OBR|1||F-1|24356-8^UA^LN|||20240101', 'OBX|1|ED|11502-2^Report^LN||^AP^PDF^Base64^JVBER||||||F'), 'content', /^OBX-2: value type "ED" is not supported/);
  refused(msg(MSH('ADT^A01'), PID, 'PV1|1|I||||||0100^Ashdown^Pell|0100^Brightwater^Juno||||||||||V-1'), 'content', /^PV1-\d+: identifies the same Practitioner as PV1-\d+ but with different content/);
  refused(msg('MSH|^~^&|A|B|C|D|20240101||ADT^A01|X|P|2.5.1', PID), 'unprocessable', /encoding characters/);
});

test('hl7Header reads MSH even when the rest is garbage, and never throws', () => {
  const h = hl7Header('MSH|^~\\&|LAB^1.2.3^ISO|NORTH|FXG|FXG_GW|20240101120000||ORU^R01^ORU_R01|CTL-9|P|2.5.1\r\x00\x01garbage|||\rPID|||');
  assert.deepEqual(h, {
    controlId: 'CTL-9', messageType: 'ORU', trigger: 'R01', version: '2.5.1', sendingApplication: 'LAB^1.2.3^ISO', sendingFacility: 'NORTH',
    receivingApplication: 'FXG', receivingFacility: 'FXG_GW', dateTime: '20240101120000', processingId: 'P',
  });
  for (const junk of ['', 'garbage', 'MSH', 'MSH|', '\x0bMSH#^~\\&#A\x1c', 'PID|1||x\rEVN|']) {
    const j = hl7Header(junk);
    assert.equal(typeof j.controlId, 'string', JSON.stringify(junk));
  }
  assert.equal(hl7Header('\x0bMSH#^~\\&#APP#FAC#R#RF#2024##ADT^A01#C1#P#2.4\x1c').controlId, 'C1');
  assert.equal(hl7Header(undefined as unknown as string).controlId, '');
});

test('HL7 TS/DTM to FHIR: precision kept, offsets from the value, MSH-7 or the site zone (DST aware)', () => {
  const none = {};
  assert.equal(parseHl7Time('2024', none)?.dateTime, '2024');
  assert.equal(parseHl7Time('202403', none)?.dateTime, '2024-03');
  assert.equal(parseHl7Time('20240311', none)?.dateTime, '2024-03-11');
  assert.equal(parseHl7Time('202403110830', none)?.dateTime, '2024-03-11T08:30:00+00:00');
  assert.equal(parseHl7Time('20240311083015.123-0500', none)?.dateTime, '2024-03-11T08:30:15.123-05:00');
  assert.equal(parseHl7Time('20240311083015+0530', { messageOffset: '-05:00' })?.dateTime, '2024-03-11T08:30:15+05:30');
  assert.equal(parseHl7Time('20240311083015', { messageOffset: '-05:00' })?.dateTime, '2024-03-11T08:30:15-05:00');
  assert.equal(parseHl7Time('20240115083000', { zone: 'America/New_York' })?.dateTime, '2024-01-15T08:30:00-05:00');
  assert.equal(parseHl7Time('20240715083000', { zone: 'America/New_York' })?.dateTime, '2024-07-15T08:30:00-04:00');
  assert.equal(parseHl7Time('20240311', { zone: 'America/New_York' })?.instant, '2024-03-11T00:00:00-04:00');
  assert.equal(parseHl7Time('20240310', { zone: 'America/New_York' })?.instant, '2024-03-10T00:00:00-05:00');
  for (const bad of ['20241301', '20240230', '2024031125', '20240311086000', 'abc', '2024-03-11', '20240311+2500', '2024031']) {
    assert.equal(parseHl7Time(bad, none), undefined, bad);
  }
  // In a message: no offset anywhere and no site zone -> UTC with a warning; with a zone configured -> that zone.
  const text = msg('MSH|^~\\&|A|B|C|D|20240715083000||ADT^A01|X|P|2.5.1', PID, 'PV1|1|I|||||||||||||||||V-1|||||||||||||||||||||||||20240715073000');
  const utc = map(text);
  assert.equal(byType(utc.resources, 'Encounter')[0]?.period?.start, '2024-07-15T07:30:00+00:00');
  assert.ok(utc.issues.some((i) => i.code === 'TIMEZONE_ASSUMED'));
  const zoned = mapHl7v2(text, { ...deps, timezone: 'America/Chicago' });
  assert.equal(byType(zoned.resources, 'Encounter')[0]?.period?.start, '2024-07-15T07:30:00-05:00');
  assert.equal(byType(zoned.resources, 'Provenance')[0]?.recorded, '2024-07-15T08:30:00-05:00');
  assert.ok(!zoned.issues.some((i) => i.code === 'TIMEZONE_ASSUMED'));
  assert.throws(() => mapHl7v2(text, { ...deps, timezone: 'Mars/Olympus' }), /not an IANA time zone/);
});

test('escape sequences are decoded; a lone backslash is kept', () => {
  const d = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
  assert.equal(unescapeHl7('A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F', d), 'A|B^C&D~E\\F');
  assert.equal(unescapeHl7('line1\\.br\\line2', d), 'line1\nline2');
  assert.equal(unescapeHl7('\\X41C3A9\\', d), 'Aé');
  assert.equal(unescapeHl7('\\H\\bold\\N\\', d), 'bold');
  assert.equal(unescapeHl7('C:\\temp', d), 'C:\\temp');
  const r = map(msg(MSH('ADT^A01'), 'PID|1||MRN-1^^^TEST_FAC^MR||O\\T\\Brien^Mary\\S\\Kate||19800101|F'));
  assert.deepEqual(byType(r.resources, 'Patient')[0]?.name?.[0], { family: 'O&Brien', given: ['Mary^Kate'] });
});

test('local codes go through the Terminology; standard codes are not translated; unmapped codes are reported, not dropped', () => {
  const terminology = memoryTerminology({ 'urn:fxg:local/OBX-3|GLU-F': [{ system: 'http://loinc.org', code: '1558-6', display: 'Fasting glucose' }] });
  const text = msg(MSH('ORU^R01'), PID, 'OBR|1||F-1|GLU^Glucose panel^99LAB|||20240101080000-0500||||||||||||||||F',
    'OBX|1|NM|GLU-F^Glucose fasting^L||5.4|mmol/L^^UCUM|||||F', 'OBX|2|NM|2345-7^Glucose^LN||5.5|mmol/L^^UCUM|||||F');
  const unit = mapHl7v2(text, { terminology });
  const [mapped, standard] = byType(unit.resources, 'Observation');
  assert.deepEqual(mapped?.code.coding, [
    { system: 'urn:fxg:local/OBX-3', code: 'GLU-F', display: 'Glucose fasting' },
    { system: 'http://loinc.org', code: '1558-6', display: 'Fasting glucose' },
  ]);
  assert.deepEqual(standard?.code.coding, [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }]);
  const [report] = byType(unit.resources, 'DiagnosticReport');
  assert.deepEqual(report?.code.coding, [{ system: 'urn:fxg:local/99LAB', code: 'GLU', display: 'Glucose panel' }]);
  assert.ok(unit.issues.some((i) => i.code === 'UNMAPPED_CODE' && i.location === 'OBR-4'));
  assert.ok(!unit.issues.some((i) => i.code === 'UNMAPPED_CODE' && i.location === 'OBX-3'));
});

test('segments that are not mapped are reported as information, never silently dropped', () => {
  const unit = one('adt-a01-admit.hl7');
  const info = unit.issues.filter((i) => i.code === 'IGNORED_SEGMENT');
  assert.deepEqual(info.map((i) => i.location), ['EVN', 'IN1']);
  assert.ok(info.every((i) => i.severity === 'information'));
  assert.match(info[1]!.message, /Coverage is not stored/);
});

test('an invalid NPI is kept as a local identifier with a warning, so the Practitioner still validates', () => {
  assert.equal(isValidNpi('1234567893'), true);
  assert.equal(isValidNpi('1234567890'), false);
  const unit = map(msg(MSH('ADT^A01'), PID, 'PV1|1|I||||||1234567890^Ashdown^Pell^^^^^^NPI|||||||||||V-1'));
  const [doc] = byType(unit.resources, 'Practitioner');
  assert.equal(doc?.identifier?.[0]?.system, 'urn:fxg:local/id/TEST_FAC/invalid-npi');
  assert.ok(unit.issues.some((i) => i.code === 'INVALID_NPI'));
  assert.deepEqual(validationErrors(unit.resources), []);
});

test('shared third-party corpus: every message maps to valid US Core or is refused with a specific reason', (t) => {
  if (!existsSync(SHARED)) {
    t.skip(`shared corpus not found at ${SHARED}`);
    return;
  }
  const mapped: string[] = [];
  const reasons = new Map<string, string[]>();
  for (const file of readdirSync(SHARED).filter((f) => f.endsWith('.hl7')).sort()) {
    const messages = splitHl7Messages(readFileSync(join(SHARED, file), 'utf8'));
    assert.ok(messages.length >= 1, file);
    for (const [i, text] of messages.entries()) {
      const label = messages.length > 1 ? `${file}#${i + 1}` : file;
      let resources: Resource[];
      try {
        resources = map(text).resources;
      } catch (err) {
        assert.ok(err instanceof MappingError, `${label}: ${String(err)}`);
        // Specific: names a field or segment and says what is wrong, not a bare "failed".
        assert.match(err.message, /^([A-Z][A-Z0-9]{2}(\[\d+\])?(-\d+)?(\.\d+)?: |[A-Z0-9]{2,}\^[A-Z0-9]{2,}|not an HL7 v2|message control id|date\/time of message|HL7 version)/, `${label}: ${err.message}`);
        assert.ok(err.message.length > 25, `${label}: ${err.message}`);
        const key = err.message.replace(/"[^"]*"/g, '"…"');
        reasons.set(key, [...(reasons.get(key) ?? []), label]);
        continue;
      }
      assert.deepEqual(validationErrors(resources), [], label);
      assert.ok(resources.some((r) => r.resourceType === 'Provenance'), label);
      mapped.push(label);
    }
  }
  const refusedCount = [...reasons.values()].reduce((n, l) => n + l.length, 0);
  t.diagnostic(`shared HL7 v2 corpus: ${mapped.length} mapped and valid, ${refusedCount} refused`);
  for (const [reason, files] of [...reasons].sort((a, b) => b[1].length - a[1].length)) t.diagnostic(`  ${files.length} x ${reason}`);
  assert.ok(mapped.length >= 30, `at least 30 corpus messages map (got ${mapped.length})`);
});

test('one business identifier for two different practitioners in one message is refused (DUPLICATE_IDENTIFIER)', () => {
  const oru = fixture('oru-r01-lab-specimen.hl7');
  // The same NPI with the same name in PV1-7 and PV1-17 maps to one Practitioner...
  assert.equal(byType(map(oru).resources, 'Practitioner').length, 1);
  // ...but the same NPI under another name in PV1-17 is two contents for one id.
  const changed = oru.replace(/^(PV1\|[^\r]*?1234567893\^Lindqvist\^Maren[^\r]*?)1234567893\^Lindqvist\^Maren/m, '$11234567893^Lindqvist^Marta');
  assert.notEqual(changed, oru);
  const err = refused(changed, 'content', /PV1-17: identifies the same Practitioner as PV1-7 but with different content/);
  assert.equal(err.issues[0]!.code, 'DUPLICATE_IDENTIFIER');
});
