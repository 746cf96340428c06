/**
 * src/fhir/us-core-search.ts is a static extract of the US Core 6.1.0 server CapabilityStatement (the
 * gateway never reads the IG package at run time). This checks the extract against the package when
 * the shared test data is present.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { US_CORE_RESOURCES, US_CORE_SERVER_CAPABILITY } from '../../src/fhir/us-core-search.js';

const PACKAGE = fileURLToPath(new URL('../../../shared/data/us-core-6.1.0/package/CapabilityStatement-us-core-server.json', import.meta.url));
const skip = existsSync(PACKAGE) ? false : `US Core package not found at ${PACKAGE}: extract check skipped`;
if (skip) console.log(`# ${skip}`);

interface CsResource {
  type: string;
  supportedProfile?: string[];
  searchParam?: Array<{ name: string; type: string; definition: string }>;
  searchInclude?: string[];
  searchRevInclude?: string[];
}

describe('US Core server table', { skip }, () => {
  it('matches the published CapabilityStatement for every type served', () => {
    const cs = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { url: string; version: string; rest: Array<{ resource: CsResource[] }> };
    assert.equal(US_CORE_SERVER_CAPABILITY, `${cs.url}|${cs.version}`);
    for (const mine of US_CORE_RESOURCES) {
      const theirs = cs.rest[0]?.resource.find((r) => r.type === mine.type);
      assert.ok(theirs, mine.type);
      assert.deepEqual([...mine.supportedProfile], theirs.supportedProfile ?? [], mine.type);
      assert.deepEqual(mine.searchParam.map((p) => [p.name, p.type, p.definition]),
        (theirs.searchParam ?? []).map((p) => [p.name, p.type, p.definition]), mine.type);
      assert.deepEqual([...mine.searchInclude], theirs.searchInclude ?? [], mine.type);
      assert.deepEqual([...mine.searchRevInclude], theirs.searchRevInclude ?? [], mine.type);
    }
  });
});
