/**
 * SMART clinical scopes: parsing (v1 and v2 syntax), mediation against a client's registration,
 * and the two questions the policy engine asks of a token's grants.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html
 *
 * v1 scopes are mapped to v2 permissions (`.read` -> `rs`, `.write` -> `cud`, `.*` -> `cruds`) as the
 * `permission-v1` capability requires; the original text is kept in `ScopeGrant.raw` so a v1 request
 * that is granted whole is answered with the same v1 string (SMART: "SHOULD return v1 scopes when
 * v1 scopes are requested and granted").
 */
import { oauthError } from '../core/outcome.js';
import type { Permission, ScopeContext, ScopeGrant } from './principal.js';

/** v2 permission letters in the only order SMART allows (`.cruds` subsets, in order). */
const PERMISSION_ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/**
 * Scopes that are valid SMART but carry no resource access (identity, launch context, refresh).
 * None of them means anything for a backend client: there is no user, no launch and no refresh token.
 */
const NON_RESOURCE_SCOPES: ReadonlySet<string> = new Set([
  'openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter',
  'offline_access', 'online_access',
]);

/** `context/Type.perms?query`; the query part is validated separately. */
const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)(?:\?(.*))?$/;
/** A search parameter code in a granular constraint (`category`, `code`, `_tag`, `code:in` is experimental, refused). */
const PARAM_CODE = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Longest single scope accepted; keeps pathological input away from the parser. */
const MAX_SCOPE_LENGTH = 1024;
/** Most scopes in one request. */
const MAX_SCOPES = 100;

export type ParsedScope =
  | { kind: 'resource'; grant: ScopeGrant }
  | { kind: 'non-resource'; raw: string }
  | { kind: 'admin'; raw: string };

/**
 * The gateway's administration scopes (not SMART resource scopes): /admin routes for partners and
 * agreements, disclosure accounting, and policy explanations. Granted only when registered exactly;
 * the admin routes also require a partner of kind `internal`.
 */
export const ADMIN_SCOPES: ReadonlySet<string> = new Set([
  'admin/partners.read', 'admin/partners.write', 'admin/accounting.read', 'admin/accounting.write', 'admin/policy.read',
]);

/** Thrown by parseScope for text that is not a SMART scope. `message` is safe to show a client. */
export class ScopeSyntaxError extends Error {
  override readonly name = 'ScopeSyntaxError';
}

/**
 * Parses one scope token. Resource scopes become a ScopeGrant (v1 mapped to v2); the known
 * non-resource scopes (`openid`, `launch/patient`, ...) are recognised but carry no grant; anything
 * else, including out-of-order permissions (`.dus`) and v1 suffixes with a query, is rejected.
 */
export function parseScope(raw: string): ParsedScope {
  if (NON_RESOURCE_SCOPES.has(raw)) return { kind: 'non-resource', raw };
  if (ADMIN_SCOPES.has(raw)) return { kind: 'admin', raw };
  if (raw.length > MAX_SCOPE_LENGTH) throw new ScopeSyntaxError('scope is too long');
  const m = RESOURCE_SCOPE.exec(raw);
  if (!m) throw new ScopeSyntaxError('not a SMART resource scope');
  const [, context, resourceType, suffix, queryText] = m as unknown as [string, ScopeContext, string, string, string?];

  const v1 = V1_PERMISSIONS[suffix];
  let permissions: readonly Permission[];
  if (v1) {
    if (queryText !== undefined) throw new ScopeSyntaxError('granular constraints need v2 permissions (.rs, .cruds, ...)');
    permissions = v1;
  } else {
    permissions = parseV2Permissions(suffix);
  }
  const query = queryText === undefined ? undefined : parseConstraints(queryText);
  return {
    kind: 'resource',
    grant: { context, resourceType, permissions: new Set(permissions), ...(query ? { query } : {}), raw },
  };
}

/** `cruds` subsets, each letter at most once and in order (SMART: `.dus` is not a defined scope). */
function parseV2Permissions(suffix: string): Permission[] {
  const out: Permission[] = [];
  let next = 0;
  for (const ch of suffix) {
    const at = PERMISSION_ORDER.indexOf(ch as Permission);
    if (at < next) throw new ScopeSyntaxError('permissions must be a subset of "cruds" in that order');
    out.push(ch as Permission);
    next = at + 1;
  }
  if (!out.length) throw new ScopeSyntaxError('no permissions');
  return out;
}

/** `param=value&param=value`: every constraint must hold. Values are percent-decoded when encoded. */
function parseConstraints(text: string): Array<{ code: string; value: string }> {
  if (!text) throw new ScopeSyntaxError('empty granular constraint');
  const out: Array<{ code: string; value: string }> = [];
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new ScopeSyntaxError('granular constraints are param=value pairs');
    const code = part.slice(0, eq);
    if (!PARAM_CODE.test(code)) {
      throw new ScopeSyntaxError('granular constraint parameter is not a plain search parameter code');
    }
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      throw new ScopeSyntaxError('granular constraint value is not valid percent-encoding');
    }
    if (!value || /[\s\u0000-\u001f]/.test(value)) throw new ScopeSyntaxError('granular constraint value is empty or has control characters');
    out.push({ code, value });
  }
  return out;
}

/** Splits a space-delimited scope parameter (RFC 6749 §3.3), dropping repeats. */
export function splitScopeString(scope: string): string[] {
  return [...new Set(scope.split(' ').filter(Boolean))];
}

/** Parses every scope of a space-delimited string into resource grants, ignoring non-resource scopes. */
export function parseScopes(scope: string): ScopeGrant[] {
  const out: ScopeGrant[] = [];
  for (const raw of splitScopeString(scope)) {
    const p = parseScope(raw);
    if (p.kind === 'resource') out.push(p.grant);
  }
  return out;
}

// ---------------------------------------------------------------- mediation

export interface GrantedScopes {
  /** Space-delimited scope string for the token response and the access token. */
  scope: string;
  grants: ScopeGrant[];
}

export interface GrantOptions {
  /** Scope contexts this grant type may receive (backend services: `system` only). */
  contexts?: readonly ScopeContext[];
}

/**
 * The scopes a client gets: each requested scope intersected with the registration (same context;
 * the narrower resource type; the common permissions; the constraints of both sides, all of which
 * must hold). A requested scope that one registered scope covers whole is granted in its original
 * text; otherwise the intersection is written in v2 syntax. The result is never wider than the
 * registration (SMART S4: the server SHALL mediate). Malformed requests and an empty result are
 * `invalid_scope` (RFC 6749 §5.2); non-resource scopes are silently not granted.
 *
 * See: https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html#scopes
 */
export function grantScopes(requested: string, registered: readonly string[], opts: GrantOptions = {}): GrantedScopes {
  const requestedGrants = parseRequestedScopes(requested);
  const admin = [...new Set(splitScopeString(requested).filter((r) => ADMIN_SCOPES.has(r) && registered.includes(r)))];
  const allowedContexts = opts.contexts ? new Set(opts.contexts) : undefined;
  const registeredGrants = registered
    .flatMap((s) => {
      try {
        const p = parseScope(s);
        return p.kind === 'resource' ? [p.grant] : [];
      } catch {
        return []; // a bad registration entry grants nothing rather than failing every request
      }
    })
    .filter((g) => !allowedContexts || allowedContexts.has(g.context));

  // Requested scopes granted whole keep their text (clients and test kits compare it); pieces cut
  // out of a wider request are written in v2 syntax and dropped when something granted contains them.
  const whole: ScopeGrant[] = [];
  const pieces: ScopeGrant[] = [];
  for (const want of requestedGrants) {
    if (allowedContexts && !allowedContexts.has(want.context)) continue;
    if (registeredGrants.some((have) => isSubsetOf(want, have))) whole.push(want);
    else for (const have of registeredGrants) {
      const piece = intersect(want, have);
      if (piece) pieces.push(piece);
    }
  }
  const grants: ScopeGrant[] = [];
  const seen = new Set<string>();
  for (const g of [...whole, ...pieces.filter((p) => ![...whole, ...pieces].some((o) => o !== p && isStrictSubset(p, o)))]) {
    const key = canonicalScope(g);
    if (!seen.has(key)) { seen.add(key); grants.push(g); }
  }
  if (!grants.length && !admin.length) throw oauthError(400, 'invalid_scope', 'none of the requested scopes is allowed for this client');
  return { scope: [...grants.map((g) => g.raw), ...admin].join(' '), grants };
}

function parseRequestedScopes(requested: string): ScopeGrant[] {
  const raws = splitScopeString(requested);
  if (!raws.length) throw oauthError(400, 'invalid_request', 'scope is required');
  if (raws.length > MAX_SCOPES) throw oauthError(400, 'invalid_scope', `at most ${MAX_SCOPES} scopes may be requested`);
  const grants: ScopeGrant[] = [];
  raws.forEach((raw, i) => {
    let p: ParsedScope;
    try {
      p = parseScope(raw);
    } catch (e) {
      const why = e instanceof ScopeSyntaxError ? e.message : 'invalid';
      throw oauthError(400, 'invalid_scope', `scope ${i + 1} is not a valid SMART scope: ${why}`);
    }
    if (p.kind === 'resource') grants.push(p.grant);
  });
  return grants;
}

/**
 * Resource types a wildcard (`*`) scope does not reach, at mediation and at every decision: the
 * disclosure log (AuditEvent) names other recipients' disclosures, so only an explicit scope grants it.
 */
export const EXPLICIT_ONLY_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

/** Does a scope's resource type (possibly `*`) cover `type`? */
export function coversType(scopeType: string, type: string): boolean {
  return scopeType === type || (scopeType === '*' && !EXPLICIT_ONLY_TYPES.has(type));
}

/** a ⊆ b: everything `a` allows, `b` allows too. */
function isSubsetOf(a: ScopeGrant, b: ScopeGrant): boolean {
  if (a.context !== b.context) return false;
  if (b.resourceType !== a.resourceType && !(b.resourceType === '*' && a.resourceType !== '*' && coversType('*', a.resourceType))) return false;
  for (const p of a.permissions) if (!b.permissions.has(p)) return false;
  // b's constraints narrow b; a is inside b only if a is at least as narrow
  return (b.query ?? []).every((c) => (a.query ?? []).some((d) => d.code === c.code && d.value === c.value));
}

function isStrictSubset(a: ScopeGrant, b: ScopeGrant): boolean {
  return isSubsetOf(a, b) && !isSubsetOf(b, a);
}

/** The largest scope both `a` and `b` allow, or undefined when they share nothing. */
function intersect(a: ScopeGrant, b: ScopeGrant): ScopeGrant | undefined {
  if (a.context !== b.context) return undefined;
  let resourceType: string;
  if (a.resourceType === '*') resourceType = b.resourceType;
  else if (b.resourceType === a.resourceType || (b.resourceType === '*' && coversType('*', a.resourceType))) resourceType = a.resourceType;
  else return undefined;
  const permissions = PERMISSION_ORDER.filter((p) => a.permissions.has(p) && b.permissions.has(p));
  if (!permissions.length) return undefined;
  const query: Array<{ code: string; value: string }> = [];
  for (const c of [...(a.query ?? []), ...(b.query ?? [])]) {
    if (!query.some((q) => q.code === c.code && q.value === c.value)) query.push(c);
  }
  const grant = { context: a.context, resourceType, permissions: new Set(permissions), ...(query.length ? { query } : {}) };
  return { ...grant, raw: formatScope(grant) };
}

/** Writes a grant in v2 syntax (`system/Observation.rs?category=...`). */
export function formatScope(g: Omit<ScopeGrant, 'raw'>): string {
  const perms = PERMISSION_ORDER.filter((p) => g.permissions.has(p)).join('');
  const q = g.query?.length
    ? '?' + g.query.map((c) => `${c.code}=${encodeConstraintValue(c.value)}`).join('&')
    : '';
  return `${g.context}/${g.resourceType}.${perms}${q}`;
}

/** Keeps `|`, `:`, `/` readable as in SMART's examples; encodes only what would break the syntax. */
function encodeConstraintValue(v: string): string {
  return v.replace(/[%&=?#\s]/g, (ch) => encodeURIComponent(ch));
}

function canonicalScope(g: ScopeGrant): string {
  const q = [...(g.query ?? [])].map((c) => `${c.code}=${c.value}`).sort().join('&');
  const perms = PERMISSION_ORDER.filter((p) => g.permissions.has(p)).join('');
  return `${g.context}/${g.resourceType}.${perms}?${q}`;
}

// ---------------------------------------------------------------- questions the policy engine asks

/**
 * Whether any grant lets `permission` happen on `resourceType` (in `context`, when given). A granular
 * grant (`?category=...`) counts: the operation may happen, narrowed by constraintsFor().
 */
export function allows(
  grants: ReadonlyArray<ScopeGrant>,
  context: ScopeContext | undefined,
  resourceType: string,
  permission: Permission,
): boolean {
  return grants.some((g) => matches(g, context, resourceType, permission));
}

export type ScopeConstraints =
  /** No grant covers the operation. */
  | { kind: 'none' }
  /** A grant without constraints covers it: no narrowing from scopes. */
  | { kind: 'all' }
  /** Only resources matching at least one group (every constraint of the group) are covered. */
  | { kind: 'anyOf'; groups: ReadonlyArray<ReadonlyArray<{ code: string; value: string }>> };

/**
 * What the scopes allow for `permission` on `resourceType`: nothing, everything, or the resources
 * matching any of several constraint groups (granular scopes; SMART: each grant is a union member,
 * each constraint within a grant must hold). The policy engine turns `anyOf` into
 * SearchQuery.narrow.anyOf for searches and checks each returned resource against it.
 */
export function constraintsFor(
  grants: ReadonlyArray<ScopeGrant>,
  resourceType: string,
  permission: Permission,
  context?: ScopeContext,
): ScopeConstraints {
  const groups: Array<ReadonlyArray<{ code: string; value: string }>> = [];
  for (const g of grants) {
    if (!matches(g, context, resourceType, permission)) continue;
    if (!g.query?.length) return { kind: 'all' };
    groups.push(g.query);
  }
  return groups.length ? { kind: 'anyOf', groups } : { kind: 'none' };
}

function matches(g: ScopeGrant, context: ScopeContext | undefined, resourceType: string, permission: Permission): boolean {
  return (context === undefined || g.context === context)
    && (g.resourceType === '*' || g.resourceType === resourceType)
    && g.permissions.has(permission);
}
