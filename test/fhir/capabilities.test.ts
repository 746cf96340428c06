import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { validateResource } from '@medplum/core';
import type { Bundle, CapabilityStatement } from '@medplum/fhirtypes';
import { createHarness, FHIR_BASE, fixture, SYSTEM, type Harness } from './harness.js';

describe('CapabilityStatement', () => {
  let h: Harness;
  let cs: CapabilityStatement;
  before(async () => {
    h = await createHarness();
    cs = h.api.capabilityStatement();
  });
  after(() => h.close());

  it('is an R4 instance statement instantiating US Core 6.1.0 (Inferno US Core 54)', () => {
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.kind, 'instance');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.deepEqual(cs.format, ['json', 'application/fhir+json', 'application/json']);
    assert.equal(cs.implementation?.url, FHIR_BASE);
    assert.deepEqual(cs.instantiates, ['http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0']);
    const profiles = cs.rest?.[0]?.resource?.flatMap((r) => r.supportedProfile ?? []) ?? [];
    assert.ok(profiles.includes('http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'));
    assert.ok(profiles.length > 20);
  });

  it('declares SMART on FHIR with the token and introspection endpoints', () => {
    const security = cs.rest?.[0]?.security;
    assert.equal(security?.service?.[0]?.coding?.[0]?.code, 'SMART-on-FHIR');
    const uris = security?.extension?.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    assert.deepEqual(uris?.extension?.map((e) => [e.url, e.valueUri]), [
      ['token', 'https://gw.test.example/auth/token'],
      ['introspect', 'https://gw.test.example/auth/introspect'],
    ]);
  });

  it('lists exactly the implemented interactions, operations and system interactions', () => {
    const rest = cs.rest?.[0];
    assert.deepEqual(rest?.interaction?.map((i) => i.code), ['transaction', 'batch']);
    for (const r of rest?.resource ?? []) {
      assert.deepEqual(r.interaction?.map((i) => i.code), ['read', 'vread', 'history-instance', 'search-type', 'create', 'update', 'delete'], r.type);
      assert.equal(r.searchInclude?.includes('*') ?? false, false);
    }
    const patient = rest?.resource?.find((r) => r.type === 'Patient');
    assert.deepEqual(patient?.operation?.map((o) => o.name), ['everything']);
    assert.equal(rest?.resource?.filter((r) => r.operation?.length).length, 1);
  });

  it('lists the US Core search parameters, includes and revincludes with definitions', () => {
    const mr = cs.rest?.[0]?.resource?.find((r) => r.type === 'MedicationRequest');
    const names = mr?.searchParam?.map((p) => p.name) ?? [];
    for (const n of ['status', 'intent', 'patient', 'encounter', 'authoredon', '_id', '_lastUpdated']) assert.ok(names.includes(n), n);
    assert.ok(mr?.searchInclude?.includes('MedicationRequest:medication'));
    assert.ok(mr?.searchRevInclude?.includes('Provenance:target'));
    const patientParam = mr?.searchParam?.find((p) => p.name === 'patient');
    assert.deepEqual(patientParam, {
      name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-patient',
    });
    for (const r of cs.rest?.[0]?.resource ?? []) {
      for (const p of r.searchParam ?? []) assert.ok(p.definition?.startsWith('http://hl7.org/fhir/'), `${r.type}.${p.name}`);
      assert.ok(!(r.searchParam ?? []).some((p) => p.name.includes('.') || p.name === '_has'), 'no chains or _has claimed');
    }
  });

  it('claims only what the API serves: every declared search parameter is accepted', async () => {
    for (const r of cs.rest?.[0]?.resource ?? []) {
      for (const p of r.searchParam ?? []) {
        const value = p.type === 'date' ? 'ge2020-01-01' : p.type === 'reference' ? 'Patient/alice' : 'x';
        const res = await h.call(SYSTEM, 'GET', `${r.type}?${p.name}=${encodeURIComponent(value)}`, { headers: { prefer: 'handling=strict' } });
        assert.equal(res.status, 200, `${r.type}?${p.name}: ${JSON.stringify(res.body)}`);
      }
      for (const inc of r.searchInclude ?? []) {
        assert.equal((await h.call(SYSTEM, 'GET', `${r.type}?_include=${inc}`)).status, 200, inc);
      }
      for (const inc of r.searchRevInclude ?? []) {
        assert.equal((await h.call(SYSTEM, 'GET', `${r.type}?_revinclude=${inc}`)).status, 200, inc);
      }
    }
  });

  it('is itself valid R4, as are the Bundles the API answers with', async () => {
    assert.deepEqual(validateResource(cs).filter((i) => i.severity === 'error'), []);
    await h.seed(...fixture('clinical-seed.json'));
    for (const path of ['Observation?patient=alice&_include=Observation:performer&_count=1', 'Patient/alice/_history', 'Patient/alice/$everything']) {
      const body = (await h.call(SYSTEM, 'GET', path)).body as Bundle;
      assert.deepEqual(validateResource(body).filter((i) => i.severity === 'error'), [], path);
    }
    const txn = (await h.call(SYSTEM, 'POST', '', {
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:5b8f0c58-0000-4000-8000-0000000000aa', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }] },
    })).body as Bundle;
    assert.deepEqual(validateResource(txn).filter((i) => i.severity === 'error'), []);
  });

  it('is served at GET metadata, as a copy', async () => {
    const res = await h.call(SYSTEM, 'GET', 'metadata');
    assert.equal(res.status, 200);
    (res.body as CapabilityStatement).fhirVersion = '3.0.1';
    assert.equal(h.api.capabilityStatement().fhirVersion, '4.0.1');
  });
});
