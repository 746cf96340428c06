/**
 * The `fxg` command as an administrator uses it: a real process over a real SQLite file.
 */
import { fxg } from '../helpers/fxg.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { exportJWK, generateKeyPair } from 'jose';
import { systemClock } from '../../src/core/clock.js';
import { loadFhirDefinitions, PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { DisclosureInput } from '../../src/store/types.js';



const entry = (patient: string, n: number): DisclosureInput => ({
  patient, recipient: { partnerId: 'ehr-1', name: 'EHR One', kind: 'ehr' }, clientId: 'ehr-1', tokenId: `jti-${n}`,
  purposeOfUse: 'TREAT', legalBasis: 'TPO', channel: 'read', resources: [{ resourceType: 'Patient', id: patient, versionId: '1' }],
  description: '1 Patient disclosed by read', requestId: `req-${n}`,
});

describe('fxg audit verify', () => {
  let dir: string;
  const dbFile = () => join(dir, 'gateway.db');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fxg-cli-'));
    const stores = await openSqliteStores({ filename: dbFile(), clock: systemClock, defs: loadFhirDefinitions() });
    for (let i = 1; i <= 5; i++) await stores.disclosures.append([entry(i % 2 ? 'alice' : 'bob', i)]);
    await stores.close();
  });

  it('reports an intact log and exits 0', async () => {
    const r = await fxg(dir, 'audit', 'verify');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /disclosure log intact: 5 entries/);
  });

  /** Tampering as a superuser would: drop the append-only triggers, then edit. */
  const tamper = (sql: string) => {
    const db = new Database(dbFile());
    db.exec('DROP TRIGGER IF EXISTS disclosure_log_no_update; DROP TRIGGER IF EXISTS disclosure_log_no_delete;');
    db.exec(sql);
    db.close();
  };

  it('A-04: names the first altered entry and exits non-zero', async () => {
    tamper("UPDATE disclosure_log SET purpose_of_use = 'PUBHLTH' WHERE seq = 3");
    const r = await fxg(dir, 'audit', 'verify');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at entry 3: hash does not match/);
  });

  it('A-04: names a removed entry', async () => {
    tamper("UPDATE disclosure_log SET purpose_of_use = 'TREAT' WHERE seq = 3; DELETE FROM disclosure_log WHERE seq = 2");
    const r = await fxg(dir, 'audit', 'verify');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at entry 2: entry 2 is missing/);
  });

  it('A-04: detects two swapped entries', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'fxg-cli-'));
    const stores = await openSqliteStores({ filename: join(d2, 'gateway.db'), clock: systemClock, defs: loadFhirDefinitions() });
    for (let i = 1; i <= 4; i++) await stores.disclosures.append([entry('alice', i)]);
    await stores.close();
    const db = new Database(join(d2, 'gateway.db'));
    db.exec('DROP TRIGGER disclosure_log_no_update;');
    db.exec(`UPDATE disclosure_log SET seq = -2 WHERE seq = 2; UPDATE disclosure_log SET seq = 2 WHERE seq = 3; UPDATE disclosure_log SET seq = 3 WHERE seq = -2;`);
    db.close();
    const r = await fxg(d2, 'audit', 'verify');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at entry 2/);
  });
});

describe('fxg partners', () => {
  let dir: string;
  let jwksFile: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fxg-cli-'));
    const { publicKey } = await generateKeyPair('ES384', { extractable: true });
    jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384' }] }));
  });

  it('adds, lists and suspends a partner', async () => {
    const add = await fxg(dir, 'partners', 'add', '--id', 'clinic-ehr', '--name', 'Clinic EHR', '--kind', 'ehr', '--jwks', jwksFile, '--scope', 'system/Patient.rs system/Observation.rs');
    assert.equal(add.code, 0, add.stderr);
    const list = await fxg(dir, 'partners', 'list');
    assert.match(list.stdout, /^clinic-ehr\tehr\tactive\tClinic EHR\tsystem\/Patient\.rs system\/Observation\.rs$/m);
    const suspend = await fxg(dir, 'partners', 'suspend', 'clinic-ehr');
    assert.equal(suspend.code, 0);
    assert.match((await fxg(dir, 'partners', 'list')).stdout, /clinic-ehr\tehr\tsuspended/);
  });

  it('refuses a registration carrying a private key, with a reason', async () => {
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    const bad = join(dir, 'private.json');
    writeFileSync(bad, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'k2' }] }));
    const r = await fxg(dir, 'partners', 'add', '--id', 'leaky', '--name', 'Leaky', '--kind', 'ehr', '--jwks', bad, '--scope', 'system/Patient.rs');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /private parameters \(d\)/);
  });

  it('refuses an unknown partner for suspend', async () => {
    const r = await fxg(dir, 'partners', 'suspend', 'nobody');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no partner nobody/);
  });
});

describe('fxg import', () => {
  let dir: string;
  after(() => undefined);
  before(() => { dir = mkdtempSync(join(tmpdir(), 'fxg-cli-')); });

  it('imports the demo transaction Bundle and NDJSON, reporting counts', async () => {
    const r = await fxg(dir, 'import', join(PROJECT_ROOT, 'fixtures', 'demo', 'demo-patients.json'), join(PROJECT_ROOT, 'fixtures', 'demo', 'observations.ndjson'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /imported \d+ resources from 2 files .*; 0 failed/);
  });

  it('reports every bad record and stores nothing of a failed transaction', async () => {
    const bad = join(dir, 'bad.ndjson');
    writeFileSync(bad, `{"resourceType":"Patient","id":"ok-1"}\nnot json\n{"resourceType":"Observation","id":"o-1"}\n`);
    const tx = join(dir, 'tx.json');
    writeFileSync(tx, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: { resourceType: 'Patient', name: [{ family: 'Kept' }] }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'not-a-status' }, request: { method: 'POST', url: 'Observation' } },
    ] }));
    const r = await fxg(dir, 'import', bad, tx);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.ndjson:2: not valid JSON/);
    assert.match(r.stdout, /bad\.ndjson:3: /);
    assert.match(r.stdout, /tx\.json: /);
    const stores = await openSqliteStores({ filename: join(dir, 'gateway.db'), clock: systemClock, defs: loadFhirDefinitions() });
    const kept = await stores.resources.search({ resourceType: 'Patient', filters: [{ code: 'family', values: [{ value: 'Kept' }] }], count: 10, offset: 0 });
    assert.equal(kept.resources.length, 0, 'nothing of the failed transaction is stored');
    await stores.resources.read('Patient', 'ok-1');
    await stores.close();
  });
});

describe('fxg token and fxg keys rotate', () => {
  it('prints a token that a listening gateway accepts', async () => {
    const { createTestApp } = await import('../helpers/test-app.js');
    const { readFileSync } = await import('node:fs');
    const { createServer } = await import('node:net');
    const { parse } = await import('yaml');
    // The gateway's public URL must be known before it is built: reserve a port first.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const base = `http://127.0.0.1:${port}`;
    const t = await createTestApp({ config: { baseUrl: base } });
    const server = t.app.listen(port, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    try {
      const demo = parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'demo', 'partners', 'demo-ehr.yaml'), 'utf8'));
      await t.stores.partners.upsert({ ...demo, scopes: String(demo.scopes).split(' ') });
      const r = await fxg(mkdtempSync(join(tmpdir(), 'fxg-cli-')), 'token', '--partner', 'demo-ehr', '--scope', 'system/Patient.rs',
        '--key', join(PROJECT_ROOT, 'fixtures', 'demo', 'keys', 'demo-ehr.private.jwk.json'), '--url', base);
      assert.equal(r.code, 0, r.stderr);
      const principal = await t.gw.auth.verifyAccessToken(`Bearer ${r.stdout.trim()}`);
      assert.equal(principal.clientId, 'demo-ehr');
      assert.equal(principal.scope, 'system/Patient.rs');
      const refused = await fxg(mkdtempSync(join(tmpdir(), 'fxg-cli-')), 'token', '--partner', 'demo-ehr',
        '--key', join(PROJECT_ROOT, 'fixtures', 'demo', 'keys', 'demo-internal.private.jwk.json'), '--url', base);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /token request failed \(401\): invalid_client/);
    } finally {
      server.close();
      await t.close();
    }
  });

  it('rotates the signing key of the configured store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fxg-cli-'));
    const first = await fxg(dir, 'keys', 'rotate');
    assert.equal(first.code, 0, first.stderr);
    const kid1 = /new signing key ([A-Za-z0-9_-]+)/.exec(first.stdout)?.[1];
    const second = await fxg(dir, 'keys', 'rotate');
    const kid2 = /new signing key ([A-Za-z0-9_-]+)/.exec(second.stdout)?.[1];
    assert.ok(kid1 && kid2 && kid1 !== kid2);
    const stores = await openSqliteStores({ filename: join(dir, 'gateway.db'), clock: systemClock, defs: loadFhirDefinitions() });
    const keys = await stores.keys.list();
    await stores.close();
    assert.ok(keys.some((k) => k.kid === kid1 && k.retiredAt), 'the old key is retired, still published');
    assert.ok(keys.some((k) => k.kid === kid2 && !k.retiredAt));
  });
});
