/**
 * The access decision for every FHIR request: deny by default; permit only what the token's
 * scopes cover, narrowed to the token's patient compartment and granular scope constraints.
 * Partner agreements, consent and security labels (issue #4) plug in here, behind the same interface.
 */
import { matchesSearchRequest, Operator } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { Permission, Principal, ScopeGrant } from '../auth/principal.js';
import { coversType } from '../auth/scopes.js';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import { basisForPurpose } from '../core/purpose-of-use.js';
import { patientLinksOf } from '../store/compartment.js';
import type { SearchFilter } from '../store/types.js';
import type { Decision, FhirOperation, Interaction, Policy } from './types.js';

export { TPO_PURPOSES } from '../core/purpose-of-use.js';

const REQUIRED_PERMISSION: Record<Interaction, Permission> = {
  read: 'r', vread: 'r', history: 'r', everything: 'r', search: 's', create: 'c', update: 'u', delete: 'd',
};

const deny = (status: 401 | 403 | 404, code: string, reason: string): Decision => ({ effect: 'deny', status, code, reason });

export function createPolicy(defs: FhirDefinitions): Policy {
  /** Does a type belong to the Patient compartment (so a patient-context token is confined)? */
  const inCompartmentModel = (type: string) => type === 'Patient' || defs.patientCompartmentParams(type).length > 0;

  const usable = (p: Principal, g: ScopeGrant) => g.context !== 'patient' || Boolean(p.patient);
  /**
   * Grants that cover a type. The disclosure log (AuditEvent) names other recipients' disclosures, so a
   * wildcard scope never reaches it: only an explicit AuditEvent scope does (minimum necessary).
   */
  const covering = (p: Principal, type: string, perms: readonly Permission[]) =>
    p.grants.filter((g) => usable(p, g)
      && coversType(g.resourceType, type)
      && perms.some((x) => g.permissions.has(x)));

  /** True when the resource lies in the token's patient compartment, or the token is not confined. */
  function withinPatient(p: Principal, grants: ScopeGrant[], resource: Resource): boolean {
    if (!inCompartmentModel(resource.resourceType)) return true;
    const links = patientLinksOf(defs, resource);
    if (links.unresolved) return false;
    if (!p.patient || grants.some((g) => g.context !== 'patient')) return true;
    return links.patients.includes(p.patient);
  }

  function meetsConstraints(grants: ScopeGrant[], resource: Resource): boolean {
    return grants.some((g) => !g.query?.length || matchesSearchRequest(resource, {
      resourceType: resource.resourceType,
      filters: g.query.map((q) => ({ code: q.code, operator: Operator.EQUALS, value: q.value })),
    }));
  }

  function visible(p: Principal, resource: Resource, perms: readonly Permission[]): boolean {
    const grants = covering(p, resource.resourceType, perms);
    return grants.length > 0 && withinPatient(p, grants, resource) && meetsConstraints(grants, resource);
  }

  return {
    decide(p, op: FhirOperation): Decision {
      const perm = REQUIRED_PERMISSION[op.interaction];
      if ((perm === 'c' || perm === 'u' || perm === 'd') && p.partner.kind !== 'internal') {
        return deny(403, 'GW_WRITE_NOT_ALLOWED', 'only the organization\'s internal systems may write');
      }
      const grants = covering(p, op.resourceType, [perm]);
      if (!grants.length) {
        return deny(403, 'GW_SCOPE_INSUFFICIENT', `the token's scopes do not allow ${op.interaction} on ${op.resourceType}`);
      }
      const confined = Boolean(p.patient) && inCompartmentModel(op.resourceType) && grants.every((g) => g.context === 'patient');
      if (confined && op.patients?.some((id) => id !== p.patient)) {
        // A search naming a foreign patient is refused outright (catalogue F-05); an instance-level
        // operation on one ($everything) answers like a missing patient, so existence is not revealed (F-04).
        return op.interaction === 'search'
          ? deny(403, 'GW_PATIENT_OUT_OF_CONTEXT', 'the request names a patient outside the token\'s patient context')
          : deny(404, 'GW_NOT_FOUND', `Patient/${op.patients.find((id) => id !== p.patient)} not found`);
      }
      const narrow: { compartmentPatient?: string; anyOf?: SearchFilter[][] } = {};
      if (confined) narrow.compartmentPatient = p.patient;
      if (grants.every((g) => g.query?.length)) {
        narrow.anyOf = grants.map((g) => (g.query ?? []).map((q) => ({ code: q.code, values: [{ value: q.value }] })));
      }
      return {
        effect: 'permit',
        purposeOfUse: p.purposeOfUse,
        legalBasis: basisForPurpose(p.purposeOfUse),
        narrow,
      };
    },

    filter(p, resources, use = 'read') {
      const perms: readonly Permission[] = use === 'search' ? ['s', 'r'] : ['r'];
      return resources.filter((r) => visible(p, r, perms));
    },

    mayWrite(p, interaction, resource) {
      return visible(p, resource, [REQUIRED_PERMISSION[interaction]]);
    },
  };
}
