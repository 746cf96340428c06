import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ConceptMap } from '@medplum/fhirtypes';
import { loadTerminology, terminologyFromConceptMaps, TerminologyConfigError } from '../../src/mapping/terminology.js';
import { SYSTEMS, type MappingIssue } from '../../src/mapping/types.js';

const DIR = 'config/terminology';
const local = (table: string) => `${SYSTEMS.localPrefix}/${table}`;
const terminology = loadTerminology(DIR);

const map = (group: ConceptMap['group'], extra: Partial<ConceptMap> = {}): ConceptMap =>
  ({ resourceType: 'ConceptMap', url: 'urn:test:cm', status: 'active', group, ...extra }) as ConceptMap;

describe('terminology: translate and concept', () => {
  it('keeps the local coding first and adds the mapped LOINC code', () => {
    const r = terminology.translate({ system: local('clinic-lab'), code: 'GLU', display: 'Glucose' });
    assert.equal(r.mapped, true);
    assert.deepEqual(r.codings, [
      { system: local('clinic-lab'), code: 'GLU', display: 'Glucose' },
      { system: SYSTEMS.loinc, code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma' },
    ]);
  });

  it('adds every target of every ConceptMap group (problem -> SNOMED CT and ICD-10-CM)', () => {
    const r = terminology.translate({ system: local('clinic-problem'), code: 'DM2' });
    assert.deepEqual(r.codings.map((c) => `${c.system}|${c.code}`), [
      `${local('clinic-problem')}|DM2`, `${SYSTEMS.snomed}|44054006`, `${SYSTEMS.icd10cm}|E11.9`,
    ]);
  });

  it('keeps an unmapped code as a local coding and reports it with its location', () => {
    const issues: MappingIssue[] = [];
    const cc = terminology.concept({ system: local('clinic-lab'), code: 'NOPE', display: 'Mystery test' }, issues, 'labs.ndjson:7 column test_code');
    assert.deepEqual(cc, { coding: [{ system: local('clinic-lab'), code: 'NOPE', display: 'Mystery test' }], text: 'Mystery test' });
    assert.deepEqual(issues, [{
      severity: 'warning', code: 'UNMAPPED_CODE', location: 'labs.ndjson:7 column test_code',
      message: `local code ${local('clinic-lab')}|NOPE has no mapping in the terminology ConceptMaps; kept as a local coding`,
    }]);
  });

  it('reports nothing for a mapped code', () => {
    const issues: MappingIssue[] = [];
    terminology.concept({ system: local('clinic-drug'), code: 'AMLO5' }, issues);
    assert.deepEqual(issues, []);
  });

  it('never adds unmatched or disjoint targets; a code with only those is unmapped', () => {
    const t = terminologyFromConceptMaps([map([{
      source: 'urn:x', target: SYSTEMS.loinc,
      element: [
        { code: 'A', target: [{ code: '1-8', equivalence: 'disjoint' }, { equivalence: 'unmatched' }] },
        { code: 'B', target: [{ code: '1-8', equivalence: 'disjoint' }, { code: '2345-7', equivalence: 'wider' }] },
      ],
    }])]);
    assert.deepEqual(t.translate({ system: 'urn:x', code: 'A' }), { codings: [{ system: 'urn:x', code: 'A' }], mapped: false });
    assert.deepEqual(t.translate({ system: 'urn:x', code: 'B' }).codings.map((c) => c.code), ['B', '2345-7']);
  });

  it('treats a code already in a standard system as mapped', () => {
    const issues: MappingIssue[] = [];
    const cc = terminology.concept({ system: SYSTEMS.loinc, code: '718-7' }, issues);
    assert.deepEqual([cc.coding, issues], [[{ system: SYSTEMS.loinc, code: '718-7' }], []]);
  });

  it('merges targets of several maps for one code without duplicates, and ignores retired maps', () => {
    const g = (code: string) => [{ source: 'urn:x', target: SYSTEMS.snomed, element: [{ code: 'A', target: [{ code, equivalence: 'equivalent' as const }] }] }];
    const t = terminologyFromConceptMaps([
      map(g('44054006')), map(g('44054006'), { url: 'urn:b' }), map(g('38341003'), { url: 'urn:c', status: 'retired' }),
    ]);
    assert.deepEqual(t.translate({ system: 'urn:x', code: 'A' }).codings.map((c) => c.code), ['A', '44054006']);
  });

  it('drops empty members of the local coding', () => {
    assert.deepEqual(terminology.translate({ system: local('clinic-lab'), code: 'NOPE', display: '' }).codings, [{ system: local('clinic-lab'), code: 'NOPE' }]);
  });
});

describe('terminology: loading ConceptMaps', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fxg-term-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const folder = (files: Record<string, unknown>) => {
    const d = mkdtempSync(join(tmp, 'd-'));
    for (const [n, v] of Object.entries(files)) writeFileSync(join(d, n), typeof v === 'string' ? v : JSON.stringify(v));
    return d;
  };

  it('refuses a bad ConceptMap, naming the file and the element', () => {
    const d = folder({ 'bad.json': map([{ source: 'urn:x', target: SYSTEMS.loinc, element: [{ code: 'A', target: [{ code: '1-8', equivalence: 'same' as never }] }] }]) });
    assert.throws(() => loadTerminology(d), (e: unknown) => e instanceof TerminologyConfigError
      && e.problems.length === 1
      && e.problems[0]!.startsWith(`${join(d, 'bad.json')}: group[0].element[0].target[0].equivalence: must be one of relatedto,`));
  });

  it('lists every problem of every file at once', () => {
    const d = folder({
      'a.json': '{ not json',
      'b.json': { resourceType: 'ValueSet', url: 'urn:b', status: 'active', group: [] },
      'c.json': map([{ source: 'urn:x', element: [{ code: 'A', target: [{ code: 'X', equivalence: 'equivalent' }] }] }]),
      'd.json': map([{ source: 'urn:x', target: 'urn:y', element: [{ code: 'A', target: [{ equivalence: 'equivalent' }] }], unmapped: { mode: 'fixed', code: 'Z' } } as never]),
    });
    assert.throws(() => loadTerminology(d), (e: unknown) => {
      const p = (e as TerminologyConfigError).problems;
      assert.match(p[0]!, /a\.json: not valid JSON/);
      assert.ok(p.some((x) => x.endsWith("b.json: resourceType: must be 'ConceptMap'")), p.join('\n'));
      assert.ok(p.some((x) => x.endsWith('b.json: group: needs at least one group')));
      assert.ok(p.some((x) => x.endsWith('c.json: group[0].target: is required when elements have target codes (the target code system)')));
      assert.ok(p.some((x) => x.endsWith('d.json: group[0].element[0].target[0].code: is required unless equivalence is unmatched')));
      assert.ok(p.some((x) => /d\.json: group\[0\]\.unmapped: is not supported/.test(x)));
      return true;
    });
  });

  it('refuses two ConceptMaps with the same url', () => {
    const cm = map([{ source: 'urn:x', target: SYSTEMS.loinc, element: [{ code: 'A', target: [{ code: '2345-7', equivalence: 'equivalent' }] }] }]);
    const d = folder({ 'a.json': cm, 'b.json': cm });
    assert.throws(() => loadTerminology(d), /b\.json: url urn:test:cm is also the url of .*a\.json/);
  });

  it('refuses a folder that does not exist', () => {
    assert.throws(() => loadTerminology(join(tmp, 'absent')), /cannot read the terminology folder/);
  });

  it('validates in-memory ConceptMaps too', () => {
    assert.throws(() => terminologyFromConceptMaps([map([])]), /ConceptMap urn:test:cm: group: needs at least one group/);
  });
});

/** LOINC check digit: the Luhn (mod 10) scheme over the part before the hyphen. */
function loincValid(code: string): boolean {
  const m = /^(\d{1,7})-(\d)$/.exec(code);
  if (!m) return false;
  let sum = 0;
  [...m[1]!].reverse().forEach((ch, i) => {
    let d = Number(ch);
    if (i % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  });
  return (10 - (sum % 10)) % 10 === Number(m[2]);
}

/** SNOMED CT identifiers end in a Verhoeff check digit. */
function verhoeffValid(id: string): boolean {
  const d = [[0,1,2,3,4,5,6,7,8,9],[1,2,3,4,0,6,7,8,9,5],[2,3,4,0,1,7,8,9,5,6],[3,4,0,1,2,8,9,5,6,7],[4,0,1,2,3,9,5,6,7,8],
    [5,9,8,7,6,0,4,3,2,1],[6,5,9,8,7,1,0,4,3,2],[7,6,5,9,8,2,1,0,4,3],[8,7,6,5,9,3,2,1,0,4],[9,8,7,6,5,4,3,2,1,0]];
  const p = [[0,1,2,3,4,5,6,7,8,9],[1,5,7,6,2,8,3,0,9,4],[5,8,0,3,7,9,6,1,4,2],[8,9,1,6,0,4,3,5,2,7],[9,4,5,3,1,2,6,8,7,0],
    [4,2,8,6,5,7,3,9,0,1],[2,7,9,3,8,0,6,4,1,5],[7,0,4,6,9,1,3,2,5,8]];
  let c = 0;
  [...id].reverse().forEach((ch, i) => { c = d[c]![p[i % 8]![Number(ch)]!]!; });
  return /^\d{6,18}$/.test(id) && c === 0;
}

describe('shipped ConceptMaps', () => {
  const maps = readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => [f, JSON.parse(readFileSync(join(DIR, f), 'utf8')) as ConceptMap] as const);
  const targets = maps.flatMap(([f, m]) => (m.group ?? []).flatMap((g) =>
    (g.element ?? []).flatMap((e) => (e.target ?? []).map((t) => ({ f, source: g.source!, local: e.code!, system: g.target!, code: t.code! })))));

  it('map local code systems under urn:fxg:local/ to the standard systems', () => {
    assert.ok(targets.length > 60);
    const standard = new Set<string>([SYSTEMS.loinc, SYSTEMS.snomed, SYSTEMS.rxnorm, SYSTEMS.cvx, SYSTEMS.icd10cm]);
    for (const t of targets) {
      assert.ok(t.source.startsWith(`${SYSTEMS.localPrefix}/`), `${t.f}: ${t.source}`);
      assert.ok(standard.has(t.system), `${t.f}: ${t.system}`);
    }
  });

  it('use well-formed codes (LOINC and SNOMED CT check digits, ICD-10-CM, RxNorm and CVX shapes)', () => {
    // The checks themselves catch a mistyped digit.
    assert.deepEqual([loincValid('2345-7'), loincValid('2345-8'), verhoeffValid('44054006'), verhoeffValid('44054007')], [true, false, true, false]);
    for (const t of targets) {
      const ok = t.system === SYSTEMS.loinc ? loincValid(t.code)
        : t.system === SYSTEMS.snomed ? verhoeffValid(t.code)
          : t.system === SYSTEMS.icd10cm ? /^[A-TV-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$/.test(t.code)
            : t.system === SYSTEMS.rxnorm ? /^\d{2,8}$/.test(t.code)
              : /^\d{1,3}$/.test(t.code);
      assert.ok(ok, `${t.f}: ${t.local} -> ${t.system}|${t.code}`);
    }
  });

  it('cover the sensitive problem codes the security labels match', () => {
    const problem = (code: string) => terminology.translate({ system: local('clinic-problem'), code }).codings.map((c) => c.code);
    assert.deepEqual(problem('OUD'), ['OUD', '75544000', 'F11.20']);
    assert.deepEqual(problem('MDD'), ['MDD', '370143000', 'F32.9']);
    assert.deepEqual(problem('HIV'), ['HIV', '86406008', 'B20']);
  });

  it('include the HL7 v2 OBX-3 local lab codes', () => {
    assert.deepEqual(terminology.translate({ system: local('OBX-3'), code: 'BUN' }).codings[1], {
      system: SYSTEMS.loinc, code: '3094-0', display: 'Urea nitrogen [Mass/volume] in Serum or Plasma',
    });
  });
});
