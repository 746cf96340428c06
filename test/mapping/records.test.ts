import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Condition, Encounter, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { stableId } from '../../src/core/ids.js';
import {
  isRecordFailure, listMappings, loadMapping, MappingConfigError, mapFile, mapQueuedRecord, mapRecord, parseMapping, readRecords, readRows,
  type RecordFailure, type RecordMapping,
} from '../../src/mapping/records/index.js';
import { compileTransform, applyTransforms, type Transform, type Value } from '../../src/mapping/records/transforms.js';
import { compileCondition, holds, type Condition as Cond } from '../../src/mapping/records/conditions.js';
import { parsePath, setPath, compact } from '../../src/mapping/records/paths.js';
import { loadTerminology } from '../../src/mapping/terminology.js';
import { MappingError, type MappedUnit } from '../../src/mapping/types.js';
import { validateForIngest } from '../../src/mapping/validate.js';

const defs = loadFhirDefinitions();
const terminology = loadTerminology('config/terminology');
const deps = { terminology };
const clinic = loadMapping('config/mappings', 'clinic');
const tmp = mkdtempSync(join(tmpdir(), 'fxg-records-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const file = (name: string, content: string | Buffer) => {
  const d = mkdtempSync(join(tmp, 'f-'));
  writeFileSync(join(d, name), content);
  return join(d, name);
};
const configError = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof MappingConfigError) return [...e.problems];
    throw e;
  }
  assert.fail('expected a MappingConfigError');
};
async function collect(path: string, mapping: RecordMapping): Promise<Array<MappedUnit | RecordFailure>> {
  const out: Array<MappedUnit | RecordFailure> = [];
  for await (const u of mapFile(path, mapping, deps)) out.push(u);
  return out;
}
const units = (xs: Array<MappedUnit | RecordFailure>) => xs.filter((x): x is MappedUnit => !isRecordFailure(x));
const failures = (xs: Array<MappedUnit | RecordFailure>) => xs.filter(isRecordFailure);

/** A one-set mapping around the given fields (YAML flow text), for CSV with columns a, b, c. */
const tiny = (fields: string, extra = '') => parseMapping(`
sets:
  rows:
    files: ["*.csv"]
    format: { type: csv${extra} }
    key: [id]
    resources:
      - type: Basic
        fields:
${fields.split('\n').map((l) => `          ${l}`).join('\n')}
`, 'tiny');
const mapOne = (m: RecordMapping, record: Record<string, unknown>) => mapRecord(m, 'rows', record, 'rows.csv:2', deps);
const one = (m: RecordMapping, record: Record<string, unknown>) => {
  const { id: _id, meta: _meta, resourceType: _rt, ...rest } = mapOne(m, record).resources[0] as Resource & Record<string, unknown>;
  return rest;
};

describe('mapping loader', () => {
  it('lists the shipped mappings and loads the clinic mapping', () => {
    assert.ok(listMappings('config/mappings').includes('clinic'));
    assert.deepEqual([...clinic.sets.keys()], ['patients', 'visits', 'problems', 'allergies', 'labs', 'prescriptions', 'immunizations']);
    assert.equal(clinic.source, 'urn:fxg:mapping:clinic');
  });

  it('names an unknown mapping and the ones available', () => {
    assert.deepEqual(configError(() => loadMapping('config/mappings', 'clinik')), ['no such mapping (available: clinic)']);
    assert.match(configError(() => loadMapping('config/mappings', '../etc/passwd'))[0]!, /is not a mapping name/);
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    const p = configError(() => parseMapping('sets:\n  a: { path: name[0].family }\n', 'bad'));
    assert.match(p[0]!, /^YAML line 2: /);
    assert.ok(p.length <= 4, p.join('\n'));
    assert.match(configError(() => parseMapping('sets: {}\nsets: {}\n', 'dup'))[0]!, /YAML line 2: .*unique/i);
  });

  it('names the place of an unknown transform, with the known ones', () => {
    const p = configError(() => tiny('- { path: text.div, from: a, transform: [trim, uppercase] }'));
    assert.deepEqual(p, [
      'sets.rows.resources[0].fields[0].transform[1]: unknown transform \'uppercase\' (known: trim, upper, lower, number, integer, string, boolean, date, dateTime, map, split, replace)',
    ]);
  });

  it('refuses a reference to an unknown set, and a key of the wrong length', () => {
    const p = configError(() => parseMapping(`
sets:
  patients:
    files: p.csv
    format: { type: csv }
    key: [mrn]
    resources: [{ type: Patient, fields: [{ path: gender, value: unknown }] }]
  visits:
    files: v.csv
    format: { type: csv }
    key: [visit_id]
    resources:
      - type: Encounter
        fields:
          - { path: subject, ref: { set: patient, key: [mrn] } }
          - { path: subject, ref: { set: patients, key: [mrn, site] } }
          - { path: subject, ref: { set: patients, resource: Person, key: [mrn] } }
`, 'refs'));
    assert.deepEqual(p, [
      "sets.visits.resources[0].fields[0].ref.set: no record set 'patient' (sets: patients, visits)",
      "sets.visits.resources[0].fields[1].ref.key: 'patients' resources are keyed by 1 column(s) (mrn), this reference gives 2",
      "sets.visits.resources[0].fields[2].ref.resource: set 'patients' has no resource 'Person' (it has: Patient)",
    ]);
  });

  it('reports structural problems all at once, each with its place', () => {
    const p = configError(() => parseMapping(`
sets:
  rows:
    files: "*.csv"
    format: { type: csv, header: false }
    key: [id]
    resources:
      - type: basic
        fields:
          - { path: code, from: a, value: x }
          - { path: "name[+].given", from: a }
          - { path: id, from: a }
          - { path: text, fromm: a }
          - { path: status, from: a, when: { column: a, equal: x } }
          - { path: date, from: a, transform: [{ date: DD/MM/YY }] }
`, 'many'));
    assert.deepEqual(p, [
      'sets.rows.resources[0].type: a FHIR resource type such as Patient',
      'sets.rows.resources[0].fields[3]: Unrecognized key: "fromm"',
    ]);
    const q = configError(() => parseMapping(`
sets:
  rows:
    files: "*.csv"
    format: { type: csv, header: false, columns: [id, a] }
    key: [id]
    resources:
      - type: Basic
        fields:
          - { path: code, from: a, value: x }
          - { path: "name[+].given", from: a }
          - { path: id, from: a }
          - { path: status, from: a, when: { column: a, equal: x } }
          - { path: date, from: a, transform: [{ date: DD/MM/YY }] }
          - { path: text, template: "{b} and {a}" }
`, 'many'));
    assert.deepEqual(q, [
      'sets.rows.resources[0].fields[0]: give exactly one of from, value, template, code, ref, fields (found from, value)',
      "sets.rows.resources[0].fields[1].path: 'name[+].given': [+] is allowed only on the last step; build the element with a group (fields:) instead",
      'sets.rows.resources[0].fields[2].path: id is set by the mapping itself (the id comes from the key)',
      'sets.rows.resources[0].fields[3].when: unknown condition { column, equal } (forms: { present: col }, { absent: col }, { column: col, equals: x }, { column: col, in: [..] }, { column: col, matches: regex }, { all: [..] }, { any: [..] }, { not: {..} })',
      "sets.rows.resources[0].fields[4].transform[0]: date format 'DD/MM/YY': unknown token at 'YY' (tokens: YYYY, MM, DD, HH, mm, ss, M, D, H, Z; two-digit years are not accepted)",
      'sets.rows.format.columns: the rules read column(s) b that are not listed',
    ]);
  });
});

describe('transforms', () => {
  const t = (spec: unknown): Transform => {
    const r = compileTransform(spec);
    assert.equal(typeof r, 'object', String(r));
    return r as Transform;
  };
  const run = (v: Value, ...specs: unknown[]) => applyTransforms(v, specs.map(t));

  it('trim, upper, lower, string', () => {
    assert.deepEqual([run('  a B ', 'trim'), run('aB', 'upper'), run('aB', 'lower'), run(7, 'string')], ['a B', 'AB', 'ab', '7']);
  });

  it('number and integer accept numbers only', () => {
    assert.deepEqual([run(' 7.25 ', 'number'), run('-3', 'integer'), run(4.5, 'number'), run('1e3', 'number')], [7.25, -3, 4.5, 1000]);
    assert.throws(() => run('7,25', 'number'), /'7,25' is not a number/);
    assert.throws(() => run('3.5', 'integer'), /'3.5' is not an integer/);
  });

  it('boolean, with the default words or the mapping\'s own', () => {
    assert.deepEqual([run('Yes', 'boolean'), run('0', 'boolean'), run(true, 'boolean')], [true, false, true]);
    assert.deepEqual(run('J', { boolean: { true: ['J'], false: ['N'] } }), true);
    assert.throws(() => run('maybe', 'boolean'), /'maybe' is not a yes\/no value/);
  });

  it('date: formats to FHIR dates, with their precision, checking the calendar', () => {
    assert.equal(run('03/07/1961', { date: 'MM/DD/YYYY' }), '1961-03-07');
    assert.equal(run('3/7/1961', { date: 'M/D/YYYY' }), '1961-03-07');
    assert.equal(run('19610307', { date: 'YYYYMMDD' }), '1961-03-07');
    assert.deepEqual(['04/2016', '2012', '09/14/2010'].map((v) => run(v, { date: ['MM/DD/YYYY', 'MM/YYYY', 'YYYY'] })), ['2016-04', '2012', '2010-09-14']);
    assert.equal(run('02/29/1972', { date: 'MM/DD/YYYY' }), '1972-02-29');
    assert.throws(() => run('02/29/1973', { date: 'MM/DD/YYYY' }), /day 29 does not exist in 1973-02/);
    assert.throws(() => run('1961-03-07', { date: 'MM/DD/YYYY' }), /'1961-03-07' does not match the date format MM\/DD\/YYYY/);
  });

  it('dateTime: adds the zone offset in force at that date (daylight-saving time)', () => {
    const spec = { dateTime: { format: 'MM/DD/YYYY HH:mm', zone: 'America/Chicago' } };
    assert.equal(run('01/22/2024 10:15', spec), '2024-01-22T10:15:00-06:00');
    assert.equal(run('06/11/2024 14:00', spec), '2024-06-11T14:00:00-05:00');
    assert.equal(run('2024-06-11T14:00:05Z', { dateTime: 'YYYY-MM-DDTHH:mm:ssZ' }), '2024-06-11T14:00:05Z');
    assert.equal(run('2024-06-11 14:00 +0200', { dateTime: { format: 'YYYY-MM-DD HH:mm Z' } }), '2024-06-11T14:00:00+02:00');
    assert.equal(run('06/11/2024', { dateTime: { format: ['MM/DD/YYYY HH:mm', 'MM/DD/YYYY'], zone: '-05:00' } }), '2024-06-11');
    assert.match(String(compileTransform({ dateTime: { format: 'MM/DD/YYYY HH:mm' } })), /has a time but no offset \(Z\): name a zone/);
    assert.match(String(compileTransform({ dateTime: { format: 'MM/DD/YYYY HH:mm', zone: 'Mars/Olympus' } })), /unknown time zone 'Mars\/Olympus'/);
  });

  it('map: a value table, with an optional default', () => {
    assert.equal(run('F', { map: { M: 'male', F: 'female' } }), 'female');
    assert.equal(run('Q', { map: { M: 'male' }, default: 'unknown' }), 'unknown');
    assert.throws(() => run('Q', { map: { M: 'male', F: 'female' } }), /'Q' is not in the map \(M, F\)/);
  });

  it('split gives a list; later transforms apply to each item', () => {
    assert.deepEqual(run('a; b ;;c', { split: ';' }, 'upper'), ['A', 'B', 'C']);
  });

  it('replace with a regular expression', () => {
    assert.equal(run('(312) 555-0142', { replace: { pattern: '[^0-9]', with: '' } }), '3125550142');
  });

  it('refuses malformed transforms with a message', () => {
    assert.equal(compileTransform('date'), "transform 'date' needs parameters, e.g. { date: ... }");
    assert.equal(compileTransform({ map: {} }), 'map needs a table, e.g. { map: { M: male, F: female } }');
    assert.equal(compileTransform({ trim: true }), "transform 'trim' takes no parameters; write it as a bare name");
    assert.equal(compileTransform({ split: ',', x: 1 }), "transform 'split' does not take 'x'");
  });
});

describe('conditions', () => {
  const c = (spec: unknown) => compileCondition(spec) as Cond;
  const r = { a: ' x ', b: '', n: '12', nested: { k: 'v' } };
  it('present, absent, equals, in, matches', () => {
    assert.deepEqual([holds(c({ present: 'a' }), r), holds(c({ present: 'b' }), r), holds(c({ present: 'zz' }), r)], [true, false, false]);
    assert.deepEqual([holds(c({ absent: 'b' }), r), holds(c({ absent: 'a' }), r)], [true, false]);
    assert.deepEqual([holds(c({ column: 'a', equals: 'x' }), r), holds(c({ column: 'n', equals: 12 }), r), holds(c({ column: 'a', equals: 'X' }), r)], [true, true, false]);
    assert.deepEqual([holds(c({ column: 'a', in: ['y', 'x'] }), r), holds(c({ column: 'a', in: ['y'] }), r)], [true, false]);
    assert.deepEqual([holds(c({ column: 'n', matches: '^\\d+$' }), r), holds(c({ column: 'a', matches: '^\\d+$' }), r)], [true, false]);
    assert.equal(holds(c({ column: 'nested.k', equals: 'v' }), r), true);
  });
  it('all, any, not', () => {
    assert.equal(holds(c({ all: [{ present: 'a' }, { absent: 'b' }] }), r), true);
    assert.equal(holds(c({ all: [{ present: 'a' }, { present: 'b' }] }), r), false);
    assert.equal(holds(c({ any: [{ present: 'b' }, { column: 'n', in: [12] }] }), r), true);
    assert.equal(holds(c({ not: { present: 'a' } }), r), false);
  });
  it('names the place of a nested mistake', () => {
    assert.match(String(compileCondition({ all: [{ present: 'a' }, { not: { column: 'a', matches: '(' } }] })), /^all\[1\]\.not: matches: Invalid regular expression/);
  });
});

describe('element paths', () => {
  it('creates, indexes, appends and merges', () => {
    const o: Record<string, unknown> = {};
    const set = (p: string, v: unknown) => setPath(o, parsePath(p) as never, v, p);
    set('name[0].family', 'F');
    set('name[0].given[+]', 'G1');
    set('name[0].given[+]', ['G2', 'G3']);
    set('code', { text: 't' });
    set('code', { coding: [{ code: 'c' }] });
    set('identifier[2].value', 'v');
    assert.deepEqual(compact(o), {
      name: [{ family: 'F', given: ['G1', 'G2', 'G3'] }], code: { text: 't', coding: [{ code: 'c' }] }, identifier: [{ value: 'v' }],
    });
  });
  it('refuses malformed paths', () => {
    assert.match(String(parsePath('name..family')), /is not an element path/);
    assert.match(String(parsePath('a[x]')), /is not an element path/);
  });
});

describe('field rules', () => {
  it('column, constant and template values; blank values produce no element', () => {
    const m = tiny(`- { path: code.text, from: a }
- { path: "code.coding[0].system", value: "urn:s" }
- { path: "code.coding[0].code", template: "{b}-{c}" }
- { path: subject.display, from: c }`);
    assert.deepEqual(one(m, { id: '1', a: 'A', b: 'B', c: '' }), { code: { text: 'A', coding: [{ system: 'urn:s', code: 'B-' }] } });
    assert.deepEqual(one(m, { id: '1', a: '', b: ' ', c: '' }), { code: { coding: [{ system: 'urn:s' }] } });
  });

  it('a template tidies spacing and is blank when every placeholder is', () => {
    const m = tiny('- { path: code.text, template: "{a} {b}  {c}" }');
    assert.deepEqual(one(m, { id: '1', a: 'x', b: '', c: 'z' }), { code: { text: 'x z' } });
    assert.deepEqual(one(m, { id: '1', a: '', b: '', c: '' }), {});
  });

  it('default applies when the column is blank', () => {
    const m = tiny('- { path: code.text, from: a, transform: [upper], default: none }');
    assert.deepEqual([one(m, { id: '1', a: 'x' }), one(m, { id: '1', a: '' })], [{ code: { text: 'X' } }, { code: { text: 'none' } }]);
  });

  it('a group appears only when the record gave it a value; when: decides fields', () => {
    const m = tiny(`- path: code.coding[+]
  fields:
    - { path: system, value: "urn:s" }
    - { path: code, from: a }
- { path: code.text, value: yes, when: { column: b, equals: "1" } }`);
    assert.deepEqual(one(m, { id: '1', a: '', b: '1' }), { code: { text: 'yes' } });
    assert.deepEqual(one(m, { id: '1', a: 'k', b: '0' }), { code: { coding: [{ system: 'urn:s', code: 'k' }] } });
  });

  it('a resource-level when: skips the resource and says so', () => {
    const m = parseMapping(`
sets:
  rows:
    files: "*.csv"
    format: { type: csv }
    key: [id]
    resources:
      - { type: Basic, when: { present: a }, fields: [{ path: code.text, from: a }] }
`, 'w');
    const u = mapRecord(m, 'rows', { id: '1', a: '' }, 'rows.csv:2', deps);
    assert.deepEqual(u, { source: 'rows.csv:2', resources: [], issues: [{ severity: 'information', code: 'RECORD_SKIPPED', message: 'rows.csv:2: no resource of record set rows applies to this record', location: 'rows.csv:2' }] });
  });

  it('collects every problem of a record into one MappingError naming file:line, column and element', () => {
    const m = tiny(`- { path: code.text, from: a, required: true }
- { path: "code.coding[0].code", from: b, transform: [integer] }
- { path: subject.display, from: c, transform: [{ map: { X: x } }] }`);
    assert.throws(() => mapOne(m, { id: '1', a: ' ', b: '1.5', c: 'Y' }), (e: unknown) => {
      assert.ok(e instanceof MappingError);
      assert.equal(e.kind, 'content');
      assert.equal(e.message, 'rows.csv:2 column a: required value is missing (Basic.code.text) (and 2 more problems)');
      assert.deepEqual(e.issues.map((i) => [i.code, i.location, i.message]), [
        ['MISSING_FIELD', 'rows.csv:2 column a', 'rows.csv:2 column a: required value is missing (Basic.code.text)'],
        ['INVALID_VALUE', 'rows.csv:2 column b', "rows.csv:2 column b: '1.5' is not an integer (Basic.code.coding[0].code)"],
        ['INVALID_VALUE', 'rows.csv:2 column c', "rows.csv:2 column c: 'Y' is not in the map (X) (Basic.subject.display)"],
      ]);
      return true;
    });
    assert.throws(() => mapOne(m, { id: ' ', a: 'x' }), /rows\.csv:2 column id: key column is empty; the Basic id is made from it/);
  });

  it('ids come from the namespace, set, resource name and key; references compute the same id', () => {
    const m = parseMapping(`
namespace: ns1
sets:
  people:
    files: p.csv
    format: { type: csv }
    key: [pid]
    resources: [{ type: Patient, fields: [{ path: gender, value: unknown }] }]
  notes:
    files: n.csv
    format: { type: csv }
    key: [nid, site]
    resources:
      - type: Basic
        fields:
          - { path: subject, ref: { set: people, key: [who], display: "{name}" } }
`, 'ids');
    const p = mapRecord(m, 'people', { pid: ' 42 ' }, 'p.csv:2', deps).resources[0]!;
    const n = mapRecord(m, 'notes', { nid: '7', site: 'A', who: '42', name: 'Ann' }, 'n.csv:2', deps).resources[0] as Resource & { subject: unknown };
    assert.equal(p.id, stableId('ns1', 'people', 'Patient', '42'));
    assert.equal(n.id, stableId('ns1', 'notes', 'Basic', '7', 'A'));
    assert.deepEqual(n.subject, { reference: `Patient/${p.id}`, display: 'Ann' });
    assert.deepEqual(p.meta, { source: 'urn:fxg:mapping:ids' });
  });
});

describe('reading export files', () => {
  const csvMapping = (extra = '') => tiny('- { path: code.text, from: a }\n- { path: "code.coding[0].code", from: b }', extra);

  it('reads CSV with a BOM, CRLF, quoted delimiters, quotes and line breaks, giving each record its first line', async () => {
    const path = file('x.csv', '\uFEFFid,a,b\r\n1,"x, y","say ""hi"""\r\n\r\n2,"two\r\nlines",z\r\n3,é,w');
    const rows: Array<{ source: string; record: Record<string, unknown> }> = [];
    for await (const r of readRecords(path, csvMapping())) rows.push(r);
    assert.deepEqual(rows.map((r) => [r.source, r.record]), [
      ['x.csv:2', { id: '1', a: 'x, y', b: 'say "hi"' }],
      ['x.csv:4', { id: '2', a: 'two\r\nlines', b: 'z' }],
      ['x.csv:6', { id: '3', a: 'é', b: 'w' }],
    ]);
  });

  it('reads other delimiters and header-less files with declared columns', async () => {
    const path = file('y.csv', '1;p;q\n');
    const m = csvMapping(', delimiter: ";", header: false, columns: [id, a, b]');
    const rows = [];
    for await (const r of readRecords(path, m)) rows.push(r.record);
    assert.deepEqual(rows, [{ id: '1', a: 'p', b: 'q' }]);
  });

  it('reports a row with the wrong number of fields and goes on', async () => {
    const out = await collect(file('x.csv', 'id,a,b\n1,p\n2,q,r\n'), csvMapping());
    assert.deepEqual(failures(out).map((f) => [f.source, f.error.message]), [['x.csv:2', 'x.csv:2: 2 fields, the header has 3']]);
    assert.equal(units(out).length, 1);
  });

  it('refuses a header lacking a column the mapping reads, before any row', async () => {
    const out = await collect(file('x.csv', 'id,a,c\n1,p,q\n'), csvMapping());
    assert.deepEqual(out.map((f) => [f.source, (f as RecordFailure).error.message]), [
      ['x.csv:1', 'x.csv:1: the header lacks column(s) b that record set rows reads (header: id, a, c); no row of the file was read'],
    ]);
  });

  it('ends a file at a CSV syntax error, keeping what came before and saying from where nothing was read', async () => {
    const out = await collect(file('x.csv', 'id,a,b\n1,p,q\n2,"p"x,q\n3,r,s\n'), csvMapping());
    assert.equal(units(out).length, 1);
    assert.deepEqual(failures(out).map((f) => f.source), ['x.csv:3']);
    assert.match(failures(out)[0]!.error.message, /^x\.csv:3: CSV syntax error after line 2 \(Invalid Closing Quote.*\); nothing from here to the end of the file was read$/);
  });

  it('refuses a file no record set matches', async () => {
    await assert.rejects(async () => { for await (const _ of readRows(file('other.txt', ''), clinic)) { /* none */ } },
      (e: unknown) => e instanceof MappingError && e.kind === 'unprocessable' && /other\.txt matches no record set of mapping clinic \(patients: patients\*\.csv;/.test(e.message));
  });

  it('reads NDJSON line by line, skipping blank lines, reporting bad lines in place', async () => {
    const m = parseMapping('sets:\n  r:\n    files: "*.ndjson"\n    format: { type: ndjson }\n    key: [id]\n    resources: [{ type: Basic, fields: [{ path: code.text, from: a }] }]\n', 'n');
    const out = await collect(file('r.ndjson', '\uFEFF{"id":1,"a":"x"}\r\n\r\n[1]\n{oops\n{"id":2,"a":"y"}'), m);
    assert.deepEqual(out.map((u) => [u.source, isRecordFailure(u) ? u.error.issues[0]!.code : 'ok']), [
      ['r.ndjson:1', 'ok'], ['r.ndjson:3', 'BAD_RECORD'], ['r.ndjson:4', 'BAD_JSON'], ['r.ndjson:5', 'ok'],
    ]);
    assert.equal((out[2] as RecordFailure).input, '{oops');
  });

  it('reads a JSON array at a path, giving each element its line', async () => {
    const m = parseMapping('sets:\n  r:\n    files: "*.json"\n    format: { type: json, recordPath: data.items }\n    key: [id]\n    resources: [{ type: Basic, fields: [{ path: code.text, from: a.b }] }]\n', 'j');
    const text = '{\n "meta": {"items": [1]},\n "data": {\n  "items": [\n   {"id": "1", "a": {"b": "x, \\"]"}},\n   "str",\n\n   {"id": "2",\n    "a": {"b": "y"}}\n  ]\n }\n}\n';
    const out = await collect(file('r.json', text), m);
    assert.deepEqual(out.map((u) => [u.source, isRecordFailure(u) ? u.error.message : (u.resources[0] as { code?: unknown }).code]), [
      ['r.json:5', { text: 'x, "]' }], ['r.json:6', 'r.json:6: element 1 is not a JSON object'], ['r.json:8', { text: 'y' }],
    ]);
  });
});

describe('the clinic example', () => {
  const dir = 'fixtures/clinic';
  const files = readdirSync(dir).filter((f) => /\.(csv|json|ndjson)$/.test(f)).sort();
  const mapAll = async (d: string) => {
    const out = new Map<string, Array<MappedUnit | RecordFailure>>();
    for (const f of files) out.set(f, await collect(join(d, f), clinic));
    return out;
  };
  const good = mapAll(dir);

  it('maps every good record, with no failures and no unmapped codes', async () => {
    const all = [...(await good).values()].flat();
    assert.deepEqual(failures(all).map((f) => f.error.message), []);
    assert.deepEqual(units(all).flatMap((u) => u.issues), []);
    const count = (type: string) => units(all).flatMap((u) => u.resources).filter((r) => r.resourceType === type).length;
    assert.deepEqual(
      ['Patient', 'Encounter', 'Condition', 'AllergyIntolerance', 'Observation', 'MedicationRequest', 'Practitioner', 'Immunization'].map(count),
      [9, 10, 11, 5, 11, 9, 9, 5],
    );
  });

  it('produces resources that pass validation against their US Core profiles', async () => {
    for (const u of units([...(await good).values()].flat())) {
      for (const r of u.resources) {
        assert.equal(r.meta?.profile?.length, 1, `${u.source} ${r.resourceType}`);
        const report = validateForIngest(defs, r);
        assert.deepEqual([...report.invalid, ...report.profile].map((i) => `${i.expression} ${i.details?.text}`), [], `${u.source} ${r.resourceType}`);
        assert.equal(r.meta?.source, 'urn:fxg:mapping:clinic');
      }
    }
  });

  it('is deterministic: mapping the export twice gives identical resources', async () => {
    assert.deepEqual(await mapAll(dir), await good);
    const again = loadMapping('config/mappings', 'clinic');
    const a = units((await good).get('labs.ndjson')!);
    const b = units(await collect(join(dir, 'labs.ndjson'), again));
    assert.deepEqual(a, b);
  });

  it('resolves references between sets to the right resources', async () => {
    const m = await good;
    const res = (f: string) => units(m.get(f)!).flatMap((u) => u.resources);
    const patients = new Map((res('patients.csv') as Patient[]).map((p) => [p.identifier![0]!.value, `Patient/${p.id}`]));
    const visits = new Map((res('visits.csv') as Encounter[]).map((e) => [e.identifier![0]!.value, `Encounter/${e.id}`]));
    const p7 = (res('problems.csv') as Condition[]).find((c) => c.identifier![0]!.value === 'P-7007')!;
    assert.equal(p7.subject.reference, patients.get('100005'));
    assert.equal(p7.encounter?.reference, visits.get('V-5006'));
    const obs = res('labs.ndjson') as Observation[];
    assert.ok(obs.every((o) => [...patients.values()].includes(o.subject!.reference!)));
    const v1 = (res('visits.csv') as Encounter[])[0]!;
    assert.equal(v1.subject?.reference, patients.get('100001'));
    // The prescriber is a second resource of the same record; rows of one prescriber share it.
    const rx = units(m.get('prescriptions.csv')!);
    const [req, prac] = rx[0]!.resources as [MedicationRequest, Resource];
    assert.deepEqual(req.requester, { reference: `Practitioner/${prac.id}`, display: 'Hannah Whitfield' });
    assert.equal(rx[1]!.resources[1]!.id, prac.id);
    assert.notEqual(rx[2]!.resources[1]!.id, prac.id);
  });

  it('maps values as documented (gender, dates with offsets, codes, contact points)', async () => {
    const m = await good;
    const p1 = units(m.get('patients.csv')!)[0]!.resources[0] as Patient;
    assert.deepEqual([p1.gender, p1.birthDate, p1.telecom, p1.address?.[0]?.line], ['female', '1968-03-14', [
      { system: 'phone', value: '(312) 555-0142', use: 'home' }, { system: 'email', value: 'adaeze.okafor@example.com' },
    ], ['1450 W Lake St, Apt 3']]);
    const p4 = units(m.get('patients.csv')!)[3]!.resources[0] as Patient;
    assert.deepEqual(p4.telecom, [{ system: 'email', value: 'mai.nguyen@example.com' }]);
    const e2 = units(m.get('visits.csv')!)[1]!.resources[0] as Encounter;
    assert.deepEqual([e2.period, e2.class.code], [{ start: '2024-06-11T14:00:00-05:00', end: '2024-06-11T14:20:00-05:00' }, 'VR']);
    const c1 = units(m.get('problems.csv')!)[0]!.resources[0] as Condition;
    assert.deepEqual([c1.onsetDateTime, c1.code?.coding?.map((c) => c.code), c1.code?.text], ['2016-04', ['DM2', '44054006', 'E11.9'], 'Type 2 diabetes']);
  });

  it('reports the deliberately bad rows with file:line, column and reason, and maps the rest', async () => {
    const bad = await mapAll(join(dir, 'bad'));
    const msgs = [...bad.values()].flatMap((xs) => failures(xs).map((f) => f.error.message));
    assert.deepEqual(msgs, [
      'allergies.json:18 column patient.mrn: reference to patients needs a value (AllergyIntolerance.patient)',
      "immunizations.csv:3 column status: 'given' is not in the map (completed, not-done, entered-in-error) (Immunization.status)",
      "labs.ndjson:2 column value: 'hemolyzed' is not a number (Observation.valueQuantity.value)",
      'labs.ndjson:3: not valid JSON (Expected double-quoted property name in JSON at position 55)',
      'patients.csv:3 column last_name: required value is missing (Patient.name[+].family)',
      'prescriptions.csv:3: 11 fields, the header has 13',
      "visits.csv:3 column start: '13/45/2024 09:00': month 13 does not exist (Encounter.period.start)",
    ]);
    // Each bad file also holds a good record, mapped and valid.
    for (const [f, xs] of bad) {
      assert.ok(units(xs).length >= 1, f);
      for (const r of units(xs).flatMap((u) => u.resources)) assert.deepEqual(validateForIngest(defs, r).profile, [], f);
    }
    // The unmapped problem code is kept as a local coding and reported, not an error.
    const legacy = units(bad.get('problems.csv')!)[1]!;
    assert.deepEqual((legacy.resources[0] as Condition).code, {
      coding: [{ system: 'urn:fxg:local/clinic-problem', code: 'LEGACY-117', display: 'Chronic fatigue (legacy code)' }], text: 'Chronic fatigue (legacy code)',
    });
    assert.deepEqual(legacy.issues.map((i) => [i.code, i.location]), [['UNMAPPED_CODE', 'problems.csv:3 column problem_code']]);
    assert.equal(failures(bad.get('patients.csv')!)[0]!.input, JSON.stringify({
      mrn: '200002', last_name: '', first_name: 'Marcus', middle_name: '', sex: 'M', dob: '04/19/1975', phone: '(312) 555-0112', email: '', street: '40 Pine St', city: 'Chicago', state: 'IL', zip: '60614',
    }));
  });

  it('maps a queued record again from its input and source, to the same resources', async () => {
    const bad = await collect(join(dir, 'bad', 'patients.csv'), clinic);
    const [ok, failed] = [units(bad)[0]!, failures(bad)[0]!];
    assert.throws(() => mapQueuedRecord(clinic, failed.source, failed.input, deps), { message: failed.error.message });
    const fixed = JSON.stringify({ ...JSON.parse(failed.input), last_name: 'Bell' });
    const unit = mapQueuedRecord(clinic, failed.source, fixed, deps);
    assert.equal((unit.resources[0] as Patient).name?.[0]?.family, 'Bell');
    assert.equal(unit.resources[0]!.id, stableId('clinic', 'patients', 'Patient', '200002'));
    assert.notEqual(unit.resources[0]!.id, ok.resources[0]!.id);
    const rowError = failures(await collect(join(dir, 'bad', 'prescriptions.csv'), clinic))[0]!;
    assert.throws(() => mapQueuedRecord(clinic, rowError.source, rowError.input, deps), /prescriptions\.csv:3: the queued input is not a record/);
  });
});
