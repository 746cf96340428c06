/**
 * Verifies a SMART Backend Services client assertion (`private_key_jwt`, RFC 7523 §3) as SMART App
 * Launch 2.2 requires of the server, one named step per rule, each with its own error.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/client-confidential-asymmetric.html
 *      https://www.rfc-editor.org/rfc/rfc7523#section-3, RFC 8725 (JWT BCP)
 *      spec-rules.md §3.1 H1-H4, C1-C5, V1-V6; test-catalogue.md T-02..T-14
 *
 * jose checks the signature only; it does not check `exp` <= 5 minutes ahead, nor `jku`, nor that
 * exactly one key matches (catalogue a.3), so those rules are ours.
 *
 * What a failure tells the caller: steps that look only at the assertion itself (format, typ, alg,
 * kid, iss/sub, aud, exp, iat, nbf, jti) say precisely what is wrong. Steps whose answer depends on
 * what is registered (the client exists and is active, a key matches, the signature verifies) all
 * answer with the same "client authentication failed", so an unauthenticated caller cannot tell an
 * unknown or suspended client from a known one (catalogue T-14); the precise reason goes to the log
 * and to ClientAuthError.reason. An unknown or inactive client is treated as a client with no keys
 * and no JWKS URL, so even the `jku` and key-resolution steps behave the same for it.
 */
import { compactVerify, importJWK, type CryptoKey } from 'jose';
import type { Clock } from '../core/clock.js';
import type { Partner, PartnerStore, ReplayCache } from '../store/types.js';
import { ClientAuthError } from './errors.js';
import { JwksError, JwksUnavailable, validatePublicJwks, type JwksCache, type PublicJwk } from './jwks-cache.js';

/**
 * Clock-skew tolerance between the client and us, in seconds: an assertion up to 15 s past its `exp`
 * (or with `iat`/`nbf` up to 15 s ahead) is still accepted. 15 s is node-oidc-provider's default
 * `clockTolerance` (catalogue I3, T-12): enough for NTP-synchronised hosts, far below the 300 s lifetime.
 */
export const CLOCK_SKEW_SECONDS = 15;

/** SMART C4: an assertion's `exp` is no more than five minutes in the future. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/**
 * The only signature algorithms accepted (SMART H1: servers validate at least one of RS384/ES384;
 * RFC 8725 §3.1: pin the algorithms, which defeats `none` and HS/RS confusion). Discovery advertises
 * exactly these.
 */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Longest assertion read at all (a UDAP `x5c` chain fits; junk is refused before any parsing). */
const MAX_ASSERTION_LENGTH = 16 * 1024;
/** `kid`, `jti` and client ids are bounded before they are used as map or database keys (T-07). */
const MAX_KID_LENGTH = 256;
const MAX_JTI_LENGTH = 256;
const MAX_CLIENT_ID_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The one description for every state-dependent failure before the signature is proven. */
export const CLIENT_AUTH_FAILED = 'client authentication failed';

export interface AssertionHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
  jku?: unknown;
  [k: string]: unknown;
}

export interface AssertionClaims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  iat?: unknown;
  nbf?: unknown;
  jti?: unknown;
  [k: string]: unknown;
}

export interface VerifiedAssertion {
  clientId: string;
  partner: Partner;
  jti: string;
  /** Epoch seconds. */
  exp: number;
  claims: AssertionClaims;
  alg: AssertionAlgorithm;
  kid: string;
}

export interface AssertionVerifierDeps {
  partners: PartnerStore;
  replay: ReplayCache;
  jwks: JwksCache;
  clock: Clock;
  /** This server's token endpoint URL, exactly as advertised in discovery (the required `aud`). */
  tokenEndpoint: string;
}

export interface AssertionVerifier {
  /**
   * Verifies `assertion` for a token request. `clientId` is the `client_id` form parameter when the
   * client sent one (openid-client does); it must then equal `iss`. Throws ClientAuthError.
   */
  verify(assertion: unknown, clientId?: string): Promise<VerifiedAssertion>;
}

export function createAssertionVerifier(deps: AssertionVerifierDeps): AssertionVerifier {
  const importedKeys = new KeyImportCache();
  return {
    async verify(assertion, clientIdParam) {
      const jwt = decodeAssertion(assertion);
      checkType(jwt.header);
      const alg = checkAlgorithm(jwt.header);
      const kid = checkKeyId(jwt.header);
      const clientId = checkIssuer(jwt.claims, clientIdParam);
      checkAudience(jwt.claims, deps.tokenEndpoint, clientId);
      const exp = checkLifetime(jwt.claims, deps.clock, clientId);
      const jti = checkJwtId(jwt.claims, clientId);

      const found = await findActivePartner(deps.partners, clientId);
      const registration = found.partner ?? NO_REGISTRATION;
      checkJku(jwt.header, registration, clientId);
      const jwk = await resolveKey(registration, kid, alg, deps.jwks, clientId, found.failure);
      await verifySignature(jwt.text, jwk, alg, importedKeys, clientId);
      await rememberJti(deps.replay, clientId, jti, exp);
      return { clientId, partner: found.partner!, jti, exp, claims: jwt.claims, alg, kid };
    },
  };
}

// ---------------------------------------------------------------- the steps

interface DecodedJwt {
  text: string;
  header: AssertionHeader;
  claims: AssertionClaims;
}

/**
 * The assertion must be a compact JWS: three base64url segments, a header and a payload that are
 * JSON objects. Anything else is `invalid_request` (400), as oidc-provider answers
 * `this.notatall.valid`; the parser's own message is never returned.
 */
export function decodeAssertion(assertion: unknown): DecodedJwt {
  const malformed = () => new ClientAuthError('malformed', 'client_assertion is not a well-formed JWT');
  if (typeof assertion !== 'string' || assertion.length > MAX_ASSERTION_LENGTH) throw malformed();
  const parts = assertion.split('.');
  if (parts.length !== 3) throw malformed();
  const [h, p, s] = parts as [string, string, string];
  if (!h || !p || !BASE64URL.test(h) || !BASE64URL.test(p) || !BASE64URL.test(s)) throw malformed();
  const header = parseJsonObject(h);
  const claims = parseJsonObject(p);
  if (!header || !claims) throw malformed();
  return { text: assertion, header, claims };
}

function parseJsonObject(segment: string): Record<string, unknown> | undefined {
  if (segment.length % 4 === 1) return undefined; // not valid base64 at all
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** SMART H3: `typ` is `JWT` (media type names compare case-insensitively, RFC 7515 §4.1.9). */
export function checkType(header: AssertionHeader): void {
  if (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT') {
    throw new ClientAuthError('typ', 'client_assertion header typ must be "JWT"');
  }
}

/** SMART H1 and RFC 8725 §3.1: only RS384 and ES384; `none`, HS* and RS256 are refused (T-04..T-06). */
export function checkAlgorithm(header: AssertionHeader): AssertionAlgorithm {
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new ClientAuthError('alg', `client_assertion alg must be one of ${ASSERTION_ALGORITHMS.join(', ')}`);
  }
  return alg as AssertionAlgorithm;
}

/** SMART H2: `kid` is required. Bounded, and only ever used as a lookup key in memory (T-07). */
export function checkKeyId(header: AssertionHeader): string {
  const kid = header.kid;
  if (typeof kid !== 'string' || !kid || kid.length > MAX_KID_LENGTH) {
    throw new ClientAuthError('kid', `client_assertion header kid is required (at most ${MAX_KID_LENGTH} characters)`);
  }
  return kid;
}

/** SMART C1/C2, V3: `iss` = `sub` = client_id, and = the `client_id` parameter when one was sent. */
export function checkIssuer(claims: AssertionClaims, clientIdParam: string | undefined): string {
  const { iss, sub } = claims;
  if (typeof iss !== 'string' || !iss || iss.length > MAX_CLIENT_ID_LENGTH || iss !== sub) {
    throw new ClientAuthError('iss-sub', 'client_assertion iss and sub must both be the client_id');
  }
  if (clientIdParam !== undefined && clientIdParam !== iss) {
    throw new ClientAuthError('client-id-mismatch', 'client_assertion iss does not match the client_id parameter');
  }
  return iss;
}

/**
 * SMART C3: `aud` is this token endpoint's URL, exactly (a string, or an array containing it; RFC 7523
 * §3 allows several audiences). The issuer URL is not accepted: SMART names the token URL (item 66).
 */
export function checkAudience(claims: AssertionClaims, tokenEndpoint: string, clientId: string): void {
  const aud = claims.aud;
  const ok = aud === tokenEndpoint || (Array.isArray(aud) && aud.some((a) => a === tokenEndpoint));
  if (!ok) throw new ClientAuthError('aud', 'client_assertion aud must be the token endpoint URL', clientId);
}

/**
 * SMART C4 and RFC 7523 §3: `exp` is required and an integer; not past (beyond the skew); at most
 * 300 s (+ skew) ahead; `iat`, when present, not in the future; `nbf`, when present, reached.
 */
export function checkLifetime(claims: AssertionClaims, clock: Clock, clientId: string): number {
  const now = Math.floor(clock.now() / 1000);
  const { exp, iat, nbf } = claims;
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp)) {
    throw new ClientAuthError('exp', 'client_assertion exp is required and must be an integer', clientId);
  }
  if (exp <= now - CLOCK_SKEW_SECONDS) throw new ClientAuthError('expired', 'client_assertion has expired', clientId);
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw new ClientAuthError(
      'exp-too-far',
      `client_assertion exp is more than ${MAX_ASSERTION_LIFETIME_SECONDS} seconds in the future`,
      clientId,
    );
  }
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat) || iat > now + CLOCK_SKEW_SECONDS)) {
    throw new ClientAuthError('iat-future', 'client_assertion iat is not a number or is in the future', clientId);
  }
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf) || nbf > now + CLOCK_SKEW_SECONDS)) {
    throw new ClientAuthError('nbf-future', 'client_assertion is not valid yet (nbf)', clientId);
  }
  return exp;
}

/** SMART C5: `jti` is required; bounded, because it becomes part of a replay-cache key. */
export function checkJwtId(claims: AssertionClaims, clientId: string): string {
  const jti = claims.jti;
  if (typeof jti !== 'string' || !jti || jti.length > MAX_JTI_LENGTH) {
    throw new ClientAuthError('jti', `client_assertion jti is required (at most ${MAX_JTI_LENGTH} characters)`, clientId);
  }
  return jti;
}

/** Registration of a client that is unknown or not active: no keys, no JWKS URL. */
const NO_REGISTRATION: Pick<Partner, 'jwks' | 'jwksUrl'> = {};

/** SMART V3: the client is registered, and its agreement is active (not suspended or terminated). */
async function findActivePartner(
  partners: PartnerStore,
  clientId: string,
): Promise<{ partner?: Partner; failure?: 'client-unknown' | 'client-inactive' }> {
  const partner = await partners.get(clientId);
  if (!partner) return { failure: 'client-unknown' };
  if (partner.status !== 'active') return { failure: 'client-inactive' };
  return { partner };
}

/**
 * SMART H4/V4.1: a `jku` header must be exactly the registered JWKS URL; otherwise verification fails
 * without fetching anything (jose ignores `jku`; catalogue T-09). When it matches, the registered URL
 * is what gets fetched, so `jku` can never point the server anywhere new.
 */
export function checkJku(header: AssertionHeader, registration: Pick<Partner, 'jwksUrl'>, clientId: string): void {
  if (header.jku === undefined) return;
  if (typeof header.jku !== 'string' || !registration.jwksUrl || header.jku !== registration.jwksUrl) {
    throw new ClientAuthError('jku-mismatch', "client_assertion jku does not match the client's registered JWKS URL", clientId);
  }
}

/**
 * SMART V4.3/V4.4: take the registered JWKS, or the JWKS URL's keys; keep the keys whose `kid`
 * matches and whose type fits `alg` (RSA for RS384, EC P-384 for ES384; a declared `alg`, `use` or
 * `key_ops` must agree). Exactly one must remain: zero or several is a failure (T-08). An unknown
 * kid in a cached URL set triggers one refetch (rate-limited by the cache) for key rotation.
 */
async function resolveKey(
  registration: Pick<Partner, 'jwks' | 'jwksUrl'>,
  kid: string,
  alg: AssertionAlgorithm,
  jwks: JwksCache,
  clientId: string,
  registrationFailure: 'client-unknown' | 'client-inactive' | undefined,
): Promise<PublicJwk> {
  const notFound = () => new ClientAuthError(registrationFailure ?? 'key-not-found', CLIENT_AUTH_FAILED, clientId);
  let candidates: PublicJwk[];
  try {
    if (registration.jwks) {
      candidates = matchingKeys(validatePublicJwks(registration.jwks), kid, alg);
    } else if (registration.jwksUrl) {
      let found = await jwks.get(registration.jwksUrl);
      candidates = matchingKeys(found.keys, kid, alg);
      if (!candidates.length && found.cached) {
        found = await jwks.get(registration.jwksUrl, { refresh: true });
        candidates = matchingKeys(found.keys, kid, alg);
      }
    } else {
      throw notFound();
    }
  } catch (err) {
    // Only a registered client can get this far: the same body as any other stored-state failure, so
    // nobody learns which client ids exist; the precise reason goes to the log and onEvent.
    if (err instanceof JwksError) throw new ClientAuthError('jwks-invalid', CLIENT_AUTH_FAILED, clientId);
    if (err instanceof JwksUnavailable) throw new ClientAuthError('jwks-unavailable', CLIENT_AUTH_FAILED, clientId);
    throw err;
  }
  if (candidates.length > 1) {
    throw new ClientAuthError('key-ambiguous', CLIENT_AUTH_FAILED, clientId);
  }
  if (!candidates.length) throw notFound();
  return candidates[0]!;
}

/** Keys usable to verify `alg` under `kid`. */
export function matchingKeys(keys: readonly PublicJwk[], kid: string, alg: AssertionAlgorithm): PublicJwk[] {
  return keys.filter((k) =>
    k.kid === kid
    && (alg === 'RS384' ? k.kty === 'RSA' : k.kty === 'EC' && k.crv === 'P-384')
    && (k.alg === undefined || k.alg === alg)
    && (k.use === undefined || k.use === 'sig')
    && (k.key_ops === undefined || (Array.isArray(k.key_ops) && k.key_ops.includes('verify'))));
}

/** SMART V1: the signature verifies with the one resolved key, `alg` pinned. */
async function verifySignature(
  jwt: string,
  jwk: PublicJwk,
  alg: AssertionAlgorithm,
  keys: KeyImportCache,
  clientId: string,
): Promise<void> {
  try {
    const key = await keys.import(jwk, alg);
    await compactVerify(jwt, key, { algorithms: [alg] });
  } catch {
    // bad signature, unusable key material (e.g. RSA < 2048 bits), unsupported `crit`: all one answer
    throw new ClientAuthError('signature', CLIENT_AUTH_FAILED, clientId);
  }
}

/**
 * SMART V2: a `jti` is used once per client. Checked only after the signature verifies (so nobody
 * can burn another client's jti), with one atomic insert (20 parallel posts -> one winner, T-10),
 * remembered until `exp` + skew (the longest the assertion could still be accepted; a durable store
 * keeps it across restarts, T-11).
 */
async function rememberJti(replay: ReplayCache, clientId: string, jti: string, exp: number): Promise<void> {
  const first = await replay.remember(`${clientId}|${jti}`, (exp + CLOCK_SKEW_SECONDS) * 1000);
  if (!first) throw new ClientAuthError('replay', 'client_assertion jti has already been used', clientId);
}

/**
 * Imported verification keys, by key material, so a registered key is not re-imported on every
 * token request. Bounded; the key's JSON (public members only) is the identity.
 */
class KeyImportCache {
  private readonly keys = new Map<string, Promise<CryptoKey>>();
  constructor(private readonly max = 1000) {}

  import(jwk: PublicJwk, alg: AssertionAlgorithm): Promise<CryptoKey> {
    const id = `${alg}|${jwk.kty}|${String(jwk.crv ?? '')}|${String(jwk.n ?? jwk.x ?? '')}|${String(jwk.e ?? jwk.y ?? '')}`;
    let key = this.keys.get(id);
    if (!key) {
      const publicOnly = Object.fromEntries(
        ['kty', 'crv', 'n', 'e', 'x', 'y'].filter((m) => typeof jwk[m] === 'string').map((m) => [m, jwk[m]]),
      );
      key = importJWK(publicOnly, alg) as Promise<CryptoKey>;
      key.catch(() => this.keys.delete(id));
      this.keys.set(id, key);
      if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value!);
    }
    return key;
  }
}
