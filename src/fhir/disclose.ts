/**
 * The one road data takes out of the gateway (design.md "Every disclosure goes one way"):
 * `authorize` asks policy before the store is touched; `release` is the only function that hands
 * resources to a response: it filters them through policy and records the disclosure durably first.
 * Every read-type handler (read, vread, history, search with _include/_revinclude, $everything,
 * GET entries of a batch) ends in `release`; nothing else puts stored resources in a response body.
 */
import type { Resource } from '@medplum/fhirtypes';
import { notFound, OutcomeError } from '../core/outcome.js';
import type { Decision, FhirOperation } from '../policy/types.js';
import type { DisclosureChannel } from '../store/types.js';
import type { FhirContext, FhirDeps } from './types.js';

export type Permit = Extract<Decision, { effect: 'permit' }>;

/**
 * policy.decide, with a deny turned into the OutcomeError the client gets (its status: 401/403/404).
 * A 404 deny is rendered exactly like a missing `Type/id`, so it is no existence oracle.
 */
export function authorize(deps: Pick<FhirDeps, 'policy' | 'log'>, ctx: FhirContext, op: FhirOperation): Permit {
  const decision = deps.policy.decide(ctx.principal, op);
  if (decision.effect === 'deny') {
    deps.log.info({ requestId: ctx.requestId, clientId: ctx.principal.clientId, interaction: op.interaction,
      resourceType: op.resourceType, code: decision.code }, 'access.denied');
    if (decision.status === 404) throw notFound(op.id ? `${op.resourceType}/${op.id}` : op.resourceType);
    throw new OutcomeError(decision.status, decision.status === 401 ? 'login' : 'forbidden', decision.code, decision.reason);
  }
  return decision;
}

/** True when the decision narrows what the store returns (so totals would reveal what was held back). */
export function isNarrowed(decision: Permit): boolean {
  return Boolean(decision.narrow.compartmentPatient) || Boolean(decision.narrow.anyOf?.length);
}

export interface Released {
  /** What leaves, in the order given. */
  resources: Resource[];
  /** How many of the candidates policy held back. */
  dropped: number;
}

/**
 * Filters `candidates` through policy and records the disclosure of what remains, before the caller
 * responds. When recording fails the error (503 GW_AUDIT_UNAVAILABLE) propagates and nothing is sent.
 * When nothing remains nothing is recorded, so a hidden resource answers exactly like a missing one.
 */
export async function release(
  deps: Pick<FhirDeps, 'policy' | 'audit'>,
  ctx: FhirContext,
  decision: Permit,
  channel: DisclosureChannel,
  candidates: Resource[],
): Promise<Released> {
  const use = channel === 'search' || channel === 'audit' ? 'search' : 'read';
  const resources = candidates.length ? deps.policy.filter(ctx.principal, candidates, use) : [];
  if (resources.length) {
    await deps.audit.recordDisclosure({
      principal: ctx.principal,
      purposeOfUse: decision.purposeOfUse,
      legalBasis: decision.legalBasis,
      channel,
      resources,
      requestId: ctx.requestId,
    });
  }
  return { resources, dropped: candidates.length - resources.length };
}

/**
 * Logs (without PHI) that policy held back what a read asked for; the client sees a plain 404.
 * See catalogue F-04: a hidden resource is "audited as a denied attempt".
 */
export function logHidden(deps: Pick<FhirDeps, 'log'>, ctx: FhirContext, interaction: string, resourceType: string): void {
  deps.log.info({ requestId: ctx.requestId, clientId: ctx.principal.clientId, interaction, resourceType }, 'access.hidden');
}

/**
 * Whether policy would let any of `candidates` leave, without disclosing them (used to decide between
 * 404 and 410 for deleted resources: a hidden resource must not reveal that it ever existed).
 */
export function anyVisible(deps: Pick<FhirDeps, 'policy'>, ctx: FhirContext, candidates: Resource[]): boolean {
  return candidates.length > 0 && deps.policy.filter(ctx.principal, candidates).length > 0;
}
