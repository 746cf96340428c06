import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupCommit } from '../../src/core/group-commit.js';

describe('groupCommit', () => {
  it('commits what queued in one turn together, one commit at a time, and what came meanwhile in the next', async () => {
    const batches: number[][] = [];
    let open = 0;
    let release!: () => void;
    const commit = groupCommit<number>(async (items) => {
      assert.equal(open++, 0, 'never two commits at once');
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => { release = r; });
      open--;
    });
    const first = [commit(1), commit(2), commit(3)];
    await new Promise((r) => setImmediate(r));
    const later = [commit(4), commit(5)]; // queued while the first commit is in flight
    await new Promise((r) => setImmediate(r));
    release();
    await Promise.all([...first, ...later]);
    assert.deepEqual(batches, [[1, 2, 3], [4, 5]]);
  });

  it('rejects every item of a failed commit with its error, and only those', async () => {
    let calls = 0;
    const commit = groupCommit<string>(async () => { if (++calls === 1) throw new Error('disk full'); });
    const failed = [commit('a'), commit('b')];
    for (const p of failed) await assert.rejects(p, /disk full/);
    await commit('c');
    assert.equal(calls, 2);
  });
});
