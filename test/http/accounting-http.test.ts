/**
 * `GET /fhir/Patient/{id}/$disclosures` as a patient portal or privacy office uses it (issue #4): real tokens,
 * real disclosures made first by partners reading for different purposes, then the accounting in its three
 * kinds (hipaa, access-report, part2) and two renderings (BALP Bundle, HTML page), who may ask, and the record
 * each accounting provided leaves behind (164.530(j)) and in the disclosure log (to the individual).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle, Resource } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import request from 'supertest';
import { PART2_ROUTE_EXTENSION } from '../../src/audit/accounting-bundle.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { observation, patient, problem, treatmentConsent } from '../helpers/resources.js';

const REGISTRY_NAME = 'State <Immunization> Registry & "Co"';
const bearer = { type: 'bearer' as const };
const get = (t: TestApp, tok: string, path: string) => request(t.app).get(path).auth(tok, bearer);

type Events = Bundle<AuditEvent>;
const events = (b: Events) => (b.entry ?? []).map((e) => e.resource as AuditEvent);
const recipientOf = (ev: AuditEvent) => ev.agent.find((a) => a.type?.coding?.[0]?.code === '110152');
const recipients = (b: Events) => events(b).map((ev) => recipientOf(ev)?.who?.identifier?.value);

/** Sam permits the clinic's EHR, by name, for treatment: what 42 CFR 2.31 needs for Part 2 records to leave. */
const part2Consent = treatmentConsent('sam-part2-ehr', 'sam', 'clinic-ehr');

describe('GET Patient/{id}/$disclosures over HTTP', () => {
  let t: TestApp;
  let auditor: string;

  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'clinic-ehr', name: 'Clinic EHR', kind: 'ehr', scopes: ['system/*.rs'] });
    await t.addPartner({
      id: 'state-registry', name: REGISTRY_NAME, kind: 'ehr', address: '1 Capitol Way, Springfield', scopes: ['system/*.rs'],
      agreement: { purposes: ['PUBHLTH'], resourceTypes: ['Patient', 'Observation'], consentRequired: false, legalReference: 'State reporting statute 12.3' },
    });
    // The organization's own privacy office: an internal system with an explicit AuditEvent read scope.
    await t.addPartner({ id: 'privacy-office', name: 'Privacy Office', kind: 'internal', scopes: ['system/AuditEvent.rs'] });
    // An internal system holding only a wildcard: the disclosure log is never reached through one.
    await t.addPartner({ id: 'etl', name: 'Warehouse ETL', kind: 'internal', scopes: ['system/*.rs'] });
    // The patient portal: patient-context tokens.
    await t.addPartner({ id: 'portal', name: 'Patient Portal', kind: 'internal', scopes: ['patient/AuditEvent.rs'] });
    const label = <T extends Resource>(r: T) => t.gw.ingest.labeler.label(r);
    await t.seed(
      patient('dana', 'Delta'), patient('sam', 'Sierra'), patient('quiet', 'Quebec'),
      observation('dana-glucose', 'dana'),
      label(problem('sam-oud', 'sam', 'F11.20', 'Opioid dependence, uncomplicated')),
      label(problem('sam-asthma', 'sam', 'J45.909', 'Unspecified asthma, uncomplicated')),
      part2Consent,
    );

    // The disclosures the accountings report: a treatment read and a public-health read of Dana's record.
    const ehr = await t.token({ partner: 'clinic-ehr' });
    assert.equal((await get(t, ehr, '/fhir/Patient/dana')).status, 200);
    const registry = await t.token({ partner: 'state-registry', purposeOfUse: 'PUBHLTH' });
    assert.equal((await get(t, registry, '/fhir/Observation/dana-glucose')).status, 200);
    // Sam's Part 2 condition leaves to the EHR under his consent; the asthma does not need one.
    assert.equal((await get(t, ehr, '/fhir/Condition/sam-oud')).status, 200);
    assert.equal((await get(t, ehr, '/fhir/Condition/sam-asthma')).status, 200);

    const log = await t.stores.disclosures.listByPatient('dana');
    assert.deepEqual(log.map((e) => [e.recipient.partnerId, e.purposeOfUse, e.legalBasis]), [
      ['clinic-ehr', 'TREAT', 'tpo'], ['state-registry', 'PUBHLTH', 'public-health'],
    ], 'the set-up produced one treatment and one public-health disclosure');
    auditor = await t.token({ partner: 'privacy-office' });
  });
  after(() => t.close());

  it('answers the HIPAA accounting by default: a searchset of BALP PrivacyDisclosure events, the public-health disclosure only', async () => {
    const res = await get(t, auditor, '/fhir/Patient/dana/$disclosures');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.headers['content-type'] ?? '', /^application\/fhir\+json/);
    const b = res.body as Events;
    assert.equal(b.resourceType, 'Bundle');
    assert.equal(b.type, 'searchset');
    assert.equal(b.total, 1);
    assert.deepEqual(recipients(b), ['state-registry'], 'treatment is excluded (164.528(a)(1)(i)), public health is not');
    const ev = events(b)[0]!;
    assert.equal(ev.resourceType, 'AuditEvent');
    assert.deepEqual(ev.meta?.profile, ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source']);
    assert.equal(ev.type.code, '110106');
    assert.ok(ev.subtype?.some((c) => c.system === 'urn:iso:std:iso:21089' && c.code === 'disclose'));
    assert.equal(ev.entity?.[0]?.what?.reference, 'Patient/dana');
    assert.equal(ev.entity?.[0]?.role?.code, '1', 'the first entity is the patient');
    assert.ok(ev.entity?.some((e) => e.what?.reference === 'Observation/dana-glucose/_history/1'));
    const recipient = recipientOf(ev)!;
    assert.equal(recipient.who?.display, `${REGISTRY_NAME}, 1 Capitol Way, Springfield`, 'recipient name and address (164.528(b)(2)(ii))');
    assert.equal(ev.purposeOfEvent?.[0]?.coding?.[0]?.code, 'PUBHLTH');
    assert.match(ev.purposeOfEvent?.[0]?.text ?? '', /public health/i, 'a plain-language purpose statement');
    assert.equal(b.entry?.[0]?.fullUrl, `https://gw.test/fhir/AuditEvent/${ev.id}`);
  });

  it('lists every disclosure in the access report, treatment included, with the same event ids', async () => {
    const log = await t.stores.disclosures.listByPatient('dana');
    const res = await get(t, auditor, '/fhir/Patient/dana/$disclosures?kind=access-report');
    assert.equal(res.status, 200);
    const b = res.body as Events;
    const got = recipients(b);
    assert.ok(got.includes('clinic-ehr') && got.includes('state-registry'), `recipients were ${got.join(',')}`);
    // Nothing is left out: one event per log entry of the patient at the time of the request.
    assert.deepEqual(events(b).map((e) => e.id), log.map((e) => String(e.seq)));
  });

  it('records each accounting provided, and its delivery as a disclosure to the individual that later accountings exclude', async () => {
    const providedBefore = (await t.stores.accounting.listProvided('dana')).length;
    const res = await get(t, auditor, '/fhir/Patient/dana/$disclosures?requester=Dana%20Delta');
    assert.equal(res.status, 200);

    const provided = await t.stores.accounting.listProvided('dana');
    assert.equal(provided.length, providedBefore + 1);
    const record = provided.at(-1)!.body;
    assert.equal(record.event, 'accounting.provided');
    assert.equal(record.kind, 'hipaa');
    assert.equal(record.format, 'fhir');
    assert.equal(record.requestedBy, 'Dana Delta');
    assert.equal(record.clientId, 'privacy-office');
    assert.match(String(record.digest), /^[0-9a-f]{64}$/);
    assert.deepEqual(record.seqs, events(res.body).map((e) => Number(e.id)));

    const last = (await t.stores.disclosures.listByPatient('dana')).at(-1)!;
    assert.equal(last.legalBasis, 'individual');
    assert.equal(last.channel, 'audit');
    assert.equal(last.purposeOfUse, 'PATRQT');
    assert.equal(last.recipient.partnerId, 'privacy-office');
    assert.match(last.description, /accounting of disclosures \(hipaa, 1 lines\)/);
    assert.match(last.description, new RegExp(`record ${provided.at(-1)!.id}`));

    // Two accountings later, the HIPAA accounting still has the one public-health line.
    const again = await get(t, auditor, '/fhir/Patient/dana/$disclosures');
    assert.deepEqual(recipients(again.body), ['state-registry']);
    // The access report lists the deliveries to the individual.
    const access = await get(t, auditor, '/fhir/Patient/dana/$disclosures?kind=access-report');
    assert.ok(events(access.body).some((e) => e.id === String(last.seq)));
  });

  it('hands out an HTML page with a restrictive CSP, the recipient name escaped, and records it as a page', async () => {
    const res = await request(t.app).get('/fhir/Patient/dana/$disclosures')
      .set('Accept', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8').auth(auditor, bearer);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/html; charset=utf-8/);
    const csp = res.headers['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const html = res.text;
    assert.match(html, /<html[^>]*lang=/);
    assert.ok(html.includes('State &lt;Immunization&gt; Registry &amp; &quot;Co&quot;'), 'the recipient name is escaped');
    assert.ok(!html.includes('<Immunization>'), 'no raw markup from a partner name');
    assert.ok(!/<script/i.test(html));
    assert.ok(!html.includes('Clinic EHR'), 'the treatment disclosure is not on the HIPAA page');
    assert.equal((await t.stores.accounting.listProvided('dana')).at(-1)!.body.format, 'html');
    assert.match((await t.stores.disclosures.listByPatient('dana')).at(-1)!.description, /provided as a page/);
  });

  it('lists Part 2 disclosures made with consent on the part2 list, and nothing else', async () => {
    const res = await get(t, auditor, '/fhir/Patient/sam/$disclosures?kind=part2');
    assert.equal(res.status, 200);
    const evs = events(res.body);
    assert.equal(evs.length, 1);
    assert.ok(evs[0]!.entity?.some((e) => e.what?.reference?.startsWith('Condition/sam-oud')), 'the opioid dependence condition, not the asthma');
    assert.deepEqual(evs[0]!.extension, [{ url: PART2_ROUTE_EXTENSION, valueCode: 'consent' }]);
    // Both are treatment: none is on Sam's HIPAA accounting.
    assert.equal((await get(t, auditor, '/fhir/Patient/sam/$disclosures')).body.total, 0);
  });

  it('refuses a partner\'s system token (403), and a wildcard scope of an internal system, recording nothing', async () => {
    const provided = (await t.stores.accounting.listProvided('dana')).length;
    const logged = (await t.stores.disclosures.listByPatient('dana')).length;
    const ehr = await t.token({ partner: 'clinic-ehr' });
    const refused = await get(t, ehr, '/fhir/Patient/dana/$disclosures');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.resourceType, 'OperationOutcome');
    assert.equal(refused.body.issue[0].details.coding[0].code, 'GW_ACCOUNTING_NOT_ALLOWED');
    // Even an explicit AuditEvent scope does not make a partner's token the individual's.
    await t.addPartner({ id: 'curious-ehr', kind: 'ehr', scopes: ['system/AuditEvent.rs'] });
    assert.equal((await get(t, await t.token({ partner: 'curious-ehr' }), '/fhir/Patient/dana/$disclosures')).status, 403);
    assert.equal((await get(t, await t.token({ partner: 'etl' }), '/fhir/Patient/dana/$disclosures')).status, 403);
    assert.equal((await request(t.app).get('/fhir/Patient/dana/$disclosures')).status, 401);
    assert.equal((await t.stores.accounting.listProvided('dana')).length, provided);
    assert.equal((await t.stores.disclosures.listByPatient('dana')).length, logged);
  });

  it('answers a patient-context token for its own patient, and 404 for anyone else\'s', async () => {
    const forSam = await t.token({ partner: 'portal', patient: 'sam', scope: 'patient/AuditEvent.rs' });
    const other = await get(t, forSam, '/fhir/Patient/dana/$disclosures');
    assert.equal(other.status, 404, 'another patient is answered as not found, never as forbidden');
    assert.equal(other.body.resourceType, 'OperationOutcome');

    const forDana = await t.token({ partner: 'portal', patient: 'dana', scope: 'patient/AuditEvent.rs' });
    const own = await get(t, forDana, '/fhir/Patient/dana/$disclosures');
    assert.equal(own.status, 200);
    assert.deepEqual(recipients(own.body), ['state-registry']);
    const record = (await t.stores.accounting.listProvided('dana')).at(-1)!.body;
    assert.equal(record.requestedBy, 'Patient/dana', 'the patient asked for it');
    assert.equal((await t.stores.disclosures.listByPatient('dana')).at(-1)!.recipient.partnerId, 'portal');
    // A patient-context token without an AuditEvent scope may not ask, even for its own patient.
    await t.addPartner({ id: 'app', kind: 'internal', scopes: ['patient/Observation.rs'] });
    const noScope = await t.token({ partner: 'app', patient: 'dana', scope: 'patient/Observation.rs' });
    assert.equal((await get(t, noScope, '/fhir/Patient/dana/$disclosures')).status, 403);
  });

  it('refuses bad requests with 400 or 404 before anything is recorded', async () => {
    const provided = (await t.stores.accounting.listProvided('dana')).length;
    const expect = async (path: string, status: number, code: string | RegExp) => {
      const res = await get(t, auditor, path);
      assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      const text = `${res.body.issue[0].details?.coding?.[0]?.code ?? ''} ${res.body.issue[0].details?.text ?? res.body.issue[0].diagnostics ?? ''}`;
      assert.match(text, typeof code === 'string' ? new RegExp(code) : code, path);
    };
    await expect('/fhir/Patient/dana/$disclosures?since=2020-01-01', 400, 'GW_UNKNOWN_PARAMETER');
    await expect('/fhir/Patient/dana/$disclosures?kind=everything', 400, /GW_INVALID_KIND.*hipaa, access-report, part2/);
    await expect('/fhir/Patient/dana/$disclosures?kind=hipaa&kind=access-report', 400, 'GW_REPEATED_PARAMETER');
    await expect('/fhir/Patient/dana/$disclosures?start=last-year', 400, /period start/);
    await expect('/fhir/Patient/dana/$disclosures?start=2026-03-01&end=2026-02-01', 400, /start is after its end/);
    await expect('/fhir/Patient/nobody/$disclosures', 404, /.*/);
    const post = await request(t.app).post('/fhir/Patient/dana/$disclosures').auth(auditor, bearer)
      .set('Content-Type', 'application/fhir+json').send({ resourceType: 'Parameters' });
    assert.equal(post.status, 400);
    assert.equal(post.body.issue[0].details.coding[0].code, 'GW_METHOD');
    assert.equal((await t.stores.accounting.listProvided('dana')).length, provided);
    assert.equal((await t.stores.accounting.listProvided('nobody')).length, 0);
    assert.equal((await t.stores.disclosures.listByPatient('nobody')).length, 0);
  });

  it('answers an empty accounting for a patient nobody received anything about', async () => {
    const res = await get(t, auditor, '/fhir/Patient/quiet/$disclosures');
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 0);
    assert.deepEqual(res.body.entry ?? [], []);
  });
});

describe('GET Patient/{id}/$disclosures when the disclosure log cannot be written', () => {
  let t: TestApp;
  after(() => t?.close());

  it('answers 503 with no accounting, and records no accounting as provided', async () => {
    t = await createTestApp({ file: true });
    await t.addPartner({ id: 'privacy-office', name: 'Privacy Office', kind: 'internal', scopes: ['system/AuditEvent.rs'] });
    await t.seed(patient('dana', 'Delta'));
    const auditor = await t.token({ partner: 'privacy-office' });
    assert.equal(t.location.kind, 'sqlite');
    // A broken audit sink, as in audit-http.test.ts (catalogue FI-4): every insert into the log fails.
    const db = new Database(t.location.filename);
    try {
      db.exec(`CREATE TRIGGER test_block_audit BEFORE INSERT ON disclosure_log BEGIN SELECT RAISE(ABORT, 'audit sink down'); END;`);
      const res = await get(t, auditor, '/fhir/Patient/dana/$disclosures');
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.equal(res.body.issue[0].code, 'transient');
      assert.ok(res.body.issue[0].details.coding.some((c: { code: string }) => c.code === 'GW_AUDIT_UNAVAILABLE'));
      assert.equal(res.body.entry, undefined);
      assert.deepEqual(await t.stores.accounting.listProvided('dana'), []);
    } finally {
      db.exec('DROP TRIGGER IF EXISTS test_block_audit');
      db.close();
    }
    // Once the log accepts writes, the accounting is provided and recorded.
    assert.equal((await get(t, auditor, '/fhir/Patient/dana/$disclosures')).status, 200);
    assert.equal((await t.stores.accounting.listProvided('dana')).length, 1);
  });
});
