/**
 * POST /auth/token for SMART Backend Services (client_credentials + private_key_jwt), independent of
 * the HTTP framework: form parameters in, an OAuth response out, OutcomeError (rendered as
 * RFC 6749 §5.2 JSON by routes.ts) on failure.
 *
 * Order of checks: request shape first (cheap, reveals nothing), then client authentication (the
 * assertion, which burns its jti), then scope mediation and token issuance.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html#obtaining-an-access-token
 *      spec-rules.md §3.1 T1-T4, S1-S5; Part 2 B items 12-17, C items 23-24; catalogue T-01, T-02, T-15, T-22
 */
import { CLIENT_ASSERTION_TYPE, type AssertionClaims, type AssertionVerifier } from './client-assertion.js';
import { invalidRequest, invalidScope, unsupportedGrantType, type ClientAuthError } from './errors.js';
import { grantScopes, parseScope, ScopeSyntaxError, splitScopeString } from './scopes.js';
import { DEFAULT_PURPOSE_OF_USE, type AccessTokens } from './tokens.js';
import type { Partner } from '../store/types.js';

/** A transport-independent OAuth response. */
export interface OAuthResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** RFC 6749 §5.1 and Inferno item 24: token responses are never cached. */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  pragma: 'no-cache',
});

/** Something the authorization server did, for the audit trail (never carries tokens or assertions). */
export type AuthEvent =
  | { type: 'token.issued'; clientId: string; tokenId: string; scope: string; purposeOfUse: string; expiresAt: number }
  | { type: 'token.rejected'; clientId?: string; error: string; reason: string };

export interface TokenEndpointDeps {
  assertions: AssertionVerifier;
  tokens: AccessTokens;
  onEvent: (e: AuthEvent) => void;
  /**
   * The purpose this token carries, from what the client asserted (undefined: none) and the partner's
   * agreement; throws invalid_grant when the agreement does not allow it or is not in force.
   * Absent: the asserted purpose, or TREAT.
   */
  resolvePurpose?: (partner: Partner, asserted: string | undefined) => string;
}

/** OID of the HL7 v3 ActReason code system (PurposeOfUse), as UDAP writes it: `urn:oid:...#TREAT`. */
const V3_ACT_REASON_OID = 'urn:oid:2.16.840.1.113883.5.8';
const V3_ACT_REASON_URL = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const PURPOSE_CODE = /^[A-Za-z0-9._:#/|-]{1,256}$/;

/**
 * Handles one token request. `params` are the decoded form fields in order, repeats kept.
 */
export async function handleTokenRequest(
  params: ReadonlyArray<readonly [string, string]>,
  deps: TokenEndpointDeps,
): Promise<OAuthResponse> {
  let clientId: string | undefined;
  try {
    const form = singleValued(params);
    checkGrantType(form.get('grant_type'));
    checkAssertionType(form.get('client_assertion_type'));
    const assertion = form.get('client_assertion');
    if (!assertion) throw invalidRequest('client_assertion is required');
    const requestedScope = checkScopeSyntax(form.get('scope'));

    const verified = await deps.assertions.verify(assertion, form.get('client_id'));
    clientId = verified.clientId;
    const asserted = purposeOfUseFrom(verified.claims);
    const purposeOfUse = deps.resolvePurpose
      ? deps.resolvePurpose(verified.partner, asserted)
      : asserted ?? DEFAULT_PURPOSE_OF_USE;
    const granted = grantScopes(requestedScope, verified.partner.scopes, { contexts: ['system'] });
    const issued = await deps.tokens.issue({ partner: verified.partner, scope: granted.scope, purposeOfUse });

    deps.onEvent({
      type: 'token.issued', clientId, tokenId: issued.jti, scope: issued.scope, purposeOfUse, expiresAt: issued.exp,
    });
    // S1/S3: exactly these members; no refresh_token for client_credentials (UDAP B8 too)
    return {
      status: 200,
      headers: { ...NO_STORE_HEADERS },
      body: {
        access_token: issued.access_token,
        token_type: issued.token_type,
        expires_in: issued.expires_in,
        scope: issued.scope,
      },
    };
  } catch (err) {
    const e = err as Partial<ClientAuthError> & { oauthError?: string };
    if (e.oauthError) {
      deps.onEvent({
        type: 'token.rejected',
        ...(clientId ?? e.clientId ? { clientId: clientId ?? e.clientId } : {}),
        error: e.oauthError,
        reason: e.reason ?? e.message ?? e.oauthError,
      });
    }
    throw err;
  }
}

/** RFC 6749 §3.2: request parameters MUST NOT be included more than once. */
function singleValued(params: ReadonlyArray<readonly [string, string]>): Map<string, string> {
  const form = new Map<string, string>();
  for (const [k, v] of params) {
    if (form.has(k)) throw invalidRequest(`parameter ${k.length <= 40 ? k : 'name'} is repeated`);
    form.set(k, v);
  }
  return form;
}

/** T1 / Inferno item 12: only client_credentials here (authorization_code arrives with App Launch). */
function checkGrantType(grantType: string | undefined): void {
  if (!grantType) throw invalidRequest('grant_type is required');
  if (grantType !== 'client_credentials') throw unsupportedGrantType('grant_type must be client_credentials');
}

/** T3 / Inferno item 13 / catalogue T-02. */
function checkAssertionType(type: string | undefined): void {
  if (type !== CLIENT_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  }
}

/**
 * T2 / Inferno item 17: scope is required for client_credentials (Medplum's client omits it, item 67:
 * it gets this error). Syntax is checked before authentication, so a bad scope wastes no assertion.
 */
function checkScopeSyntax(scope: string | undefined): string {
  if (scope === undefined || !splitScopeString(scope).length) throw invalidRequest('scope is required');
  splitScopeString(scope).forEach((raw, i) => {
    try {
      parseScope(raw);
    } catch (e) {
      const why = e instanceof ScopeSyntaxError ? e.message : 'invalid';
      throw invalidScope(`scope ${i + 1} is not a valid SMART scope: ${why}`);
    }
  });
  return scope;
}

/**
 * The purpose of use the client asserts in the UDAP `hl7-b2b` extension of its assertion
 * (`extensions.hl7-b2b.purpose_of_use`, an array), or undefined when it asserts none. One token carries one purpose (UDAP B7:
 * another purpose needs another token), so more than one is refused. HL7 v3 ActReason codes are
 * reduced to the bare code (`urn:oid:2.16.840.1.113883.5.8#TREAT` -> `TREAT`); codes from other systems
 * (e.g. TEFCA XP codes) are kept whole for the policy engine to accept or refuse.
 *
 * See: https://hl7.org/fhir/us/udap-security/b2b.html#b2b-authorization-extension-object
 */
export function purposeOfUseFrom(claims: AssertionClaims): string | undefined {
  const extensions = claims.extensions;
  if (extensions === undefined) return undefined;
  if (!isObject(extensions)) throw invalidRequest('client_assertion extensions must be an object');
  const b2b = extensions['hl7-b2b'];
  if (b2b === undefined) return undefined;
  if (!isObject(b2b)) throw invalidRequest('hl7-b2b extension must be an object');
  const pou = b2b.purpose_of_use;
  if (!Array.isArray(pou) || pou.length !== 1 || typeof pou[0] !== 'string' || !PURPOSE_CODE.test(pou[0])) {
    throw invalidRequest('hl7-b2b purpose_of_use must be an array with exactly one code');
  }
  return normalizePurpose(pou[0]);
}

function normalizePurpose(value: string): string {
  for (const prefix of [`${V3_ACT_REASON_OID}#`, `${V3_ACT_REASON_URL}|`, `${V3_ACT_REASON_URL}#`]) {
    if (value.startsWith(prefix) && value.length > prefix.length) return value.slice(prefix.length);
  }
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
