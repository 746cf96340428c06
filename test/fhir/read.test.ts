import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { auditUnavailable } from '../../src/audit/disclosure-recorder.js';
import {
  ALICE_APP, createHarness, fixture, gwCode, principal, SYSTEM, type Harness,
} from './harness.js';

/** The outcome text with the id the caller asked about blanked, to compare "hidden" and "missing" answers. */
const anonymized = (body: unknown, id: string) => JSON.parse(JSON.stringify(body).replaceAll(id, '<id>')) as unknown;

describe('read, vread, history', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
    await h.seed(...fixture('clinical-seed.json'));
  });
  after(() => h.close());

  it('reads a resource with its ETag and Last-Modified, and records the disclosure', async () => {
    const res = await h.call(SYSTEM, 'GET', 'Patient/alice');
    assert.equal(res.status, 200);
    assert.equal((res.body as Patient).id, 'alice');
    assert.equal(res.headers?.etag, 'W/"1"');
    assert.equal(res.headers?.['last-modified'], 'Thu, 01 Jan 2026 00:00:00 GMT');
    const log = await h.disclosures('alice');
    const last = log.at(-1);
    assert.equal(last?.channel, 'read');
    assert.equal(last?.clientId, 'internal-ehr');
    assert.deepEqual(last?.resources, [{ resourceType: 'Patient', id: 'alice', versionId: '1' }]);
  });

  it('answers a foreign patient\'s resources exactly like missing ones and discloses nothing (F-04)', async () => {
    const before = (await h.disclosures('bob')).length;
    const pairs: Array<[string, string, string]> = [
      ['Patient/bob', 'Patient/no-such-patient', 'bob'],
      ['Observation/obs-b-glucose', 'Observation/no-such-obs', 'obs-b-glucose'],
      ['Patient/bob/_history/1', 'Patient/no-such-patient/_history/1', 'bob'],
      ['Observation/obs-b-glucose/_history', 'Observation/no-such-obs/_history', 'obs-b-glucose'],
    ];
    for (const [hidden, missing, id] of pairs) {
      const a = await h.call(ALICE_APP, 'GET', hidden);
      const b = await h.call(ALICE_APP, 'GET', missing);
      assert.equal(a.status, 404, hidden);
      assert.equal(b.status, 404, missing);
      assert.deepEqual(anonymized(a.body, id), anonymized(b.body, missing.split('/')[1] as string), hidden);
      assert.deepEqual(a.headers ?? {}, b.headers ?? {});
    }
    assert.equal((await h.disclosures('bob')).length, before, 'nothing about bob was disclosed');
  });

  it('lets the patient read her own record', async () => {
    const res = await h.call(ALICE_APP, 'GET', 'Observation/obs-a-glucose');
    assert.equal(res.status, 200);
    assert.equal((res.body as Observation).id, 'obs-a-glucose');
  });

  it('vreads an old version and records it as a vread', async () => {
    const patient = (await h.call(SYSTEM, 'GET', 'Patient/alice')).body as Patient;
    const upd = await h.call(SYSTEM, 'PUT', 'Patient/alice', { body: { ...patient, active: true } });
    assert.equal(upd.status, 200);
    assert.equal(upd.headers?.etag, 'W/"2"');

    const v1 = await h.call(ALICE_APP, 'GET', 'Patient/alice/_history/1');
    assert.equal(v1.status, 200);
    assert.equal((v1.body as Patient).active, undefined);
    assert.equal(v1.headers?.etag, 'W/"1"');
    const last = (await h.disclosures('alice')).at(-1);
    assert.equal(last?.channel, 'vread');
    assert.deepEqual(last?.resources, [{ resourceType: 'Patient', id: 'alice', versionId: '1' }]);

    const v9 = await h.call(ALICE_APP, 'GET', 'Patient/alice/_history/9');
    assert.equal(v9.status, 404);
  });

  it('returns a history Bundle with request and response per version', async () => {
    await h.seed({ resourceType: 'Condition', id: 'cond-hist', subject: { reference: 'Patient/alice' }, code: { text: 'x' } });
    const cur = (await h.call(SYSTEM, 'GET', 'Condition/cond-hist')).body as Observation;
    await h.call(SYSTEM, 'PUT', 'Condition/cond-hist', { body: { ...cur, code: { text: 'y' } } });
    assert.equal((await h.call(SYSTEM, 'DELETE', 'Condition/cond-hist')).status, 204);

    const res = await h.call(SYSTEM, 'GET', 'Condition/cond-hist/_history');
    assert.equal(res.status, 200);
    const b = res.body as Bundle;
    assert.equal(b.type, 'history');
    assert.equal(b.total, 3);
    assert.deepEqual(b.entry?.map((e) => [e.request?.method, e.request?.url, e.response?.status, e.response?.etag, Boolean(e.resource)]), [
      ['DELETE', 'Condition/cond-hist', '204 No Content', 'W/"3"', false],
      ['PUT', 'Condition/cond-hist', '200 OK', 'W/"2"', true],
      ['PUT', 'Condition/cond-hist', '200 OK', 'W/"1"', true],
    ]);
    assert.equal(b.link?.[0]?.url, 'https://gw.test.example/fhir/Condition/cond-hist/_history?_count=20');
    const last = (await h.disclosures('alice')).at(-1);
    assert.equal(last?.channel, 'history');
    assert.deepEqual(last?.resources.map((r) => r.versionId), ['2', '1']);
  });

  it('pages history with _count and next links', async () => {
    const res = await h.call(SYSTEM, 'GET', 'Condition/cond-hist/_history?_count=1&_offset=1');
    const b = res.body as Bundle;
    assert.equal(b.entry?.length, 1);
    assert.equal(b.entry?.[0]?.response?.etag, 'W/"2"');
    assert.deepEqual(b.link?.map((l) => l.relation), ['self', 'next', 'previous']);
    assert.match(b.link?.[1]?.url ?? '', /_count=1&_offset=2$/);
  });

  it('answers 410 for a deleted resource the caller could see, 404 for one it could not', async () => {
    assert.equal((await h.call(ALICE_APP, 'GET', 'Condition/cond-hist')).status, 410);
    assert.equal(gwCode((await h.call(ALICE_APP, 'GET', 'Condition/cond-hist')).body), 'GW_GONE');
    await h.seed({ resourceType: 'Condition', id: 'cond-bob', subject: { reference: 'Patient/bob' }, code: { text: 'z' } });
    assert.equal((await h.call(SYSTEM, 'DELETE', 'Condition/cond-bob')).status, 204);
    assert.equal((await h.call(SYSTEM, 'GET', 'Condition/cond-bob')).status, 410);
    const hidden = await h.call(ALICE_APP, 'GET', 'Condition/cond-bob');
    assert.equal(hidden.status, 404);
    assert.equal((await h.call(ALICE_APP, 'GET', 'Condition/cond-bob/_history/2')).status, 404);
    assert.equal((await h.call(SYSTEM, 'GET', 'Condition/cond-bob/_history/2')).status, 410);
  });

  it('filters history version by version when a resource moved between compartments', async () => {
    await h.seed({ resourceType: 'Condition', id: 'cond-moved', subject: { reference: 'Patient/alice' }, code: { text: 'm' } });
    const cur = (await h.call(SYSTEM, 'GET', 'Condition/cond-moved')).body as Observation;
    await h.call(SYSTEM, 'PUT', 'Condition/cond-moved', { body: { ...cur, subject: { reference: 'Patient/bob' } } });

    const res = await h.call(ALICE_APP, 'GET', 'Condition/cond-moved/_history');
    const b = res.body as Bundle;
    assert.equal(res.status, 200);
    assert.deepEqual(b.entry?.map((e) => e.response?.etag), ['W/"1"']);
    assert.equal(b.total, undefined, 'a filtered history has no total');
    assert.equal((await h.call(ALICE_APP, 'GET', 'Condition/cond-moved')).status, 404);
    assert.equal((await h.call(ALICE_APP, 'GET', 'Condition/cond-moved/_history/1')).status, 200);
  });

  it('applies _summary and _elements on read and tags the result SUBSETTED', async () => {
    const res = await h.call(SYSTEM, 'GET', 'Observation/obs-a-glucose?_elements=valueQuantity');
    const o = res.body as Observation & Record<string, unknown>;
    assert.deepEqual(Object.keys(o).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
    assert.ok(o.meta?.tag?.some((t) => t.code === 'SUBSETTED'));
    const text = (await h.call(SYSTEM, 'GET', 'Observation/obs-a-glucose?_summary=text')).body as Record<string, unknown>;
    assert.equal(text.subject, undefined);
  });

  it('denies a read the token has no scope for with 403', async () => {
    const meds = principal('patient/Observation.rs', { patient: 'alice', client: 'obs-only' });
    const res = await h.call(meds, 'GET', 'MedicationRequest/mr-a');
    assert.equal(res.status, 403);
    assert.equal(gwCode(res.body), 'GW_SCOPE_INSUFFICIENT');
  });
});

describe('disclosure log unavailable', () => {
  it('sends no data and answers 503 when the disclosure cannot be recorded', async () => {
    const h = await createHarness({ audit: () => ({ recordDisclosure: async () => { throw auditUnavailable(new Error('disk full')); } }) });
    try {
      await h.seed(...fixture('clinical-seed.json'));
      for (const path of ['Patient/alice', 'Observation?patient=alice', 'Patient/alice/$everything', 'Patient/alice/_history', 'Patient/alice/_history/1']) {
        const res = await h.call(SYSTEM, 'GET', path);
        assert.equal(res.status, 503, path);
        assert.equal(gwCode(res.body), 'GW_AUDIT_UNAVAILABLE');
        assert.equal((res.body as { resourceType: string }).resourceType, 'OperationOutcome');
        assert.doesNotMatch(JSON.stringify(res.body), /Smith|alice/);
      }
    } finally {
      await h.close();
    }
  });
});
