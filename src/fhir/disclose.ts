/**
 * The one road data takes out of the gateway (design.md "Every disclosure goes one way"):
 * `authorize` asks policy before the store is touched; `release` is the only function that hands
 * resources to a response: it filters them through policy and records the disclosure durably first.
 * Every read-type handler (read, vread, history, search with _include/_revinclude, $everything,
 * GET entries of a batch) ends in `release`; nothing else puts stored resources in a response body.
 */
import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import { GW_CODE_SYSTEM, notFound, OutcomeError } from '../core/outcome.js';
import { part2Required } from '../policy/consent.js';
import type { Decision, FhirOperation, Release } from '../policy/types.js';
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
  /** What the response must carry (42 CFR 2.32 redisclosure notices). */
  obligations: Release['obligations'];
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
  const screened = await screen(deps, ctx, channel, candidates);
  await recordScreened(deps, ctx, decision, channel, screened);
  const { legalBasisByPatient: _l, ...released } = screened;
  return released;
}

/**
 * release for matches and what they bring along (_include/_revinclude, the resources $everything adds): the
 * matches are screened first, and only the ones that leave are asked what they reference, so nothing comes
 * along for a match policy held back. What they bring is screened in turn, with the released matches as its
 * context (policy.release), and the whole response is recorded once.
 */
export async function releaseWithReferenced(
  deps: Pick<FhirDeps, 'policy' | 'audit'>,
  ctx: FhirContext,
  decision: Permit,
  channel: DisclosureChannel,
  matches: Resource[],
  referencedBy: (released: Resource[]) => Promise<Resource[]>,
  page?: { next?: Resource; laterReleasable: () => Promise<boolean> },
): Promise<Released & { moreMayLeave: boolean }> {
  const first = await screen(deps, ctx, channel, matches, undefined, page?.next);
  const referenced = first.resources.length ? await referencedBy(first.resources) : [];
  const second = await screen(deps, ctx, channel, referenced, first.resources);
  const both: Screened = {
    resources: [...first.resources, ...second.resources],
    dropped: first.dropped + second.dropped,
    ...merged([
      { obligations: first.obligations, bases: first.legalBasisByPatient },
      { obligations: second.obligations, bases: second.legalBasisByPatient },
    ]),
  };
  await recordScreened(deps, ctx, decision, channel, both);
  // A next link only when a later match may leave: a link to pages policy empties would say that withheld
  // matches exist. The first later match was asked with this page; only when it was held back are later
  // ones asked (page.laterReleasable).
  const moreMayLeave = page?.next !== undefined && (first.lookaheadReleased || await page.laterReleasable());
  return { resources: both.resources, dropped: both.dropped, obligations: both.obligations, moreMayLeave };
}

/** How many later matches are asked, at most, whether one may leave before a next link is given anyway. */
const LOOKAHEAD_LIMIT = 500;
const LOOKAHEAD_CHUNK = 50;

/**
 * Whether a match from store position `from` on may leave (screened, not recorded: nothing is sent).
 * Past LOOKAHEAD_LIMIT matches held back in a row it answers yes, so what may leave stays reachable.
 */
export async function anyReleasable(
  deps: Pick<FhirDeps, 'policy'>,
  ctx: FhirContext,
  channel: DisclosureChannel,
  page: (count: number, offset: number) => Promise<{ resources: Resource[]; hasMore: boolean }>,
  from: number,
): Promise<boolean> {
  for (let offset = from; offset < from + LOOKAHEAD_LIMIT; offset += LOOKAHEAD_CHUNK) {
    const chunk = await page(LOOKAHEAD_CHUNK, offset);
    if ((await screen(deps, ctx, channel, chunk.resources)).resources.length) return true;
    if (!chunk.hasMore) return false;
  }
  return true;
}

export interface Screened extends Released {
  legalBasisByPatient: Map<string, string>;
}

/**
 * The first half of release: what policy lets leave, not yet recorded. Only for a caller that must record
 * later (inside a store transaction, where recording would wait for the transaction's own lock): it records
 * with recordScreened after the transaction ends and before it responds, and only what the response reveals.
 */
export async function screen(
  deps: Pick<FhirDeps, 'policy'>,
  ctx: FhirContext,
  channel: DisclosureChannel,
  candidates: Resource[],
  context?: readonly Resource[],
  lookahead?: Resource,
): Promise<Screened & { lookaheadReleased: boolean }> {
  const use = channel === 'search' || channel === 'audit' ? 'search' : 'read';
  const all = lookahead ? [...candidates, lookahead] : candidates;
  const out: Release = all.length
    ? await deps.policy.release(ctx.principal, all, use, context ? { context } : {})
    : { resources: [], obligations: [], legalBasisByPatient: new Map<string, string>() };
  let { resources: kept, obligations, legalBasisByPatient } = out;
  const lookaheadReleased = lookahead !== undefined && kept.includes(lookahead);
  if (lookaheadReleased) {
    // The first match of the next page was asked in the same call (one consent read), but it is not sent:
    // the page carries only its own resources' obligations and legal bases. Without per-resource
    // contributions (a policy that does not report them) it keeps all: a notice too many, never one missing.
    kept = kept.filter((r) => r !== lookahead);
    const { contributions } = out;
    if (contributions) ({ obligations, legalBasisByPatient } = merged(kept.flatMap((r) => contributions.get(r) ?? [])));
  }
  const resources = obligations.some((o) => o.kind === 'redisclosure-notice') ? kept.map(markNoRedisclosure) : kept;
  return { resources, dropped: candidates.length - resources.length, obligations, legalBasisByPatient, lookaheadReleased };
}

/** Obligations without repeats and the first legal basis per patient, over `parts` in order. */
function merged(parts: ReadonlyArray<{ obligations: Release['obligations']; bases: Iterable<readonly [string, string]> }>):
  { obligations: Release['obligations']; legalBasisByPatient: Map<string, string> } {
  const obligations = new Map<string, Release['obligations'][number]>();
  const legalBasisByPatient = new Map<string, string>();
  for (const part of parts) {
    for (const o of part.obligations) obligations.set(JSON.stringify(o), o);
    for (const [patient, basis] of part.bases) if (!legalBasisByPatient.has(patient)) legalBasisByPatient.set(patient, basis);
  }
  return { obligations: [...obligations.values()], legalBasisByPatient };
}

/** The second half of release: records the disclosure of what was screened (nothing when nothing remains). */
export async function recordScreened(
  deps: Pick<FhirDeps, 'audit'>,
  ctx: FhirContext,
  decision: Permit,
  channel: DisclosureChannel,
  screened: Screened,
): Promise<void> {
  if (!screened.resources.length) return;
  await deps.audit.recordDisclosure({
    principal: ctx.principal,
    purposeOfUse: decision.purposeOfUse,
    legalBasis: decision.legalBasis,
    ...(screened.legalBasisByPatient.size ? { legalBasisByPatient: screened.legalBasisByPatient } : {}),
    channel,
    resources: screened.resources,
    requestId: ctx.requestId,
  });
}

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/**
 * A disclosed 42 CFR Part 2 resource carries the DS4P obligation label NORDSCLCD ("no redisclosure
 * without consent directive"), so the obligation travels with the resource itself (42 CFR 2.32).
 * A copy: the stored resource is not changed.
 */
function markNoRedisclosure(r: Resource): Resource {
  const labels = r.meta?.security ?? [];
  // The one reading of "42 CFR Part 2 data" (policy's): ETH, 42CFRPart2, or a label whose basis is 42 CFR Part 2.
  if (!part2Required(r) || labels.some((c) => c.code === 'NORDSCLCD')) return r;
  return {
    ...r,
    meta: {
      ...r.meta,
      security: [...labels, { system: ACT_CODE, code: 'NORDSCLCD', display: 'no redisclosure without consent directive' }],
    },
  };
}

/**
 * Bundle entries carrying the obligations' notices: an OperationOutcome with `search.mode = outcome`
 * (FHIR R4 search 3.1.1.4.2), severity information, one issue per notice (the 42 CFR 2.32(a)(1) text).
 */
export function obligationEntries(obligations: Release['obligations']): BundleEntry[] {
  const notices = [...new Set(obligations.filter((o) => o.kind === 'redisclosure-notice' && o.text).map((o) => o.text as string))];
  if (!notices.length) return [];
  return [{
    resource: {
      resourceType: 'OperationOutcome',
      issue: notices.map((text) => ({
        severity: 'information', code: 'informational',
        details: { coding: [{ system: GW_CODE_SYSTEM, code: 'GW_REDISCLOSURE_NOTICE' }], text },
      })),
    },
    search: { mode: 'outcome' },
  }];
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
export async function anyVisible(deps: Pick<FhirDeps, 'policy'>, ctx: FhirContext, candidates: Resource[]): Promise<boolean> {
  return candidates.length > 0 && (await deps.policy.release(ctx.principal, candidates)).resources.length > 0;
}
