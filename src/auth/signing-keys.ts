/**
 * The gateway's own token-signing keys, kept in the SigningKeyStore so every gateway process (and a
 * restart) signs and verifies with the same set.
 *
 * Algorithm: RS256 by default. Access tokens are verified far more often than they are signed
 * (every FHIR request vs once per five minutes per client), RSA verification is the fastest of the
 * options on this hardware (node:crypto: RS256 ~24k verify/s vs ES256 ~9k, Ed25519 ~6k), and RS256
 * is what OpenID Connect ID tokens and UDAP require, so the same key type serves App Launch later.
 *
 * Rotation: the new key signs at once; the old one is retired but stays published and verifying
 * until every token it signed has expired (max token lifetime + the reload interval + skew), then
 * it is pruned. Other processes pick a new signing key up within `reloadIntervalSeconds`, and reload
 * at once when they meet a token signed with a kid they do not know yet.
 *
 * See: RFC 7517 (JWK), RFC 7638 (thumbprint kid), RFC 9068 §4 (validate with the AS's keys)
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { isoNow, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { JsonWebKeySet, SigningKey, SigningKeyStore } from '../store/types.js';
import { CLOCK_SKEW_SECONDS } from './client-assertion.js';

export type SigningAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/** Members a published JWK may carry; everything else (d, p, q, ...) never leaves the store. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'n', 'e', 'x', 'y', 'kid', 'alg', 'use'] as const;

export interface SigningKeyRingOptions {
  store: SigningKeyStore;
  clock: Clock;
  log: Logger;
  /** Algorithm for keys created from now on (existing keys keep theirs). Default RS256. */
  alg?: SigningAlgorithm;
  /** Longest access-token lifetime, seconds; retired keys verify at least this long. */
  maxTokenLifetimeSeconds: number;
  /** How often the key set is re-read from the store (multi-process rotation). Default 60 s. */
  reloadIntervalSeconds?: number;
}

export interface SigningKeyHandle {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

export interface SigningKeyRing {
  /** Creates a key when none is active (call at start); prunes keys whose tokens have all expired. */
  ensureKey(): Promise<void>;
  /** The key new tokens are signed with (the newest active one). */
  signingKey(): Promise<SigningKeyHandle>;
  /** The public key for `kid`, or undefined when the gateway has no such key. */
  verificationKey(kid: string): Promise<SigningKeyHandle | undefined>;
  /** New key signs from now on; others are retired (still verifying), long-expired ones pruned. */
  rotate(): Promise<{ kid: string; retired: string[]; pruned: number }>;
  /** Every key that may still verify a token, public members only, for GET /auth/jwks. */
  publicJwks(): Promise<JsonWebKeySet>;
}

interface Loaded {
  at: number;
  /** Order in which reads of the store began. */
  seq: number;
  signing?: SigningKeyHandle;
  verifying: Map<string, SigningKeyHandle>;
  published: Array<Record<string, unknown>>;
}

export function createSigningKeyRing(o: SigningKeyRingOptions): SigningKeyRing {
  const alg = o.alg ?? 'RS256';
  const reloadMs = (o.reloadIntervalSeconds ?? 60) * 1000;
  /** A retired key verifies for a full token lifetime after the last moment any process could still sign with it. */
  const retentionMs = (o.maxTokenLifetimeSeconds + (o.reloadIntervalSeconds ?? 60) + CLOCK_SKEW_SECONDS) * 1000;
  let state: Loaded | undefined;
  let pending: Promise<Loaded> | undefined;
  let loadSeq = 0;
  /** Imported public keys by kid (a kid is the key's RFC 7638 thumbprint), so a reload is one small query. */
  const imported = new Map<string, SigningKeyHandle>();

  async function publicHandle(k: SigningKey): Promise<SigningKeyHandle> {
    let h = imported.get(k.kid);
    if (!h || h.alg !== k.alg) {
      const kAlg = k.alg as SigningAlgorithm;
      h = { kid: k.kid, alg: kAlg, key: await importJWK(k.publicJwk as JWK, kAlg) as CryptoKey };
      imported.set(k.kid, h);
    }
    return h;
  }

  async function load(): Promise<Loaded> {
    const at = o.clock.now();
    const seq = ++loadSeq;
    const keys = await o.store.list();
    const verifying = new Map<string, SigningKeyHandle>();
    let newest: SigningKey | undefined;
    for (const k of keys) {
      verifying.set(k.kid, await publicHandle(k));
      if (!k.retiredAt && (!newest || k.createdAt > newest.createdAt || (k.createdAt === newest.createdAt && k.kid > newest.kid))) {
        newest = k;
      }
    }
    let signing: SigningKeyHandle | undefined;
    if (newest) {
      const kAlg = newest.alg as SigningAlgorithm;
      signing = { kid: newest.kid, alg: kAlg, key: await importJWK(newest.privateJwk as JWK, kAlg) as CryptoKey };
    }
    for (const kid of imported.keys()) if (!verifying.has(kid)) imported.delete(kid);
    const published = keys.map((k) => publicMembers({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' }));
    return { at, seq, signing, verifying, published };
  }

  /** Reads the store now (after a change made here). */
  async function reload(): Promise<Loaded> {
    const l = await load();
    if (!state || l.seq >= state.seq) state = l;
    return l;
  }

  /** Re-reads a stale set; concurrent callers share one read. */
  function refresh(): Promise<Loaded> {
    pending ??= reload().finally(() => { pending = undefined; });
    return pending;
  }

  async function current(): Promise<Loaded> {
    return state && o.clock.now() - state.at < reloadMs ? state : refresh();
  }

  async function createKey(): Promise<SigningKey> {
    const pair = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const key: SigningKey = {
      kid,
      alg,
      privateJwk: { ...(await exportJWK(pair.privateKey)), kid, alg },
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      createdAt: isoNow(o.clock),
    };
    await o.store.add(key);
    return key;
  }

  async function prune(): Promise<number> {
    const before = new Date(o.clock.now() - retentionMs).toISOString();
    const n = await o.store.prune(before);
    if (n) o.log.info({ pruned: n }, 'signing_keys.pruned');
    return n;
  }

  async function ensureKey(): Promise<void> {
    const keys = await o.store.list();
    if (!keys.some((k) => !k.retiredAt)) {
      const k = await createKey();
      o.log.info({ kid: k.kid, alg: k.alg }, 'signing_keys.created');
    }
    await prune();
    await reload();
  }

  return {
    ensureKey,

    async signingKey() {
      let l = await current();
      if (!l.signing) {
        await ensureKey();
        l = await current();
      }
      if (!l.signing) throw new Error('no active signing key');
      return l.signing;
    },

    async verificationKey(kid) {
      const seen = loadSeq;
      const l = await current();
      const hit = l.verifying.get(kid);
      if (hit) return hit;
      // Perhaps a key another process created since our last read: read again. Concurrent callers
      // share one read; a shared read that began before this call may predate the key, so then
      // read once more. Junk kids cost at most two small queries, like any other request.
      let r = await refresh();
      if (!r.verifying.has(kid) && r.seq <= seen) r = await refresh();
      return r.verifying.get(kid);
    },

    async rotate() {
      const before = await o.store.list();
      const k = await createKey();
      const at = isoNow(o.clock);
      const retired: string[] = [];
      for (const old of before) {
        if (!old.retiredAt) {
          await o.store.retire(old.kid, at);
          retired.push(old.kid);
        }
      }
      const pruned = await prune();
      await reload();
      o.log.info({ kid: k.kid, retired, pruned }, 'signing_keys.rotated');
      return { kid: k.kid, retired, pruned };
    },

    async publicJwks() {
      return { keys: (await current()).published };
    },
  };
}

function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out;
}
