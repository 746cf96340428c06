/**
 * Partner files (config/partners/*.yaml) carrying an `agreement:` block, as an administrator deploys them:
 * the agreement is validated at start-up and applied to requests, an invalid one stops start-up naming its
 * file, and a restart records in the admin trail exactly the files that changed (actor `config:<dir>`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { createApp, type Gateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Stores } from '../../src/store/types.js';
import { createTestApp, openTestStores, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category';

const registryFile = (agreement: Record<string, unknown>) => ({
  id: 'county-registry',
  name: 'County Immunization Registry',
  kind: 'payer',
  address: '9 Civic Plaza, Springfield',
  scopes: 'system/*.rs',
  jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'x', y: 'y', kid: 'registry-k1' }] },
  agreement,
});
const REGISTRY_AGREEMENT = {
  purposes: ['PUBHLTH'],
  resourceTypes: ['Patient', 'Observation'],
  categories: { Observation: [`${LAB}|laboratory`] },
  consentRequired: false,
  legalReference: 'County reporting ordinance 7',
};

const tempDirs: string[] = [];
function partnersDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-partners-'));
  tempDirs.push(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), typeof body === 'string' ? body : stringify(body));
  return dir;
}
after(() => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

/** Starts a gateway over existing stores, as a restart of the process would. */
async function start(stores: Stores, dir: string): Promise<Gateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fxg-test-'));
  tempDirs.push(dataDir);
  const config = loadConfig({
    env: {},
    overrides: { baseUrl: 'https://gw.test', dataDir, partnersDir: dir, rateLimit: { perClientPerMinute: 0 }, logLevel: 'silent' },
  });
  return createApp({ config, stores, log: silentLogger });
}

describe('a partner file with an agreement', () => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    dir = partnersDir({ 'county-registry.yaml': registryFile(REGISTRY_AGREEMENT) });
    t = await createTestApp({ config: { partnersDir: dir } });
    await t.seed(patient('dana', 'Delta'), observation('dana-lab', 'dana'), observation('dana-phq', 'dana', 'survey', '44249-1'));
  });
  after(() => t.close());

  it('stores the agreement with its defaults filled in', async () => {
    const p = await t.stores.partners.get('county-registry');
    assert.ok(p, 'the file registered the partner');
    assert.deepEqual(p.agreement, {
      ...REGISTRY_AGREEMENT, excludedLabels: ['PSYTHPN'], status: 'active', businessAssociate: false,
    });
    assert.equal(p.status, 'active');
    assert.deepEqual(p.scopes, ['system/*.rs']);
  });

  it('applies it to requests: its purpose and categories, not the defaults of its kind', async () => {
    const tok = await t.token({ partner: 'county-registry', purposeOfUse: 'PUBHLTH' });
    const get = (path: string, k = tok) => request(t.app).get(path).auth(k, { type: 'bearer' });
    assert.equal((await get('/fhir/Observation/dana-lab')).status, 200);
    assert.equal((await get('/fhir/Observation/dana-phq')).status, 404, 'a survey is outside the agreed categories');
    const enc = await get('/fhir/Encounter?patient=dana');
    assert.equal(enc.status, 403);
    assert.equal(enc.body.issue[0].details.coding[0].code, 'GW_TYPE_NOT_ALLOWED');
    // A payer's default purpose is not in this agreement.
    const payment = await get('/fhir/Patient/dana', await t.token({ partner: 'county-registry', purposeOfUse: 'HPAYMT' }));
    assert.equal(payment.status, 403);
    assert.equal(payment.body.issue[0].details.coding[0].code, 'GW_PURPOSE_NOT_ALLOWED');
    const logged = (await t.stores.disclosures.listByPatient('dana')).at(-1)!;
    assert.equal(logged.legalBasis, 'public-health');
    assert.equal(logged.recipient.address, '9 Civic Plaza, Springfield');
  });

  it('shows it in the admin API as stored, and its loading in the trail under the config actor', async () => {
    await t.addPartner({ id: 'admin-console', kind: 'internal', scopes: ['admin/partners.read'] });
    const admin = await t.token({ partner: 'admin-console' });
    const res = await request(t.gw.adminApp).get('/admin/partners/county-registry').auth(admin, { type: 'bearer' });
    assert.equal(res.status, 200);
    assert.equal(res.body.agreementSource, 'stored');
    assert.deepEqual(res.body.agreement.purposes, ['PUBHLTH']);
    const trail = await t.stores.adminTrail.list({ target: 'partner/county-registry' });
    assert.equal(trail.length, 1);
    assert.equal(trail[0]!.actor, `config:${dir}`);
    assert.equal(trail[0]!.action, 'partner.upsert');
    assert.equal(trail[0]!.before, undefined);
    const afterView = trail[0]!.after as Record<string, unknown>;
    assert.deepEqual((afterView.agreement as { purposes: string[] }).purposes, ['PUBHLTH']);
    assert.deepEqual(afterView.keys, ['registry-k1']);
    assert.equal(afterView.jwks, undefined, 'the trail keeps keys by kid only');
  });
});

describe('an invalid agreement in a partner file', () => {
  it('stops start-up naming the file and the field, and registers nothing', async () => {
    const dir = partnersDir({
      'a-good.yaml': { ...registryFile(REGISTRY_AGREEMENT), id: 'good-partner' },
      'b-bad.yaml': registryFile({ purposes: ['treatment'], consentRequired: 'no', resourceTypes: ['Patient']}),
    });
    const { stores, drop } = await openTestStores('sqlite');
    try {
      await assert.rejects(start(stores, dir), (err: Error) => {
        assert.ok(err.message.startsWith(`${join(dir, 'b-bad.yaml')}: invalid agreement:`), err.message);
        assert.match(err.message, /purposes\.0: HL7 PurposeOfUse codes/);
        assert.match(err.message, /consentRequired: true or false/);
        return true;
      });
      assert.equal(await stores.partners.get('good-partner'), undefined, 'every file is validated before any is applied');
      assert.equal(await stores.partners.get('county-registry'), undefined);
      assert.deepEqual(await stores.adminTrail.list(), []);
    } finally {
      await drop();
    }
  });

  it('stops start-up on a file that is not a valid partner, naming it', async () => {
    const dir = partnersDir({ 'broken.yml': 'id: no spaces allowed\nname: X\nkind: clinic\nscopes: ""\n' });
    const { stores, drop } = await openTestStores('sqlite');
    try {
      await assert.rejects(start(stores, dir), (err: Error) => {
        assert.ok(err.message.startsWith(`${join(dir, 'broken.yml')}: invalid partner:`), err.message);
        assert.match(err.message, /kind/);
        return true;
      });
    } finally {
      await drop();
    }
  });
});

describe('restarting with partner files', () => {
  let stores: Stores;
  let drop: () => Promise<void>;
  before(async () => { ({ stores, drop } = await openTestStores('sqlite')); });
  after(() => drop());

  const trail = () => stores.adminTrail.list({ target: 'partner/county-registry' });

  it('records a changed file once, with before and after, and an unchanged one not at all', async () => {
    const dir = partnersDir({ 'county-registry.yaml': registryFile(REGISTRY_AGREEMENT) });
    await (await start(stores, dir)).close();
    assert.equal((await trail()).length, 1, 'first start: the partner is added');

    await (await start(stores, dir)).close();
    assert.equal((await trail()).length, 1, 'an unchanged file records nothing');

    writeFileSync(join(dir, 'county-registry.yaml'), stringify(registryFile({ ...REGISTRY_AGREEMENT, purposes: ['PUBHLTH', 'HOPERAT'] })));
    const gw = await start(stores, dir);
    await gw.close();
    const entries = await trail();
    assert.equal(entries.length, 2);
    const changed = entries[1]!;
    assert.equal(changed.actor, `config:${dir}`);
    assert.equal(changed.action, 'partner.upsert');
    assert.deepEqual(((changed.before as Record<string, unknown>).agreement as { purposes: string[] }).purposes, ['PUBHLTH']);
    assert.deepEqual(((changed.after as Record<string, unknown>).agreement as { purposes: string[] }).purposes, ['PUBHLTH', 'HOPERAT']);
    assert.deepEqual((await stores.partners.get('county-registry'))!.agreement?.purposes, ['PUBHLTH', 'HOPERAT']);

    await (await start(stores, dir)).close();
    assert.equal((await trail()).length, 2, 'unchanged again: nothing more');
  });

  it('records nothing for a file that only reorders keys or spells out the defaults', async () => {
    const dir = partnersDir({ 'county-registry.yaml': registryFile({ ...REGISTRY_AGREEMENT, purposes: ['PUBHLTH', 'HOPERAT'] }) });
    // The plain file is loaded first (whatever earlier tests stored), then compared with its rewritten form.
    await (await start(stores, dir)).close();
    const before = (await trail()).length;
    // Same content, keys in another order, defaults written out explicitly.
    const { agreement, ...rest } = registryFile({ ...REGISTRY_AGREEMENT, purposes: ['PUBHLTH', 'HOPERAT'] });
    const reordered = Object.fromEntries(Object.entries(rest).reverse());
    writeFileSync(join(dir, 'county-registry.yaml'), stringify({
      ...reordered, status: 'active',
      agreement: { businessAssociate: false, status: 'active', excludedLabels: ['PSYTHPN'], ...Object.fromEntries(Object.entries(agreement).reverse()) },
    }));
    await (await start(stores, dir)).close();
    assert.equal((await trail()).length, before);
  });
});
