import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
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
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').all(), [{ version: 1 }]);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
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

function entry(tokenId: string) {
  return {
    patient: 'p1', recipient: { partnerId: 'x', name: 'X', kind: 'ehr' }, clientId: 'c', tokenId,
    purposeOfUse: 'TREAT', legalBasis: 'TPO', channel: 'read' as const, resources: [], description: 'd', requestId: 'r',
  };
}
