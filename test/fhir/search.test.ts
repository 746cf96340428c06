import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../src/auth/principal.js';
import {
  ALICE_APP, createHarness, entries, FHIR_BASE, fixture, gwCode, ids, issueCode, LAB_ONLY, SYSTEM, type Harness,
} from './harness.js';

const carolObservation = (i: number): Observation => ({
  resourceType: 'Observation', id: `obs-c-${String(i).padStart(2, '0')}`, status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
  subject: { reference: 'Patient/carol' },
  effectiveDateTime: `2023-05-${String(i + 1).padStart(2, '0')}T08:00:00Z`,
});

describe('search', () => {
  let h: Harness;
  const search = async (p: Principal, query: string) => {
    const res = await h.call(p, 'GET', query);
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
    return res.body as Bundle;
  };
  const matchIds = async (p: Principal, query: string) => ids(entries(await search(p, query), 'match'));

  before(async () => {
    h = await createHarness();
    await h.seed(...fixture('clinical-seed.json'));
    await h.seed({ resourceType: 'Patient', id: 'carol', name: [{ family: 'Zoë' }] });
    await h.seed(...Array.from({ length: 25 }, (_, i) => carolObservation(i)));
  });
  after(() => h.close());

  describe('parameter types', () => {
    it('token: system|code, code, |code, :not, :text', async () => {
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?code=http://loinc.org|2339-0'), ['Observation/obs-a-glucose', 'Observation/obs-b-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?code=2339-0'), ['Observation/obs-a-glucose', 'Observation/obs-b-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?code=|2339-0'), []);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?patient=alice&code:not=http://loinc.org|2339-0'), ['Observation/obs-a-hgb', 'Observation/obs-a-hr']);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?code:text=hemo'), ['Observation/obs-a-hgb']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?gender=male'), ['Patient/bob']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?identifier=urn:example:mrn|A1'), ['Patient/alice']);
    });

    it('string: starts-with, :exact, :contains', async () => {
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?name=smi'), ['Patient/alice']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?name:exact=Smith'), ['Patient/alice']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?name:exact=smith'), []);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?name:contains=ONE'), ['Patient/bob']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?family=Jones&given=bob'), ['Patient/bob']);
    });

    it('date: precision and every comparator', async () => {
      const q = 'Observation?patient=alice&date=';
      assert.deepEqual(await matchIds(SYSTEM, `${q}2024-01`), ['Observation/obs-a-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}ge2024-02-01`), ['Observation/obs-a-hgb', 'Observation/obs-a-hr']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}gt2024-02-01`), ['Observation/obs-a-hgb']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}lt2024-02-01`), ['Observation/obs-a-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}le2024-02-01`), ['Observation/obs-a-glucose', 'Observation/obs-a-hr']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}ne2024-02-01`), ['Observation/obs-a-glucose', 'Observation/obs-a-hgb']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}sa2024-02-01`), ['Observation/obs-a-hgb']);
      assert.deepEqual(await matchIds(SYSTEM, `${q}eb2024-02-01`), ['Observation/obs-a-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?birthdate=le1979'), ['Patient/bob']);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?birthdate=1980-04-02&name=alice'), ['Patient/alice']);
      assert.deepEqual(await matchIds(SYSTEM, 'MedicationRequest?patient=alice&intent=order&authoredon=ge2024-01-01'), ['MedicationRequest/mr-a']);
    });

    it('reference: bare id, Type/id, our absolute URL and :Type agree (Inferno US Core 57)', async () => {
      const expected = ['Observation/obs-a-glucose', 'Observation/obs-a-hgb', 'Observation/obs-a-hr'];
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?patient=alice'), expected);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?patient=Patient/alice'), expected);
      assert.deepEqual(await matchIds(SYSTEM, `Observation?patient=${FHIR_BASE}/Patient/alice`), expected);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?subject:Patient=alice'), expected);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?patient:missing=true'), []);
      assert.deepEqual(await matchIds(SYSTEM, 'MedicationRequest?patient=alice&intent=order&encounter=Encounter/enc-a'), ['MedicationRequest/mr-a']);
    });

    it('_id, _lastUpdated, OR within a parameter, AND across repeats', async () => {
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?_id=obs-a-glucose,obs-a-hgb'), ['Observation/obs-a-glucose', 'Observation/obs-a-hgb']);
      assert.equal(entries(await search(SYSTEM, 'Patient?_lastUpdated=ge2026-01-01'), 'match').length, 3);
      assert.deepEqual(await matchIds(SYSTEM, 'Patient?_lastUpdated=lt2025-01-01'), []);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?patient=alice&code=2339-0,718-7'), ['Observation/obs-a-glucose', 'Observation/obs-a-hgb']);
      assert.deepEqual(await matchIds(SYSTEM, 'Observation?date=ge2024-01-01&date=le2024-01-31'), ['Observation/obs-a-glucose', 'Observation/obs-b-glucose']);
      assert.deepEqual(await matchIds(SYSTEM, 'MedicationRequest?patient=alice&intent=order&status=active'), ['MedicationRequest/mr-a']);
    });

    it('_sort orders by a parameter, descending with -', async () => {
      const b = await search(SYSTEM, 'Observation?patient=alice&_sort=-date');
      assert.deepEqual(entries(b).map((r) => r.id), ['obs-a-hgb', 'obs-a-hr', 'obs-a-glucose']);
      assert.match(b.link?.[0]?.url ?? '', /_sort=-date/);
    });
  });

  describe('Bundle shape and paging', () => {
    it('pages with self, next and previous links built from the configured base', async () => {
      const first = await search(SYSTEM, 'Observation?patient=carol&_count=10');
      assert.equal(first.type, 'searchset');
      assert.equal(first.total, undefined, 'no total unless asked');
      assert.equal((await search(SYSTEM, 'Observation?patient=carol&_count=10&_total=accurate')).total, 25);
      // Two named patients and a page short of all matches: a total would count data of a patient this page
      // recorded no disclosure for, so there is none.
      const two = await search(SYSTEM, 'Observation?patient=carol,alice&_count=1&_total=accurate');
      assert.equal(entries(two).length, 1);
      assert.equal(two.total, undefined);
      assert.equal(entries(first).length, 10);
      assert.equal(first.entry?.[0]?.fullUrl, `${FHIR_BASE}/Observation/obs-c-00`);
      assert.equal(first.entry?.[0]?.search?.mode, 'match');
      const link = (b: Bundle, rel: string) => b.link?.find((l) => l.relation === rel)?.url;
      assert.equal(link(first, 'self'), `${FHIR_BASE}/Observation?patient=carol&_count=10`);
      assert.equal(link(first, 'next'), `${FHIR_BASE}/Observation?patient=carol&_count=10&_offset=10`);
      assert.equal(link(first, 'previous'), undefined);

      const seen: string[] = [];
      let url: string | undefined = link(first, 'self');
      while (url) {
        const page = await search(SYSTEM, url.slice(FHIR_BASE.length + 1));
        seen.push(...entries(page).map((r) => r.id as string));
        url = link(page, 'next');
      }
      assert.equal(seen.length, 25);
      assert.equal(new Set(seen).size, 25);
      const last = await search(SYSTEM, 'Observation?patient=carol&_count=10&_offset=20');
      assert.equal(entries(last).length, 5);
      assert.equal(link(last, 'previous'), `${FHIR_BASE}/Observation?patient=carol&_count=10&_offset=10`);
    });

    it('POST _search returns what GET returns (Inferno US Core 56)', async () => {
      const get = await search(SYSTEM, 'Observation?patient=alice&category=laboratory');
      const post = await h.call(SYSTEM, 'POST', 'Observation/_search', {});
      assert.equal(post.status, 200);
      const viaForm = await h.api.handle({
        method: 'POST', segments: ['Observation', '_search'], params: [['patient', 'alice'], ['category', 'laboratory']], headers: {},
      }, { principal: SYSTEM, requestId: 'post-search' });
      assert.deepEqual(ids(entries(viaForm.body)), ids(entries(get)));
      assert.equal((viaForm.body as Bundle).total, get.total);
    });

    it('_summary=count answers the total only', async () => {
      const b = await search(SYSTEM, 'Observation?patient=carol&_summary=count');
      assert.equal(b.total, 25);
      assert.deepEqual(b.entry, []);
    });

    it('_summary=true keeps the summary elements only', async () => {
      const [p] = entries(await search(SYSTEM, 'Patient?_id=alice&_summary=true'));
      assert.deepEqual(Object.keys(p ?? {}).sort(), ['birthDate', 'gender', 'id', 'identifier', 'meta', 'name', 'resourceType']);
      const [o] = entries(await search(SYSTEM, 'Observation?_id=obs-a-glucose&_summary=data')) as unknown as Array<Record<string, unknown>>;
      assert.ok(o?.valueQuantity && !o.text);
    });

    it('_elements keeps mandatory elements, tags SUBSETTED, and leaves includes whole', async () => {
      const b = await search(SYSTEM, 'MedicationRequest?_id=mr-a&_elements=authoredOn&_include=MedicationRequest:medication');
      const [mr] = entries(b, 'match') as Array<Resource & Record<string, unknown>>;
      // medication[x], intent, status and subject are mandatory (min 1) in R4, so they stay.
      assert.deepEqual(Object.keys(mr ?? {}).sort(), ['authoredOn', 'id', 'intent', 'medicationReference', 'meta', 'resourceType', 'status', 'subject']);
      assert.ok((mr?.meta?.tag ?? []).some((t) => t.code === 'SUBSETTED'));
      const [med] = entries(b, 'include') as Array<Resource & Record<string, unknown>>;
      assert.ok(med?.code, 'included Medication is not subsetted');
    });

    it('ignores unknown parameters leniently (and drops them from self) but refuses them when strict (F-09)', async () => {
      const b = await search(SYSTEM, 'Patient?foo=bar&name=Smith');
      assert.deepEqual(ids(entries(b)), ['Patient/alice']);
      assert.equal(b.link?.[0]?.url, `${FHIR_BASE}/Patient?name=Smith&_count=20`);
      const strict = await h.call(SYSTEM, 'GET', 'Patient?foo=bar&name=Smith', { headers: { prefer: 'handling=strict' } });
      assert.equal(strict.status, 400);
      assert.equal(gwCode(strict.body), 'GW_UNKNOWN_PARAMETER');
    });

    it('clamps _count to the maximum and shows the clamped value; rejects bad values (F-10)', async () => {
      const b = await search(SYSTEM, 'Observation?_count=1000000');
      assert.equal(b.link?.[0]?.url, `${FHIR_BASE}/Observation?_count=100`);
      for (const bad of ['-1', 'abc', '1.5']) {
        const res = await h.call(SYSTEM, 'GET', `Observation?_count=${bad}`);
        assert.equal(res.status, 400, bad);
        assert.equal(issueCode(res.body), 'invalid');
      }
    });

    it('treats injection-looking input as data or rejects malformed typed values (F-08)', async () => {
      const empty = ["Patient?name=' OR 1=1--", "Patient?identifier=a|b'c", 'Patient?name=Ω≈ç√∫', 'Patient?name=%F0%9F%92%A5'];
      for (const q of empty) assert.deepEqual(await matchIds(SYSTEM, q), [], q);
      const bad = ["Patient?birthdate=ge1970-01-01' UNION SELECT 1", 'Patient?_sort=name;DROP TABLE x', 'Patient?_sort=-(select pg_sleep(10))', 'Patient?name=%00'];
      for (const q of bad) {
        const res = await h.call(SYSTEM, 'GET', q);
        assert.equal(res.status, 400, q);
        assert.doesNotMatch(JSON.stringify(res.body), /SELECT|UNION|DROP|sqlite|syntax error/i);
      }
      assert.equal(entries(await search(SYSTEM, 'Patient?_id=alice')).length, 1, 'data intact');
    });
  });

  describe('includes', () => {
    it('includes the Medication of MedicationRequest (US Core) and revincludes Provenance', async () => {
      const b = await search(SYSTEM, 'MedicationRequest?patient=alice&intent=order&_include=MedicationRequest:medication&_revinclude=Provenance:target');
      assert.deepEqual(ids(entries(b, 'match')), ['MedicationRequest/mr-a']);
      assert.deepEqual(ids(entries(b, 'include')), ['Medication/med-1']);
      const obs = await search(SYSTEM, 'Observation?_id=obs-a-glucose&_revinclude=Provenance:target&_total=accurate');
      assert.deepEqual(ids(entries(obs, 'include')), ['Provenance/prov-a']);
      assert.equal(obs.total, 1, 'total counts matches only');
    });

    it('never lets an include carry out what policy hides (F-06)', async () => {
      await h.seed({
        resourceType: 'Observation', id: 'obs-a-by-bob', status: 'final', code: { text: 'observed by a relative' },
        subject: { reference: 'Patient/alice' }, performer: [{ reference: 'Patient/bob' }, { reference: 'Practitioner/dr-who' }],
      });
      const q = 'Observation?patient=alice&_include=Observation:performer&_revinclude=Provenance:target';
      const system = await search(SYSTEM, q);
      assert.ok(ids(entries(system, 'include')).includes('Patient/bob'), 'control: the reference exists');

      const b = await search(ALICE_APP, q);
      const included = ids(entries(b, 'include'));
      assert.ok(included.includes('Practitioner/dr-who'));
      assert.ok(included.includes('Provenance/prov-a'));
      assert.ok(!included.includes('Patient/bob'));
      assert.ok(!included.includes('Provenance/prov-b'));
      assert.equal(b.total, undefined);

      for (const bad of ['Observation?patient=alice&_include:iterate=*', 'Encounter?_revinclude=*',
        'Observation?subject:Patient.name=Jones', 'Patient?_has:Observation:patient:code=2339-0']) {
        const res = await h.call(ALICE_APP, 'GET', bad);
        assert.equal(res.status, 400, bad);
        assert.equal(issueCode(res.body), 'not-supported');
      }
      assert.equal((await h.call(SYSTEM, 'DELETE', 'Observation/obs-a-by-bob')).status, 204);
    });

    it('caps includes at maxIncludes and says so in an outcome entry', async () => {
      const small = await createHarness({ limits: { maxIncludes: 1 } });
      try {
        await small.seed(...fixture('clinical-seed.json'));
        const res = await small.call(SYSTEM, 'GET', 'MedicationRequest?_id=mr-a&_include=MedicationRequest:medication&_include=MedicationRequest:requester');
        const b = res.body as Bundle;
        assert.equal(entries(b, 'include').length, 1);
        const [outcome] = entries(b, 'outcome');
        assert.equal(gwCode(outcome), 'GW_INCLUDES_TRUNCATED');
      } finally {
        await small.close();
      }
    });
  });

  describe('policy narrowing', () => {
    it('refuses a search naming another patient with 403 (F-05)', async () => {
      for (const q of ['Observation?patient=bob', 'Observation?subject=Patient/bob', 'Observation?patient=alice,bob', 'Patient?_id=bob',
        'MedicationRequest?patient=Patient/bob&intent=order']) {
        const res = await h.call(ALICE_APP, 'GET', q);
        assert.equal(res.status, 403, q);
        assert.equal(issueCode(res.body), 'forbidden');
      }
    });

    it('narrows everything else to the token\'s patient, without a total (F-05)', async () => {
      for (const q of ['Observation', 'Observation?patient:missing=true', 'Observation?_id=obs-b-glucose', 'Observation?code=2339-0',
        'MedicationRequest', 'Patient', 'Provenance?_revinclude=Provenance:target', 'Observation?patient=alice']) {
        const b = await search(ALICE_APP, q);
        assert.equal(b.total, undefined, q);
        const text = JSON.stringify(b.entry ?? []);
        assert.doesNotMatch(text, /Patient\/bob|obs-b-glucose|mr-b|prov-b/, q);
      }
      assert.deepEqual(await matchIds(ALICE_APP, 'Observation?code=2339-0'), ['Observation/obs-a-glucose']);
      const count = await search(ALICE_APP, 'Observation?_summary=count');
      assert.equal(count.total, undefined, 'no count either');
    });

    it('applies a granular scope (?category=laboratory) as a WHERE clause and on what leaves', async () => {
      const b = await search(LAB_ONLY, 'Observation?patient=alice');
      assert.deepEqual(ids(entries(b)), ['Observation/obs-a-glucose', 'Observation/obs-a-hgb']);
      assert.equal(b.total, undefined);
      assert.deepEqual(await matchIds(LAB_ONLY, 'Observation?category=vital-signs'), []);
      assert.equal((await h.call(LAB_ONLY, 'GET', 'Observation/obs-a-hr')).status, 404);
      assert.equal((await h.call(LAB_ONLY, 'GET', 'Patient?name=Smith')).status, 403);
    });

    it('serves non-compartment types (Practitioner) to a patient app', async () => {
      assert.deepEqual(await matchIds(ALICE_APP, 'Practitioner?name=who'), ['Practitioner/dr-who']);
    });
  });

  describe('disclosure accounting', () => {
    it('records one search disclosure per patient whose data left, and nothing for an empty result', async () => {
      const beforeA = (await h.disclosures('alice')).length;
      const beforeB = (await h.disclosures('bob')).length;
      await search(SYSTEM, 'Observation?code=http://loinc.org|2339-0');
      const a = (await h.disclosures('alice')).slice(beforeA);
      const b = (await h.disclosures('bob')).slice(beforeB);
      assert.equal(a.length, 1);
      assert.equal(b.length, 1);
      assert.equal(a[0]?.channel, 'search');
      assert.deepEqual(a[0]?.resources, [{ resourceType: 'Observation', id: 'obs-a-glucose', versionId: '1' }]);
      assert.deepEqual(b[0]?.resources, [{ resourceType: 'Observation', id: 'obs-b-glucose', versionId: '1' }]);
      assert.equal(a[0]?.requestId, b[0]?.requestId);

      await search(SYSTEM, 'Observation?code=no-such-code');
      await search(ALICE_APP, 'Practitioner?name=who');
      assert.equal((await h.disclosures('alice')).length, beforeA + 1);
    });

    it('accounts for included resources too', async () => {
      const before = (await h.disclosures('alice')).length;
      await search(ALICE_APP, 'Observation?_id=obs-a-glucose&_revinclude=Provenance:target');
      const [entry] = (await h.disclosures('alice')).slice(before);
      assert.deepEqual(entry?.resources.map((r) => `${r.resourceType}/${r.id}`).sort(), ['Observation/obs-a-glucose', 'Provenance/prov-a']);
      assert.equal(entry?.clientId, 'alice-app');
    });
  });
});
