/**
 * The errors the SMART authorization server raises. They are all OutcomeError, so one error path
 * serves both renderings: OAuth routes answer RFC 6749 §5.2 `{ error, error_description }`, FHIR
 * routes an OperationOutcome with the same status and headers.
 */
import { OutcomeError, oauthError } from '../core/outcome.js';

/** Why a client assertion was refused; logged and reported to onEvent, never shown as-is for state-dependent steps. */
export type ClientAuthFailure =
  | 'malformed' | 'typ' | 'alg' | 'kid' | 'iss-sub' | 'client-id-mismatch' | 'aud'
  | 'exp' | 'expired' | 'exp-too-far' | 'iat-future' | 'nbf-future' | 'jti'
  | 'client-unknown' | 'client-inactive' | 'jku-mismatch' | 'jwks-unavailable' | 'jwks-invalid'
  | 'key-not-found' | 'key-ambiguous' | 'signature' | 'replay';

/**
 * A refused client authentication: 401 `invalid_client` (SMART V6; RFC 6749 §5.2), or 400
 * `invalid_request` when the assertion is not a JWT at all (oidc-provider's behaviour, catalogue T-03).
 * `reason` is the precise step that failed, for logs, audit and tests.
 */
export class ClientAuthError extends OutcomeError {
  constructor(
    readonly reason: ClientAuthFailure,
    description: string,
    readonly clientId?: string,
  ) {
    const malformed = reason === 'malformed';
    super(
      malformed ? 400 : 401,
      malformed ? 'invalid' : 'login',
      malformed ? 'GW_OAUTH_INVALID_REQUEST' : 'GW_OAUTH_INVALID_CLIENT',
      description,
      {
        oauthError: malformed ? 'invalid_request' : 'invalid_client',
        // RFC 6749 §5.2 requires a WWW-Authenticate challenge only when the client authenticated
        // through the Authorization header; private_key_jwt clients do not, so none is sent (as
        // oidc-provider does). Clients such as openid-client then report the body's error itself.
      },
    );
  }
}

export const invalidRequest = (description: string) => oauthError(400, 'invalid_request', description);
export const unsupportedGrantType = (description: string) => oauthError(400, 'unsupported_grant_type', description);
export const invalidScope = (description: string) => oauthError(400, 'invalid_scope', description);
/** RFC 6749 §5.2 invalid_grant: here, a purpose of use outside the partner's agreement, or no agreement in force. */
export const invalidGrant = (description: string) => oauthError(400, 'invalid_grant', description);

/**
 * A bearer token that is not acceptable (RFC 6750 §3.1 `invalid_token`). The FHIR error handler
 * renders it as OperationOutcome `login` with the WWW-Authenticate challenge.
 */
export const invalidToken = (description: string) =>
  new OutcomeError(401, 'login', 'GW_INVALID_TOKEN', description, {
    oauthError: 'invalid_token',
    headers: { 'www-authenticate': 'Bearer realm="fhir", error="invalid_token"' },
  });

/**
 * No usable credentials at all (missing header, other scheme, empty token). RFC 6750 §3.1: a request
 * without authentication information gets a challenge without an error code.
 */
export const missingToken = (description: string) =>
  new OutcomeError(401, 'login', 'GW_NO_TOKEN', description, {
    oauthError: 'invalid_request',
    headers: { 'www-authenticate': 'Bearer realm="fhir"' },
  });
