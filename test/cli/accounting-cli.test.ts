/**
 * `fxg accounting` and `fxg partners agreement` as an administrator runs them: the real binary over a real
 * SQLite file in a temp data dir. The accounting is printed or written as the patient's page and recorded as
 * provided; agreement changes leave admin-trail entries. Each run of the binary costs seconds (it loads the
 * FHIR definitions), so the runs are few, the rest is checked in the store, and the two groups use separate
 * data dirs and run side by side.
 */
import { fxg } from '../helpers/fxg.js';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { DisclosureInput, Stores } from '../../src/store/types.js';
import { patient } from '../helpers/resources.js';

const ACTOR = `cli:${userInfo().username}`;
const REGISTRY = 'Registry <Immunization> & "Co"';


async function withStores<T>(dir: string, fn: (s: Stores) => Promise<T>): Promise<T> {
  const stores = await openSqliteStores({ filename: join(dir, 'gateway.db'), clock: systemClock, defs: loadFhirDefinitions() });
  try { return await fn(stores); } finally { await stores.close(); }
}

const disclosure = (o: Partial<DisclosureInput> & Pick<DisclosureInput, 'recipient' | 'purposeOfUse' | 'legalBasis'>, n: number): DisclosureInput => ({
  patient: 'alice', clientId: o.recipient.partnerId, tokenId: `jti-${n}`, channel: 'read',
  resources: [{ resourceType: 'Patient', id: 'alice', versionId: '1' }], description: '1 Patient disclosed by read', requestId: `req-${n}`,
  ...o,
});

const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'fxg-cli-')); dirs.push(d); return d; };
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('fxg accounting and fxg partners', { concurrency: true }, () => {
  describe('fxg accounting', { concurrency: 1 }, () => {
    let dir: string;
    before(async () => {
      dir = tempDir();
      await withStores(dir, async (s) => {
        await s.resources.update(patient('alice', 'Alpha'));
        await s.disclosures.append([disclosure({ recipient: { partnerId: 'ehr-1', name: 'EHR One', kind: 'ehr' }, purposeOfUse: 'TREAT', legalBasis: 'tpo' }, 1)]);
        await s.disclosures.append([disclosure({
          recipient: { partnerId: 'registry', name: REGISTRY, kind: 'payer', address: '9 Civic Plaza' },
          purposeOfUse: 'PUBHLTH', legalBasis: 'public-health', description: 'immunization history',
        }, 2)]);
      });
    });

    it('prints the HIPAA accounting: the public-health disclosure with its four fields, not the treatment one', async () => {
      const r = await fxg(dir, 'accounting', 'alice', '--requested-by', 'Alice Alpha');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^hipaa accounting for Patient\/alice, \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z: 1 disclosures listed, 0 summarized$/m);
      const lines = r.stdout.trim().split('\n').slice(1);
      assert.equal(lines.length, 1);
      const [date, recipient, description, purpose] = lines[0]!.trim().split('\t');
      assert.match(date!, /^\d{4}-\d\d-\d\dT/);
      assert.equal(recipient, `${REGISTRY} (9 Civic Plaza)`);
      assert.equal(description, 'immunization history');
      assert.match(purpose!, /public health.*164\.512\(b\)/i);
      assert.ok(!r.stdout.includes('EHR One'));
    });

    it('writes the page a patient can be handed with --html, every value escaped', async () => {
      const out = join(dir, 'accounting.html');
      const r = await fxg(dir, 'accounting', 'alice', '--html', out);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `wrote ${out}`);
      assert.ok(existsSync(out));
      const html = readFileSync(out, 'utf8');
      assert.match(html, /^<!DOCTYPE html>/i);
      assert.ok(html.includes('Registry &lt;Immunization&gt; &amp; &quot;Co&quot;'));
      assert.ok(!html.includes('<Immunization>'));
      assert.ok(!/<script/i.test(html));
      assert.ok(!html.includes('EHR One'));
    });

    it('records every accounting provided, and its delivery as a disclosure to the individual; refuses an unknown patient', async () => {
      const missing = await fxg(dir, 'accounting', 'nobody');
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^fxg: Patient\/nobody not found/m);
      await withStores(dir, async (s) => {
        const provided = await s.accounting.listProvided('alice');
        assert.deepEqual(provided.map((p) => [p.body.kind, p.body.format, p.body.lines]), [['hipaa', 'fhir', 1], ['hipaa', 'html', 1]]);
        assert.equal(provided[0]!.body.requestedBy, 'Alice Alpha');
        assert.equal(provided[1]!.body.requestedBy, 'the patient');
        assert.match(String(provided[1]!.body.digest), /^[0-9a-f]{64}$/);
        const deliveries = (await s.disclosures.listByPatient('alice')).filter((e) => e.recipient.partnerId === 'fxg:cli');
        assert.equal(deliveries.length, 2);
        assert.ok(deliveries.every((e) => e.legalBasis === 'individual' && e.user === userInfo().username && e.channel === 'audit'));
        assert.equal((await s.accounting.listProvided('nobody')).length, 0);
        assert.equal((await s.disclosures.listByPatient('nobody')).length, 0);
        // The deliveries to the individual stay off the HIPAA accounting (164.528(a)(1)(ii)).
        const { buildAccounting } = await import('../../src/audit/accounting.js');
        const report = buildAccounting(await s.disclosures.listByPatient('alice'), { patient: 'alice', kind: 'hipaa', now: new Date().toISOString() }, { suspensions: [] });
        assert.deepEqual(report.entries.map((l) => l.recipient.partnerId), ['registry']);
        assert.equal(report.excludedCounts.individual, 2);
      });
    });
  });

  describe('fxg partners agreement', { concurrency: 1 }, () => {
    let dir: string;
    const agreement = {
      purposes: ['TREAT', 'ETREAT'], resourceTypes: ['Patient', 'Observation', 'Condition'],
      categories: { Observation: ['http://terminology.hl7.org/CodeSystem/observation-category|vital-signs'] },
      consentRequired: false, legalReference: 'Data sharing agreement 2026-03',
    };
    const trail = () => withStores(dir, (s) => s.adminTrail.list({ target: 'partner/clinic-ehr' }));

    before(async () => {
      dir = tempDir();
      const { publicKey } = await generateKeyPair('ES384', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384' };
      await withStores(dir, (s) => s.partners.upsert({
        id: 'clinic-ehr', name: 'Clinic EHR', kind: 'ehr', status: 'active', scopes: ['system/*.rs'], jwks: { keys: [jwk] as never },
      }));
    });

    it('sets the agreement from a YAML file and shows it back', async () => {
      const file = join(dir, 'agreement.yaml');
      writeFileSync(file, stringify(agreement));
      const set = await fxg(dir, 'partners', 'agreement', 'clinic-ehr', '--file', file);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout.trim(), 'partner clinic-ehr: agreement updated');
      const show = await fxg(dir, 'partners', 'agreement', 'clinic-ehr');
      const shown = JSON.parse(show.stdout);
      assert.equal(shown.source, 'stored');
      assert.deepEqual(shown.agreement, {
        ...agreement, partnerId: 'clinic-ehr', excludedLabels: ['PSYTHPN'], status: 'active', businessAssociate: false,
      });
      const entries = await trail();
      assert.equal(entries.length, 1);
      const entry = entries[0]!;
      assert.equal(entry.action, 'agreement.update');
      assert.equal(entry.actor, ACTOR);
      assert.deepEqual(entry.before, { default: 'ehr' });
      assert.deepEqual((entry.after as { purposes: string[] }).purposes, ['TREAT', 'ETREAT']);
    });

    it('refuses an invalid agreement file naming the file and the field, changing nothing', async () => {
      const bad = join(dir, 'bad-agreement.yaml');
      writeFileSync(bad, stringify({ ...agreement, purposes: [], validFrom: '2026-13-01' }));
      const before = (await trail()).length;
      const r = await fxg(dir, 'partners', 'agreement', 'clinic-ehr', '--file', bad);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.startsWith(`fxg: ${bad}: invalid agreement:`), r.stderr);
      assert.match(r.stderr, /purposes: at least one purpose of use/);
      assert.match(r.stderr, /validFrom: /);
      assert.equal((await trail()).length, before);
      const stored = await withStores(dir, (s) => s.partners.get('clinic-ehr'));
      assert.deepEqual(stored!.agreement!.purposes, ['TREAT', 'ETREAT']);
    });

    it('resets to the defaults with --reset, recording what was there', async () => {
      const reset = await fxg(dir, 'partners', 'agreement', 'clinic-ehr', '--reset');
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal(reset.stdout.trim(), 'partner clinic-ehr: agreement reset to the defaults for ehr');
      const stored = await withStores(dir, (s) => s.partners.get('clinic-ehr'));
      assert.equal(stored!.agreement, undefined);
      assert.equal(stored!.status, 'active');
      const entries = await trail();
      assert.deepEqual(entries.map((e) => e.action), ['agreement.update', 'agreement.reset']);
      assert.ok(entries.every((e) => e.actor === ACTOR));
      assert.deepEqual((entries[1]!.before as { purposes: string[] }).purposes, ['TREAT', 'ETREAT']);
      assert.deepEqual(entries[1]!.after, { default: 'ehr' });
    });
  });
});
