/**
 * The access decision for every FHIR request (design.md §5): deny by default; permit only when the
 * partner's agreement is in force and allows the purpose and the data, the token's scopes cover the
 * request, and, for what actually leaves, no consent of the patient denies it and every consent the
 * agreement or a label requires (42 CFR Part 2: one naming the recipient) is active.
 *
 * decide() runs before the store (agreement, purpose, type, scopes, narrowing as WHERE clauses);
 * filter() is the synchronous per-resource check (scopes, compartment, agreement coverage and labels);
 * release() adds the patients' consents on what would leave, with obligations and the legal basis.
 */
import { matchesSearchRequest, Operator } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { Clock } from '../core/clock.js';
import type { Permission, Principal, ScopeGrant } from '../auth/principal.js';
import { coversType } from '../auth/scopes.js';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import { formatLegalBasis } from '../core/purpose-of-use.js';
import { collectReferenceStrings } from '../core/reference-strings.js';
import { patientLinksOf } from '../store/compartment.js';
import type { SearchFilter } from '../store/types.js';
import type { PartnerKind } from '../store/types.js';
import {
  agreementCovers, agreementNarrowing, agreementTypeAllowed, andNarrowing, checkAgreement, defaultAgreementFor,
  legalBasisFor, parseAgreement, purposeFromTefca, type Agreement,
} from './agreements.js';
import { labelCodes } from './consent-codes.js';
import { consentsApplyTo, consentVerdictFor, createConsentEvaluator, part2Required, type Obligation } from './consent.js';
import type { ConsentSource, Decision, FhirOperation, Interaction, Policy, Release } from './types.js';

export interface PolicyDeps {
  defs: FhirDefinitions;
  clock: Clock;
  /** Active consents per patient; absent: no consent is on file for anyone (tests of scope rules). */
  consents?: ConsentSource;
}

export { TPO_PURPOSES } from '../core/purpose-of-use.js';

const REQUIRED_PERMISSION: Record<Interaction, Permission> = {
  read: 'r', vread: 'r', history: 'r', everything: 'r', search: 's', create: 'c', update: 'u', delete: 'd',
};

const deny = (status: 401 | 403 | 404, code: string, reason: string): Decision => ({ effect: 'deny', status, code, reason });

/** A partner's agreement: the stored one (validated), else the defaults of its kind. Throws on an invalid stored one. */
export function agreementFor(partner: { id: string; kind: string; agreement?: Record<string, unknown> }): Agreement {
  return partner.agreement
    ? parseAgreement({ ...partner.agreement, partnerId: partner.id }, `partner ${partner.id}`)
    : defaultAgreementFor(partner.kind as PartnerKind, partner.id);
}

/**
 * The purpose of use a token will carry (UDAP B2B hl7-b2b `purpose_of_use`, spec-rules §3.2): the
 * asserted one (a TEFCA exchange purpose is mapped to its PurposeOfUse code), or the agreement's only
 * purpose when the client asserts none. Refused (the caller answers invalid_grant) when the agreement
 * is not in force or does not allow the purpose, or allows several and none was asserted.
 */
export function tokenPurpose(
  partner: { id: string; kind: string; agreement?: Record<string, unknown> },
  asserted: string | undefined,
  now: number,
): { ok: true; purpose: string } | { ok: false; reason: string } {
  let agreement: Agreement;
  try {
    agreement = agreementFor(partner);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const purpose = asserted === undefined
    ? (agreement.purposes.length === 1 ? agreement.purposes[0] : undefined)
    : (purposeFromTefca(asserted) ?? asserted);
  if (purpose === undefined) {
    return { ok: false, reason: `the agreement allows several purposes of use (${agreement.purposes.join(', ')}): assert one in the hl7-b2b extension` };
  }
  const check = checkAgreement(agreement, { purpose, now });
  return check.ok ? { ok: true, purpose } : { ok: false, reason: check.reason };
}

/** Whether one of `refs` names `target` (`Type/id`, optionally absolute or with `/_history/n`). */
function names(refs: readonly string[], target: Resource): boolean {
  if (!target.id) return false;
  const key = `${target.resourceType}/${target.id}`;
  for (const ref of refs) {
    const path = ref.split('/_history/')[0] as string;
    if (path === key || path.endsWith(`/${key}`)) return true;
  }
  return false;
}

/** Confidentiality codes that restrict nothing (v3-Confidentiality U, L, M, N); every other label is a sensitivity. */
const UNRESTRICTED = new Set(['U', 'L', 'M', 'N']);

/** Whether a resource carries a label (any system: restrictions fail safe, see labelCodes) that consents govern. */
function sensitive(r: Resource): boolean {
  for (const code of labelCodes(r)) if (!UNRESTRICTED.has(code)) return true;
  return part2Required(r);
}

export function createPolicy(deps: PolicyDeps): Policy {
  const { defs, clock } = deps;
  const agreements = new Map<string, Agreement | Error>();

  /**
   * The partner's agreement: the stored one, else the defaults of its kind, parsed once per content (see
   * below); an invalid stored agreement denies everything.
   */
  /** decide, filter and release of one request ask for the same principal's agreement: resolved once. */
  const perPrincipal = new WeakMap<Principal, Agreement | Error>();

  function agreementOf(p: Principal): Agreement | Error {
    const known = perPrincipal.get(p);
    if (known) return known;
    const a = agreementByContent(p);
    perPrincipal.set(p, a);
    return a;
  }

  function agreementByContent(p: Principal): Agreement | Error {
    // Keyed by content, not by updatedAt alone: two changes within one millisecond must not share a parse.
    const key = `${p.partner.id}\u0000${p.partner.kind}\u0000${p.partner.agreement ? JSON.stringify(p.partner.agreement) : ''}`;
    let a = agreements.get(key);
    if (!a) {
      try {
        a = agreementFor(p.partner);
      } catch (err) {
        a = err instanceof Error ? err : new Error(String(err));
      }
      if (agreements.size > 1000) agreements.clear();
      agreements.set(key, a);
    }
    return a;
  }

  /** Does a type belong to the Patient compartment (so a patient-context token is confined)? */
  const inCompartmentModel = (type: string) => type === 'Patient' || defs.patientCompartmentParams(type).length > 0;
  /**
   * The patients of the context resources (the matches `r` is disclosed alongside) that reference `r` or that
   * `r` references: a Medication answers to the patients whose prescriptions name it, a Provenance to the
   * patients of what it is about, not to every patient on the page.
   */
  const contextPatients = (r: Resource, context: readonly Resource[] | undefined): string[] => {
    const out = new Set<string>();
    if (!context?.length) return [];
    const own = collectReferenceStrings(r);
    for (const c of context) {
      if (!inCompartmentModel(c.resourceType)) continue;
      if (!names(collectReferenceStrings(c), r) && !names(own, c)) continue;
      for (const id of patientLinksOf(defs, c).patients) out.add(id);
    }
    return [...out];
  };

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

  function filter(p: Principal, resources: Resource[], use: 'read' | 'search' = 'read'): Resource[] {
    const perms: readonly Permission[] = use === 'search' ? ['s', 'r'] : ['r'];
    const a = agreementOf(p);
    if (a instanceof Error) return [];
    return resources.filter((r) => visible(p, r, perms) && agreementCovers(a, r));
  }

  return {
    decide(p, op: FhirOperation): Decision {
      const perm = REQUIRED_PERMISSION[op.interaction];
      if ((perm === 'c' || perm === 'u' || perm === 'd') && p.partner.kind !== 'internal') {
        return deny(403, 'GW_WRITE_NOT_ALLOWED', 'only the organization\'s internal systems may write');
      }
      const agreement = agreementOf(p);
      if (agreement instanceof Error) return deny(403, 'GW_AGREEMENT_INVALID', agreement.message);
      const inForce = checkAgreement(agreement, { purpose: p.purposeOfUse, now: clock.now() });
      if (!inForce.ok) return deny(403, inForce.code, inForce.reason);
      if (!agreementTypeAllowed(agreement, op.resourceType)) {
        return deny(403, 'GW_TYPE_NOT_ALLOWED', `the agreement with ${p.partner.id} does not cover ${op.resourceType}`);
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
      const scopeNarrowing = grants.every((g) => g.query?.length)
        ? grants.map((g) => (g.query ?? []).map((q) => ({ code: q.code, values: [{ value: q.value }] })))
        : undefined;
      // The organization's own systems are not narrowed by an agreement in the query (their searches keep
      // exact totals); what leaves is still checked against the agreement by filter().
      const anyOf = p.partner.kind === 'internal'
        ? scopeNarrowing
        : andNarrowing(scopeNarrowing, agreementNarrowing(agreement, op.resourceType));
      if (anyOf?.length) narrow.anyOf = anyOf;
      return {
        effect: 'permit',
        purposeOfUse: p.purposeOfUse,
        legalBasis: legalBasisFor(agreement, p.purposeOfUse),
        narrow,
      };
    },

    filter,

    async release(p, candidates, use = 'read', opts = {}): Promise<Release> {
      const allowed = filter(p, candidates, use);
      const out: Release = { resources: allowed, obligations: [], legalBasisByPatient: new Map() };
      if (!consentsApplyTo(p.partner.kind) || !allowed.length) return out;
      const agreement = agreementOf(p);
      if (agreement instanceof Error) return { ...out, resources: [] };

      const patientsOf = new Map<Resource, string[]>();
      const patients = new Set<string>();
      for (const r of allowed) {
        const ids = inCompartmentModel(r.resourceType) ? patientLinksOf(defs, r).patients : [];
        if (ids.length) {
          patientsOf.set(r, ids);
          for (const id of ids) patients.add(id);
        } else if (sensitive(r)) {
          // Labelled data that names no patient (a Medication or Provenance written with a patient's sensitive
          // record) answers to the consents of the patients it leaves with; with none, nobody's consent
          // can let it leave.
          const context = contextPatients(r, opts.context);
          patientsOf.set(r, context);
          for (const id of context) patients.add(id);
        }
      }
      if (!patients.size) {
        // No patient to ask: what is in patientsOf here is labelled data without context, and it does not leave.
        out.resources = allowed.filter((r) => !patientsOf.has(r));
        return out;
      }
      const consents = deps.consents ? await deps.consents([...patients]) : new Map();
      const now = clock.now();
      const evaluators = new Map([...patients].map((patient) => [patient, createConsentEvaluator(consents.get(patient) ?? [], {
        recipient: { partnerId: p.partner.id, ...agreement.recipient, ...(p.user ? { practitioner: p.user } : {}) },
        purpose: p.purposeOfUse, now, patient, consentRequired: agreement.consentRequired,
      })]));
      const obligations = new Map<string, Obligation>();
      const contributions = new Map<Resource, { obligations: Obligation[]; bases: Array<[string, string]> }>();
      out.resources = allowed.filter((r) => {
        const ids = patientsOf.get(r);
        if (!ids) return true; // not patient data and not labelled (Practitioner, Organization, ...)
        if (!ids.length) return false; // labelled, and no patient it leaves with
        // Every patient the resource belongs to must allow it; only then do its consents count as the basis.
        const verdicts = [];
        for (const patient of ids) {
          const c = consentVerdictFor(evaluators.get(patient)!, r, agreement.consentRequired);
          if (!c.allowed) return false;
          verdicts.push({ patient, v: c.verdict });
        }
        const own = { obligations: [] as Obligation[], bases: [] as Array<[string, string]> };
        for (const { patient, v } of verdicts) {
          if (v.effect === 'permit' && v.consentRef) {
            const basis = formatLegalBasis(legalBasisFor(agreement, p.purposeOfUse), v.consentRef);
            own.bases.push([patient, basis]);
            if (!out.legalBasisByPatient.has(patient)) out.legalBasisByPatient.set(patient, basis);
          }
          for (const o of v.obligations) {
            if (o.kind === 'withhold') continue;
            obligations.set(JSON.stringify(o), o);
            own.obligations.push(o);
          }
        }
        contributions.set(r, own);
        return true;
      });
      out.obligations = [...obligations.values()];
      out.contributions = contributions;
      return out;
    },

    mayWrite(p, interaction, resource) {
      return visible(p, resource, [REQUIRED_PERMISSION[interaction]]);
    },
  };
}
