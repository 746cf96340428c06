import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ManualClock, isoNow } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { verifyDisclosureLog } from '../../src/audit/verify.js';
import { SqlDisclosureLog } from '../../src/store/sql/disclosure-log.js';
import { loadMigrations, migrate } from '../../src/store/sql/migrate.js';
import { PgExecutor } from '../../src/store/postgres/executor.js';
import { assertDurable, openPostgresStores } from '../../src/store/postgres/index.js';
import { storeContract } from './contract.js';

const url = process.env.TEST_PG_URL;
const skip = url ? false : 'TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';
if (skip) console.log(`# postgres store tests skipped: ${skip}`);

const defs = loadFhirDefinitions();
/** One schema per opened store; all dropped when the file ends. */
const run = `fxg_test_${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];
const newSchema = () => {
  const s = `${run}_${schemas.length + 1}`;
  schemas.push(s);
  return s;
};

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, schema?: string): Promise<T> {
  const client = new pg.Client({ connectionString: url, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

after(async () => {
  if (!url || schemas.length === 0) return;
  await withClient(async (c) => {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  });
});

storeContract(
  'postgres',
  ({ clock }) => openPostgresStores({ url: url as string, clock, defs, schema: newSchema(), poolMax: 8 }),
  {
    skip,
    openAnother: (deps) => openPostgresStores({ url: url as string, defs, schema: schemas.at(-1) as string, poolMax: 4, ...deps }),
    rawSql: (sql) => withClient((c) => c.query(sql), schemas.at(-1)),
  },
);

describe('postgres store: durability check', () => {
  /** A stand-in answering SHOW with fixed settings. */
  const settings = (values: Record<string, string>) => ({
    query: async (text: string) => {
      const name = text.replace('SHOW ', '');
      return { rows: [{ [name]: values[name] }] };
    },
  }) as unknown as Parameters<typeof assertDurable>[0];

  it('refuses synchronous_commit=off and fsync=off, accepts on', async () => {
    await assertDurable(settings({ fsync: 'on', synchronous_commit: 'on' }));
    await assert.rejects(assertDurable(settings({ fsync: 'on', synchronous_commit: 'off' })), /synchronous_commit is 'off'/);
    await assert.rejects(assertDurable(settings({ fsync: 'on', synchronous_commit: 'local' })), /synchronous_commit/);
    await assert.rejects(assertDurable(settings({ fsync: 'off', synchronous_commit: 'on' })), /fsync is 'off'/);
  });
});

describe('postgres store: start-up', { skip }, () => {
  it('migration 004 drops the hash constraint of a disclosure log written before it, keeping every entry and the chain', async () => {
    const schema = newSchema();
    const clock = new ManualClock();
    const entry = (tokenId: string, patient = 'p1') => ({
      patient, recipient: { partnerId: 'x', name: 'X', kind: 'ehr' }, clientId: 'c', tokenId,
      purposeOfUse: 'TREAT', legalBasis: 'TPO', channel: 'read' as const, resources: [], description: 'd', requestId: 'r',
    });
    const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
    let before;
    try {
      await pool.query(`CREATE SCHEMA "${schema}"`);
      const exec = new PgExecutor(pool, schema);
      const migrations = loadMigrations(fileURLToPath(new URL('../../src/store/migrations/postgres/', import.meta.url)));
      assert.deepEqual(await migrate(exec, migrations.filter((m) => m.version <= 3), isoNow(clock)), [1, 2, 3]);
      before = await new SqlDisclosureLog(exec, clock).append([entry('t1'), { ...entry('t2'), labels: ['ETH'] }, entry('t3', 'p2')]);
    } finally {
      await pool.end();
    }
    const uniqueOnLog = () => withClient((c) => c.query(
      "SELECT conname FROM pg_constraint WHERE conrelid = 'disclosure_log'::regclass AND contype = 'u'"), schema);
    const stores = await openPostgresStores({ url: url as string, clock, defs, schema });
    try {
      assert.deepEqual(await stores.disclosures.scan(0, 10), before);
      await stores.disclosures.append([entry('t4')]);
      const verified = await verifyDisclosureLog(stores.disclosures);
      assert.deepEqual({ ok: verified.ok, count: verified.count }, { ok: true, count: 4 });
      assert.deepEqual((await uniqueOnLog()).rows, []);
      await assert.rejects(withClient((c) => c.query("UPDATE disclosure_log SET patient = 'p9' WHERE seq = 1"), schema), /append-only/);
    } finally {
      await stores.close();
    }
  });

  it('applies migrations once when several processes open the same schema at once', async () => {
    const schema = newSchema();
    const clock = new ManualClock();
    const opened = await Promise.all(Array.from({ length: 4 }, () => openPostgresStores({ url: url as string, clock, defs, schema, poolMax: 2 })));
    const versions = await withClient((c) => c.query('SELECT version FROM schema_migrations ORDER BY version'), schema);
    assert.deepEqual(versions.rows, [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    await Promise.all(opened.map((s) => s.close()));
  });

  it('rebuilds the search index whole when several processes open under a new selection at once (they take turns)', async () => {
    const schema = newSchema();
    const clock = new ManualClock();
    const first = await openPostgresStores({ url: url as string, clock, defs, schema });
    await first.resources.transaction(async (tx) => {
      for (let i = 0; i < 1200; i++) {
        await tx.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/p${i % 7}` } }, { id: `o${i}` });
      }
    });
    await first.close();
    const selection = { params: (type: string) => new Set(type === 'Observation' ? ['status', 'patient'] : []), fingerprint: 'status-patient' };
    const opened = await Promise.all(Array.from({ length: 4 }, () => openPostgresStores({ url: url as string, clock, defs, schema, poolMax: 2, searchIndex: selection })));
    try {
      const page = await opened[0]!.resources.search({ resourceType: 'Observation', filters: [{ code: 'patient', values: [{ value: 'Patient/p3' }] }], count: 1000, offset: 0, total: true });
      assert.equal(page.total, 171);
      const codes = await withClient((c) => c.query("SELECT DISTINCT code FROM idx_token WHERE resource_type = 'Observation' ORDER BY code"), schema);
      assert.deepEqual(codes.rows, [{ code: 'status' }], 'no rows left of the parameters outside the selection');
    } finally {
      await Promise.all(opened.map((s) => s.close()));
    }
  });

  it('refuses TRUNCATE of the disclosure log', async () => {
    const schema = newSchema();
    const stores = await openPostgresStores({ url: url as string, clock: new ManualClock(), defs, schema });
    await assert.rejects(withClient((c) => c.query('TRUNCATE disclosure_log'), schema), /append-only/);
    await stores.close();
  });

  it('refuses an invalid schema name before connecting', async () => {
    await assert.rejects(openPostgresStores({ url: url as string, clock: new ManualClock(), defs, schema: 'x; DROP' }), /invalid PostgreSQL schema/);
  });
});
