/**
 * Access tokens: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed with the gateway's keys, and
 * their verification on every FHIR request.
 *
 * Claims: iss = `{base}/auth`, aud = `{base}/fhir`, sub = client_id = the partner, scope, jti, iat,
 * exp = iat + min(configured, 300) (SMART S2: expires_in SHOULD NOT exceed 300), purpose_of_use
 * (UDAP hl7-b2b, default TREAT), and patient / fhirUser when the token has that context.
 *
 * Verification (RFC 9068 §4; SMART RS1; catalogue F-01..F-03):
 * - `typ` must be `at+jwt`, so a client assertion (typ JWT) or an ID token can never act as an
 *   access token; the algorithm is pinned to the one of the gateway key named by `kid`;
 * - iss, aud and exp are checked; no database is touched until the token is proven genuine;
 * - then the partner is looked up on EVERY request (one primary-key read), so a suspension made by
 *   another process (`fxg partners suspend`) takes effect on the next request.
 * The verified claims (never the partner status) are kept in a bounded LRU keyed by the token
 * until the token expires: the secured read path then costs one map lookup and one indexed read.
 *
 * See: https://www.rfc-editor.org/rfc/rfc9068, https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
import { randomUUID } from 'node:crypto';
import { compactVerify, SignJWT } from 'jose';
import type { Clock } from '../core/clock.js';
import type { Partner, PartnerStore } from '../store/types.js';
import { CLOCK_SKEW_SECONDS } from './client-assertion.js';
import { invalidToken, missingToken } from './errors.js';
import type { Principal, ScopeGrant } from './principal.js';
import { parseScopes } from './scopes.js';
import type { SigningKeyRing } from './signing-keys.js';

/** SMART S2 / catalogue R1(3): access tokens for backend services live at most 300 s. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 300;
/** PurposeOfUse when the client asserts none (HL7 v3 ActReason TREAT). */
export const DEFAULT_PURPOSE_OF_USE = 'TREAT';

const ACCESS_TOKEN_TYP = 'at+jwt';
/** Longest bearer token looked at (Node's whole header block is 16 kB). */
const MAX_TOKEN_LENGTH = 8 * 1024;
/** RFC 6750 §2.1 b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

export interface IssueAccessTokenInput {
  partner: Pick<Partner, 'id'>;
  /** The granted scope string (already mediated against the registration by the token endpoint). */
  scope: string;
  /** Patient context (App Launch); the token then sees only this Patient's compartment. */
  patient?: string;
  /** End user (fhirUser reference) when a person is behind the request. */
  user?: string;
  /** HL7 v3 PurposeOfUse code; TREAT when absent. */
  purposeOfUse?: string;
}

/** An issued token, shaped like the token response (RFC 6749 §5.1) plus what the server keeps. */
export interface IssuedAccessToken {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
  jti: string;
  /** Epoch seconds. */
  iat: number;
  exp: number;
}

/** What a verified access token says; cached by token until exp. */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  clientId: string;
  scope: string;
  grants: ScopeGrant[];
  jti: string;
  iat: number;
  exp: number;
  purposeOfUse: string;
  patient?: string;
  user?: string;
}

export interface AccessTokensOptions {
  keys: SigningKeyRing;
  partners: PartnerStore;
  clock: Clock;
  /** Public base URL without a trailing slash (from config, never from a Host header). */
  baseUrl: string;
  /** Requested lifetime; capped at 300 s. */
  ttlSeconds?: number;
  /** Most verified tokens remembered (default 10,000). */
  cacheSize?: number;
}

export interface AccessTokens {
  readonly issuer: string;
  readonly audience: string;
  issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken>;
  /** `Authorization` header value -> Principal, or OutcomeError 401 with a WWW-Authenticate challenge. */
  verify(authorization: string | undefined): Promise<Principal>;
  /**
   * The claims of a genuine, unexpired token of an active client, or undefined (for introspection:
   * every kind of invalid is just "not active").
   */
  inspect(token: string): Promise<{ claims: AccessTokenClaims; partner: Partner } | undefined>;
}

export function createAccessTokens(o: AccessTokensOptions): AccessTokens {
  const issuer = `${o.baseUrl}/auth`;
  const audience = `${o.baseUrl}/fhir`;
  const ttl = Math.min(o.ttlSeconds ?? MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_ACCESS_TOKEN_TTL_SECONDS);
  const cache = new TokenCache(o.cacheSize ?? 10_000);
  const nowSeconds = () => Math.floor(o.clock.now() / 1000);

  async function issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    parseScopes(input.scope); // refuse to mint a token whose scope the resource server could not read
    const key = await o.keys.signingKey();
    const iat = nowSeconds();
    const exp = iat + ttl;
    const jti = randomUUID();
    const purposeOfUse = input.purposeOfUse ?? DEFAULT_PURPOSE_OF_USE;
    const token = await new SignJWT({
      client_id: input.partner.id,
      scope: input.scope,
      purpose_of_use: purposeOfUse,
      ...(input.patient !== undefined ? { patient: input.patient } : {}),
      ...(input.user !== undefined ? { fhirUser: input.user } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(input.partner.id)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key.key);
    return { access_token: token, token_type: 'bearer', expires_in: exp - iat, scope: input.scope, jti, iat, exp };
  }

  /** Signature, typ, alg, iss, aud, exp and claim shapes; cached. Throws invalidToken. */
  async function verifiedClaims(token: string): Promise<AccessTokenClaims> {
    const now = nowSeconds();
    const hit = cache.get(token);
    if (hit) {
      if (hit.exp > now) return hit;
      cache.delete(token);
      throw invalidToken('access token has expired');
    }
    const claims = await verifyJwt(token, now);
    cache.set(token, claims);
    return claims;
  }

  async function verifyJwt(token: string, now: number): Promise<AccessTokenClaims> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('malformed access token');
    const header = decodeHeader(token);
    if (!header) throw invalidToken('malformed access token');
    if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== ACCESS_TOKEN_TYP) {
      throw invalidToken('not an access token (typ must be at+jwt)');
    }
    const key = typeof header.kid === 'string' && header.kid.length <= 256 ? await o.keys.verificationKey(header.kid) : undefined;
    if (!key) throw invalidToken('access token is not signed by a key of this server');
    if (header.alg !== key.alg) throw invalidToken('access token algorithm does not match the signing key');
    let payload: Uint8Array;
    try {
      ({ payload } = await compactVerify(token, key.key, { algorithms: [key.alg] }));
    } catch {
      throw invalidToken('access token signature is invalid');
    }
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw invalidToken('malformed access token');
    }
    if (c.iss !== issuer) throw invalidToken('access token was not issued by this server');
    if (!(c.aud === audience || (Array.isArray(c.aud) && c.aud.includes(audience)))) {
      throw invalidToken('access token is not meant for this FHIR server');
    }
    if (typeof c.exp !== 'number' || c.exp <= now) throw invalidToken('access token has expired');
    if (typeof c.iat !== 'number' || c.iat > now + CLOCK_SKEW_SECONDS) throw invalidToken('access token iat is in the future');
    if (
      typeof c.client_id !== 'string' || c.sub !== c.client_id || typeof c.jti !== 'string'
      || typeof c.scope !== 'string' || typeof c.purpose_of_use !== 'string'
      || (c.patient !== undefined && typeof c.patient !== 'string')
      || (c.fhirUser !== undefined && typeof c.fhirUser !== 'string')
    ) {
      throw invalidToken('access token claims are incomplete');
    }
    let grants: ScopeGrant[];
    try {
      grants = parseScopes(c.scope);
    } catch {
      throw invalidToken('access token scope is not valid');
    }
    return {
      iss: issuer, aud: audience, clientId: c.client_id, scope: c.scope, grants, jti: c.jti,
      iat: c.iat, exp: c.exp, purposeOfUse: c.purpose_of_use,
      ...(typeof c.patient === 'string' ? { patient: c.patient } : {}),
      ...(typeof c.fhirUser === 'string' ? { user: c.fhirUser } : {}),
    };
  }

  /** The partner behind a token, if still active. Never cached: suspension must bite at once. */
  async function activePartner(clientId: string): Promise<Partner | undefined> {
    const partner = await o.partners.get(clientId);
    return partner && partner.status === 'active' ? partner : undefined;
  }

  return {
    issuer,
    audience,
    issue,

    async verify(authorization) {
      const token = bearerToken(authorization);
      const claims = await verifiedClaims(token);
      const partner = await activePartner(claims.clientId);
      if (!partner) throw invalidToken('the client of this access token is not active');
      return toPrincipal(claims, partner);
    },

    async inspect(token) {
      try {
        const claims = await verifiedClaims(token);
        const partner = await activePartner(claims.clientId);
        return partner ? { claims, partner } : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** RFC 6750 §2.1: `Authorization: Bearer <b64token>`; anything else has no usable credentials. */
export function bearerToken(authorization: string | undefined): string {
  if (!authorization) throw missingToken('an access token is required (Authorization: Bearer)');
  const m = BEARER.exec(authorization);
  if (!m) {
    if (/^Bearer\s*$/i.test(authorization)) throw missingToken('the bearer access token is empty');
    if (!/^Bearer\s/i.test(authorization)) throw missingToken('only the Bearer authorization scheme is supported');
    throw invalidToken('malformed access token');
  }
  return m[1]!;
}

function decodeHeader(token: string): Record<string, unknown> | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.split('.').length !== 3) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function toPrincipal(c: AccessTokenClaims, partner: Partner): Principal {
  return {
    clientId: c.clientId,
    partner: {
      id: partner.id, name: partner.name, kind: partner.kind, ...(partner.address ? { address: partner.address } : {}),
      ...(partner.agreement ? { agreement: partner.agreement } : {}), updatedAt: partner.updatedAt,
    },
    tokenId: c.jti,
    scope: c.scope,
    grants: c.grants,
    ...(c.patient !== undefined ? { patient: c.patient } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    purposeOfUse: c.purposeOfUse,
    expiresAt: c.exp,
  };
}

/** Least-recently-used map of verified tokens, bounded; entries also die at their token's exp. */
class TokenCache {
  private readonly map = new Map<string, AccessTokenClaims>();
  constructor(private readonly max: number) {}

  get(token: string): AccessTokenClaims | undefined {
    const v = this.map.get(token);
    if (v) { this.map.delete(token); this.map.set(token, v); }
    return v;
  }

  set(token: string, claims: AccessTokenClaims): void {
    this.map.set(token, claims);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  delete(token: string): void {
    this.map.delete(token);
  }
}
