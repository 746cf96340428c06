/**
 * End-to-end verification of the disclosure log's hash chain: every row must follow its
 * predecessor (seq + 1, prevHash = predecessor's hash, recorded never decreasing) and its hash
 * must recompute. Reports the first bad sequence number (catalogue A-04).
 */
import { GENESIS_HASH } from '../core/hash-chain.js';
import { disclosureHash } from '../store/disclosure-hash.js';
import type { DisclosureLog } from '../store/types.js';

export type VerifyResult =
  | { ok: true; count: number; head: string }
  | { ok: false; count: number; firstBadSeq: number; reason: string };

export async function verifyDisclosureLog(log: DisclosureLog, pageSize = 5000): Promise<VerifyResult> {
  let prevHash = GENESIS_HASH;
  let prevSeq = 0;
  let prevRecorded = '';
  let count = 0;
  for (;;) {
    const page = await log.scan(prevSeq, pageSize);
    for (const e of page) {
      const bad = (reason: string): VerifyResult => ({ ok: false, count, firstBadSeq: e.seq, reason });
      if (e.seq !== prevSeq + 1) return { ok: false, count, firstBadSeq: prevSeq + 1, reason: `entry ${prevSeq + 1} is missing (next is ${e.seq})` };
      if (e.prevHash !== prevHash) return bad('prev_hash does not match the previous entry\'s hash');
      if (e.recorded < prevRecorded) return bad('recorded time goes backwards');
      if (disclosureHash(prevHash, e) !== e.hash) return bad('hash does not match the entry\'s content');
      prevHash = e.hash;
      prevSeq = e.seq;
      prevRecorded = e.recorded;
      count++;
    }
    if (page.length < pageSize) break;
  }
  return { ok: true, count, head: prevHash };
}
