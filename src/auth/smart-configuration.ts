/**
 * The SMART discovery document served at `{base}/fhir/.well-known/smart-configuration`. It states
 * exactly what this server supports today, nothing more: SMART Backend Services with asymmetric
 * client authentication, v1 and v2 scope syntax (system scopes), token introspection.
 *
 * Not advertised, because it does not exist yet: the App Launch flow (`authorization_endpoint`,
 * `authorization_code`, `launch-*`, `context-*`, `permission-patient`/`permission-user`). Until
 * then `response_types_supported` is empty (no authorization endpoint, so no response type), and
 * `issuer` is omitted because there is no `sso-openid-connect` (SMART: "otherwise, omitted"; Inferno
 * item 8 warns when it is present without it). `code_challenge_methods_supported` is REQUIRED by
 * SMART 2.x and lists S256 only, never `plain`.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/conformance.html#metadata
 *      spec-rules.md §3.1 D1-D6; Part 2 A items 1-10
 */
import { ASSERTION_ALGORITHMS } from './client-assertion.js';

export interface SmartConfiguration {
  token_endpoint: string;
  introspection_endpoint: string;
  jwks_uri: string;
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  grant_types_supported: string[];
  scopes_supported: string[];
  response_types_supported: string[];
  capabilities: string[];
  code_challenge_methods_supported: string[];
}

/** Wildcard system scopes in both syntaxes; any resource type and any `cruds` subset may be requested too. */
export const DEFAULT_SCOPES_SUPPORTED: readonly string[] = [
  'system/*.rs', 'system/*.cruds', 'system/*.read', 'system/*.write', 'system/*.*',
];

export function buildSmartConfiguration(o: { baseUrl: string; scopesSupported?: readonly string[] }): SmartConfiguration {
  return {
    token_endpoint: `${o.baseUrl}/auth/token`,
    introspection_endpoint: `${o.baseUrl}/auth/introspect`,
    jwks_uri: `${o.baseUrl}/auth/jwks`,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: [...(o.scopesSupported ?? DEFAULT_SCOPES_SUPPORTED)],
    response_types_supported: [],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
    code_challenge_methods_supported: ['S256'],
  };
}
