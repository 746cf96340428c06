import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { OutcomeError } from '../../src/core/outcome.js';
import { buildResourceCatalogue } from '../../src/fhir/resource-catalogue.js';
import { MAX_INCLUDE_PARAMS, MAX_OFFSET, parseSearch } from '../../src/fhir/search-parse.js';
import { isSearchDate, splitOr } from '../../src/fhir/search-values.js';

const catalogue = buildResourceCatalogue(loadFhirDefinitions());
const BASE = 'https://gw.test.example/fhir';
const opts = (strict = false) => ({ strict, limits: { defaultCount: 20, maxCount: 100 }, fhirBase: BASE });
const parse = (type: string, query: string, strict = false) => parseSearch(catalogue, type, [...new URLSearchParams(query)], opts(strict));

function rejects(type: string, query: string, status: number, code: string, strict = false): void {
  assert.throws(() => parse(type, query, strict), (err: unknown) => {
    assert.ok(err instanceof OutcomeError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('search value syntax', () => {
  it('splits OR values on unescaped commas and undoes escapes', () => {
    assert.deepEqual(splitOr('a,b\\,c', false), ['a', 'b,c']);
    assert.deepEqual(splitOr('x\\$y\\\\z', false), ['x$y\\z']);
    assert.deepEqual(splitOr('a\\|b,c', true), ['a\\|b', 'c'], 'token values keep \\| for the store');
    assert.deepEqual(splitOr('a\\\\,b', true), ['a\\\\', 'b'], 'an escaped backslash does not escape the comma');
  });

  it('accepts real FHIR dates at every precision and rejects the rest', () => {
    for (const d of ['2024', '2024-02', '2024-02-29', '2024-02-29T10:00', '2024-02-29T10:00:05.123Z', '2024-01-01T00:00:00+05:30']) {
      assert.ok(isSearchDate(d), d);
    }
    for (const d of ['2023-02-29', '2024-13', '24-01-01', '2024-01-01T25:00', "1970-01-01' UNION SELECT 1", '2024-01-01 ']) {
      assert.ok(!isSearchDate(d), d);
    }
  });
});

describe('parseSearch', () => {
  it('parses prefixes on date, number and quantity parameters', () => {
    const q = parse('Observation', 'date=ge2024-01-01&date=lt2024-02&patient=alice');
    assert.deepEqual(q.filters, [
      { code: 'date', values: [{ prefix: 'ge', value: '2024-01-01' }] },
      { code: 'date', values: [{ prefix: 'lt', value: '2024-02' }] },
      { code: 'patient', values: [{ value: 'alice' }] },
    ]);
    assert.deepEqual(parse('Patient', 'birthdate=sa1970,eb1960').filters[0]?.values, [
      { prefix: 'sa', value: '1970' }, { prefix: 'eb', value: '1960' },
    ]);
  });

  it('does not read a prefix into token or string values', () => {
    assert.deepEqual(parse('Patient', 'family=eqbert').filters[0]?.values, [{ value: 'eqbert' }]);
  });

  it('keeps modifiers per parameter type and refuses the others', () => {
    assert.equal(parse('Patient', 'name:exact=Smith').filters[0]?.modifier, 'exact');
    assert.equal(parse('Patient', 'name:contains=mit').filters[0]?.modifier, 'contains');
    assert.equal(parse('Observation', 'code:not=http://loinc.org|2339-0').filters[0]?.modifier, 'not');
    assert.equal(parse('Observation', 'code:text=glucose').filters[0]?.modifier, 'text');
    assert.equal(parse('Observation', 'subject:Patient=alice').filters[0]?.modifier, 'Patient');
    assert.equal(parse('Observation', 'patient:missing=true').filters[0]?.modifier, 'missing');
    rejects('Patient', 'name:below=x', 400, 'GW_UNSUPPORTED_MODIFIER');
    rejects('Observation', 'date:exact=2024', 400, 'GW_UNSUPPORTED_MODIFIER');
    rejects('Observation', 'subject:Medication=1', 400, 'GW_UNSUPPORTED_MODIFIER');
    rejects('Observation', 'patient:missing=maybe', 400, 'GW_INVALID_PARAMETER_VALUE');
  });

  it('normalizes references to ourselves and strips versions', () => {
    const q = parse('Observation', `patient=${BASE}/Patient/alice&encounter=Encounter/e1/_history/2`);
    assert.deepEqual(q.filters.map((f) => f.values[0]?.value), ['Patient/alice', 'Encounter/e1']);
  });

  it('collects explicitly named patients for policy', () => {
    assert.deepEqual(parse('Observation', 'patient=alice,Patient/bob').patients.sort(), ['alice', 'bob']);
    assert.deepEqual(parse('Observation', 'subject=Patient/bob').patients, ['bob']);
    assert.deepEqual(parse('Observation', 'subject:Patient=bob').patients, ['bob']);
    assert.deepEqual(parse('Observation', 'subject=Group/g1').patients, []);
    assert.deepEqual(parse('Observation', 'patient:missing=true').patients, []);
    assert.deepEqual(parse('Patient', '_id=bob').patients, ['bob']);
    assert.deepEqual(parse('Observation', '_id=bob-obs').patients, []);
  });

  it('rejects malformed typed values with 400 invalid', () => {
    rejects('Patient', "birthdate=ge1970-01-01' UNION SELECT 1", 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Observation', 'patient=%27%20OR%201%3D1--', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Patient', 'name=a%00b', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Observation', 'code=a|b|c', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Observation', 'code=a,,b', 400, 'GW_INVALID_PARAMETER_VALUE');
  });

  it('passes string and token text through as bound values (no SQL meaning)', () => {
    assert.deepEqual(parse('Patient', "name=' OR 1=1--").filters[0]?.values, [{ value: "' OR 1=1--" }]);
    assert.deepEqual(parse('Patient', "identifier=a|b'c").filters[0]?.values, [{ value: "a|b'c" }]);
  });

  it('clamps _count and _offset and rejects non-integers', () => {
    assert.equal(parse('Patient', '').count, 20);
    assert.equal(parse('Patient', '_count=1000000').count, 100);
    assert.equal(parse('Patient', '_count=0').count, 0);
    assert.equal(parse('Patient', '_offset=99999999').offset, MAX_OFFSET);
    rejects('Patient', '_count=-1', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Patient', '_count=abc', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Patient', '_count=1&_count=2', 400, 'GW_INVALID_PARAMETER_VALUE');
  });

  it('accepts _sort on known parameters only', () => {
    assert.deepEqual(parse('Observation', '_sort=-date,_id').sort, [{ code: 'date', descending: true }, { code: '_id', descending: false }]);
    rejects('Patient', '_sort=name;DROP TABLE x', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Patient', '_sort=-(select pg_sleep(10))', 400, 'GW_INVALID_PARAMETER_VALUE');
  });

  it('ignores unknown parameters leniently and leaves them out of the links', () => {
    const q = parse('Patient', 'foo=bar&name=Smith&_foo=1');
    assert.deepEqual(q.linkParams, [['name', 'Smith']]);
    assert.equal(q.filters.length, 1);
  });

  it('refuses unknown parameters under Prefer: handling=strict', () => {
    rejects('Patient', 'foo=bar', 400, 'GW_UNKNOWN_PARAMETER', true);
    rejects('Patient', '_text=x', 400, 'GW_UNKNOWN_PARAMETER', true);
  });

  it('refuses chains, _has and iterate', () => {
    rejects('Observation', 'subject:Patient.name=Jones', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Observation', 'patient.name=Jones', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Patient', '_has:Observation:patient:code=1234', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Observation', '_include:iterate=Observation:performer', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Observation', '_include=*', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Encounter', '_revinclude=*', 400, 'GW_SEARCH_NOT_SUPPORTED');
  });

  it('parses _include and _revinclude against the catalogue', () => {
    const q = parse('MedicationRequest', '_include=MedicationRequest:medication&_revinclude=Provenance:target');
    assert.deepEqual(q.includes, [{ sourceType: 'MedicationRequest', param: 'medication' }]);
    assert.deepEqual(q.revIncludes, [{ sourceType: 'Provenance', param: 'target' }]);
    assert.deepEqual(parse('Observation', '_include=Observation:performer:Practitioner').includes, [
      { sourceType: 'Observation', param: 'performer', targetType: 'Practitioner' },
    ]);
    rejects('Observation', '_include=Patient:organization', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Observation', '_include=Observation:performer:Medication', 400, 'GW_SEARCH_NOT_SUPPORTED');
    rejects('Observation', '_include=Observation', 400, 'GW_INVALID_PARAMETER_VALUE');
    const many = Array.from({ length: MAX_INCLUDE_PARAMS + 1 }, () => '_include=Observation:performer').join('&');
    rejects('Observation', many, 422, 'GW_TOO_COSTLY');
  });

  it('parses _summary, _elements and _total', () => {
    const c = parse('Observation', '_summary=count');
    assert.equal(c.summary, 'count');
    assert.equal(c.count, 0);
    assert.deepEqual(parse('Observation', '_elements=status,code').elements, ['status', 'code']);
    assert.equal(parse('Observation', '_total=none').total, 'none');
    rejects('Observation', '_summary=maybe', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Observation', '_total=all', 400, 'GW_INVALID_PARAMETER_VALUE');
    rejects('Observation', '_summary=true&_elements=status', 400, 'GW_INVALID_PARAMETER_VALUE');
    // F-18: `_elements=*` asks for nothing beyond the whole resource; ignored, or refused when strict.
    assert.equal(parse('Observation', '_elements=*').elements, undefined);
    rejects('Observation', '_elements=*', 400, 'GW_INVALID_PARAMETER_VALUE', true);
  });

  it('ignores empty values', () => {
    const q = parse('Patient', 'name=&gender=female');
    assert.deepEqual(q.filters, [{ code: 'gender', values: [{ value: 'female' }] }]);
  });
});
