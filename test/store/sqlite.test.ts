import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock, isoNow } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { verifyDisclosureLog } from '../../src/audit/verify.js';
import { SqlDisclosureLog } from '../../src/store/sql/disclosure-log.js';
import { loadMigrations, migrate } from '../../src/store/sql/migrate.js';
import { compileSearch } from '../../src/store/sql/search.js';
import { SqliteExecutor } from '../../src/store/sqlite/executor.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { SearchFilter, SearchQuery } from '../../src/store/types.js';
import { storeContract } from './contract.js';

const defs = loadFhirDefinitions();
const dir = mkdtempSync(join(tmpdir(), 'fxg-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite :memory:', ({ clock }) => openSqliteStores({ filename: ':memory:', clock, defs }));

let fileNo = 0;
let lastFile = '';
storeContract(
  'sqlite file',
  ({ clock }) => {
    lastFile = join(dir, `contract-${++fileNo}.db`);
    return openSqliteStores({ filename: lastFile, clock, defs });
  },
  {
    openAnother: (deps) => openSqliteStores({ filename: lastFile, defs, ...deps }),
    rawSql: async (sql) => {
      const db = new Database(lastFile);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
  },
);

describe('sqlite store: files', () => {
  it('re-opens an existing file without re-applying migrations and keeps the data', async () => {
    const filename = join(dir, 'reopen.db');
    const clock = new ManualClock();
    const first = await openSqliteStores({ filename, clock, defs });
    await first.resources.create({ resourceType: 'Patient' }, { id: 'p1' });
    await first.close();
    const second = await openSqliteStores({ filename, clock, defs });
    assert.equal((await second.resources.read('Patient', 'p1')).id, 'p1');
    await second.close();
    const db = new Database(filename, { readonly: true });
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('migration 004 drops the hash index of a disclosure log written before it, keeping every entry and the chain', async () => {
    const filename = join(dir, 'log-before-004.db');
    const clock = new ManualClock();
    const old = new Database(filename);
    old.pragma('journal_mode = WAL');
    const oldExec = new SqliteExecutor(old, 1000);
    const migrations = loadMigrations(fileURLToPath(new URL('../../src/store/migrations/sqlite/', import.meta.url)));
    assert.deepEqual(await migrate(oldExec, migrations.filter((m) => m.version <= 3), isoNow(clock)), [1, 2, 3]);
    const before = await new SqlDisclosureLog(oldExec, clock).append([
      entry('t1'), { ...entry('t2'), user: 'Practitioner/u', labels: ['ETH', 'R'] }, { ...entry('t3'), patient: 'p2' },
    ]);
    assert.ok(old.prepare("SELECT 1 FROM pragma_index_list('disclosure_log') WHERE \"unique\" = 1 AND origin = 'u'").get(), 'the old schema has the unique hash index');
    const schemaBefore = logSchema(old);
    old.close();

    const stores = await openSqliteStores({ filename, clock, defs });
    assert.deepEqual(await stores.disclosures.scan(0, 10), before);
    await stores.disclosures.append([entry('t4')]);
    const verified = await verifyDisclosureLog(stores.disclosures);
    assert.deepEqual({ ok: verified.ok, count: verified.count }, { ok: true, count: 4 });
    assert.deepEqual((await stores.disclosures.listByPatient('p2')).map((e) => e.tokenId), ['t3']);
    await stores.close();

    const db = new Database(filename);
    try {
      // The same table as before, less the hash index: columns, the patient index, the triggers' text.
      assert.deepEqual(logSchema(db), { ...schemaBefore, indexes: schemaBefore.indexes.filter((i) => i.origin !== 'u') });
      assert.deepEqual(db.prepare("SELECT name FROM pragma_index_list('disclosure_log') ORDER BY name").all(), [{ name: 'disclosure_log_patient' }]);
      assert.throws(() => db.exec("UPDATE disclosure_log SET patient = 'p9' WHERE seq = 1"), /append-only/);
      assert.throws(() => db.exec('DELETE FROM disclosure_log WHERE seq = 4'), /append-only/);
      // The JSON checks came along (CHECK constraints are not in the pragmas above).
      const insert = db.prepare(`INSERT INTO disclosure_log (seq, recorded, patient, recipient, client_id, token_id, purpose_of_use,
        legal_basis, channel, resources, description, request_id, prev_hash, hash, labels) VALUES (?, 'r', 'p', ?, 'c', 't', 'TREAT', 'TPO', 'read', ?, 'd', 'q', 'h0', 'h1', ?)`);
      assert.throws(() => insert.run(100, 'not json', '[]', null), /CHECK constraint failed/);
      assert.throws(() => insert.run(101, '{}', 'not json', null), /CHECK constraint failed/);
      assert.throws(() => insert.run(102, '{}', '[]', 'not json'), /CHECK constraint failed/);
    } finally {
      db.close();
    }
  });

  it('serializes writers of two connections to the same file (busy_timeout, BEGIN IMMEDIATE)', async () => {
    const filename = join(dir, 'two-writers.db');
    const clock = new ManualClock();
    const a = await openSqliteStores({ filename, clock, defs });
    const b = await openSqliteStores({ filename, clock, defs });
    await a.resources.create({ resourceType: 'Patient' }, { id: 'p1' });
    await Promise.all([
      ...Array.from({ length: 5 }, () => a.resources.update({ resourceType: 'Patient', id: 'p1' })),
      ...Array.from({ length: 5 }, () => b.resources.update({ resourceType: 'Patient', id: 'p1' })),
      a.disclosures.append([entry('a')]),
      b.disclosures.append([entry('b')]),
    ]);
    const history = await b.resources.history('Patient', 'p1', { count: 100, offset: 0 });
    assert.deepEqual(history.entries.map((e) => e.versionId), ['11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1']);
    assert.deepEqual((await a.disclosures.scan(0, 10)).map((e) => e.seq), [1, 2]);
    await a.close();
    await b.close();
  });
});

describe('sqlite store: query plans (no planner statistics, as on a fresh database)', () => {
  const filename = join(dir, 'plans.db');
  let db: Database.Database;
  const plan = (q: Omit<SearchQuery, 'count' | 'offset'>, which: 'page' | 'count' = 'page') => {
    const compiled = compileSearch(defs, { count: 20, offset: 0, ...q }, Date.UTC(2026, 0, 1))[which];
    return (db.prepare(`EXPLAIN QUERY PLAN ${compiled.text}`).all(...compiled.params) as Array<{ detail: string }>).map((r) => r.detail);
  };
  const f = (code: string, value: string, modifier?: string): SearchFilter => ({ code, ...(modifier ? { modifier } : {}), values: [{ value }] });
  /** No full scans, and every probe after the lead pins one resource (`rid=?`). */
  const assertIndexed = (steps: string[]) => {
    assert.deepEqual(steps.filter((s) => s.startsWith('SCAN')), [], steps.join('\n'));
    for (const s of steps.filter((x) => /^SEARCH [ics] /.test(x))) {
      if (!/LIST SUBQUERY/.test(steps[steps.indexOf(s) - 1] ?? '')) assert.match(s, /rid=\?/, steps.join('\n'));
    }
  };

  it('reads the patient reference in lastUpdated order and stops after a page (the benchmark query)', async () => {
    const stores = await openSqliteStores({ filename, clock: new ManualClock(), defs });
    await stores.close();
    db = new Database(filename, { readonly: true });
    const q = { resourceType: 'Observation', filters: [f('patient', 'p1'), f('category', 'laboratory')] };
    const steps = plan(q);
    assert.deepEqual(steps, [
      'SEARCH l USING COVERING INDEX idx_reference_lookup (resource_type=? AND code=? AND target=?)',
      'SEARCH r USING INTEGER PRIMARY KEY (rowid=?)',
      'CORRELATED SCALAR SUBQUERY 1',
      'SEARCH i USING PRIMARY KEY (rid=? AND code=?)',
      'USE TEMP B-TREE FOR LAST TERM OF ORDER BY', // only ties in lastUpdated are sorted (by id)
    ]);
    assertIndexed(plan(q, 'count'));
    // The same under a patient-compartment narrowing, and newest first.
    const narrowed = plan({ resourceType: 'Observation', filters: [f('category', 'laboratory')], narrow: { compartmentPatient: 'p1' }, sort: [{ code: '_lastUpdated', descending: true }] });
    assert.match(narrowed[0] ?? '', /^SEARCH l USING (COVERING INDEX|PRIMARY KEY) .*\(patient_id=\? AND resource_type=\?\)/, narrowed.join('\n'));
    assert.ok(!narrowed.includes('USE TEMP B-TREE FOR ORDER BY'), narrowed.join('\n'));
  });

  it('leads with an IN list when the order is not lastUpdated, probing the rest per resource', () => {
    const steps = plan({ resourceType: 'Observation', filters: [f('patient', 'p1'), f('category', 'laboratory')], sort: [{ code: 'date', descending: true }] });
    assert.match(steps[0] ?? '', /^SEARCH r USING INTEGER PRIMARY KEY \(rowid=\?\)/, steps.join('\n'));
    assert.ok(steps.some((s) => /idx_reference_lookup \(resource_type=\? AND code=\? AND target=\?\)/.test(s)), steps.join('\n'));
    assertIndexed(steps);
  });

  it('keeps every other shape on indexes', () => {
    const shapes: Array<Omit<SearchQuery, 'count' | 'offset'>> = [
      { resourceType: 'Observation', filters: [] },
      { resourceType: 'Observation', filters: [f('code', 'http://loinc.org|1234-5'), f('date', '2020')] },
      { resourceType: 'Patient', filters: [f('family', 'smi'), f('birthdate', '1970')] },
      { resourceType: 'Patient', filters: [f('identifier', 'urn:mrn|42')], sort: [{ code: 'family', descending: false }] },
      { resourceType: 'Observation', filters: [f('category', 'laboratory', 'not')], narrow: { compartmentPatient: 'p1' } },
      { resourceType: 'Observation', filters: [f('value-quantity', '5.4')], narrow: { anyOf: [[f('category', 'vital-signs')]] } },
      { resourceType: 'Observation', filters: [f('_id', 'o1')] },
      { resourceType: 'Observation', filters: [f('subject', 'p1'), f('code', 'gluc', 'text'), f('date', 'true', 'missing')] },
      { resourceType: 'ValueSet', filters: [f('name', 'col', 'contains'), f('url', 'http://x.org/fhir', 'below')] },
      { resourceType: 'Patient', filters: [f('general-practitioner', 'dr1')], sort: [{ code: 'birthdate', descending: true }, { code: '_id', descending: false }] },
    ];
    for (const q of shapes) {
      assertIndexed(plan(q));
      assertIndexed(plan(q, 'count'));
    }
    // Without a lead, the default order walks the (resource_type, last_updated_ms, id) index: no sort.
    assert.deepEqual(plan({ resourceType: 'Observation', filters: [] }), [
      'SEARCH r USING INDEX resources_type_updated (resource_type=?)',
    ]);
    db.close();
  });
});

/** The disclosure log's columns, indexes (with their columns) and triggers, as SQLite reports them. */
function logSchema(db: Database.Database) {
  const indexes = (db.prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list('disclosure_log') ORDER BY name").all() as Array<{ name: string; origin: string }>)
    .map((i) => ({ ...i, name: i.origin === 'u' ? '(unique constraint)' : i.name, columns: db.prepare('SELECT seqno, name, "desc", coll, key FROM pragma_index_xinfo(?)').all(i.name) }));
  return {
    columns: db.prepare("SELECT * FROM pragma_table_xinfo('disclosure_log')").all(),
    indexes,
    triggers: db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'disclosure_log' ORDER BY name").all(),
  };
}

function entry(tokenId: string) {
  return {
    patient: 'p1', recipient: { partnerId: 'x', name: 'X', kind: 'ehr' }, clientId: 'c', tokenId,
    purposeOfUse: 'TREAT', legalBasis: 'TPO', channel: 'read' as const, resources: [], description: 'd', requestId: 'r',
  };
}
