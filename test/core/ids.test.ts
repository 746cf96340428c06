/** Deterministic ids: the same parts give the same id in every process and release (stored resources depend on it). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFhirId, stableId } from '../../src/core/ids.js';

describe('stableId', () => {
  it('gives the id the parts have always given, first computed and then remembered', () => {
    for (let round = 0; round < 2; round++) {
      assert.equal(stableId('hl7v2', 'MRN', '12345'), '0dbcf250-f3b4-55b2-9de8-aa4e1c032f9e');
      assert.equal(stableId('x', 1, undefined), '935321a8-680c-5a38-acdd-026c50c3969a');
    }
  });

  it('gives different parts different ids, and keeps answering right past its memory', () => {
    const seen = new Map<string, string>();
    for (let i = 0; i < 25_000; i++) seen.set(stableId('p', i), String(i));
    assert.equal(seen.size, 25_000);
    assert.equal(stableId('p', 3), [...seen].find(([, v]) => v === '3')![0]);
    for (const id of [...seen.keys()].slice(0, 100)) assert.ok(isFhirId(id) && id.length === 36, id);
  });
});
