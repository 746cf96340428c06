/**
 * POST /auth/introspect (RFC 7662), independent of the HTTP framework.
 *
 * The caller authenticates with its own bearer access token (RFC 7662 §2.1 allows a bearer token);
 * an unauthenticated caller gets 401 (§2.3). A client may introspect only tokens issued to itself:
 * anything else, like any invalid, expired or foreign token, or a token of a client that has since
 * been suspended, is exactly `{"active": false}` (§2.2; Inferno item 28 warns on extra members).
 *
 * See: https://www.rfc-editor.org/rfc/rfc7662, https://hl7.org/fhir/smart-app-launch/STU2.2/token-introspection.html
 */
import { invalidRequest } from './errors.js';
import type { OAuthResponse } from './token-endpoint.js';
import { NO_STORE_HEADERS } from './token-endpoint.js';
import type { AccessTokens } from './tokens.js';

export async function handleIntrospection(
  authorization: string | undefined,
  params: ReadonlyArray<readonly [string, string]>,
  tokens: AccessTokens,
): Promise<OAuthResponse> {
  const caller = await tokens.verify(authorization);
  const values = params.filter(([k]) => k === 'token').map(([, v]) => v);
  if (values.length !== 1 || !values[0]) throw invalidRequest('exactly one token parameter is required');

  const found = await tokens.inspect(values[0]);
  if (!found || found.claims.clientId !== caller.clientId) {
    return { status: 200, headers: { ...NO_STORE_HEADERS }, body: { active: false } };
  }
  const c = found.claims;
  return {
    status: 200,
    headers: { ...NO_STORE_HEADERS },
    body: {
      active: true,
      client_id: c.clientId,
      scope: c.scope,
      exp: c.exp,
      iat: c.iat,
      sub: c.clientId,
      iss: c.iss,
      aud: c.aud,
      token_type: 'Bearer',
      purpose_of_use: c.purposeOfUse,
      ...(c.patient !== undefined ? { patient: c.patient } : {}),
      ...(c.user !== undefined ? { fhirUser: c.user } : {}),
    },
  };
}
