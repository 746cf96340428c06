/**
 * Issue #3: `fxg import` of HL7 v2 files (a directory of .hl7 files and a file with refused messages),
 * through the real command: counts reported, good messages stored, refused ones listed by
 * `fxg ingest errors` and kept verbatim in the error queue.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { splitHl7Messages } from '../../src/mapping/hl7v2/index.js';
import { HL7_DIR, badDateAdt, fxg, gatewayOn, hl7Fixture, patientByMrn, schedulingMessage } from './helpers.js';

describe('fxg import of HL7 v2 files', { timeout: 60_000 }, () => {
  let dir: string;
  let refusedFile: string;
  const ae = badDateAdt('CLI-AE-1', 'MRN-CLI-AE');
  const ar = schedulingMessage('CLI-AR-1');
  let imported: Awaited<ReturnType<typeof fxg>>;
  /** `fxg ingest errors`, started right after the import (it only reads) while the store checks run. */
  let listed: ReturnType<typeof fxg>;
  const fixtureMessages = readdirSync(HL7_DIR).filter((f) => f.endsWith('.hl7')).flatMap((f) => splitHl7Messages(hl7Fixture(f))).length;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fxg-hl7-cli-'));
    refusedFile = join(dir, 'refused.hl7');
    writeFileSync(refusedFile, `${ae}\n${ar}\n`);
    imported = await fxg(dir, 'import', HL7_DIR, refusedFile);
    listed = fxg(dir, 'ingest', 'errors');
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('imports every message of fixtures/hl7v2, reports the counts and the refused messages, and exits 1', () => {
    assert.equal(fixtureMessages, 16);
    assert.equal(imported.code, 1, imported.stdout + imported.stderr);
    assert.match(imported.stdout, new RegExp(`^${fixtureMessages + 2} HL7 v2 messages: ${fixtureMessages} stored, 0 unchanged, 2 failed`, 'm'));
    const failed = imported.stdout.split('\n').filter((l) => l.startsWith('  FAILED '));
    assert.equal(failed.length, 2, imported.stdout);
    assert.match(failed[0]!, /^ {2}FAILED MSH-10 CLI-AE-1: PID-7: "19861345" is not a valid HL7 date\/time.*\[[0-9a-f-]{36}\]$/);
    assert.match(failed[1]!, /^ {2}FAILED MSH-10 CLI-AR-1: SIU\^S12: .*\[[0-9a-f-]{36}\]$/);
  });

  it('stores the fixture patients and none of the refused ones; the refused messages are queued verbatim', async () => {
    const gw = await gatewayOn(dir);
    try {
      for (const mrn of ['MRN-448812', 'MRN-771001', 'MRN-551203', 'MRN-602214', 'MRN-700455', 'MRN-810001', 'MRN-810002', 'MRN-810003', 'MRN-900017']) {
        assert.ok(await patientByMrn(gw.stores, mrn), `${mrn} stored`);
      }
      assert.equal(await patientByMrn(gw.stores, 'MRN-CLI-AE'), undefined);
      assert.equal(await patientByMrn(gw.stores, 'MRN-SIU-1'), undefined);
      // Each message of the file is queued as it was written, segments joined by CR (without the CR that ended the last one).
      const queued = await gw.stores.ingestErrors.list({ status: 'open' });
      assert.deepEqual(queued.map((e) => [e.source, e.channel, e.format, e.input]).sort(),
        [['MSH-10 CLI-AE-1', 'import', 'hl7v2', ae.replace(/\r$/, '')], ['MSH-10 CLI-AR-1', 'import', 'hl7v2', ar]]);
      const outcome = queued.find((e) => e.source === 'MSH-10 CLI-AE-1')?.outcome as { issue: Array<{ expression?: string[] }> };
      assert.deepEqual(outcome.issue[0]?.expression, ['PID-7'], 'the OperationOutcome locates the error');
    } finally {
      await gw.close();
    }
  });

  it('fxg ingest errors lists the refused messages with their reasons', async () => {
    const r = await listed;
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.equal(rows.length, 2, r.stdout);
    const ids = [...imported.stdout.matchAll(/\[([0-9a-f-]{36})\]$/gm)].map((m) => m[1]);
    const aeRow = rows.find((x) => x[5] === 'MSH-10 CLI-AE-1');
    const arRow = rows.find((x) => x[5] === 'MSH-10 CLI-AR-1');
    assert.ok(aeRow && arRow, r.stdout);
    assert.deepEqual([aeRow[0], arRow[0]], ids, 'the ids printed by the import');
    assert.deepEqual([aeRow[1], aeRow[3], aeRow[4]], ['open', 'import', 'hl7v2']);
    assert.match(aeRow[7] ?? '', /"19861345" is not a valid HL7 date\/time/);
    assert.match(arRow[7] ?? '', /SIU\^S12: .*Appointment is not stored/);
  });
});
