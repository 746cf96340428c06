/**
 * Issue #3: the deliberately bad clinic files (fixtures/clinic/bad) through the real `fxg` command:
 * every bad record is reported with its file:line and queued verbatim, the good records of the same
 * files are stored, `fxg ingest errors` lists the queue, and `fxg ingest retry --all` reports that
 * content errors still fail. After a mapping fix, a retry stores the record it fixed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Condition, Immunization } from '@medplum/fhirtypes';
import { systemClock } from '../../src/core/clock.js';
import { PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { retryIngestError } from '../../src/mapping/ingest-sources.js';
import { CLINIC_DIR, byIdentifier, fxg, gatewayOn } from './helpers.js';

const BAD_DIR = join(CLINIC_DIR, 'bad');

/** The bad record of each file: file:line, and what the report says about it. */
const EXPECTED_FAILURES: Array<[string, RegExp]> = [
  ['allergies.json:18', /column patient\.mrn: reference to patients needs a value/],
  ['immunizations.csv:3', /column status: 'given' is not in the map/],
  ['labs.ndjson:2', /column value: 'hemolyzed' is not a number/],
  ['labs.ndjson:3', /not valid JSON/],
  ['patients.csv:3', /column last_name: required value is missing \(Patient\.name\[\+\]\.family\)/],
  ['prescriptions.csv:3', /11 fields, the header has 13/],
  ['visits.csv:3', /column start: '13\/45\/2024 09:00': month 13 does not exist/],
];

describe('fxg import --mapping clinic with bad records, fxg ingest errors, fxg ingest retry', { timeout: 60_000 }, () => {
  let dir: string;
  let imported: Awaited<ReturnType<typeof fxg>>;
  /** `fxg ingest errors`, started right after the import (it only reads) while the store checks run. */
  let listed: ReturnType<typeof fxg>;
  /** Error-queue id printed for each failed source. */
  const printedIds = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fxg-clinic-bad-'));
    imported = await fxg(dir, 'import', '--mapping', 'clinic', BAD_DIR);
    listed = fxg(dir, 'ingest', 'errors');
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('exits 1, lists every bad record with file:line and its reason, and counts the rest as stored', () => {
    assert.equal(imported.code, 1, imported.stdout + imported.stderr);
    // 7 files, 15 records: 8 good (one per file, plus the problem with an unmapped code), 7 bad.
    assert.match(imported.stdout, /^15 records \(mapping clinic\): 8 stored, 0 unchanged, 7 failed/m);
    const failed = imported.stdout.split('\n').filter((l) => l.startsWith('  FAILED '));
    assert.equal(failed.length, EXPECTED_FAILURES.length, imported.stdout);
    for (const [source, why] of EXPECTED_FAILURES) {
      const line = failed.find((l) => l.startsWith(`  FAILED ${source}: `));
      assert.ok(line, `${source} is reported`);
      assert.match(line, why);
      const id = /\[([0-9a-f-]{36})\]$/.exec(line)?.[1];
      assert.ok(id, `${source}: the error-queue id is printed`);
      printedIds.set(source, id);
    }
    assert.match(imported.stdout, /^ {2}warning UNMAPPED_CODE: 1$/m, 'LEGACY-117 is imported with a warning');
  });

  it('stores the good records of the bad files, and the unmapped code as a local coding', async () => {
    const gw = await gatewayOn(dir);
    try {
      assert.equal((await byIdentifier(gw.stores, 'Patient', '200001')).length, 1);
      assert.equal((await byIdentifier(gw.stores, 'Patient', '200002')).length, 0, 'the patient without a last name');
      const [legacy] = await byIdentifier<Condition>(gw.stores, 'Condition', 'P-8002');
      assert.deepEqual(legacy?.code?.coding, [{ system: 'urn:fxg:local/clinic-problem', code: 'LEGACY-117', display: 'Chronic fatigue (legacy code)' }]);
      for (const [type, good, bad] of [['Encounter', 'V-6001', 'V-6002'], ['Observation', 'L-45001', 'L-45002'], ['MedicationRequest', 'RX-9501', 'RX-9502'],
        ['Immunization', 'IM-3501', 'IM-3502'], ['AllergyIntolerance', 'A-2501', 'A-2502']] as const) {
        assert.equal((await byIdentifier(gw.stores, type, good)).length, 1, `${type} ${good} stored`);
        assert.equal((await byIdentifier(gw.stores, type, bad)).length, 0, `${type} ${bad} not stored`);
      }
      // Each bad record is queued verbatim: the line of the NDJSON file as it was.
      const labLines = readFileSync(join(BAD_DIR, 'labs.ndjson'), 'utf8').split('\n');
      for (const [source, line] of [['labs.ndjson:2', labLines[1]], ['labs.ndjson:3', labLines[2]]] as const) {
        const e = await gw.stores.ingestErrors.get(printedIds.get(source)!);
        assert.equal(e?.input, line, source);
        assert.equal(e?.format, 'mapping:clinic');
      }
    } finally {
      await gw.close();
    }
  });

  it('fxg ingest errors lists each queued record with its id, source and reason', async () => {
    const r = await listed;
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.equal(rows.length, EXPECTED_FAILURES.length, r.stdout);
    for (const [source, why] of EXPECTED_FAILURES) {
      const row = rows.find((x) => x[5] === source);
      assert.ok(row, `${source} listed`);
      assert.equal(row[0], printedIds.get(source));
      assert.deepEqual([row[1], row[3], row[4], row[6]], ['open', 'import', 'mapping:clinic', 'attempts=0']);
      assert.match(row[7] ?? '', why);
    }
  });

  it('fxg ingest retry --all reports that content errors still fail, exits 1, and keeps them queued', async () => {
    const r = await fxg(dir, 'ingest', 'retry', '--all');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^0 of 7 replayed successfully$/m);
    for (const [source, why] of EXPECTED_FAILURES) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`  ${printedIds.get(source)} ${source}: still failing: `));
      assert.ok(line, `${source}: ${r.stdout}`);
      if (!source.startsWith('labs.ndjson:3') && !source.startsWith('prescriptions')) assert.match(line, why);
    }
    assert.match(r.stdout, /labs\.ndjson:3: still failing: .*could not be read when imported/);
    const gw = await gatewayOn(dir);
    try {
      const open = await gw.stores.ingestErrors.list({ status: 'open' });
      assert.equal(open.length, 7);
      assert.ok(open.every((e) => e.attempts === 1), 'each retry is counted');
    } finally {
      await gw.close();
    }
  });

  it('after a mapping fix, a retry stores the record and resolves its queue entry; the others stay open', async () => {
    // The fix: the clinic's export also writes "given" for an administered vaccine.
    const mappings = mkdtempSync(join(tmpdir(), 'fxg-mappings-'));
    try {
      copyFileSync(join(PROJECT_ROOT, 'config', 'mappings', 'clinic.yaml'), join(mappings, 'clinic.yaml'));
      const yaml = readFileSync(join(mappings, 'clinic.yaml'), 'utf8');
      const fixed = yaml.replace('map: { completed: completed, not-done: not-done, entered-in-error: entered-in-error }',
        'map: { completed: completed, given: completed, not-done: not-done, entered-in-error: entered-in-error }');
      assert.notEqual(fixed, yaml);
      writeFileSync(join(mappings, 'clinic.yaml'), fixed);
      const gw = await gatewayOn(dir, { mappingsDir: mappings });
      try {
        const entry = await gw.stores.ingestErrors.get(printedIds.get('immunizations.csv:3')!);
        assert.ok(entry);
        const r = await retryIngestError(entry, {
          pipeline: gw.ingest.pipeline, terminology: gw.ingest.terminology, clock: systemClock, mappingsDir: mappings,
        });
        assert.equal(r.status, 'stored', JSON.stringify(r));
        const [imm] = await byIdentifier<Immunization>(gw.stores, 'Immunization', 'IM-3502');
        assert.equal(imm?.status, 'completed');
        assert.equal((await gw.stores.ingestErrors.get(entry.id))?.status, 'resolved');
        assert.equal((await gw.stores.ingestErrors.list({ status: 'open' })).length, 6);
      } finally {
        await gw.close();
      }
    } finally {
      rmSync(mappings, { recursive: true, force: true });
    }
  });
});
