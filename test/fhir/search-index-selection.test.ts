/**
 * The search index selection (src/fhir/resource-catalogue.ts): the store writes index rows only for the
 * parameters the gateway serves and for the ones it searches on its own. Every search the gateway itself
 * builds must compile under it: a parameter left out would make that search fail (refused, never answered
 * from missing rows).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { buildResourceCatalogue, searchIndexSelection } from '../../src/fhir/resource-catalogue.js';
import { agreementNarrowing, CATEGORIZED_TYPES, defaultAgreementFor } from '../../src/policy/agreements.js';
import { compileSearch } from '../../src/store/sql/search.js';
import type { SearchQuery } from '../../src/store/types.js';

const defs = loadFhirDefinitions();
const selection = searchIndexSelection(defs);
const query = (resourceType: string, extra: Partial<SearchQuery>): SearchQuery => ({ resourceType, filters: [], count: 10, offset: 0, ...extra });

describe('search index selection', () => {
  it('covers every parameter the CapabilityStatement serves', () => {
    const catalogue = buildResourceCatalogue(defs);
    for (const type of catalogue.types) {
      for (const code of catalogue.get(type)!.params.keys()) assert.ok(selection.params(type).has(code), `${type}.${code}`);
    }
  });

  it('covers the narrowing of an agreement that limits categories and excludes labels, on every type it may limit', () => {
    for (const type of CATEGORIZED_TYPES) {
      const agreement = { ...defaultAgreementFor('ehr', 'p'), resourceTypes: [type], categories: { [type]: ['http://example.org|c1'] }, excludedLabels: ['PSY'] };
      const anyOf = agreementNarrowing(agreement, type);
      assert.ok(anyOf?.[0]?.some((f) => f.code === 'category'), `${type}: the agreement narrows by category`);
      assert.doesNotThrow(() => compileSearch(defs, query(type, { narrow: { anyOf: anyOf! } }), 0, selection), `${type}`);
    }
  });

  it('refuses a parameter outside it, and is stable for the same definitions', () => {
    assert.throws(() => compileSearch(defs, query('Observation', { filters: [{ code: 'combo-code', values: [{ value: 'x' }] }] }), 0, selection),
      { code: 'GW_NOT_SUPPORTED', message: /Observation\.combo-code is not indexed/ });
    assert.doesNotThrow(() => compileSearch(defs, query('Observation', { filters: [{ code: 'combo-code', values: [{ value: 'x' }] }] }), 0));
    assert.equal(searchIndexSelection(defs).fingerprint, selection.fingerprint);
    assert.match(selection.fingerprint, /^[0-9a-f]{64}$/);
  });
});
