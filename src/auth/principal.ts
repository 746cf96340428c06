/**
 * Who is asking: the result of checking a bearer token. Every /fhir request resolves to exactly one.
 */
export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** One SMART scope, parsed (v1 scopes are mapped to v2: read -> rs, write -> cud, * -> cruds). */
export interface ScopeGrant {
  context: ScopeContext;
  /** A FHIR resource type or '*'. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** Granular constraints (`?category=system|code`): every one must hold. */
  query?: ReadonlyArray<{ code: string; value: string }>;
  /** The scope as granted, in its original text. */
  raw: string;
}

export interface Principal {
  clientId: string;
  partner: {
    id: string;
    name: string;
    kind: string;
    address?: string;
    /** The partner agreement as stored (policy/agreements.ts interprets it); absent: the kind's defaults. */
    agreement?: Record<string, unknown>;
    /** When the registration (and agreement) last changed: policy caches the parsed agreement per version. */
    updatedAt?: string;
  };
  /** jti of the access token. */
  tokenId: string;
  /** Granted scope string. */
  scope: string;
  grants: ReadonlyArray<ScopeGrant>;
  /** Patient context: the token sees only this Patient's compartment. */
  patient?: string;
  /** End user (fhirUser) when a person is behind the request. */
  user?: string;
  /** HL7 v3 PurposeOfUse code asserted for this token (TREAT when the agreement allows only treatment). */
  purposeOfUse: string;
  /** Access token expiry, epoch seconds. */
  expiresAt: number;
}
