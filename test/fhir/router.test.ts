import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { OutcomeError } from '../../src/core/outcome.js';
import { buildResourceCatalogue } from '../../src/fhir/resource-catalogue.js';
import { routeRequest } from '../../src/fhir/router.js';
import type { FhirRequest } from '../../src/fhir/types.js';

const catalogue = buildResourceCatalogue(loadFhirDefinitions());
const route = (method: FhirRequest['method'], path: string) =>
  routeRequest({ method, segments: path === '' ? [] : path.split('/') }, catalogue);

function fails(method: FhirRequest['method'], path: string, status: number, code: string): void {
  assert.throws(() => route(method, path), (err: unknown) => {
    assert.ok(err instanceof OutcomeError);
    assert.equal(err.status, status, `${method} ${path}: ${err.message}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('routeRequest', () => {
  it('routes every implemented interaction', () => {
    assert.deepEqual(route('GET', 'metadata'), { kind: 'metadata' });
    assert.deepEqual(route('GET', 'Observation'), { kind: 'search', type: 'Observation' });
    assert.deepEqual(route('POST', 'Observation/_search'), { kind: 'search', type: 'Observation' });
    assert.deepEqual(route('POST', 'Observation'), { kind: 'create', type: 'Observation' });
    assert.deepEqual(route('GET', 'Patient/a-1.x'), { kind: 'read', type: 'Patient', id: 'a-1.x' });
    assert.deepEqual(route('HEAD', 'Patient/a'), { kind: 'read', type: 'Patient', id: 'a' });
    assert.deepEqual(route('PUT', 'Patient/a'), { kind: 'update', type: 'Patient', id: 'a' });
    assert.deepEqual(route('DELETE', 'Patient/a'), { kind: 'delete', type: 'Patient', id: 'a' });
    assert.deepEqual(route('GET', 'Patient/a/_history'), { kind: 'history', type: 'Patient', id: 'a' });
    assert.deepEqual(route('GET', 'Patient/a/_history/2'), { kind: 'vread', type: 'Patient', id: 'a', versionId: '2' });
    assert.deepEqual(route('GET', 'Patient/a/$everything'), { kind: 'everything', id: 'a' });
    assert.deepEqual(route('POST', ''), { kind: 'bundle' });
  });

  it('rejects ids outside the FHIR id pattern (F-22)', () => {
    fails('GET', 'Patient/..%2FPractitioner%2F1', 400, 'GW_INVALID_ID');
    fails('GET', `Patient/${'a'.repeat(65)}`, 400, 'GW_INVALID_ID');
    fails('GET', 'Patient/\u0000', 400, 'GW_INVALID_ID');
    fails('GET', 'Patient/a b', 400, 'GW_INVALID_ID');
    fails('GET', 'Patient/../Practitioner', 404, 'GW_UNKNOWN_PATH');
    fails('GET', 'Patient/a/_history/v 1', 400, 'GW_INVALID_ID');
    // A decoded `/` inside one segment cannot escape into another route.
    assert.throws(() => routeRequest({ method: 'GET', segments: ['Patient', '../Practitioner/1'] }, catalogue), { status: 400 });
  });

  it('answers 404 for unknown paths and types we do not serve', () => {
    fails('GET', 'Foo', 404, 'GW_UNSUPPORTED_RESOURCE_TYPE');
    fails('GET', 'Account/1', 404, 'GW_UNSUPPORTED_RESOURCE_TYPE');
    fails('GET', 'Bundle/1', 404, 'GW_UNSUPPORTED_RESOURCE_TYPE');
    fails('GET', 'debug', 404, 'GW_UNKNOWN_PATH');
    fails('GET', '.env', 404, 'GW_UNKNOWN_PATH');
    fails('GET', 'Patient/_history', 404, 'GW_UNKNOWN_PATH');
    fails('GET', 'Patient/$match', 404, 'GW_UNKNOWN_PATH');
    fails('GET', 'Observation/1/$everything', 404, 'GW_UNKNOWN_PATH');
    fails('GET', 'Patient/a/_history/1/extra', 404, 'GW_UNKNOWN_PATH');
  });

  it('answers 405 with Allow for a known path and a wrong method', () => {
    assert.throws(() => route('PUT', 'metadata'), (err: unknown) => {
      assert.ok(err instanceof OutcomeError);
      assert.equal(err.status, 405);
      assert.equal(err.headers.allow, 'GET, HEAD');
      return true;
    });
    fails('PATCH', 'Patient/a', 405, 'GW_METHOD_NOT_ALLOWED');
    fails('DELETE', 'Patient', 405, 'GW_METHOD_NOT_ALLOWED');
    fails('GET', '', 405, 'GW_METHOD_NOT_ALLOWED');
    fails('POST', 'Patient/a/_history', 405, 'GW_METHOD_NOT_ALLOWED');
  });
});
