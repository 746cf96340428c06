import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { seedDemo } from '../../src/main.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('demo seeding (fxg serve --demo)', () => {
  let t: TestApp | undefined;
  after(() => t?.close());

  it('loads the demo patients once, and checking for them on a later start discloses nothing', async () => {
    t = await createTestApp();
    await seedDemo(t.gw);
    await seedDemo(t.gw);
    const demo = await t.stores.resources.search({
      resourceType: 'Patient', count: 10, offset: 0,
      filters: [{ code: 'identifier', values: [{ value: 'https://demo.fhir-exchange-gateway.dev/mrn|DEMO-1001' }] }],
    });
    assert.equal(demo.resources.length, 1);
    assert.ok((await t.stores.partners.get('demo-ehr'))?.status === 'active');
    // The check is the gateway asking its own store; nothing left, so the log holds nothing.
    assert.equal(await t.stores.disclosures.count(), 0);
  });
});
