/**
 * The SMART authorization server as one object: what routes.ts serves over HTTP, what the FHIR
 * routes call on every request (verifyAccessToken), and what tests and tools use to mint tokens.
 * Built by app.ts from the stores; holds no module-level state, so several can live in one process
 * (tests build a second one over the same database to simulate a restart).
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { JsonWebKeySet, Partner, PartnerStore, ReplayCache, SigningKeyStore } from '../store/types.js';
import { createAssertionVerifier } from './client-assertion.js';
import { handleIntrospection } from './introspection.js';
import { createJwksCache, type FetchJwks } from './jwks-cache.js';
import type { Principal } from './principal.js';
import { createSigningKeyRing, type SigningAlgorithm } from './signing-keys.js';
import { buildSmartConfiguration, type SmartConfiguration } from './smart-configuration.js';
import { handleTokenRequest, type AuthEvent, type OAuthResponse } from './token-endpoint.js';
import { createAccessTokens, MAX_ACCESS_TOKEN_TTL_SECONDS, type IssueAccessTokenInput, type IssuedAccessToken } from './tokens.js';

export type { AuthEvent, OAuthResponse } from './token-endpoint.js';
export type { FetchJwks } from './jwks-cache.js';

/** Form fields in order, repeats kept (duplicates are an error in OAuth, so they must stay visible). */
export type FormParams = ReadonlyArray<readonly [string, string]>;

export interface AuthServiceDeps {
  stores: { partners: PartnerStore; replay: ReplayCache; keys: SigningKeyStore };
  clock: Clock;
  log: Logger;
  /** Public base URL (https://gw.example.org); token endpoint, issuer and audience derive from it. */
  baseUrl: string;
  /** GET a client's JWKS URL (app.ts: the outbound client's fetchJson, 5 s timeout, 64 kB cap). */
  fetchJwks: FetchJwks;
  /** Access-token lifetime; capped at 300 s (default 300). */
  accessTokenTtlSeconds?: number;
  /** Algorithm of signing keys this service creates (default RS256). */
  signingAlg?: SigningAlgorithm;
  /** Longest reuse of a fetched client JWKS, whatever Cache-Control allows (default 300 s). */
  jwksMaxAgeSeconds?: number;
  /** `scopes_supported` in discovery. */
  scopesSupported?: readonly string[];
  /** Purpose of use from the assertion and the partner's agreement (policy); see TokenEndpointDeps. */
  resolvePurpose?: (partner: Partner, asserted: string | undefined) => string;
  /** Token issued or refused (for the audit trail). Must not throw. */
  onEvent?: (e: AuthEvent) => void;
}

export interface AuthService {
  /** Creates a signing key when none is active; call once at start (also done lazily). */
  ensureSigningKey(): Promise<void>;
  /** POST /auth/token. Throws OutcomeError (RFC 6749 error) on failure. */
  tokenEndpoint(params: FormParams): Promise<OAuthResponse>;
  /** POST /auth/introspect: caller's Authorization header, form fields. */
  introspect(authorization: string | undefined, params: FormParams): Promise<OAuthResponse>;
  /** Authorization header -> Principal; OutcomeError 401 (GW_NO_TOKEN / GW_INVALID_TOKEN) with WWW-Authenticate. */
  verifyAccessToken(authorization: string | undefined): Promise<Principal>;
  /** Mints an access token (the token endpoint, App Launch later, and tests' t.issueToken). */
  issueAccessToken(input: IssueAccessTokenInput): Promise<IssuedAccessToken>;
  smartConfiguration(): SmartConfiguration;
  publicJwks(): Promise<JsonWebKeySet>;
  rotateKeys(): Promise<{ kid: string; retired: string[]; pruned: number }>;
  /** The exact token endpoint URL client assertions must name as `aud`. */
  readonly tokenEndpointUrl: string;
}

/** How often expired replay-cache rows are purged (opportunistically, after token requests). */
const REPLAY_PURGE_INTERVAL_MS = 60_000;

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const baseUrl = deps.baseUrl.replace(/\/+$/, '');
  const tokenEndpointUrl = `${baseUrl}/auth/token`;
  const log = deps.log.child({ component: 'auth' });
  const ttl = Math.min(deps.accessTokenTtlSeconds ?? MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_ACCESS_TOKEN_TTL_SECONDS);

  const keys = createSigningKeyRing({
    store: deps.stores.keys, clock: deps.clock, log, alg: deps.signingAlg, maxTokenLifetimeSeconds: ttl,
  });
  const tokens = createAccessTokens({ keys, partners: deps.stores.partners, clock: deps.clock, baseUrl, ttlSeconds: ttl });
  const jwks = createJwksCache({ fetchJwks: deps.fetchJwks, clock: deps.clock, log, maxAgeSeconds: deps.jwksMaxAgeSeconds });
  const assertions = createAssertionVerifier({
    partners: deps.stores.partners, replay: deps.stores.replay, jwks, clock: deps.clock, tokenEndpoint: tokenEndpointUrl,
  });

  function onEvent(e: AuthEvent): void {
    // never the assertion or the token: ids, scope and the failed step only
    if (e.type === 'token.issued') log.info(e, 'token.issued');
    else log.warn(e, 'token.rejected');
    try { deps.onEvent?.(e); } catch (err) { log.error({ err }, 'auth event handler failed'); }
  }

  let lastPurge = deps.clock.now();
  function purgeReplayCacheNowAndThen(): void {
    const now = deps.clock.now();
    if (now - lastPurge < REPLAY_PURGE_INTERVAL_MS) return;
    lastPurge = now;
    deps.stores.replay.purge(now).catch((err: unknown) => log.warn({ err }, 'replay cache purge failed'));
  }

  return {
    tokenEndpointUrl,
    ensureSigningKey: () => keys.ensureKey(),
    async tokenEndpoint(params) {
      try {
        return await handleTokenRequest(params, {
          assertions, tokens, onEvent, ...(deps.resolvePurpose ? { resolvePurpose: deps.resolvePurpose } : {}),
        });
      } finally {
        purgeReplayCacheNowAndThen();
      }
    },
    introspect: (authorization, params) => handleIntrospection(authorization, params, tokens),
    verifyAccessToken: (authorization) => tokens.verify(authorization),
    issueAccessToken: (input) => tokens.issue(input),
    smartConfiguration: () => buildSmartConfiguration({ baseUrl, scopesSupported: deps.scopesSupported }),
    publicJwks: () => keys.publicJwks(),
    rotateKeys: () => keys.rotate(),
  };
}
