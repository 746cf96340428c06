/**
 * The disclosure log through HTTP: fail-closed when it cannot be written, readable as BALP
 * AuditEvents by partners holding system/AuditEvent.rs, and the per-client throttle (F-19).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp, pgSkip, type StoreKind, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';
import Database from 'better-sqlite3';
import pg from 'pg';

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`disclosure log over HTTP (${kind})`, { skip: kind === 'postgres' ? pgSkip : false }, () => {
    let t: TestApp;
    let ehr: string;
    let auditor: string;

    before(async () => {
      t = await createTestApp({ store: kind, file: true });
      await t.addPartner({ id: 'ehr-1', scopes: ['system/*.rs'] });
      await t.addPartner({ id: 'auditor', kind: 'internal', scopes: ['system/AuditEvent.rs'] });
      await t.seed(patient('carol', 'Charlie'), observation('obs-c1', 'carol'));
      ehr = await t.token({ partner: 'ehr-1' });
      auditor = await t.token({ partner: 'auditor' });
    });
    after(() => t.close());

    it('serves a disclosure as a BALP PrivacyDisclosure AuditEvent, and records that reading', async () => {
      const read = await request(t.app).get('/fhir/Observation/obs-c1').auth(ehr, { type: 'bearer' });
      assert.equal(read.status, 200);
      const res = await request(t.app).get('/fhir/AuditEvent?patient=carol').auth(auditor, { type: 'bearer' });
      assert.equal(res.status, 200);
      const ev = res.body.entry.at(-1).resource;
      assert.equal(ev.type.code, '110106');
      assert.equal(ev.action, 'R');
      assert.ok(ev.subtype.some((c: { code: string }) => c.code === 'disclose'));
      assert.equal(ev.purposeOfEvent[0].coding[0].code, 'TREAT');
      const recipient = ev.agent.find((a: { type: { coding: Array<{ code: string }> } }) => a.type.coding[0]!.code === '110152');
      assert.equal(recipient.who.identifier.value, 'ehr-1');
      const requestor = ev.agent.find((a: { requestor: boolean }) => a.requestor);
      assert.match(requestor.policy[0], /^urn:ietf:params:oauth:jti:/);
      assert.deepEqual(ev.entity.slice(0, 2).map((e: { what?: { reference: string } }) => e.what?.reference), ['Patient/carol', 'Observation/obs-c1/_history/1']);
      const log = await t.stores.disclosures.listByPatient('carol');
      assert.equal(log.at(-1)!.channel, 'audit');
      assert.equal(log.at(-1)!.clientId, 'auditor');
    });

    it('keeps the disclosure log from wildcard scopes: system/*.rs does not reach AuditEvent', async () => {
      const res = await request(t.app).get('/fhir/AuditEvent?patient=carol').auth(ehr, { type: 'bearer' });
      assert.equal(res.status, 403);
      assert.equal(res.body.issue[0].code, 'forbidden');
    });

    it('a transaction whose conditional create matched, when the match cannot be recorded: 503 that says it was committed', async () => {
      await t.addPartner({ id: 'engine', kind: 'internal', scopes: ['system/*.cruds'] });
      const engine = await t.token({ partner: 'engine' });
      const observationsBefore = (await t.stores.resources.search({ resourceType: 'Observation', filters: [], count: 100, offset: 0 })).resources.length;
      const block = kind === 'sqlite' ? blockSqlite(t) : await blockPostgres(t);
      try {
        const { id: _id, ...newObservation } = observation('ignored', 'carol');
        const res = await request(t.app).post('/fhir').auth(engine, { type: 'bearer' }).type('application/fhir+json').send({
          resourceType: 'Bundle', type: 'transaction', entry: [
            { fullUrl: 'urn:uuid:4c1b7a52-8d33-4a44-9a0b-3f2f0c1d5e61', request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=https://test.fhir-exchange-gateway.dev/mrn|MRN-carol' },
              resource: { resourceType: 'Patient', name: [{ family: 'Charlie' }] } },
            { request: { method: 'POST', url: 'Observation' }, resource: newObservation },
          ],
        });
        assert.equal(res.status, 503);
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_AUDIT_UNAVAILABLE');
        assert.match(res.body.issue[0].diagnostics ?? res.body.issue[0].details.text, /was committed.*do not resubmit/);
        assert.doesNotMatch(res.text, /Patient\/carol/);
      } finally {
        await block.release();
      }
      const observationsAfter = (await t.stores.resources.search({ resourceType: 'Observation', filters: [], count: 100, offset: 0 })).resources.length;
      assert.equal(observationsAfter, observationsBefore + 1, 'the transaction was committed, as the answer says');
    });

    it('A-01: answers 503 transient and sends no patient data when the disclosure cannot be recorded', async () => {
      const block = kind === 'sqlite' ? blockSqlite(t) : await blockPostgres(t);
      try {
        const before = (await t.stores.disclosures.listByPatient('carol')).length;
        const res = await request(t.app).get('/fhir/Patient/carol').auth(ehr, { type: 'bearer' });
        assert.equal(res.status, 503);
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].code, 'transient');
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_AUDIT_UNAVAILABLE');
        assert.ok(res.headers['retry-after']);
        assert.doesNotMatch(res.text, /Charlie|carol/);
        const meta = await request(t.app).get('/fhir/metadata');
        assert.equal(meta.status, 200, 'non-PHI endpoints keep working');
        await block.release();
        assert.equal((await t.stores.disclosures.listByPatient('carol')).length, before);
      } finally {
        await block.release();
      }
      const again = await request(t.app).get('/fhir/Patient/carol').auth(ehr, { type: 'bearer' });
      assert.equal(again.status, 200, 'service resumes once the log accepts writes');
    });
  });
}

/** A trigger that makes every disclosure insert fail, as a broken audit sink would (catalogue FI-4). */
function blockSqlite(t: TestApp): { release(): Promise<void> } {
  assert.equal(t.location.kind, 'sqlite');
  const db = new Database(t.location.filename);
  db.exec(`CREATE TRIGGER IF NOT EXISTS test_block_audit BEFORE INSERT ON disclosure_log BEGIN SELECT RAISE(ABORT, 'audit sink down'); END;`);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      db.exec('DROP TRIGGER IF EXISTS test_block_audit');
      db.close();
    },
  };
}

async function blockPostgres(t: TestApp): Promise<{ release(): Promise<void> }> {
  assert.equal(t.location.kind, 'postgres');
  const { url, schema } = t.location;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE OR REPLACE FUNCTION ${schema}.test_block_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit sink down'; END $$`);
  await c.query(`CREATE TRIGGER test_block_audit BEFORE INSERT ON ${schema}.disclosure_log FOR EACH ROW EXECUTE FUNCTION ${schema}.test_block_audit()`);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await c.query(`DROP TRIGGER IF EXISTS test_block_audit ON ${schema}.disclosure_log`);
      await c.end();
    },
  };
}

describe('per-client throttle (F-19)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ config: { rateLimit: { perClientPerMinute: 3 } } });
    await t.addPartner({ id: 'busy', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'calm', scopes: ['system/*.rs'] });
    await t.seed(patient('dave', 'Delta'));
  });
  after(() => t.close());

  it('answers 429 throttled with Retry-After beyond the quota, without disclosing, and leaves other clients alone', async () => {
    const busy = await t.token({ partner: 'busy' });
    const calm = await t.token({ partner: 'calm' });
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await request(t.app).get('/fhir/Patient/dave').auth(busy, { type: 'bearer' });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(last!.body.issue[0].code, 'throttled');
    assert.ok(Number(last!.headers['retry-after']) >= 1);
    assert.equal((await t.stores.disclosures.listByPatient('dave')).length, 3);
    const other = await request(t.app).get('/fhir/Patient/dave').auth(calm, { type: 'bearer' });
    assert.equal(other.status, 200);
  });
});
