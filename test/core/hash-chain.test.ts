/** Canonical JSON is what the disclosure log's hashes cover: its output may never change, or old entries stop verifying. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, chainHash, GENESIS_HASH } from '../../src/core/hash-chain.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, drops undefined members, writes undefined array items as null, no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: [3, undefined, { d: 'x', c: null }], e: undefined, '': true }),
      '{"":true,"a":[3,null,{"c":null,"d":"x"}],"b":1}');
    assert.equal(canonicalJson([]), '[]');
    assert.equal(canonicalJson({}), '{}');
    assert.equal(canonicalJson({ x: undefined }), '{}');
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson('é\u2028"'), JSON.stringify('é\u2028"'));
    assert.equal(canonicalJson({ 10: 'a', 2: 'b', A: 'c', a: 'd' }), '{"10":"a","2":"b","A":"c","a":"d"}');
  });

  it('gives the hash an entry has always had', () => {
    const entry = { seq: 1, recorded: '2026-01-01T00:00:00.000Z', patient: 'p1', resources: [{ resourceType: 'Observation', id: 'o1' }] };
    // Computed with the first release's implementation.
    assert.equal(chainHash(GENESIS_HASH, entry), '80846fe200714576b80c0ac8a1b52f945113315e5e5769b2a1d9d71fb144a8a6');
  });
});
