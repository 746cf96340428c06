import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, BundleEntry, Encounter, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { createHarness, entries, FHIR_BASE, fixture, gwCode, issueCode, principal, SYSTEM, type Harness } from './harness.js';

const P = 'urn:uuid:5b8f0c58-0000-4000-8000-000000000001';
const E = 'urn:uuid:5b8f0c58-0000-4000-8000-000000000002';
const O = 'urn:uuid:5b8f0c58-0000-4000-8000-000000000003';

const post = (fullUrl: string, resource: object, extra: Partial<BundleEntry['request']> = {}): BundleEntry => ({
  fullUrl, resource: resource as BundleEntry['resource'], request: { method: 'POST', url: (resource as { resourceType: string }).resourceType, ...extra },
});
const txn = (entry: BundleEntry[], type: Bundle['type'] = 'transaction'): Bundle => ({ resourceType: 'Bundle', type, entry });

const patient = (mrn: string): Patient => ({ resourceType: 'Patient', identifier: [{ system: 'urn:example:mrn', value: mrn }], name: [{ family: 'Txn' }] });

describe('transaction and batch', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({ limits: { maxBundleEntries: 10 } });
    await h.seed(...fixture('clinical-seed.json'));
  });
  after(() => h.close());

  const countByMrn = async (mrn: string) =>
    entries((await h.call(SYSTEM, 'GET', `Patient?identifier=urn:example:mrn|${mrn}`)).body, 'match').length;

  it('resolves urn:uuid fullUrls everywhere they are referenced, nested ones too', async () => {
    const bundle = txn([
      post(O, {
        resourceType: 'Observation', status: 'final', code: { text: 'x' },
        subject: { reference: P }, encounter: { reference: E },
        extension: [{ url: 'https://example.org/ext/related', valueReference: { reference: P } }],
        component: [{ code: { text: 'c' }, valueString: 'v', extension: [{ url: 'https://example.org/ext/e', valueReference: { reference: E } }] }],
      }),
      post(E, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: P } }),
      post(P, patient('T-1')),
    ]);
    const res = await h.call(SYSTEM, 'POST', '', { body: bundle });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const out = res.body as Bundle;
    assert.equal(out.type, 'transaction-response');
    assert.deepEqual(out.entry?.map((e) => e.response?.status), ['201 Created', '201 Created', '201 Created']);
    const [obsLoc, encLoc, patLoc] = out.entry?.map((e) => e.response?.location as string) ?? [];
    assert.match(patLoc ?? '', new RegExp(`^${FHIR_BASE}/Patient/[A-Za-z0-9-]+/_history/1$`));
    assert.equal(out.entry?.[0]?.response?.etag, 'W/"1"');
    const ref = (loc: string) => loc.slice(FHIR_BASE.length + 1).replace(/\/_history\/\d+$/, '');

    const obs = (await h.call(SYSTEM, 'GET', ref(obsLoc as string))).body as Observation;
    assert.equal(obs.subject?.reference, ref(patLoc as string));
    assert.equal(obs.encounter?.reference, ref(encLoc as string));
    assert.equal(obs.extension?.[0]?.valueReference?.reference, ref(patLoc as string));
    assert.equal(obs.component?.[0]?.extension?.[0]?.valueReference?.reference, ref(encLoc as string));
    const enc = (await h.call(SYSTEM, 'GET', ref(encLoc as string))).body as Encounter;
    assert.equal(enc.subject?.reference, ref(patLoc as string));
    assert.doesNotMatch(JSON.stringify([obs, enc]), /urn:uuid/);
  });

  it('applies nothing when one entry is invalid, and lists every issue with its entry (atomic)', async () => {
    const res = await h.call(SYSTEM, 'POST', '', {
      body: txn([
        post(P, patient('T-2')),
        post(O, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: P } }),
        post(E, { resourceType: 'Encounter', status: 'bogus-but-a-code', class: { code: 'AMB' }, period: { start: 'not a date' }, foo: 1 }),
      ]),
    });
    assert.equal(res.status, 400);
    const exprs = ((res.body as OperationOutcome).issue ?? []).flatMap((i) => i.expression ?? []).sort();
    assert.deepEqual(exprs, ['Bundle.entry[2].resource.foo', 'Bundle.entry[2].resource.period.start']);
    assert.equal(await countByMrn('T-2'), 0);
  });

  it('rolls back every write when a later entry fails at run time (stale If-Match)', async () => {
    const cur = (await h.call(SYSTEM, 'GET', 'Patient/bob')).body as Patient;
    const res = await h.call(SYSTEM, 'POST', '', {
      body: txn([
        post(P, patient('T-3')),
        { fullUrl: `${FHIR_BASE}/Patient/bob`, resource: { ...cur, active: false }, request: { method: 'PUT', url: 'Patient/bob', ifMatch: 'W/"7"' } },
      ]),
    });
    assert.equal(res.status, 412);
    assert.deepEqual((res.body as OperationOutcome).issue?.[0]?.expression, ['Bundle.entry[1]']);
    assert.equal(await countByMrn('T-3'), 0);
    assert.equal(((await h.call(SYSTEM, 'GET', 'Patient/bob')).body as Patient).active, undefined);
  });

  it('rolls back when policy refuses one entry (write outside the compartment)', async () => {
    const writer = principal('patient/*.cruds', { patient: 'alice', client: 'alice-writer' });
    const res = await h.call(writer, 'POST', '', {
      body: txn([
        post(O, { resourceType: 'Observation', status: 'final', code: { text: 'mine' }, subject: { reference: 'Patient/alice' }, identifier: [{ value: 'T-4a' }] }),
        post(E, { resourceType: 'Observation', status: 'final', code: { text: 'not mine' }, subject: { reference: 'Patient/bob' }, identifier: [{ value: 'T-4b' }] }),
      ]),
    });
    assert.equal(res.status, 403);
    assert.equal(gwCode(res.body), 'GW_WRITE_FORBIDDEN');
    assert.equal(entries((await h.call(SYSTEM, 'GET', 'Observation?_lastUpdated=ge2000')).body).filter((o) => JSON.stringify(o).includes('T-4')).length, 0);
  });

  it('runs PUT and DELETE entries, and resolves conditional creates to the existing resource', async () => {
    await h.seed({ resourceType: 'Observation', id: 'obs-txn-del', status: 'final', code: { text: 'd' }, subject: { reference: 'Patient/alice' } });
    const res = await h.call(SYSTEM, 'POST', '', {
      body: txn([
        { request: { method: 'DELETE', url: 'Observation/obs-txn-del' } },
        post(P, patient('A1'), { ifNoneExist: 'identifier=urn:example:mrn|A1' }),
        { fullUrl: `${FHIR_BASE}/Condition/cond-txn`, resource: { resourceType: 'Condition', id: 'cond-txn', code: { text: 'c' }, subject: { reference: P } }, request: { method: 'PUT', url: 'Condition/cond-txn' } },
      ]),
      headers: { prefer: 'return=representation' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const out = (res.body as Bundle).entry ?? [];
    assert.deepEqual(out.map((e) => e.response?.status), ['204 No Content', '200 OK', '201 Created']);
    assert.equal(out[1]?.response?.location, `${FHIR_BASE}/Patient/alice/_history/1`);
    assert.equal((out[2]?.resource as { subject?: { reference?: string } }).subject?.reference, 'Patient/alice');
    assert.equal((await h.call(SYSTEM, 'GET', 'Observation/obs-txn-del')).status, 410);
  });

  it('resolves references to a deleted entry\'s fullUrl, and refuses a fullUrl two entries share', async () => {
    await h.seed({ resourceType: 'Observation', id: 'obs-txn-del-2', status: 'final', code: { text: 'd' }, subject: { reference: 'Patient/alice' } });
    const del = 'urn:uuid:5b8f0c58-0000-4000-8000-0000000000d1';
    const res = await h.call(SYSTEM, 'POST', '', {
      body: txn([
        { fullUrl: del, request: { method: 'DELETE', url: 'Observation/obs-txn-del-2' } },
        post('urn:uuid:5b8f0c58-0000-4000-8000-0000000000d2', {
          resourceType: 'Provenance', target: [{ reference: del }], recorded: '2024-01-01T00:00:00Z',
          agent: [{ who: { reference: 'Organization/org-1' } }],
        }),
      ]),
      headers: { prefer: 'return=representation' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const provenance = (res.body as Bundle).entry?.[1]?.resource as { target?: Array<{ reference?: string }> };
    assert.deepEqual(provenance.target, [{ reference: 'Observation/obs-txn-del-2' }]);

    const shared = 'urn:uuid:5b8f0c58-0000-4000-8000-0000000000d3';
    const dup = await h.call(SYSTEM, 'POST', '', { body: txn([post(shared, patient('T-dup-1')), post(shared, patient('T-dup-2'))]) });
    assert.equal(dup.status, 400);
    assert.match(JSON.stringify(dup.body), /more than one entry/);
  });

  it('refuses GET entries, nested Bundles, other Bundle types and too many entries (F-13)', async () => {
    const get = await h.call(SYSTEM, 'POST', '', { body: txn([{ request: { method: 'GET', url: 'Patient/alice' } }]) });
    assert.equal(get.status, 400);
    assert.equal(issueCode(get.body), 'not-supported');
    const nested = await h.call(SYSTEM, 'POST', '', { body: txn([post(P, { resourceType: 'Bundle', type: 'collection' })]) });
    assert.equal(nested.status, 400);
    const contained = await h.call(SYSTEM, 'POST', '', {
      body: txn([post(P, { ...patient('T-5'), contained: [{ resourceType: 'Bundle', id: 'b', type: 'collection' }] })]),
    });
    assert.equal(contained.status, 400);
    assert.equal((await h.call(SYSTEM, 'POST', '', { body: { resourceType: 'Bundle', type: 'collection', entry: [] } })).status, 400);
    assert.equal((await h.call(SYSTEM, 'POST', '', { body: patient('T-6') })).status, 400);

    const big = txn(Array.from({ length: 11 }, (_, i) => post(`urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, patient(`BIG-${i}`))));
    const res = await h.call(SYSTEM, 'POST', '', { body: big });
    assert.equal(res.status, 413);
    assert.equal(issueCode(res.body), 'too-costly');
    assert.equal(await countByMrn('BIG-0'), 0);
  });

  it('processes batch entries independently, each with its own status or OperationOutcome', async () => {
    const before = (await h.disclosures('alice')).length;
    const res = await h.call(SYSTEM, 'POST', '', {
      body: txn([
        post(P, patient('B-1')),
        post(E, { resourceType: 'Patient', birthDate: 'soon' }),
        { request: { method: 'GET', url: 'Patient/alice' } },
        { request: { method: 'GET', url: 'Observation?patient=alice&code=2339-0' } },
        { request: { method: 'DELETE', url: 'Observation/never-existed' } },
        post(O, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: P } }),
        { request: { method: 'GET', url: 'Patient/bad id' } },
      ], 'batch'),
    });
    assert.equal(res.status, 200);
    const out = res.body as Bundle;
    assert.equal(out.type, 'batch-response');
    assert.deepEqual(out.entry?.map((e) => e.response?.status), [
      '201 Created', '400 Bad Request', '200 OK', '200 OK', '404 Not Found', '400 Bad Request', '400 Bad Request',
    ]);
    assert.equal(out.entry?.[0]?.resource, undefined, 'batch writes default to return=minimal');
    assert.equal(gwCode(out.entry?.[1]?.response?.outcome), 'GW_INVALID_RESOURCE');
    assert.equal((out.entry?.[2]?.resource as Patient).id, 'alice');
    assert.equal(entries(out.entry?.[3]?.resource).length, 1);
    assert.equal(gwCode(out.entry?.[5]?.response?.outcome), 'GW_INVALID_BODY');
    assert.equal(await countByMrn('B-1'), 1, 'the valid entry was applied');
    const log = (await h.disclosures('alice')).slice(before);
    assert.deepEqual(log.map((e) => e.channel), ['read', 'search'], 'batch reads are disclosed like direct reads');
  });

  it('is callable in-process for imports, with the same checks', async () => {
    const reader = principal('system/*.rs', { client: 'read-only' });
    await assert.rejects(h.api.processBundle(txn([post(P, patient('IMP-1'))]), { principal: reader, requestId: 'imp-1' }), { status: 403 });
    const out = await h.api.processBundle(txn([post(P, patient('IMP-1'))]), { principal: SYSTEM, requestId: 'imp-2' });
    assert.equal(out.entry?.[0]?.response?.status, '201 Created');
  });
});
