import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { evalFhirPathTyped, parseFhirPath, toTypedValue } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions, PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import {
  createIndexer,
  followMembers,
  memberPath,
  splitUnion,
  fhirDateRange,
  INDEX_TEXT_MAX,
  indexKey,
  MAX_INSTANT,
  normalizeText,
  referenceTarget,
  type IndexRows,
} from '../../src/store/indexer.js';

const defs = loadFhirDefinitions();
const indexer = createIndexer(defs);
const index = (r: Resource): IndexRows => indexer.index(r);
/** The rows of one kind for one parameter code, without the code. */
const rowsOf = (rows: IndexRows, kind: keyof Omit<IndexRows, 'compartment'>, code: string): Array<Record<string, unknown>> =>
  (rows[kind] as Array<{ code: string }>).filter((r) => r.code === code).map(({ code: _c, ...rest }) => rest);

const ms = (iso: string) => Date.parse(iso);

describe('fhirDateRange', () => {
  it('covers the whole period its precision names', () => {
    assert.deepEqual(fhirDateRange('2020'), [ms('2020-01-01T00:00:00Z'), ms('2021-01-01T00:00:00Z') - 1]);
    assert.deepEqual(fhirDateRange('2020-02'), [ms('2020-02-01T00:00:00Z'), ms('2020-03-01T00:00:00Z') - 1]);
    assert.deepEqual(fhirDateRange('2020-02-29'), [ms('2020-02-29T00:00:00Z'), ms('2020-03-01T00:00:00Z') - 1]);
    assert.deepEqual(fhirDateRange('2020-02-29T10:15Z'), [ms('2020-02-29T10:15:00Z'), ms('2020-02-29T10:16:00Z') - 1]);
    assert.deepEqual(fhirDateRange('2020-02-29T10:15:30Z'), [ms('2020-02-29T10:15:30Z'), ms('2020-02-29T10:15:31Z') - 1]);
    assert.deepEqual(fhirDateRange('2020-02-29T10:15:30.1Z'), [ms('2020-02-29T10:15:30.100Z'), ms('2020-02-29T10:15:30.199Z')]);
    assert.deepEqual(fhirDateRange('2020-02-29T10:15:30.123456Z'), [ms('2020-02-29T10:15:30.123Z'), ms('2020-02-29T10:15:30.123Z')]);
  });

  it('applies the time-zone offset and reads a missing zone as UTC', () => {
    assert.deepEqual(fhirDateRange('2020-03-05T12:00:00+02:00'), fhirDateRange('2020-03-05T10:00:00Z'));
    assert.deepEqual(fhirDateRange('2020-03-05T05:30:00-04:30'), fhirDateRange('2020-03-05T10:00:00Z'));
    assert.deepEqual(fhirDateRange('2020-03-05T10:00:00'), fhirDateRange('2020-03-05T10:00:00Z'));
  });

  it('keeps years before 100 literal', () => {
    assert.equal(new Date((fhirDateRange('0050') as [number, number])[0]).getUTCFullYear(), 50);
  });

  it('refuses what is not a valid date', () => {
    for (const bad of ['', '20', '2020-1', '2020-13', '2019-02-29', '2020-04-31', '2020-01-01T24:00Z', '2020-01-01T10:60Z',
      '2020-01-01T10:00:61Z', '2020-01-01T10:00+15:00', '2020-01-01 10:00', 'yesterday', '2020-01-01Z', "2020' OR 1=1"]) {
      assert.equal(fhirDateRange(bad), undefined, bad);
    }
  });
});

describe('text helpers', () => {
  it('normalizes case and accents for string search', () => {
    assert.equal(normalizeText('Müller-Lüdenscheidt'), 'muller-ludenscheidt');
    assert.equal(normalizeText('ÉLODIE Ñandú'), 'elodie nandu');
    assert.equal(normalizeText('ﬁle'), 'file');
  });

  it('cuts index keys by code point, never inside a surrogate pair, and replaces NUL', () => {
    const long = '𝒶'.repeat(INDEX_TEXT_MAX + 10);
    assert.equal(Array.from(indexKey(long)).length, INDEX_TEXT_MAX);
    assert.equal(indexKey(long), '𝒶'.repeat(INDEX_TEXT_MAX));
    assert.equal(indexKey('a\u0000b'), 'a\uFFFDb');
  });
});

describe('referenceTarget', () => {
  it('normalizes relative and absolute references and ignores local ones', () => {
    assert.deepEqual(referenceTarget('Patient/123'), { target: 'Patient/123', type: 'Patient' });
    assert.deepEqual(referenceTarget('Patient/123/_history/4'), { target: 'Patient/123', type: 'Patient' });
    assert.deepEqual(referenceTarget('https://x.example/fhir/Patient/123/_history/4'), {
      target: 'https://x.example/fhir/Patient/123',
      type: 'Patient',
    });
    assert.deepEqual(referenceTarget('https://x.example/some/doc'), { target: 'https://x.example/some/doc' });
    assert.equal(referenceTarget('#contained-1'), undefined);
    assert.equal(referenceTarget('urn:uuid:0a0b'), undefined);
    assert.equal(referenceTarget('patient/123'), undefined);
  });
});

describe('indexer', () => {
  const observation = {
    resourceType: 'Observation',
    id: 'o1',
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }], text: 'Glucose [Mass/volume]' },
    subject: { reference: 'Patient/p1' },
    performer: [{ reference: 'Practitioner/dr1' }, { reference: 'Patient/p2' }],
    effectivePeriod: { start: '2021-01-01T00:00:00Z' },
    valueRange: { low: { value: 1, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' }, high: { value: 3 } },
  } as Resource;

  it('extracts token rows with system, code and normalized text', () => {
    const rows = index(observation);
    assert.deepEqual(rowsOf(rows, 'token', 'code'), [
      { system: 'http://loinc.org', value: '2345-7', text: 'glucose' },
      { system: null, value: null, text: 'glucose [mass/volume]' },
    ]);
    assert.deepEqual(rowsOf(rows, 'token', 'status'), [{ system: null, value: 'final', text: null }]);
    assert.deepEqual(rowsOf(rows, 'token', '_security'), [
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', value: 'PSY', text: null },
    ]);
  });

  it('filters references by the type in `.where(resolve() is X)`', () => {
    const rows = index(observation);
    assert.deepEqual(rowsOf(rows, 'reference', 'patient'), [{ target: 'Patient/p1' }]);
    assert.deepEqual(rowsOf(rows, 'reference', 'subject'), [{ target: 'Patient/p1' }]);
    assert.deepEqual(rowsOf(rows, 'reference', 'performer'), [{ target: 'Practitioner/dr1' }, { target: 'Patient/p2' }]);
  });

  it('indexes an open Period up to the end of time and a Range as [low, high]', () => {
    const rows = index(observation);
    assert.deepEqual(rowsOf(rows, 'date', 'date'), [{ low: ms('2021-01-01T00:00:00Z'), high: MAX_INSTANT }]);
    assert.deepEqual(rowsOf(rows, 'quantity', 'value-quantity'), []);
    const withQuantity = index({ ...observation, valueRange: undefined, valueQuantity: { value: 5.4, unit: 'mg/dL' } } as Resource);
    assert.deepEqual(rowsOf(withQuantity, 'quantity', 'value-quantity'), [{ low: 5.4, high: 5.4, system: null, unit: 'mg/dL' }]);
  });

  it('puts the resource in the compartments of the patients it references', () => {
    assert.deepEqual(index(observation).compartment.sort(), ['p1', 'p2']);
    assert.deepEqual(index({ resourceType: 'Patient', id: 'p9' }).compartment, ['p9']);
  });

  it('indexes every part of names and addresses, normalized and as written', () => {
    const rows = index({
      resourceType: 'Patient',
      id: 'p1',
      name: [{ family: 'Müller', given: ['Anna', 'Maria'], prefix: ['Dr.'] }],
      address: [{ line: ['Hauptstraße 1'], city: 'Zürich', postalCode: '8001' }],
      birthDate: '1970',
      active: true,
      identifier: [{ system: 'urn:mrn', value: '42', type: { text: 'Medical record' } }],
      telecom: [{ system: 'phone', value: '+41 44 000' }],
    } as Resource);
    assert.deepEqual(rowsOf(rows, 'string', 'family'), [{ norm: 'muller', exact: 'Müller' }]);
    assert.deepEqual(rowsOf(rows, 'string', 'name').map((r) => r.norm), ['muller', 'anna', 'maria', 'dr.']);
    assert.deepEqual(rowsOf(rows, 'string', 'address').map((r) => r.exact), ['Hauptstraße 1', 'Zürich', '8001']);
    assert.deepEqual(rowsOf(rows, 'token', 'active'), [{ system: null, value: 'true', text: null }]);
    assert.deepEqual(rowsOf(rows, 'token', 'identifier'), [{ system: 'urn:mrn', value: '42', text: 'medical record' }]);
    assert.deepEqual(rowsOf(rows, 'token', 'phone'), [{ system: null, value: '+41 44 000', text: null }]);
    assert.deepEqual(rowsOf(rows, 'date', 'birthdate'), [{ low: ms('1970-01-01T00:00:00Z'), high: ms('1971-01-01T00:00:00Z') - 1 }]);
  });

  it('stores Reference.identifier for the :identifier modifier and skips contained references', () => {
    const rows = index({
      resourceType: 'Observation',
      id: 'o2',
      status: 'final',
      code: { text: 'x' },
      subject: { identifier: { system: 'urn:mrn', value: '42' } },
      performer: [{ reference: '#contained' }],
    } as Resource);
    assert.deepEqual(rowsOf(rows, 'token', 'subject:identifier'), [{ system: 'urn:mrn', value: '42', text: null }]);
    assert.deepEqual(rowsOf(rows, 'reference', 'performer'), []);
  });

  it('skips expressions whose elements are absent but never one whose element is present', () => {
    const codes = (rows: IndexRows) => new Set(Object.values(rows).flat().map((r) => (r as { code?: string }).code));
    const obs = codes(index({
      resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' },
      valueCodeableConcept: { coding: [{ code: 'a' }] },
      component: [{ code: { coding: [{ code: 'c' }] }, valueQuantity: { value: 1 } }],
      effectiveInstant: '2020-01-01T00:00:00Z',
      meta: { tag: [{ code: 't' }], profile: ['http://example.org/p'] },
    } as Resource));
    for (const c of ['value-concept', 'combo-value-concept', 'component-code', 'component-value-quantity', 'combo-value-quantity', 'date', '_tag', '_profile']) {
      assert.ok(obs.has(c), c);
    }
    for (const c of ['value-quantity', 'value-date', 'value-string', '_security', '_source']) assert.ok(!obs.has(c), c);
    // `.as(string)` on abatementDateTime: medplum would return the dateTime; the cast rules it out.
    const condition = codes(index({
      resourceType: 'Condition', id: 'c', subject: { reference: 'Patient/p' }, abatementDateTime: '2021', onsetAge: { value: 5, code: 'a' },
    } as Resource));
    assert.ok(condition.has('abatement-date') && condition.has('onset-age'));
    assert.ok(!condition.has('abatement-string') && !condition.has('onset-date'));
    // A member path ends at a function: `Patient.telecom.where(system='phone')` needs only `telecom`.
    assert.ok(codes(index({ resourceType: 'Patient', id: 'p', telecom: [{ system: 'phone', value: '1' }] })).has('phone'));
  });

  it('drops duplicate rows reached through two expressions', () => {
    const rows = index(observation);
    const keys = rows.token.map((r) => JSON.stringify(r));
    assert.equal(new Set(keys).size, keys.length);
  });
});

describe('indexer: member paths followed without the FHIRPath engine', () => {
  const SYNTHEA_DIR = join(PROJECT_ROOT, '..', 'shared', 'data', 'synthea');

  function corpus(): Resource[] {
    const out: Resource[] = [];
    for (const f of ['demo/demo-patients.json', 'fhir/clinical-seed.json']) {
      const b = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', f), 'utf8')) as Bundle;
      out.push(...(b.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
    }
    if (existsSync(SYNTHEA_DIR)) {
      for (const f of readdirSync(SYNTHEA_DIR).filter((n) => n.endsWith('.json')).sort().slice(0, 2)) {
        const b = JSON.parse(readFileSync(join(SYNTHEA_DIR, f), 'utf8')) as Bundle;
        out.push(...(b.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
      }
    }
    return out;
  }

  /** The resource with one top-level property emptied in each way the engine treats specially. */
  function variants(r: Resource): Resource[] {
    const out: Resource[] = [r];
    for (const k of Object.keys(r).filter((k) => k !== 'resourceType').slice(0, 6)) {
      for (const v of ['', [], {}, [''], [{}], [null], 0, false]) out.push({ ...r, [k]: v } as Resource);
      out.push({ ...r, [`_${k}`]: { extension: [{ url: 'x', valueString: 'y' }] } } as Resource);
    }
    return out;
  }

  it('gives what evalFhirPathTyped gives, for every plain member-path parameter of every resource', () => {
    let compared = 0;
    let paths = 0;
    for (const resource of corpus()) {
      for (const p of defs.searchParams(resource.resourceType).values()) {
        for (const expr of splitUnion(p.expression)) {
          const path = memberPath(resource.resourceType, expr);
          if (!path) continue;
          paths++;
          const atom = parseFhirPath(expr);
          for (const r of variants(resource)) {
            const direct = followMembers(r, path);
            if (direct === undefined) continue;
            let engine: unknown;
            try {
              engine = evalFhirPathTyped(atom, [toTypedValue(r)]);
            } catch {
              continue; // the indexer indexes nothing then, and so does the direct path's caller on such input
            }
            assert.deepEqual(direct, engine, `${resource.resourceType} ${expr} on ${JSON.stringify(r).slice(0, 200)}`);
            compared++;
          }
        }
      }
    }
    assert.ok(paths > 500 && compared > 5000, `${paths} parameter paths, ${compared} comparisons`);
  });

  it('leaves choice elements, casts and functions to the engine', () => {
    assert.equal(memberPath('Observation', 'Observation.value'), undefined);
    assert.equal(memberPath('Observation', '(Observation.value as Quantity)'), undefined);
    assert.equal(memberPath('Observation', "Observation.code.where(text = 'x')"), undefined);
    assert.equal(memberPath('Patient', 'Observation.code'), undefined);
    assert.deepEqual(memberPath('Observation', 'Observation.component.code')?.steps, [
      { name: 'component', type: 'ObservationComponent' }, { name: 'code', type: 'CodeableConcept' }]);
  });
});
