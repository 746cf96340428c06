import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Condition } from '@medplum/fhirtypes';
import { ALICE_APP, createHarness, entries, FHIR_BASE, fixture, gwCode, ids, SYSTEM, type Harness } from './harness.js';

describe('Patient/$everything', () => {
  let h: Harness;
  const everything = async (query: string) => {
    const res = await h.call(SYSTEM, 'GET', `Patient/alice/$everything${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Bundle;
  };
  before(async () => {
    h = await createHarness();
    await h.seed(...fixture('clinical-seed.json'));
  });
  after(() => h.close());

  it('returns the compartment plus the non-patient resources it references, and nothing of anyone else', async () => {
    const b = await everything('');
    assert.deepEqual(ids(entries(b, 'match')), [
      'AllergyIntolerance/allergy-a', 'Condition/cond-a', 'Encounter/enc-a', 'MedicationRequest/mr-a',
      'Observation/obs-a-glucose', 'Observation/obs-a-hgb', 'Observation/obs-a-hr', 'Patient/alice', 'Provenance/prov-a',
    ]);
    assert.deepEqual(ids(entries(b, 'include')), ['Medication/med-1', 'Organization/org-1', 'Practitioner/dr-who']);
    assert.doesNotMatch(JSON.stringify(b), /Patient\/bob|obs-b|mr-b|prov-b/);
    assert.equal(b.total, undefined);
    const last = (await h.disclosures('alice')).at(-1);
    assert.equal(last?.channel, 'everything');
    assert.equal(last?.resources.length, 9, 'referenced Practitioner/Organization/Medication are not patient data');
  });

  it('filters by _type', async () => {
    const b = await everything('?_type=Observation,Condition');
    assert.deepEqual([...new Set(entries(b).map((r) => r.resourceType))].sort(), ['Condition', 'Observation']);
    assert.equal(b.link?.[0]?.url, `${FHIR_BASE}/Patient/alice/$everything?_type=Observation,Condition&_count=20`);
    const bad = await h.call(SYSTEM, 'GET', 'Patient/alice/$everything?_type=Foo');
    assert.equal(bad.status, 400);
  });

  it('pages with _count and next links until everything was returned', async () => {
    const all = ids(entries(await everything(''), 'match'));
    const seen: string[] = [];
    let url: string | undefined = `${FHIR_BASE}/Patient/alice/$everything?_count=4`;
    let pages = 0;
    while (url) {
      const b = await everything(url.slice(`${FHIR_BASE}/Patient/alice/$everything`.length));
      seen.push(...ids(entries(b, 'match')));
      url = b.link?.find((l) => l.relation === 'next')?.url;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen.sort(), all);
  });

  it('returns only what changed since _since', async () => {
    h.clock.advance(60_000);
    const cond = (await h.call(SYSTEM, 'GET', 'Condition/cond-a')).body as Condition;
    await h.call(SYSTEM, 'PUT', 'Condition/cond-a', { body: { ...cond, note: [{ text: 'reviewed' }] } });
    const b = await everything('?_since=2026-01-01T00:00:30Z');
    assert.deepEqual(ids(entries(b, 'match')), ['Condition/cond-a']);
    assert.equal((await h.call(SYSTEM, 'GET', 'Patient/alice/$everything?_since=2026-01-01')).status, 400);
  });

  it('keeps a patient app to its own patient', async () => {
    assert.equal((await h.call(ALICE_APP, 'GET', 'Patient/alice/$everything')).status, 200);
    // Another patient answers exactly like a missing one (catalogue F-04): no existence oracle.
    const foreign = await h.call(ALICE_APP, 'GET', 'Patient/bob/$everything');
    const missing = await h.call(SYSTEM, 'GET', 'Patient/nobody/$everything');
    assert.equal(foreign.status, 404);
    assert.equal(missing.status, 404);
    assert.equal(gwCode(foreign.body), gwCode(missing.body));
  });
});
