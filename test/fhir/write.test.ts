import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { verifyDisclosureLog } from '../../src/audit/verify.js';
import { createHarness, FHIR_BASE, fixture, gwCode, principal, SYSTEM, type Harness } from './harness.js';

const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
const ALICE_WRITER = principal('patient/*.cruds', { patient: 'alice', client: 'alice-writer' });

const newPatient = (extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:example:mrn', value: 'N1' }],
  name: [{ family: 'Newman', given: ['Nora'] }],
  gender: 'female',
  ...extra,
});

const issues = (body: unknown) => (body as OperationOutcome).issue ?? [];
const expressions = (body: unknown) => issues(body).flatMap((i) => i.expression ?? []).sort();

describe('writes', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
    await h.seed(...fixture('clinical-seed.json'));
  });
  after(() => h.close());

  describe('create', () => {
    it('creates with a server id and answers 201 with Location, ETag and Last-Modified', async () => {
      const res = await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient({ id: 'client-chosen' }) });
      assert.equal(res.status, 201);
      const p = res.body as Patient;
      assert.notEqual(p.id, 'client-chosen');
      assert.equal(res.headers?.location, `${FHIR_BASE}/Patient/${p.id}/_history/1`);
      assert.equal(res.headers?.etag, 'W/"1"');
      assert.equal(res.headers?.['last-modified'], 'Thu, 01 Jan 2026 00:00:00 GMT');
      assert.equal((await h.call(SYSTEM, 'GET', `Patient/${p.id}`)).status, 200);
    });

    it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
      const minimal = await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient(), headers: { prefer: 'return=minimal' } });
      assert.equal(minimal.status, 201);
      assert.equal(minimal.body, undefined);
      assert.match(minimal.headers?.location ?? '', /\/Patient\/[^/]+\/_history\/1$/);
      const oo = await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient(), headers: { prefer: 'return=OperationOutcome' } });
      assert.equal((oo.body as OperationOutcome).resourceType, 'OperationOutcome');
      assert.equal(issues(oo.body)[0]?.severity, 'information');
    });

    it('refuses a resource that is not valid R4 with 400, listing every issue and where it is', async () => {
      const res = await h.call(SYSTEM, 'POST', 'Patient', {
        body: { resourceType: 'Patient', birthDate: 'yesterday', gender: 5, name: [{ family: ['x'] }], foo: 1 },
      });
      assert.equal(res.status, 400);
      assert.equal(gwCode(res.body), 'GW_INVALID_RESOURCE');
      assert.deepEqual(expressions(res.body), ['Patient.birthDate', 'Patient.foo', 'Patient.gender', 'Patient.name.family']);
      assert.ok(issues(res.body).every((i) => i.severity === 'error' && i.details?.text));
    });

    it('refuses a resource that violates a claimed US Core profile with 422 listing every issue', async () => {
      const res = await h.call(SYSTEM, 'POST', 'Patient', {
        body: { resourceType: 'Patient', meta: { profile: [US_CORE_PATIENT] }, gender: 'female' },
      });
      assert.equal(res.status, 422);
      assert.equal(gwCode(res.body), 'GW_PROFILE_VIOLATION');
      assert.deepEqual(expressions(res.body), ['Patient.identifier', 'Patient.name']);
      const ok = await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient({ meta: { profile: [US_CORE_PATIENT] } }) });
      assert.equal(ok.status, 201);
    });

    it('accepts an unknown profile with a warning, and refuses a profile for another type', async () => {
      const res = await h.call(SYSTEM, 'POST', 'Patient', {
        body: newPatient({ meta: { profile: ['https://example.org/StructureDefinition/local-patient'] } }),
        headers: { prefer: 'return=OperationOutcome' },
      });
      assert.equal(res.status, 201);
      assert.ok(issues(res.body).some((i) => i.severity === 'warning' && i.details?.coding?.[0]?.code === 'GW_UNKNOWN_PROFILE'));
      const wrong = await h.call(SYSTEM, 'POST', 'Patient', {
        body: newPatient({ meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab'] } }),
      });
      assert.equal(wrong.status, 422);
    });

    it('refuses a body of another type, or none', async () => {
      assert.equal((await h.call(SYSTEM, 'POST', 'Observation', { body: newPatient() })).status, 400);
      assert.equal(gwCode((await h.call(SYSTEM, 'POST', 'Patient', {})).body), 'GW_INVALID_BODY');
      assert.equal((await h.call(SYSTEM, 'POST', 'Patient', { body: [newPatient()] })).status, 400);
    });

    it('overwrites server-owned fields and keeps the prototype untouched (F-16)', async () => {
      const body = JSON.parse(JSON.stringify(newPatient({
        id: 'mine', meta: {
          versionId: '99', lastUpdated: '1999-01-01T00:00:00Z',
          security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
          tag: [{ system: 'urn:example:tag', code: 't' }],
        },
      })));
      const res = await h.call(SYSTEM, 'POST', 'Patient', { body });
      assert.equal(res.status, 201);
      const p = res.body as Patient;
      assert.notEqual(p.id, 'mine');
      assert.equal(p.meta?.versionId, '1');
      assert.equal(p.meta?.lastUpdated, '2026-01-01T00:00:00.000Z');
      assert.deepEqual(p.meta?.security, [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }]);
      assert.deepEqual(p.meta?.tag, [{ system: 'urn:example:tag', code: 't' }]);

      const polluted = JSON.parse('{"resourceType":"Patient","__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}');
      const bad = await h.call(SYSTEM, 'POST', 'Patient', { body: polluted });
      assert.equal(bad.status, 400);
      assert.deepEqual(expressions(bad.body), ['Patient.__proto__', 'Patient.constructor']);
      assert.equal(({} as Record<string, unknown>).admin, undefined);
      assert.equal((Object.prototype as Record<string, unknown>).admin, undefined);
    });

    it('creates conditionally with If-None-Exist', async () => {
      const criteria = 'identifier=urn:example:mrn|COND-1';
      const body = newPatient({ identifier: [{ system: 'urn:example:mrn', value: 'COND-1' }] });
      const first = await h.call(SYSTEM, 'POST', 'Patient', { body, headers: { ifNoneExist: criteria } });
      assert.equal(first.status, 201);
      const again = await h.call(SYSTEM, 'POST', 'Patient', { body, headers: { ifNoneExist: criteria } });
      assert.equal(again.status, 200);
      assert.equal(again.headers?.location, first.headers?.location);
      assert.equal((await h.call(SYSTEM, 'POST', 'Patient', { body, headers: { ifNoneExist: 'family=Newman' } })).status, 412);
      assert.equal((await h.call(SYSTEM, 'POST', 'Patient', { body, headers: { ifNoneExist: 'nonsense=1' } })).status, 400);
    });

    it('records the match a conditional create reveals, after its transaction, and nothing for 412', async () => {
      const id = (await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient({ identifier: [{ system: 'urn:example:mrn', value: 'COND-2' }] }) }))
        .headers?.location?.split('/')[5] as string;
      const before = (await h.disclosures(id)).length;
      const again = await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient(), headers: { ifNoneExist: 'identifier=urn:example:mrn|COND-2' } });
      assert.equal(again.status, 200);
      const after = await h.disclosures(id);
      assert.equal(after.length, before + 1);
      assert.equal(after.at(-1)?.channel, 'search');
      const count = await h.stores.disclosures.count();
      assert.equal((await h.call(SYSTEM, 'POST', 'Patient', { body: newPatient(), headers: { ifNoneExist: 'family=Newman' } })).status, 412);
      assert.equal(await h.stores.disclosures.count(), count);
      assert.deepEqual((await verifyDisclosureLog(h.stores.disclosures)).ok, true);
    });

    it('refuses to record a disclosure inside a store transaction (it would wait on that transaction\'s own lock)', async () => {
      const alice = await h.stores.resources.read('Patient', 'alice');
      await assert.rejects(
        h.stores.resources.transaction(() => h.deps.audit.recordDisclosure({
          principal: SYSTEM, purposeOfUse: 'TREAT', legalBasis: 'tpo', channel: 'read', resources: [alice], requestId: 'r-tx',
        })),
        /after the store transaction ends/,
      );
    });
  });

  describe('update and delete', () => {
    it('updates with If-Match, and answers 412 for a stale version and 400 for a malformed one', async () => {
      const cur = (await h.call(SYSTEM, 'GET', 'Observation/obs-a-hgb')).body as Observation;
      const ok = await h.call(SYSTEM, 'PUT', 'Observation/obs-a-hgb', { body: { ...cur, status: 'amended' }, headers: { ifMatch: 'W/"1"' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers?.etag, 'W/"2"');
      assert.equal((ok.body as Observation).status, 'amended');
      const stale = await h.call(SYSTEM, 'PUT', 'Observation/obs-a-hgb', { body: { ...cur, status: 'final' }, headers: { ifMatch: 'W/"1"' } });
      assert.equal(stale.status, 412);
      assert.equal(gwCode(stale.body), 'GW_VERSION_CONFLICT');
      const bad = await h.call(SYSTEM, 'PUT', 'Observation/obs-a-hgb', { body: cur, headers: { ifMatch: 'version 2' } });
      assert.equal(gwCode(bad.body), 'GW_INVALID_IF_MATCH');
    });

    it('requires the body id to equal the URL id (F-16)', async () => {
      const cur = (await h.call(SYSTEM, 'GET', 'Patient/alice')).body as Patient;
      assert.equal(gwCode((await h.call(SYSTEM, 'PUT', 'Patient/alice', { body: { ...cur, id: 'bob' } })).body), 'GW_ID_MISMATCH');
      const { id: _drop, ...noId } = cur;
      assert.equal(gwCode((await h.call(SYSTEM, 'PUT', 'Patient/alice', { body: noId })).body), 'GW_ID_MISMATCH');
    });

    it('creates on update of a new id (201 + Location)', async () => {
      const res = await h.call(SYSTEM, 'PUT', 'Patient/put-created', { body: newPatient({ id: 'put-created' }) });
      assert.equal(res.status, 201);
      assert.equal(res.headers?.location, `${FHIR_BASE}/Patient/put-created/_history/1`);
    });

    it('deletes (204), then answers 410, and deleting again is a no-op', async () => {
      await h.seed({ resourceType: 'Observation', id: 'obs-del', status: 'final', code: { text: 'd' }, subject: { reference: 'Patient/alice' } });
      assert.equal((await h.call(SYSTEM, 'DELETE', 'Observation/obs-del')).status, 204);
      assert.equal((await h.call(SYSTEM, 'GET', 'Observation/obs-del')).status, 410);
      assert.equal((await h.call(SYSTEM, 'DELETE', 'Observation/obs-del')).status, 204);
      assert.equal((await h.call(SYSTEM, 'DELETE', 'Observation/never-was')).status, 404);
    });
  });

  describe('authorization of writes', () => {
    const obs = (id: string | undefined, patient: string): Observation => ({
      resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'self-reported' },
      subject: { reference: `Patient/${patient}` },
    });

    it('refuses writes the scopes do not cover (F-07)', async () => {
      const reader = principal('patient/Observation.rs', { patient: 'alice', client: 'reader' });
      const post = await h.call(reader, 'POST', 'Observation', { body: obs(undefined, 'alice') });
      assert.equal(post.status, 403);
      assert.equal((await h.call(reader, 'DELETE', 'Observation/obs-a-glucose')).status, 403);
    });

    it('checks the post-image of a create and both images of an update (F-17)', async () => {
      assert.equal((await h.call(ALICE_WRITER, 'POST', 'Observation', { body: obs(undefined, 'bob') })).status, 403);
      const mine = await h.call(ALICE_WRITER, 'POST', 'Observation', { body: obs(undefined, 'alice') });
      assert.equal(mine.status, 201);
      const id = (mine.body as Observation).id as string;

      const moved = await h.call(ALICE_WRITER, 'PUT', `Observation/${id}`, { body: obs(id, 'bob') });
      assert.equal(moved.status, 403);
      assert.equal(gwCode(moved.body), 'GW_WRITE_FORBIDDEN');
      const bobs = await h.call(ALICE_WRITER, 'PUT', 'Observation/obs-b-glucose', { body: obs('obs-b-glucose', 'alice') });
      assert.equal(bobs.status, 403, 'taking over another patient\'s resource');
      assert.equal(((await h.call(SYSTEM, 'GET', 'Observation/obs-b-glucose')).body as Observation).subject?.reference, 'Patient/bob');
    });

    it('hides other patients\' resources from deletes (404) and deletes its own', async () => {
      assert.equal((await h.call(ALICE_WRITER, 'DELETE', 'Observation/obs-b-glucose')).status, 404);
      assert.equal((await h.call(SYSTEM, 'GET', 'Observation/obs-b-glucose')).status, 200);
      assert.equal((await h.call(ALICE_WRITER, 'DELETE', 'Observation/obs-a-hr')).status, 204);
    });

    it('records no disclosure for writes', async () => {
      const before = (await h.disclosures('alice')).length;
      await h.call(SYSTEM, 'POST', 'Observation', { body: obs(undefined, 'alice') });
      assert.equal((await h.disclosures('alice')).length, before);
    });
  });
});
