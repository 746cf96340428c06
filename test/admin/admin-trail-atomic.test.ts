/**
 * An administrative change and its admin-trail entry are one transaction: when the trail cannot be written,
 * the change is not applied either (no unrecorded change to who may see what), and the administrator gets
 * the error. Checked on a real SQLite file store, with the trail's write made to fail.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAdminApi } from '../../src/admin/admin-api.js';
import type { Principal } from '../../src/auth/principal.js';
import { ManualClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { AdminTrail, Stores } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'fxg-admin-atomic-'));
const clock = new ManualClock();
let stores: Stores;

const admin: Principal = {
  clientId: 'ops', tokenId: 'jti-1', scope: 'admin/partners.read admin/partners.write admin/accounting.write',
  partner: { id: 'ops', name: 'Operations', kind: 'internal' },
} as Principal;

/** The real stores, with a trail whose record() fails after doing nothing. */
function withBrokenTrail(s: Stores): Stores {
  const trail: AdminTrail = Object.create(s.adminTrail, {
    record: { value: async () => { throw new Error('disk full'); } },
  }) as AdminTrail;
  return { ...s, adminTrail: trail };
}

const api = (s: Stores) => createAdminApi({
  stores: s, clock,
  accounting: {} as never,
  consents: { activeConsents: async () => [] } as never,
});

before(async () => {
  stores = await openSqliteStores({ filename: join(dir, 'g.db'), clock, defs: loadFhirDefinitions() });
  await stores.partners.upsert({ id: 'ehr-1', name: 'EHR', kind: 'ehr', status: 'active', scopes: ['system/Patient.rs'] });
});
after(async () => {
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('admin changes and the admin trail commit together', () => {
  it('a status change whose trail entry fails is not applied', async () => {
    await assert.rejects(api(withBrokenTrail(stores)).setStatus(admin, 'ehr-1', { status: 'suspended' }), /disk full/);
    assert.equal((await stores.partners.get('ehr-1'))?.status, 'active');
  });

  it('an agreement whose trail entry fails is not stored', async () => {
    await assert.rejects(api(withBrokenTrail(stores)).putAgreement(admin, 'ehr-1', { purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false }), /disk full/);
    assert.equal((await stores.partners.get('ehr-1'))?.agreement, undefined);
  });

  it('with a working trail, the change and its entry are both there', async () => {
    await api(stores).setStatus(admin, 'ehr-1', { status: 'suspended' });
    assert.equal((await stores.partners.get('ehr-1'))?.status, 'suspended');
    const [entry] = await stores.adminTrail.list({ target: 'partner/ehr-1' });
    assert.deepEqual([entry?.action, entry?.before, entry?.after], ['partner.status', { status: 'active' }, { status: 'suspended' }]);
  });
});
