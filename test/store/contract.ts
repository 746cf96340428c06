/**
 * The storage contract: every Stores implementation must pass this suite unchanged
 * (test/store/sqlite.test.ts, test/store/postgres.test.ts). Each test opens a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import { GENESIS_HASH } from '../../src/core/hash-chain.js';
import { disclosureHash } from '../../src/store/disclosure-hash.js';
import type { DisclosureInput, SearchFilter, SearchIndexSelection, SearchQuery, Stores } from '../../src/store/types.js';

export interface ContractOptions {
  /** Skip the whole suite; a string is printed as the reason. */
  skip?: boolean | string;
  /** Runs raw SQL against the database of the most recently opened store (append-only checks); absent = those tests skip. */
  rawSql?: (sql: string) => Promise<unknown>;
  /** Opens a second store over the database of the most recently opened one (another process); absent = those tests skip. */
  openAnother?: OpenStores;
}

/** Opens a fresh, empty store that takes its time from `clock`. */
export type OpenStores = (deps: { clock: Clock; searchIndex?: SearchIndexSelection; onReindexed?: (resources: number) => void }) => Promise<Stores>;

const START = Date.UTC(2026, 0, 1);
const LOINC = 'http://loinc.org';
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

// ---------------------------------------------------------------- fixtures

function patient(id: string, family: string, extra: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', id, name: [{ family, given: ['Test'] }], ...extra };
}

function observation(id: string, patientId: string, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: OBS_CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code: '2345-7', display: 'Glucose' }], text: 'Glucose [Mass/volume]' },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2020-03-05T10:00:00Z',
    valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
    ...extra,
  };
}

function disclosure(patientId: string, n: number, extra: Partial<DisclosureInput> = {}): DisclosureInput {
  return {
    patient: patientId,
    recipient: { partnerId: 'ehr-1', name: 'Example EHR', kind: 'ehr' },
    clientId: 'client-1',
    tokenId: `jti-${n}`,
    purposeOfUse: 'TREAT',
    legalBasis: 'TPO',
    channel: 'read',
    resources: [{ resourceType: 'Patient', id: patientId, versionId: '1' }],
    description: `Patient read ${n}`,
    requestId: `req-${n}`,
    ...extra,
  };
}

const ids = (rs: readonly Resource[]) => rs.map((r) => r.id);
const sorted = (xs: ReadonlyArray<string | undefined>) => [...xs].sort();

// ---------------------------------------------------------------- the suite

export function storeContract(name: string, open: OpenStores, opts: ContractOptions = {}): void {
  describe(`store contract: ${name}`, { skip: opts.skip }, () => {
    let stores: Stores;
    let clock: ManualClock;

    beforeEach(async () => {
      clock = new ManualClock(START);
      stores = await open({ clock });
    });
    afterEach(async () => {
      await stores.close();
    });

    /** Search with defaults: filters on one type, 100 per page. */
    const search = (resourceType: string, filters: SearchFilter[], extra: Partial<SearchQuery> = {}) =>
      stores.resources.search({ resourceType, filters, count: 100, offset: 0, ...extra });
    const f = (code: string, value: string | string[], modifier?: string): SearchFilter => ({
      code,
      ...(modifier ? { modifier } : {}),
      values: (Array.isArray(value) ? value : [value]).map((v) => ({ value: v })),
    });
    const fp = (code: string, prefix: NonNullable<SearchFilter['values'][number]['prefix']>, value: string): SearchFilter => ({
      code,
      values: [{ prefix, value }],
    });
    const found = async (resourceType: string, filters: SearchFilter[], extra: Partial<SearchQuery> = {}) =>
      sorted(ids((await search(resourceType, filters, extra)).resources));

    describe('resources: create, read, update, delete', () => {
      it('creates version 1 with an id and lastUpdated from the clock', async () => {
        const p = await stores.resources.create<Patient>({ resourceType: 'Patient', active: true });
        assert.match(p.id ?? '', /^[A-Za-z0-9\-.]{1,64}$/);
        assert.equal(p.meta?.versionId, '1');
        assert.equal(p.meta?.lastUpdated, new Date(START).toISOString());
        assert.deepEqual(await stores.resources.read('Patient', p.id as string), p);
      });

      it('keeps a caller-chosen id and refuses it twice with 409', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'chosen-1' });
        assert.equal(p.id, 'chosen-1');
        await assert.rejects(stores.resources.create(patient('x', 'Smith'), { id: 'chosen-1' }), { status: 409 });
        await assert.rejects(stores.resources.create(patient('x', 'Smith'), { id: 'bad id!' }), { status: 400 });
      });

      it('keeps meta.profile and meta.security and replaces versionId/lastUpdated', async () => {
        const p = await stores.resources.create<Patient>({
          resourceType: 'Patient',
          meta: { versionId: '99', profile: ['http://example.org/p'], security: [{ system: 's', code: 'R' }] },
        });
        assert.equal(p.meta?.versionId, '1');
        assert.deepEqual(p.meta?.profile, ['http://example.org/p']);
        assert.deepEqual(p.meta?.security, [{ system: 's', code: 'R' }]);
      });

      it('updates to the next version with a strictly later lastUpdated, even if the clock has not moved', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        const { resource: v2, created } = await stores.resources.update({ ...p, active: true });
        assert.equal(created, false);
        assert.equal(v2.meta?.versionId, '2');
        assert.ok((v2.meta?.lastUpdated ?? '') > (p.meta?.lastUpdated ?? ''));
        clock.advance(-60_000); // a clock stepping back never makes lastUpdated go back
        const { resource: v3 } = await stores.resources.update({ ...v2, active: false });
        assert.ok((v3.meta?.lastUpdated ?? '') > (v2.meta?.lastUpdated ?? ''));
        assert.equal((await stores.resources.read<Patient>('Patient', 'p1')).active, false);
      });

      it('rejects update with a stale If-Match (412) and accepts the current one, also as an ETag', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        await stores.resources.update({ ...p, active: true }, { ifMatch: '1' });
        await assert.rejects(stores.resources.update(p, { ifMatch: '1' }), { status: 412, code: 'GW_VERSION_CONFLICT' });
        const { resource } = await stores.resources.update(p, { ifMatch: 'W/"2"' });
        assert.equal(resource.meta?.versionId, '3');
        await assert.rejects(stores.resources.delete('Patient', 'p1', { ifMatch: '2' }), { status: 412 });
      });

      it('creates on update when the resource does not exist (update-as-create)', async () => {
        const { resource, created } = await stores.resources.update(patient('new-1', 'Jones'));
        assert.equal(created, true);
        assert.equal(resource.meta?.versionId, '1');
        await assert.rejects(stores.resources.update(patient('missing', 'X'), { ifMatch: '1' }), { status: 412 });
        await assert.rejects(stores.resources.update({ resourceType: 'Patient' }), { status: 400 });
      });

      it('answers 404 for a resource that never existed', async () => {
        await assert.rejects(stores.resources.read('Patient', 'nope'), { status: 404, code: 'GW_NOT_FOUND' });
        await assert.rejects(stores.resources.vread('Patient', 'nope', '1'), { status: 404 });
        await assert.rejects(stores.resources.history('Patient', 'nope', { count: 10, offset: 0 }), { status: 404 });
      });

      it('deletes by recording a DELETE version: read 410, history shows it, old versions stay readable', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        await stores.resources.update({ ...p, active: true });
        await stores.resources.delete('Patient', 'p1');
        await assert.rejects(stores.resources.read('Patient', 'p1'), { status: 410, code: 'GW_GONE' });
        assert.equal((await stores.resources.vread<Patient>('Patient', 'p1', '2')).active, true);
        await assert.rejects(stores.resources.vread('Patient', 'p1', '3'), { status: 410 });
        await assert.rejects(stores.resources.vread('Patient', 'p1', '4'), { status: 404 });
        await assert.rejects(stores.resources.vread('Patient', 'p1', 'x'), { status: 404 });
        const h = await stores.resources.history('Patient', 'p1', { count: 10, offset: 0 });
        assert.equal(h.total, 3);
        assert.deepEqual(h.entries.map((e) => [e.versionId, e.method, e.resource === undefined]), [
          ['3', 'DELETE', true],
          ['2', 'PUT', false],
          ['1', 'POST', false],
        ]);
        // Deleting again, or deleting something missing, changes nothing.
        await stores.resources.delete('Patient', 'p1');
        await stores.resources.delete('Patient', 'never');
        assert.equal((await stores.resources.history('Patient', 'p1', { count: 10, offset: 0 })).total, 3);
        assert.deepEqual(await found('Patient', [f('family', 'smith')]), []);
      });

      it('re-creates a deleted resource with the next version', async () => {
        await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        await stores.resources.delete('Patient', 'p1');
        const { resource, created } = await stores.resources.update(patient('p1', 'Smith'));
        assert.equal(created, true);
        assert.equal(resource.meta?.versionId, '3');
        assert.deepEqual(await found('Patient', [f('family', 'smith')]), ['p1']);
      });

      it('pages history newest first and filters it by since', async () => {
        let p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        for (let i = 0; i < 4; i++) {
          clock.advance(1000);
          p = (await stores.resources.update({ ...p, birthDate: `200${i}` })).resource;
        }
        const page = await stores.resources.history('Patient', 'p1', { count: 2, offset: 1 });
        assert.equal(page.total, 5);
        assert.deepEqual(page.entries.map((e) => e.versionId), ['4', '3']);
        assert.equal(page.entries[0]?.lastUpdated, new Date(START + 3000).toISOString());
        const since = await stores.resources.history('Patient', 'p1', { count: 10, offset: 0, since: new Date(START + 3000).toISOString() });
        assert.deepEqual(since.entries.map((e) => e.versionId), ['5', '4']);
        assert.equal(since.total, 2);
      });

      it('lets exactly one of two concurrent updates with the same If-Match win', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, (_, i) => stores.resources.update({ ...p, birthDate: `199${i}` }, { ifMatch: '1' })),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { status: number }).status, 412);
      });

      it('gives concurrent unconditional updates distinct consecutive versions', async () => {
        const p = await stores.resources.create(patient('p1', 'Smith'), { id: 'p1' });
        const results = await Promise.all(Array.from({ length: 6 }, () => stores.resources.update({ ...p })));
        assert.deepEqual(results.map((r) => Number(r.resource.meta?.versionId)).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7]);
        assert.equal((await stores.resources.history('Patient', 'p1', { count: 50, offset: 0 })).total, 7);
      });

      it('creates one resource once under concurrent update-as-create', async () => {
        const results = await Promise.all(Array.from({ length: 4 }, () => stores.resources.update(patient('race', 'Smith'))));
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.deepEqual(results.map((r) => Number(r.resource.meta?.versionId)).sort(), [1, 2, 3, 4]);
      });

      it('reads many references at once, in input order, skipping missing and deleted ones', async () => {
        await stores.resources.create(patient('a', 'A'), { id: 'a' });
        await stores.resources.create(patient('b', 'B'), { id: 'b' });
        await stores.resources.create(patient('c', 'C'), { id: 'c' });
        await stores.resources.create(observation('o1', 'a'), { id: 'o1' });
        await stores.resources.delete('Patient', 'c');
        const got = await stores.resources.readMany([
          { resourceType: 'Observation', id: 'o1' },
          { resourceType: 'Patient', id: 'b' },
          { resourceType: 'Patient', id: 'c' },
          { resourceType: 'Patient', id: 'zz' },
          { resourceType: 'Patient', id: 'a' },
          { resourceType: 'Patient', id: 'b' },
        ]);
        assert.deepEqual(got.map((r) => `${r.resourceType}/${r.id}`), ['Observation/o1', 'Patient/b', 'Patient/a']);
        assert.deepEqual(await stores.resources.readMany([]), []);
      });
    });

    describe('resources: search index selection', () => {
      const only = (fingerprint: string, codes: string[]): SearchIndexSelection => ({
        params: (type) => new Set(type === 'Observation' ? codes : []),
        fingerprint,
      });
      const lab = (id: string): Observation => ({
        resourceType: 'Observation', id, status: 'final', subject: { reference: 'Patient/p1' },
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
      });
      const ids = (r: { resources: Resource[] }) => r.resources.map((x) => x.id).sort();
      const byStatus = (s: Stores) => s.resources.search({ resourceType: 'Observation', filters: [f('status', 'final')], count: 10, offset: 0 });
      const byCode = (s: Stores) => s.resources.search({ resourceType: 'Observation', filters: [f('code', '2345-7')], count: 10, offset: 0 });

      it('indexes the selected parameters only, refuses the others, and rebuilds every row when the selection changes', {
        skip: opts.openAnother ? false : 'no second store over one database',
      }, async () => {
        await stores.resources.create(lab('o1'), { id: 'o1' }); // indexed under no selection: every parameter
        const open = opts.openAnother as OpenStores;
        let rebuilt: number | undefined;
        const onReindexed = (n: number) => { rebuilt = n; };

        const narrow = await open({ clock, searchIndex: only('code-only', ['code']), onReindexed });
        try {
          assert.equal(rebuilt, 1, 'the first open under a selection rebuilds the rows');
          assert.deepEqual(ids(await byCode(narrow)), ['o1']);
          await assert.rejects(byStatus(narrow), { code: 'GW_NOT_SUPPORTED', message: /Observation\.status is not indexed/ });
          await narrow.resources.create(lab('o2'), { id: 'o2' }); // no status row
          assert.deepEqual(ids(await byCode(narrow)), ['o1', 'o2']);
        } finally {
          await narrow.close();
        }

        rebuilt = undefined;
        await (await open({ clock, searchIndex: only('code-only', ['code']), onReindexed })).close();
        assert.equal(rebuilt, undefined, 'the same selection again: nothing to rebuild');

        const wide = await open({ clock, searchIndex: only('code-and-status', ['code', 'status']), onReindexed });
        try {
          assert.equal(rebuilt, 2);
          assert.deepEqual(ids(await byStatus(wide)), ['o1', 'o2'], 'o2, written without a status row, has one now');
          await wide.resources.delete('Observation', 'o1');
          assert.deepEqual(ids(await byStatus(wide)), ['o2']);
        } finally {
          await wide.close();
        }
      });
    });

    describe('resources: transactions', () => {
      it('commits every write inside the callback together', async () => {
        const out = await stores.resources.transaction(async (tx) => {
          await tx.create(patient('t1', 'Tx'), { id: 't1' });
          await tx.create(observation('to1', 't1'), { id: 'to1' });
          return 'done';
        });
        assert.equal(out, 'done');
        assert.equal((await stores.resources.read('Observation', 'to1')).id, 'to1');
      });

      it('leaves nothing behind when the callback throws', async () => {
        await stores.resources.create(patient('keep', 'Keep'), { id: 'keep' });
        await assert.rejects(
          stores.resources.transaction(async (tx) => {
            await tx.create(patient('t1', 'Gone'), { id: 't1' });
            await tx.update({ ...patient('keep', 'Changed') });
            await tx.delete('Patient', 'keep');
            throw new Error('boom');
          }),
          /boom/,
        );
        await assert.rejects(stores.resources.read('Patient', 't1'), { status: 404 });
        assert.equal((await stores.resources.read('Patient', 'keep')).meta?.versionId, '1');
        assert.deepEqual(await found('Patient', [f('family', 'gone')]), []);
        assert.deepEqual(await found('Patient', [f('family', 'keep')]), ['keep']);
      });

      it('sees its own writes inside; outside callers never see them before commit', async () => {
        let resume!: () => void;
        const paused = new Promise<void>((r) => (resume = r));
        const inside = stores.resources.transaction(async (tx) => {
          await tx.create(patient('t1', 'Inside'), { id: 't1' });
          assert.deepEqual(ids((await tx.search({ resourceType: 'Patient', filters: [f('family', 'inside')], count: 10, offset: 0 })).resources), ['t1']);
          await paused;
          throw new Error('rolled back');
        });
        // Started outside the transaction's async context: must not observe (or join) it.
        const outsideRead = stores.resources.read('Patient', 't1').then(() => 'found', (e: { status: number }) => e.status);
        const outsideWrite = stores.resources.create(patient('o1', 'Outside'), { id: 'o1' });
        resume();
        await assert.rejects(inside, /rolled back/);
        assert.equal(await outsideRead, 404);
        await outsideWrite;
        assert.deepEqual(await found('Patient', []), ['o1']);
      });

      it('rolls back a failed nested transaction without undoing the outer one', async () => {
        await stores.resources.transaction(async (tx) => {
          await tx.create(patient('outer', 'Outer'), { id: 'outer' });
          await assert.rejects(
            tx.transaction(async (inner) => {
              await inner.create(patient('inner', 'Inner'), { id: 'inner' });
              throw new Error('inner failed');
            }),
            /inner failed/,
          );
        });
        assert.equal((await stores.resources.read('Patient', 'outer')).id, 'outer');
        await assert.rejects(stores.resources.read('Patient', 'inner'), { status: 404 });
      });
    });

    describe('search', () => {
      beforeEach(async () => {
        const r = stores.resources;
        await r.create(patient('p1', 'Müller', {
          gender: 'female',
          birthDate: '1970-02-10',
          identifier: [{ system: 'urn:mrn', value: 'MRN-1' }],
          generalPractitioner: [{ reference: 'Practitioner/dr1' }],
          address: [{ city: 'Zürich' }],
        }), { id: 'p1' });
        await r.create(patient('p2', 'Mueller', { gender: 'male', birthDate: '1980', identifier: [{ value: 'MRN-2' }] }), { id: 'p2' });
        await r.create(patient('p3', 'Smith', { birthDate: '1990-06', generalPractitioner: [{ reference: 'Organization/dr1' }] }), { id: 'p3' });
        await r.create(observation('o1', 'p1'), { id: 'o1' });
        clock.advance(1000);
        await r.create(observation('o2', 'p1', {
          category: [{ coding: [{ system: OBS_CATEGORY, code: 'vital-signs' }] }],
          code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
          effectivePeriod: { start: '2021-01-01T00:00:00Z', end: '2021-01-02T00:00:00Z' },
          effectiveDateTime: undefined,
          valueQuantity: { value: 72, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
        }), { id: 'o2' });
        clock.advance(1000);
        await r.create(observation('o3', 'p2', {
          effectiveDateTime: '2020-12-31',
          valueQuantity: { value: 100, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
          meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] },
        }), { id: 'o3' });
        clock.advance(1000);
        await r.create({ resourceType: 'Observation', id: 'o4', status: 'preliminary', code: { text: 'free text only' } }, { id: 'o4' });
      });

      it('matches tokens by code, system|code, |code and system|', async () => {
        assert.deepEqual(await found('Observation', [f('code', '2345-7')]), ['o1', 'o3']);
        assert.deepEqual(await found('Observation', [f('code', `${LOINC}|8867-4`)]), ['o2']);
        assert.deepEqual(await found('Observation', [f('code', 'http://other|2345-7')]), []);
        assert.deepEqual(await found('Patient', [f('identifier', '|MRN-2')]), ['p2']);
        assert.deepEqual(await found('Patient', [f('identifier', '|MRN-1')]), []);
        assert.deepEqual(await found('Patient', [f('identifier', 'urn:mrn|')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('gender', 'female')]), ['p1']);
        assert.deepEqual(await found('Observation', [f('status', 'final')]), ['o1', 'o2', 'o3']);
      });

      it('ORs the values of one filter and ANDs filters', async () => {
        assert.deepEqual(await found('Patient', [f('gender', ['female', 'male'])]), ['p1', 'p2']);
        assert.deepEqual(await found('Observation', [f('patient', 'p1'), f('category', 'laboratory')]), ['o1']);
        assert.deepEqual(await found('Observation', [f('patient', 'p1'), f('category', 'survey')]), []);
      });

      it('supports token :not (which includes resources without the code) and :text', async () => {
        assert.deepEqual(await found('Observation', [f('category', 'laboratory', 'not')]), ['o2', 'o4']);
        assert.deepEqual(await found('Observation', [f('code', 'glucose', 'text')]), ['o1', 'o3']);
        assert.deepEqual(await found('Observation', [f('code', 'FREE TEXT', 'text')]), ['o4']);
        assert.deepEqual(await found('Observation', [f('code', 'heart', 'text')]), ['o2']);
      });

      it('matches strings by case- and accent-insensitive prefix, :exact and :contains', async () => {
        assert.deepEqual(await found('Patient', [f('family', 'mu')]), ['p1', 'p2']);
        assert.deepEqual(await found('Patient', [f('family', 'MÜLL')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('family', 'muel')]), ['p2']);
        assert.deepEqual(await found('Patient', [f('name', 'test')]), ['p1', 'p2', 'p3']);
        assert.deepEqual(await found('Patient', [f('family', 'Müller', 'exact')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('family', 'müller', 'exact')]), []);
        assert.deepEqual(await found('Patient', [f('family', 'lle', 'contains')]), ['p1', 'p2']);
        assert.deepEqual(await found('Patient', [f('address-city', 'zur')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('family', '%', 'contains')]), []);
      });

      it('matches dates at the precision given, with every prefix', async () => {
        assert.deepEqual(await found('Patient', [f('birthdate', '1970')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('birthdate', '1970-02')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('birthdate', '1970-02-10')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('birthdate', '1970-02-11')]), []);
        // A stored year is not within one day of it, but it does overlap it.
        assert.deepEqual(await found('Patient', [f('birthdate', '1980-05-01')]), []);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'ge', '1980-05-01')]), ['p2', 'p3']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'gt', '1980')]), ['p3']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'lt', '1980')]), ['p1']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'le', '1980')]), ['p1', 'p2']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'sa', '1975')]), ['p2', 'p3']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'eb', '1980-06')]), ['p1']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'ne', '1980')]), ['p1', 'p3']);
        assert.deepEqual(await found('Patient', [fp('birthdate', 'ap', '1990-06-15')]), ['p3']);
        assert.deepEqual(await found('Observation', [f('date', '2020-03-05')]), ['o1']);
        assert.deepEqual(await found('Observation', [f('date', '2020-03-05T10:00:00Z')]), ['o1']);
        assert.deepEqual(await found('Observation', [f('date', '2020-03-05T12:00:00+02:00')]), ['o1']);
        assert.deepEqual(await found('Observation', [f('date', '2020')]), ['o1', 'o3']);
      });

      it('treats a Period as a range', async () => {
        assert.deepEqual(await found('Observation', [f('date', '2021-01')]), ['o2']);
        assert.deepEqual(await found('Observation', [f('date', '2021-01-01')]), []); // the period is longer than that day
        assert.deepEqual(await found('Observation', [fp('date', 'ge', '2021-01-01T12:00:00Z')]), ['o2']);
        assert.deepEqual(await found('Observation', [fp('date', 'sa', '2020-12-31')]), ['o2']);
      });

      it('searches _id and _lastUpdated', async () => {
        assert.deepEqual(await found('Patient', [f('_id', ['p1', 'p3'])]), ['p1', 'p3']);
        assert.deepEqual(await found('Patient', [f('_id', 'p1', 'not')]), ['p2', 'p3']);
        assert.deepEqual(await found('Observation', [fp('_lastUpdated', 'ge', new Date(START + 2000).toISOString())]), ['o3', 'o4']);
        assert.deepEqual(await found('Observation', [fp('_lastUpdated', 'lt', new Date(START + 1000).toISOString())]), ['o1']);
        assert.deepEqual(await found('Observation', [f('_lastUpdated', '2026-01-01')]), ['o1', 'o2', 'o3', 'o4']);
      });

      it('matches references as id, Type/id, absolute URL, :Type and :identifier', async () => {
        assert.deepEqual(await found('Observation', [f('subject', 'Patient/p1')]), ['o1', 'o2']);
        assert.deepEqual(await found('Observation', [f('subject', 'p1')]), ['o1', 'o2']);
        assert.deepEqual(await found('Observation', [f('patient', 'p2')]), ['o3']);
        assert.deepEqual(await found('Observation', [f('subject', 'https://gateway.example/fhir/Patient/p1')]), ['o1', 'o2']);
        assert.deepEqual(await found('Observation', [f('subject', 'Group/p1')]), []);
        assert.deepEqual(await found('Patient', [f('general-practitioner', 'dr1')]), ['p1', 'p3']);
        assert.deepEqual(await found('Patient', [f('general-practitioner', 'dr1', 'Practitioner')]), ['p1']);
        assert.deepEqual(await found('Patient', [f('general-practitioner', 'Practitioner/dr1', 'Organization')]), []);
        await stores.resources.create(observation('o5', 'px', { subject: { identifier: { system: 'urn:mrn', value: 'MRN-9' } } }), { id: 'o5' });
        assert.deepEqual(await found('Observation', [f('subject', 'urn:mrn|MRN-9', 'identifier')]), ['o5']);
      });

      it('matches quantities and numbers with prefixes, precision and units', async () => {
        assert.deepEqual(await found('Observation', [f('value-quantity', '5.4')]), ['o1']);
        assert.deepEqual(await found('Observation', [f('value-quantity', '5')]), ['o1']); // 5 means [4.5, 5.5)
        assert.deepEqual(await found('Observation', [f('value-quantity', '5.0')]), []);
        assert.deepEqual(await found('Observation', [fp('value-quantity', 'gt', '50')]), ['o2', 'o3']);
        assert.deepEqual(await found('Observation', [fp('value-quantity', 'le', '72')]), ['o1', 'o2']);
        assert.deepEqual(await found('Observation', [f('value-quantity', '100|http://unitsofmeasure.org|mg/dL')]), ['o3']);
        assert.deepEqual(await found('Observation', [f('value-quantity', '100||mg/dL')]), ['o3']);
        assert.deepEqual(await found('Observation', [f('value-quantity', '100||mmol/L')]), []);
        assert.deepEqual(await found('Observation', [fp('value-quantity', 'ap', '95')]), ['o3']);
        await stores.resources.create({ resourceType: 'RiskAssessment', id: 'ra1', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.25 }] }, { id: 'ra1' });
        assert.deepEqual(await found('RiskAssessment', [f('probability', '0.25')]), ['ra1']);
        assert.deepEqual(await found('RiskAssessment', [fp('probability', 'gt', '0.2')]), ['ra1']);
        assert.deepEqual(await found('RiskAssessment', [fp('probability', 'lt', '0.2')]), []);
      });

      it('matches uris exactly and by :below', async () => {
        await stores.resources.create({ resourceType: 'ValueSet', status: 'active', url: 'http://example.org/fhir/ValueSet/colors' }, { id: 'vs1' });
        assert.deepEqual(await found('ValueSet', [f('url', 'http://example.org/fhir/ValueSet/colors')]), ['vs1']);
        assert.deepEqual(await found('ValueSet', [f('url', 'http://example.org/fhir/ValueSet')]), []);
        assert.deepEqual(await found('ValueSet', [f('url', 'http://example.org/fhir', 'below')]), ['vs1']);
        assert.deepEqual(await found('ValueSet', [f('url', 'http://example.org/fhir/ValueSet/colors/v2', 'above')]), ['vs1']);
      });

      it('supports :missing on any parameter type', async () => {
        assert.deepEqual(await found('Patient', [f('gender', 'true', 'missing')]), ['p3']);
        assert.deepEqual(await found('Patient', [f('gender', 'false', 'missing')]), ['p1', 'p2']);
        assert.deepEqual(await found('Observation', [f('date', 'true', 'missing')]), ['o4']);
        assert.deepEqual(await found('Observation', [f('subject', 'true', 'missing')]), ['o4']);
        await assert.rejects(search('Patient', [f('gender', 'maybe', 'missing')]), { status: 400 });
      });

      it('searches security labels (_security) for policy narrowing', async () => {
        const psy = 'http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY';
        assert.deepEqual(await found('Observation', [f('_security', psy)]), ['o3']);
        assert.deepEqual(await found('Observation', [f('_security', psy, 'not')]), ['o1', 'o2', 'o4']);
      });

      it('sorts by parameters, then id, and by lastUpdated by default', async () => {
        const byId = async (sort: SearchQuery['sort'], type = 'Patient') => ids((await search(type, [], { sort })).resources);
        // normalized: mueller < muller < smith
        assert.deepEqual(await byId([{ code: 'family', descending: false }]), ['p2', 'p1', 'p3']);
        assert.deepEqual(await byId([{ code: 'family', descending: true }]), ['p3', 'p1', 'p2']);
        assert.deepEqual(await byId([{ code: 'birthdate', descending: true }]), ['p3', 'p2', 'p1']);
        assert.deepEqual(await byId([{ code: 'gender', descending: false }]), ['p1', 'p2', 'p3']); // missing last
        assert.deepEqual(await byId([{ code: '_id', descending: true }]), ['p3', 'p2', 'p1']);
        assert.deepEqual(await byId(undefined, 'Observation'), ['o1', 'o2', 'o3', 'o4']);
        assert.deepEqual(await byId([{ code: '_lastUpdated', descending: true }], 'Observation'), ['o4', 'o3', 'o2', 'o1']);
        assert.deepEqual(await byId([{ code: 'date', descending: false }], 'Observation'), ['o1', 'o3', 'o2', 'o4']);
        await assert.rejects(search('Patient', [], { sort: [{ code: 'nonsense', descending: false }] }), { status: 400 });
      });

      it('pages with count and offset, reports hasMore, and counts the total only when asked', async () => {
        const q = { sort: [{ code: '_id', descending: false }] };
        const p1 = await search('Observation', [], { ...q, count: 3, offset: 0 });
        assert.deepEqual(ids(p1.resources), ['o1', 'o2', 'o3']);
        assert.equal(p1.hasMore, true);
        assert.equal(p1.next?.id, 'o4', 'the first match of the next page comes along');
        assert.equal(p1.total, undefined);
        const p2 = await search('Observation', [], { ...q, count: 3, offset: 3, total: true });
        assert.deepEqual(ids(p2.resources), ['o4']);
        assert.equal(p2.hasMore, false);
        assert.equal(p2.next, undefined);
        assert.equal(p2.total, 4);
        const onlyTotal = await search('Observation', [f('patient', 'p1')], { count: 0, total: true });
        assert.deepEqual(onlyTotal.resources, []);
        assert.equal(onlyTotal.total, 2);
      });

      it('pages one patient in lastUpdated order, ties by id, also newest first and under narrowing', async () => {
        clock.advance(1000);
        await stores.resources.create(observation('o9b', 'p1'), { id: 'o9b' });
        await stores.resources.create(observation('o9a', 'p1'), { id: 'o9a' }); // same instant as o9b
        const page = async (extra: Partial<SearchQuery>, offset: number) =>
          ids((await search('Observation', [f('patient', 'p1')], { count: 2, offset, ...extra })).resources);
        assert.deepEqual([...(await page({}, 0)), ...(await page({}, 2))], ['o1', 'o2', 'o9a', 'o9b']);
        const newest = { sort: [{ code: '_lastUpdated', descending: true }] };
        assert.deepEqual([...(await page(newest, 0)), ...(await page(newest, 2))], ['o9a', 'o9b', 'o2', 'o1']);
        const r = await search('Observation', [f('category', 'laboratory')], { count: 2, offset: 0, narrow: { compartmentPatient: 'p1' } });
        assert.deepEqual(ids(r.resources), ['o1', 'o9a']);
        assert.equal(r.hasMore, true);
      });

      it('narrows to a patient compartment', async () => {
        assert.deepEqual(await found('Observation', [], { narrow: { compartmentPatient: 'p1' } }), ['o1', 'o2']);
        assert.deepEqual(await found('Observation', [f('code', '2345-7')], { narrow: { compartmentPatient: 'p2' } }), ['o3']);
        assert.deepEqual(await found('Patient', [], { narrow: { compartmentPatient: 'p2' } }), ['p2']);
        assert.deepEqual(await found('Observation', [], { narrow: { compartmentPatient: 'nobody' } }), []);
      });

      it('narrows to any of several AND-groups (granular scopes)', async () => {
        const anyOf = [[f('category', 'vital-signs')], [f('category', 'laboratory'), f('patient', 'p2')]];
        assert.deepEqual(await found('Observation', [], { narrow: { anyOf } }), ['o2', 'o3']);
        assert.deepEqual(await found('Observation', [f('patient', 'p1')], { narrow: { anyOf } }), ['o2']);
        assert.deepEqual(await found('Observation', [], { narrow: { anyOf: [] } }), []);
      });

      it('rejects unknown parameters and malformed typed values with 400', async () => {
        await assert.rejects(search('Observation', [f('nonsense', 'x')]), { status: 400 });
        for (const bad of ['2020-13', '2020-02-30', 'yesterday', '2020-01-01T25:00:00Z', "2020' OR 1=1--"]) {
          await assert.rejects(search('Observation', [f('date', bad)]), { status: 400, code: 'GW_INVALID_SEARCH_VALUE' }, bad);
        }
        for (const bad of ['abc', '1,5', '0x10', 'NaN', '']) {
          await assert.rejects(search('Observation', [f('value-quantity', bad)]), { status: 400, code: 'GW_INVALID_SEARCH_VALUE' }, bad);
        }
        await assert.rejects(search('Patient', [f('family', 'x', 'bogus')]), { status: 400 });
      });

      it('treats hostile values as data: no match, no error', async () => {
        const hostile = ["' OR 1=1--", "'; DROP TABLE resources; --", '%00', '\u0000', '%', '_', '\\', 'Ⓟ𝒶𝓉𝒾ℯ𝓃𝓉 ☃', "p1' --", 'x'.repeat(5000)];
        for (const v of hostile) {
          assert.deepEqual(await found('Patient', [f('family', v)]), [], `family=${v}`);
          assert.deepEqual(await found('Patient', [f('identifier', v)]), [], `identifier=${v}`);
          assert.deepEqual(await found('Observation', [f('subject', v)]), [], `subject=${v}`);
          assert.deepEqual(await found('Patient', [f('_id', v)]), [], `_id=${v}`);
          assert.deepEqual(await found('Patient', [f('family', v, 'contains')]), [], `family:contains=${v}`);
        }
        assert.equal((await search('Patient', [])).resources.length, 3);
      });

      it('finds resources referencing targets (_revinclude)', async () => {
        const refs = await stores.resources.searchReferencing('Observation', 'subject', ['Patient/p1', 'Patient/p2'], 10);
        assert.deepEqual(sorted(ids(refs)), ['o1', 'o2', 'o3']);
        assert.equal((await stores.resources.searchReferencing('Observation', 'subject', ['Patient/p1'], 1)).length, 1);
        assert.deepEqual(await stores.resources.searchReferencing('Observation', 'subject', [], 10), []);
        await assert.rejects(stores.resources.searchReferencing('Observation', 'code', ['Patient/p1'], 10), { status: 400 });
      });

      it('re-indexes on update and drops index rows on delete', async () => {
        const o1 = await stores.resources.read<Observation>('Observation', 'o1');
        await stores.resources.update({ ...o1, subject: { reference: 'Patient/p2' } });
        assert.deepEqual(await found('Observation', [f('patient', 'p1')]), ['o2']);
        assert.deepEqual(await found('Observation', [f('patient', 'p2')]), ['o1', 'o3']);
        await stores.resources.delete('Observation', 'o3');
        assert.deepEqual(await found('Observation', [f('patient', 'p2')]), ['o1']);
        assert.deepEqual(await found('Observation', [], { narrow: { compartmentPatient: 'p2' } }), ['o1']);
      });
    });

    describe('patient compartment ($everything)', () => {
      beforeEach(async () => {
        await stores.resources.create(patient('p1', 'One'), { id: 'p1' });
        await stores.resources.create(patient('p2', 'Two'), { id: 'p2' });
        await stores.resources.create(observation('o1', 'p1'), { id: 'o1' });
        clock.advance(1000);
        await stores.resources.create(observation('o2', 'p1'), { id: 'o2' });
        await stores.resources.create(observation('o3', 'p2'), { id: 'o3' });
        await stores.resources.create({ resourceType: 'Condition', subject: { reference: 'Patient/p1' } }, { id: 'c1' });
        await stores.resources.create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } }, { id: 'e1' });
      });

      it('returns the patient and everything in its compartment, not other patients', async () => {
        const { resources, hasMore } = await stores.resources.compartment('p1', { count: 100, offset: 0 });
        assert.deepEqual(resources.map((r) => `${r.resourceType}/${r.id}`).sort(), [
          'Condition/c1', 'Encounter/e1', 'Observation/o1', 'Observation/o2', 'Patient/p1',
        ]);
        assert.equal(hasMore, false);
      });

      it('filters by types and since, pages, and skips deleted resources', async () => {
        const obs = await stores.resources.compartment('p1', { types: ['Observation'], count: 100, offset: 0 });
        assert.deepEqual(sorted(ids(obs.resources)), ['o1', 'o2']);
        const recent = await stores.resources.compartment('p1', { since: new Date(START + 1000).toISOString(), count: 100, offset: 0 });
        assert.deepEqual(sorted(ids(recent.resources)), ['c1', 'e1', 'o2']);
        const page1 = await stores.resources.compartment('p1', { count: 2, offset: 0 });
        const page2 = await stores.resources.compartment('p1', { count: 2, offset: 2 });
        const page3 = await stores.resources.compartment('p1', { count: 2, offset: 4 });
        assert.equal(page1.hasMore, true);
        assert.equal(page1.next?.id, page2.resources[0]?.id, 'the first resource of the next page comes along');
        assert.equal(page3.hasMore, false);
        assert.equal(page3.next, undefined);
        assert.equal(new Set([...page1.resources, ...page2.resources, ...page3.resources].map((r) => r.id)).size, 5);
        await stores.resources.delete('Observation', 'o1');
        assert.deepEqual(sorted(ids((await stores.resources.compartment('p1', { types: ['Observation'], count: 100, offset: 0 })).resources)), ['o2']);
      });
    });

    describe('disclosure log', () => {
      /** Recomputes every hash from what the store hands back, as `fxg audit verify` does. */
      async function verifyChain(): Promise<number> {
        let prev = GENESIS_HASH;
        let expectedSeq = 1;
        let lastRecorded = '';
        for (let after = 0; ; ) {
          const batch = await stores.disclosures.scan(after, 3);
          if (batch.length === 0) break;
          for (const e of batch) {
            assert.equal(e.seq, expectedSeq++);
            assert.equal(e.prevHash, prev);
            const { prevHash: _p, hash, ...input } = e;
            assert.equal(disclosureHash(prev, input), hash, `hash of seq ${e.seq}`);
            assert.ok(e.recorded >= lastRecorded, 'recorded never decreases');
            prev = hash;
            lastRecorded = e.recorded;
            after = e.seq;
          }
        }
        return expectedSeq - 1;
      }

      it('chains entries from the genesis hash and reads them back identically', async () => {
        const first = await stores.disclosures.append([disclosure('p1', 1), disclosure('p2', 2, { user: 'dr-who', recipient: { partnerId: 'x', name: 'X', kind: 'ehr', address: '1 Main St' } })]);
        assert.deepEqual(first.map((e) => e.seq), [1, 2]);
        assert.equal(first[0]?.prevHash, GENESIS_HASH);
        assert.equal(first[1]?.prevHash, first[0]?.hash);
        assert.equal(first[0]?.recorded, new Date(START).toISOString());
        assert.equal('user' in (first[0] ?? {}), false);
        assert.deepEqual(await stores.disclosures.scan(0, 10), first);
        assert.equal(await verifyChain(), 2);
        assert.deepEqual(await stores.disclosures.append([]), []);
      });

      it('keeps the chain linear under concurrent appends', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => stores.disclosures.append([disclosure(`p${i % 3}`, i), disclosure('p9', 100 + i)])));
        assert.deepEqual(results.flat().map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i + 1));
        assert.equal(await verifyChain(), 16);
        assert.equal(await stores.disclosures.count(), 16);
      });

      it('keeps one chain when two processes append to the same log', { skip: opts.openAnother ? false : 'no second store over one database' }, async () => {
        const other = await (opts.openAnother as OpenStores)({ clock });
        try {
          // Each side's next append starts from a head the other side has since extended.
          for (let round = 0; round < 3; round++) {
            await stores.disclosures.append([disclosure('p1', 10 * round)]);
            await other.disclosures.append([disclosure('p2', 10 * round + 1), disclosure('p3', 10 * round + 2)]);
          }
          await Promise.all([
            ...Array.from({ length: 5 }, (_, i) => stores.disclosures.append([disclosure('p4', 100 + i)])),
            ...Array.from({ length: 5 }, (_, i) => other.disclosures.append([disclosure('p5', 200 + i)])),
          ]);
          assert.equal(await verifyChain(), 19);
          assert.equal(await other.disclosures.count(), 19);
        } finally {
          await other.close();
        }
      });

      it('keeps the chain whole when an append inside a transaction is rolled back with it', async () => {
        await stores.disclosures.append([disclosure('p1', 1)]);
        await assert.rejects(stores.atomically(async () => {
          await stores.disclosures.append([disclosure('p1', 2)]);
          throw new Error('rolled back');
        }), /rolled back/);
        await stores.disclosures.append([disclosure('p1', 3)]);
        assert.equal(await verifyChain(), 2);
        assert.deepEqual((await stores.disclosures.scan(0, 10)).map((e) => e.tokenId), ['jti-1', 'jti-3']);
      });

      it('never lets recorded go backwards when the clock does', async () => {
        await stores.disclosures.append([disclosure('p1', 1)]);
        clock.advance(-3_600_000);
        const [e] = await stores.disclosures.append([disclosure('p1', 2)]);
        assert.equal(e?.recorded, new Date(START).toISOString());
        clock.advance(7_200_000);
        const [later] = await stores.disclosures.append([disclosure('p1', 3)]);
        assert.equal(later?.recorded, new Date(START + 3_600_000).toISOString());
        assert.equal(await verifyChain(), 3);
      });

      it('lists one patient oldest first, within [since, until), paged', async () => {
        await stores.disclosures.append([disclosure('p1', 1), disclosure('p2', 2)]);
        clock.advance(60_000);
        await stores.disclosures.append([disclosure('p1', 3)]);
        clock.advance(60_000);
        await stores.disclosures.append([disclosure('p1', 4)]);
        const all = await stores.disclosures.listByPatient('p1');
        assert.deepEqual(all.map((e) => e.tokenId), ['jti-1', 'jti-3', 'jti-4']);
        const window = await stores.disclosures.listByPatient('p1', {
          since: new Date(START + 60_000).toISOString(),
          until: new Date(START + 120_000).toISOString(),
        });
        assert.deepEqual(window.map((e) => e.tokenId), ['jti-3']);
        assert.deepEqual((await stores.disclosures.listByPatient('p1', { count: 1, offset: 1 })).map((e) => e.tokenId), ['jti-3']);
        assert.deepEqual(await stores.disclosures.listByPatient('nobody'), []);
        assert.equal(await stores.disclosures.count(), 4);
      });

      it('refuses UPDATE and DELETE in the database itself', { skip: !opts.rawSql && 'no raw SQL access for this store' }, async () => {
        await stores.disclosures.append([disclosure('p1', 1)]);
        const rawSql = opts.rawSql as NonNullable<ContractOptions['rawSql']>;
        await assert.rejects(rawSql("UPDATE disclosure_log SET patient = 'p2'"), /append-only/);
        await assert.rejects(rawSql('DELETE FROM disclosure_log'), /append-only/);
        assert.equal(await stores.disclosures.count(), 1);
        assert.equal(await verifyChain(), 1);
      });
    });

    describe('replay cache', () => {
      it('lets exactly one of 20 concurrent callers remember a key', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => stores.replay.remember('jti-1', START + 60_000)));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await stores.replay.remember('jti-1', START + 60_000), false);
        assert.equal(await stores.replay.remember('jti-2', START + 60_000), true);
      });

      it('accepts a key again once it has expired, and purges expired keys', async () => {
        assert.equal(await stores.replay.remember('k', START + 1000), true);
        assert.equal(await stores.replay.remember('other', START + 10_000), true);
        clock.advance(2000);
        assert.equal(await stores.replay.remember('k', START + 5000), true);
        assert.equal(await stores.replay.remember('k', START + 5000), false);
        assert.equal(await stores.replay.purge(START + 6000), 1);
        assert.equal(await stores.replay.purge(START + 6000), 0);
      });
    });

    describe('partners and signing keys', () => {
      it('upserts partners, keeping createdAt, and changes status', async () => {
        const created = await stores.partners.upsert({
          id: 'ehr-1', name: 'Example EHR', kind: 'ehr', status: 'active', scopes: ['system/Patient.rs'],
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' }] },
        });
        assert.equal(created.createdAt, new Date(START).toISOString());
        assert.deepEqual(await stores.partners.get('ehr-1'), created);
        clock.advance(1000);
        const replaced = await stores.partners.upsert({ id: 'ehr-1', name: 'Renamed', kind: 'ehr', status: 'active', scopes: [], jwksUrl: 'https://ehr.example/jwks', address: '1 Main St' });
        assert.equal(replaced.createdAt, created.createdAt);
        assert.equal(replaced.updatedAt, new Date(START + 1000).toISOString());
        assert.equal(replaced.jwks, undefined);
        assert.equal(replaced.jwksUrl, 'https://ehr.example/jwks');
        assert.equal(replaced.address, '1 Main St');
        assert.equal((await stores.partners.setStatus('ehr-1', 'suspended'))?.status, 'suspended');
        assert.equal(await stores.partners.setStatus('nobody', 'suspended'), undefined);
        assert.equal(await stores.partners.get('nobody'), undefined);
        await stores.partners.upsert({ id: 'a-pharmacy', name: 'Pharmacy', kind: 'pharmacy', status: 'active', scopes: [] });
        assert.deepEqual((await stores.partners.list()).map((p) => p.id), ['a-pharmacy', 'ehr-1']);
        await assert.rejects(
          stores.partners.upsert({ id: 'bad', name: 'B', kind: 'ehr', status: 'active', scopes: [], jwks: { keys: [] }, jwksUrl: 'https://x' }),
          { status: 400 },
        );
      });

      it('adds, retires and prunes signing keys', async () => {
        const key = (kid: string, createdAt: string) => ({
          kid, alg: 'ES256', createdAt,
          privateJwk: { kty: 'EC', crv: 'P-256', d: 'secret', kid }, publicJwk: { kty: 'EC', crv: 'P-256', kid },
        });
        await stores.keys.add(key('k1', '2026-01-01T00:00:00.000Z'));
        await stores.keys.add(key('k2', '2026-02-01T00:00:00.000Z'));
        await assert.rejects(stores.keys.add(key('k1', '2026-03-01T00:00:00.000Z')), { status: 409 });
        await stores.keys.retire('k1', '2026-02-01T00:00:00.000Z');
        await stores.keys.retire('k1', '2026-05-01T00:00:00.000Z'); // first retirement stands
        const listed = await stores.keys.list();
        assert.deepEqual(listed.map((k) => [k.kid, k.retiredAt]), [['k1', '2026-02-01T00:00:00.000Z'], ['k2', undefined]]);
        assert.deepEqual(listed[0]?.privateJwk, key('k1', '').privateJwk);
        assert.equal('retiredAt' in (listed[1] ?? {}), false);
        assert.equal(await stores.keys.prune('2026-01-15T00:00:00.000Z'), 0);
        assert.equal(await stores.keys.prune('2026-03-01T00:00:00.000Z'), 1);
        assert.deepEqual((await stores.keys.list()).map((k) => k.kid), ['k2']);
      });
    });

    describe('resources of one type in patient compartments', () => {
      it('returns current, undeleted resources of the type by patient', async () => {
        await stores.resources.create(patient('p1', 'One'), { id: 'p1' });
        await stores.resources.create(patient('p2', 'Two'), { id: 'p2' });
        const consent = (id: string, pt: string, status = 'active') => ({
          resourceType: 'Consent' as const, id, status: status as 'active', scope: { text: 'privacy' }, category: [{ text: 'c' }],
          patient: { reference: `Patient/${pt}` },
        });
        await stores.resources.update(consent('c1', 'p1'));
        await stores.resources.update(consent('c2', 'p1', 'inactive'));
        await stores.resources.update(consent('c3', 'p2'));
        await stores.resources.update(consent('c4', 'p2'));
        await stores.resources.delete('Consent', 'c4');
        await stores.resources.update({ ...consent('c1', 'p1'), status: 'inactive' as 'active' });
        await stores.resources.create(observation('o1', 'p1'), { id: 'o1' });
        const found = await stores.resources.ofTypeInCompartments('Consent', ['p1', 'p2', 'p3', 'p1']);
        assert.deepEqual([...found.keys()].sort(), ['p1', 'p2']);
        assert.deepEqual(found.get('p1')!.map((c) => [c.id, (c as { status?: string }).status]).sort(), [['c1', 'inactive'], ['c2', 'inactive']]);
        assert.deepEqual(found.get('p2')!.map((c) => c.id), ['c3']);
        assert.equal((await stores.resources.ofTypeInCompartments('Consent', [])).size, 0);
      });
    });

    describe('ingest error queue, admin trail, accounting records', () => {
      it('keeps failed inputs verbatim and records retries', async () => {
        const input = 'MSH|^~\\&|LAB|HOSP|||20260101||ORU^R01|M1|P|2.5.1\r';
        const e = await stores.ingestErrors.add({ channel: 'mllp', format: 'hl7v2', source: 'MSH-10 M1', input, outcome: { resourceType: 'OperationOutcome', issue: [] } });
        assert.equal(e.status, 'open');
        assert.equal(e.attempts, 0);
        assert.deepEqual(await stores.ingestErrors.get(e.id), e);
        clock.advance(1000);
        const second = await stores.ingestErrors.add({ channel: 'import', format: 'mapping:clinic', source: 'a.csv:3', input: 'x,y', outcome: { resourceType: 'OperationOutcome' } });
        const failed = await stores.ingestErrors.recordAttempt(e.id, { resolved: false, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] } });
        assert.equal(failed?.attempts, 1);
        assert.equal(failed?.status, 'open');
        assert.deepEqual(failed?.outcome, { resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] });
        assert.equal(failed?.input, input);
        assert.deepEqual((await stores.ingestErrors.list({ status: 'open' })).map((x) => x.id), [e.id, second.id]);
        assert.equal((await stores.ingestErrors.recordAttempt(second.id, { resolved: true }))?.status, 'resolved');
        assert.deepEqual((await stores.ingestErrors.list({ status: 'open' })).map((x) => x.id), [e.id]);
        assert.equal((await stores.ingestErrors.list()).length, 2);
        assert.equal(await stores.ingestErrors.recordAttempt('nope', { resolved: true }), undefined);
      });

      it('appends admin changes with before and after images', async () => {
        const a = await stores.adminTrail.record({ actor: 'cli:alice', action: 'partner.upsert', target: 'partner/ehr-1', after: { name: 'EHR' } });
        clock.advance(5);
        const b = await stores.adminTrail.record({ actor: 'partner:admin', action: 'partner.status', target: 'partner/ehr-1', before: { status: 'active' }, after: { status: 'suspended' } });
        await stores.adminTrail.record({ actor: 'cli:alice', action: 'partner.upsert', target: 'partner/other' });
        assert.ok(b.seq > a.seq);
        assert.equal('before' in a, false);
        assert.deepEqual(await stores.adminTrail.list({ target: 'partner/ehr-1' }), [a, b]);
        if (opts.rawSql) {
          await assert.rejects(opts.rawSql(`UPDATE admin_trail SET actor = 'x' WHERE seq = ${a.seq}`));
          await assert.rejects(opts.rawSql(`DELETE FROM admin_trail WHERE seq = ${a.seq}`));
        }
      });

      it('keeps suspensions and the accountings provided', async () => {
        await stores.accounting.addSuspension({ id: 's1', patient: 'p1', body: { agency: 'OIG', form: 'written' } });
        await stores.accounting.addSuspension({ id: 's2', body: { agency: 'FBI', form: 'oral' } });
        await stores.accounting.addSuspension({ id: 's3', patient: 'p2', body: { agency: 'X', form: 'written' } });
        assert.deepEqual((await stores.accounting.suspensionsFor('p1')).map((s) => s.id).sort(), ['s1', 's2']);
        assert.equal((await stores.accounting.listSuspensions()).length, 3);
        await stores.accounting.recordProvided({ id: 'a1', patient: 'p1', body: { kind: 'hipaa', lines: 3 } });
        assert.deepEqual(await stores.accounting.listProvided('p1'), [{ id: 'a1', patient: 'p1', at: new Date(START).toISOString(), body: { kind: 'hipaa', lines: 3 } }]);
        assert.deepEqual(await stores.accounting.listProvided('p2'), []);
      });

      it('stores disclosure labels and partner agreements', async () => {
        const [e] = await stores.disclosures.append([disclosure('p1', 1, { labels: ['ETH', 'R'] })]);
        assert.deepEqual(e?.labels, ['ETH', 'R']);
        assert.deepEqual((await stores.disclosures.listByPatient('p1'))[0], e);
        const p = await stores.partners.upsert({ id: 'ph', name: 'Pharmacy', kind: 'pharmacy', status: 'active', scopes: [], agreement: { purposes: ['TREAT'] } });
        assert.deepEqual(p.agreement, { purposes: ['TREAT'] });
        assert.deepEqual((await stores.partners.get('ph'))?.agreement, { purposes: ['TREAT'] });
      });
    });

    it('answers ping', async () => {
      await stores.ping();
      assert.ok(stores.kind === 'sqlite' || stores.kind === 'postgres');
    });
  });
}
