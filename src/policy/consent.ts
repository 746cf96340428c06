/**
 * Patient consent: evaluation of FHIR R4 Consent resources (scope patient-privacy) for one recipient,
 * one purpose of use and one instant. Pure: the caller reads the patient's consents (current versions,
 * so a revocation counts on the next request) and passes them in; nothing here stores or caches.
 *
 * Rules (docs/consent.md has the reasons and examples):
 * - Only `status = active` consents with scope patient-privacy count; draft, proposed, rejected,
 *   inactive and entered-in-error are ignored. When `patient` is given, consents for another patient are too.
 * - A provision applies when every criterion it states matches (actor, purpose, action, period, and for a
 *   resource: class, code, securityLabel, data). Nested provisions are exceptions to their parent and are
 *   only considered where the parent applies; along one branch the deepest applying provision decides;
 *   between siblings, and between consents, deny beats permit.
 * - A criterion the gateway cannot evaluate (dataPeriod, `related` data, an unknown system) fails closed:
 *   a deny provision applies, a permit provision does not.
 * - A resource labelled for 42 CFR Part 2 (part2Required) leaves only under a permit whose path names this
 *   recipient (partner identifier, its organization, or the requesting practitioner) and lists a purpose
 *   that covers the request; it then carries the 2.32 redisclosure notice and the consent-scope obligation.
 * Criteria that do not depend on the resource are evaluated once per evaluator, so forResource() only
 * reads the resource's type, id, profiles, labels and primary code: no FHIRPath per resource.
 */
import type { CodeableConcept, Coding, Consent, ConsentProvision, Reference, Resource } from '@medplum/fhirtypes';
import {
  ACT_CODE_SYSTEM, codingMatches, CONFIDENTIALITY_SYSTEM, labelCodes, periodContains, purposeCode, purposeCovers,
  SEC_LABEL_BASIS_URL, securityLabels, toEpochMs,
} from './consent-codes.js';

/** Identifier system naming a gateway partner (Partner.id) as a consent actor: `actor.reference.identifier`. */
export const PARTNER_IDENTIFIER_SYSTEM = 'https://fhir-exchange-gateway.dev/partner';
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const CONSENT_ACTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentaction';
export const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';

/**
 * 42 CFR 2.32(a)(1), "Statement 1", as amended by the 2024 final rule (89 FR 12472). Each disclosure made
 * with the patient's written consent must be accompanied by it (or by Statement 2, PART2_NOTICE_SHORT).
 * Wording verified against secondary sources (see docs/consent.md), not against the eCFR itself.
 */
export const PART2_REDISCLOSURE_NOTICE =
  'This record which has been disclosed to you is protected by Federal confidentiality rules (42 CFR part 2). '
  + 'These rules prohibit you from using or disclosing this record, or testimony that describes the information '
  + 'contained in this record, in any civil, criminal, administrative, or legislative proceedings by any Federal, '
  + 'State, or local authority, against the patient, unless authorized by the consent of the patient, except as '
  + 'provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. In addition, '
  + 'the Federal rules prohibit you from making any other use or disclosure of this record unless at least one of '
  + 'the following applies: '
  + '(i) Further use or disclosure is expressly permitted by the written consent of the individual whose information '
  + 'is being disclosed in this record or as otherwise permitted by 42 CFR part 2. '
  + '(ii) You are a covered entity or business associate and have received the record for treatment, payment, or '
  + 'health care operations, or '
  + '(iii) You have received the record from a covered entity or business associate as permitted by 45 CFR part 164, '
  + 'subparts A and E. '
  + 'A general authorization for the release of medical or other information is NOT sufficient to meet the required '
  + 'elements of written consent to further use or redisclose the record (see 42 CFR 2.31).';

/** 42 CFR 2.32(a)(2), "Statement 2" (2024): the short form, for where Statement 1 cannot travel. */
export const PART2_NOTICE_SHORT = '42 CFR part 2 prohibits unauthorized use or disclosure of these records.';

/** Label codes that mark a resource as 42 CFR Part 2 data on their own. */
export const PART2_LABELS: readonly string[] = ['ETH', '42CFRPart2'];

/** What must accompany or be done to a disclosure. */
export type Obligation =
  /** 42 CFR 2.32(a): attach the notice to the disclosed Part 2 record. */
  | { kind: 'redisclosure-notice'; authority: '42 CFR 2.32(a)(1)'; text: string; consentRef: string }
  /** 42 CFR 2.32(b): a copy of the consent, or a clear explanation of its scope, accompanies the disclosure. */
  | { kind: 'consent-scope'; authority: '42 CFR 2.32(b)'; consentRef: string }
  /**
   * Resources carrying any of these label codes must not leave (a hint for store narrowing, `_security:not`;
   * forResource() remains authoritative and also catches what a label code alone cannot express).
   */
  | { kind: 'withhold'; labels: string[]; reason: string };

export type VerdictCode =
  | 'GW_CONSENT_PERMIT'
  | 'GW_CONSENT_DENIED'
  | 'GW_CONSENT_REQUIRED'
  | 'GW_PART2_CONSENT_REQUIRED'
  | 'GW_NO_CONSENT';

export interface Verdict {
  /** permit: a consent allows it; deny: it must not leave; none: no consent speaks to it. */
  effect: 'permit' | 'deny' | 'none';
  code: VerdictCode;
  /** The deciding consent, `Consent/<id>` (for the legal basis and the explanation). */
  consentRef?: string;
  /** The deciding provision within it (`provision`, `provision.provision[1]`, ...). */
  provisionPath?: string;
  reason: string;
  obligations: Obligation[];
}

/** The party that would receive the data. */
export interface Recipient {
  /** Partner.id (matched against actor identifiers with PARTNER_IDENTIFIER_SYSTEM). */
  partnerId: string;
  /** The partner's organization, `Organization/<id>`. */
  organization?: string;
  /** Care teams the recipient belongs to, `CareTeam/<id>`. */
  careTeams?: string[];
  /** The person behind the request (Principal.user, fhirUser): `Practitioner/<id>`. */
  practitioner?: string;
  /** Other identifiers of the recipient organization (e.g. its NPI from the UDAP hl7-b2b organization_id). */
  identifiers?: Array<{ system: string; value: string }>;
}

export interface ConsentContext {
  recipient: Recipient;
  /** Asserted HL7 PurposeOfUse code. */
  purpose: string;
  /** The server's clock (the store's time), never the client's. */
  now: string | number | Date;
  /** Patient id; consents whose `patient` names another patient are ignored. */
  patient?: string;
  /** The agreement requires explicit consent: without an applicable permit nothing leaves. */
  consentRequired?: boolean;
}

/** The evidence a consent carries, for explanations and the consent API. */
export interface ConsentSummary {
  ref: string;
  status: string;
  dateTime?: string;
  policyRule?: string[];
  policy?: string[];
  /** Who agreed or declined (Consent.performer). */
  performers: string[];
  /** Custodian organizations (Consent.organization). */
  organizations: string[];
  /** The signed source: sourceReference or the attachment's url/title. */
  source?: string;
  verifiedBy: string[];
}

export interface ConsentEvaluator {
  /**
   * Whether anything at all may be disclosed to this recipient for this purpose: deny when a whole-record
   * deny applies with no exception that could permit part of the record, or when consent is required and
   * no permit could apply; permit when a whole-record permit applies; none otherwise. Its obligations hold
   * `withhold` hints for store narrowing.
   */
  patientLevel: Verdict;
  /** True when some active consent could permit at least part of the record to this recipient now. */
  permitsAny: boolean;
  /** The verdict for one resource that would leave. */
  forResource(resource: Resource): Verdict;
  /** The consents taken into account (active, patient-privacy, this patient), with their evidence. */
  considered: ConsentSummary[];
  /** Consents ignored, with why (inactive, other scope, other patient, nothing to evaluate). */
  ignored: Array<{ ref: string; reason: string }>;
}

// ---------------------------------------------------------------- Part 2

const isPart2Basis = (c: Coding) =>
  (c.extension ?? []).some((e) => e.url === SEC_LABEL_BASIS_URL && e.valueCoding?.code === '42CFRPart2');

/**
 * Whether a resource is 42 CFR Part 2 data: labelled ETH (substance abuse information sensitivity, the DS4P
 * label for Part 2 records) or 42CFRPart2 (the privacy law code itself), or carrying any security label whose
 * sec-label-basis is 42CFRPart2 (notably confidentiality R with that basis). SUD alone is not Part 2: SUD
 * information from a provider that is not a Part 2 program is HIPAA data.
 */
export function part2Required(resource: Resource): boolean {
  const codes = labelCodes(resource);
  if (PART2_LABELS.some((l) => codes.has(l))) return true;
  return securityLabels(resource).some(isPart2Basis);
}

// ---------------------------------------------------------------- matching

type Tri = 'yes' | 'no' | 'unknown';
type Effect = 'permit' | 'deny';

const and = (a: Tri, b: Tri): Tri => (a === 'no' || b === 'no' ? 'no' : a === 'unknown' || b === 'unknown' ? 'unknown' : 'yes');
const anyOf = (xs: Tri[]): Tri => (xs.includes('yes') ? 'yes' : xs.includes('unknown') ? 'unknown' : 'no');
/** A deny applies on unknown, a permit does not; a provision without a type groups its children. */
const applies = (t: Tri, effect: Effect | undefined) => t === 'yes' || (t === 'unknown' && effect !== 'permit');

/** `Type/id` from a relative or absolute literal reference, without `_history`. */
function refKey(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** Participation roles that say who holds or wrote the data, not who receives it. */
const NON_RECIPIENT_ROLES = new Set(['AUT', 'CST', 'INF', 'ENT', 'VRF', 'LA', 'AUTHEN', 'WIT']);

interface ActorMatch { t: Tri; named: boolean }

function matchActors(actors: ConsentProvision['actor'], r: Recipient): ActorMatch {
  const recipients = (actors ?? []).filter((a) => !(a.role?.coding ?? []).some((c) => c.code && NON_RECIPIENT_ROLES.has(c.code)));
  if (!recipients.length) return { t: 'yes', named: false };
  let named = false;
  let careTeam = false;
  // An actor the gateway cannot compare with this recipient (an Organization when the partner's organization
  // is not registered, say) is `unknown`: a deny then applies and a permit does not (fail closed). The
  // partner's agreement names its organization, identifiers and care teams (Agreement.recipient).
  let unknown = false;
  for (const a of recipients) {
    const ref: Reference = a.reference;
    const key = refKey(ref.reference);
    const id = ref.identifier;
    if (id?.system === PARTNER_IDENTIFIER_SYSTEM && id.value === r.partnerId) named = true;
    else if (id?.system && id.value && r.identifiers?.some((x) => x.system === id.system && x.value === id.value)) named = true;
    else if (key && (key === r.organization || key === r.practitioner)) named = true;
    else if (key && r.careTeams?.includes(key)) careTeam = true;
    else if (id?.system && id.system !== PARTNER_IDENTIFIER_SYSTEM && !r.identifiers?.length) unknown = true;
    else if (key?.startsWith('Organization/') && !r.organization) unknown = true;
    else if (key?.startsWith('CareTeam/') && !r.careTeams?.length) unknown = true;
    else if (key?.startsWith('Practitioner/') && !r.practitioner) unknown = true;
  }
  return { t: named || careTeam ? 'yes' : unknown ? 'unknown' : 'no', named };
}

function matchPurpose(purposes: Coding[] | undefined, asserted: string, effect: Effect | undefined): Tri {
  if (!purposes?.length) return 'yes';
  return anyOf(purposes.map((c) => {
    const code = purposeCode(c);
    if (code === undefined) return 'unknown';
    return purposeCovers(code, asserted, effect ?? 'permit') ? 'yes' : 'no';
  }));
}

/** Actions that a disclosure is: the recipient accesses, uses, or is disclosed the data. */
const DISCLOSURE_ACTIONS = new Set(['access', 'use', 'disclose']);

function matchAction(actions: CodeableConcept[] | undefined): Tri {
  if (!actions?.length) return 'yes';
  return anyOf(actions.flatMap((a) => a.coding ?? []).map((c) => {
    if (c.system !== CONSENT_ACTION_SYSTEM) return 'unknown';
    return c.code && DISCLOSURE_ACTIONS.has(c.code) ? 'yes' : 'no';
  }));
}

/** The primary code of the resource types consents usually target by `provision.code`. */
function primaryCodings(r: Resource): Coding[] | undefined {
  switch (r.resourceType) {
    case 'Condition': case 'Observation': case 'Procedure': case 'AllergyIntolerance': case 'DiagnosticReport':
    case 'ServiceRequest': case 'Medication':
      return r.code?.coding ?? [];
    case 'MedicationRequest': case 'MedicationDispense': case 'MedicationStatement': case 'MedicationAdministration':
      return r.medicationCodeableConcept?.coding ?? [];
    case 'Immunization': return r.vaccineCode?.coding ?? [];
    case 'DocumentReference': return r.type?.coding ?? [];
    case 'Encounter': return (r.type ?? []).flatMap((t) => t.coding ?? []);
    default: return undefined;
  }
}

const LABEL_SYSTEMS = new Set([ACT_CODE_SYSTEM, CONFIDENTIALITY_SYSTEM]);

interface DataCriteria {
  class?: Coding[];
  code?: CodeableConcept[];
  securityLabel?: Coding[];
  data?: ConsentProvision['data'];
  dataPeriod?: unknown;
}

const hasData = (d: DataCriteria) => Boolean(d.class?.length || d.code?.length || d.securityLabel?.length || d.data?.length || d.dataPeriod);

function matchData(d: DataCriteria, r: Resource): Tri {
  let t: Tri = 'yes';
  if (d.class?.length) {
    t = and(t, anyOf(d.class.map((c) => {
      if (c.system === RESOURCE_TYPES_SYSTEM || (!c.system && c.code && /^[A-Z][A-Za-z]+$/.test(c.code))) return c.code === r.resourceType ? 'yes' : 'no';
      if (c.code?.startsWith('http')) return r.meta?.profile?.includes(c.code) ? 'yes' : 'no';
      return 'unknown';
    })));
  }
  if (d.securityLabel?.length) {
    const labels = securityLabels(r);
    t = and(t, d.securityLabel.some((p) => labels.some((l) => codingMatches(p, l))) ? 'yes' : 'no');
  }
  if (d.code?.length) {
    const labels = securityLabels(r);
    const own = primaryCodings(r);
    t = and(t, anyOf(d.code.flatMap((cc) => cc.coding ?? []).map((p) => {
      if (p.system && LABEL_SYSTEMS.has(p.system)) return labels.some((l) => codingMatches(p, l)) ? 'yes' : 'no';
      if (own === undefined) return 'unknown';
      return own.some((c) => codingMatches(p, c)) ? 'yes' : 'no';
    })));
  }
  if (d.data?.length) {
    const self = `${r.resourceType}/${r.id}`;
    t = and(t, anyOf(d.data.map((x) => (x.meaning === 'instance' ? (refKey(x.reference.reference) === self ? 'yes' : 'no') : 'unknown'))));
  }
  if (d.dataPeriod) t = and(t, 'unknown'); // needs each type's clinical date: not evaluated, fails closed
  return t;
}

// ---------------------------------------------------------------- the provision tree

interface Node {
  consentRef: string;
  path: string;
  /** Own type, or the parent's for a provision without one. */
  effect: Effect | undefined;
  /** The resource-independent criteria (actor, purpose, action, period) for this context. */
  ctx: Tri;
  /** An actor names this recipient itself (not only through a care team). */
  named: boolean;
  /** The provision lists purposes (and, since ctx held, one covers the request). */
  purposeListed: boolean;
  data: DataCriteria;
  children: Node[];
}

function buildNode(p: ConsentProvision, consentRef: string, path: string, inherited: Effect | undefined, c: ConsentContext, nowMs: number): Node {
  const effect = (p.type as Effect | undefined) ?? inherited;
  const actor = matchActors(p.actor, c.recipient);
  const inPeriod = periodContains(p.period, nowMs);
  let ctx = and(actor.t, matchPurpose(p.purpose, c.purpose, effect));
  ctx = and(ctx, matchAction(p.action));
  ctx = and(ctx, inPeriod === undefined ? 'unknown' : inPeriod ? 'yes' : 'no');
  return {
    consentRef, path, effect, ctx, named: actor.named, purposeListed: Boolean(p.purpose?.length),
    data: { class: p.class, code: p.code, securityLabel: p.securityLabel, data: p.data, dataPeriod: p.dataPeriod },
    children: (p.provision ?? []).map((ch, i) => buildNode(ch, consentRef, `${path}.provision[${i}]`, effect, c, nowMs)),
  };
}

interface Outcome {
  effect: Effect;
  node: Node;
  /** Some provision on the path names the recipient, and some lists a covering purpose (Part 2). */
  part2: boolean;
}

/**
 * The outcome of one provision subtree for a resource, or (resource undefined) for the whole record, where
 * only provisions without data criteria can apply.
 */
function evaluate(n: Node, r: Resource | undefined, named: boolean, purposed: boolean): Outcome | undefined {
  const t = r ? and(n.ctx, matchData(n.data, r)) : hasData(n.data) ? 'no' : n.ctx;
  if (!applies(t, n.effect)) return undefined;
  const nm = named || n.named;
  const pp = purposed || n.purposeListed;
  const below = n.children.map((ch) => evaluate(ch, r, nm, pp)).filter((o): o is Outcome => o !== undefined);
  if (below.length) return pick(below);
  return n.effect ? { effect: n.effect, node: n, part2: nm && pp } : undefined;
}

/** Deny beats permit; among permits, one good for Part 2 first. */
function pick(os: Outcome[]): Outcome {
  return os.find((o) => o.effect === 'deny') ?? os.find((o) => o.part2) ?? (os[0] as Outcome);
}

/**
 * Whether some resource could be permitted through this subtree: a permit provision whose context criteria
 * hold, not overridden for all data by a child deny without data criteria (unless that deny itself has a
 * permitting exception). With needPart2, the permit's path must also name the recipient and list a purpose.
 */
function canPermit(n: Node, needPart2: boolean, named = false, purposed = false): boolean {
  if (!applies(n.ctx, n.effect)) return false;
  const nm = named || n.named;
  const pp = purposed || n.purposeListed;
  if (n.children.some((ch) => canPermit(ch, needPart2, nm, pp))) return true;
  if (n.effect !== 'permit' || n.ctx !== 'yes' || (needPart2 && !(nm && pp))) return false;
  return !n.children.some((ch) => ch.effect === 'deny' && !hasData(ch.data) && applies(ch.ctx, ch.effect));
}

/** Label codes denied outright by reachable label-only deny leaves (for the withhold hint). */
function deniedLabels(n: Node, out: Set<string>): void {
  if (!applies(n.ctx, n.effect)) return;
  const d = n.data;
  if (n.effect === 'deny' && !n.children.length && d.securityLabel?.length && !d.class?.length && !d.code?.length && !d.data?.length && !d.dataPeriod) {
    for (const l of d.securityLabel) if (l.code) out.add(l.code);
    return;
  }
  if (hasData(d)) return; // below a data-scoped provision the hint would need the data criteria too
  for (const ch of n.children) deniedLabels(ch, out);
}

// ---------------------------------------------------------------- consents

const hasCode = (ccs: CodeableConcept[] | CodeableConcept | undefined, system: string, code: string) =>
  [ccs ?? []].flat().some((cc) => (cc.coding ?? []).some((c) => c.system === system && c.code === code));

/**
 * The root provision of a consent. Without `provision`, a policyRule of OPTOUT (or OPTOUTE, whose
 * exceptions are then missing: fail closed) denies everything, OPTIN permits everything; anything else
 * has nothing to evaluate.
 */
function rootOf(consent: Consent): ConsentProvision | undefined {
  if (consent.provision) return consent.provision;
  const rules = (consent.policyRule?.coding ?? []).filter((c) => c.system === ACT_CODE_SYSTEM).map((c) => c.code);
  if (rules.includes('OPTOUT') || rules.includes('OPTOUTE')) return { type: 'deny' };
  if (rules.includes('OPTIN')) return { type: 'permit' };
  return undefined;
}

/** The evidence a consent carries, for the explanation. */
export function summarizeConsent(consent: Consent): ConsentSummary {
  const refText = (r: Reference) => r.reference ?? (r.identifier ? `${r.identifier.system ?? ''}|${r.identifier.value ?? ''}` : r.display ?? '');
  const source = consent.sourceReference ? refText(consent.sourceReference)
    : consent.sourceAttachment ? (consent.sourceAttachment.url ?? consent.sourceAttachment.title ?? 'attachment') : undefined;
  return {
    ref: `Consent/${consent.id ?? '?'}`,
    status: consent.status ?? 'unknown',
    ...(consent.dateTime ? { dateTime: consent.dateTime } : {}),
    ...(consent.policyRule ? { policyRule: (consent.policyRule.coding ?? []).map((c) => c.code ?? '') } : {}),
    ...(consent.policy?.length ? { policy: consent.policy.map((p) => p.uri ?? p.authority ?? '') } : {}),
    performers: (consent.performer ?? []).map(refText),
    organizations: (consent.organization ?? []).map(refText),
    ...(source ? { source } : {}),
    verifiedBy: (consent.verification ?? []).filter((v) => v.verified).map((v) => (v.verifiedWith ? refText(v.verifiedWith) : 'verified')),
  };
}

function whyIgnored(c: Consent, patient: string | undefined): string | undefined {
  if (c.status !== 'active') return `status is ${c.status ?? 'missing'}`;
  if (!hasCode(c.scope, CONSENT_SCOPE_SYSTEM, 'patient-privacy')) return 'scope is not patient-privacy';
  if (patient !== undefined && refKey(c.patient?.reference) !== `Patient/${patient}`) return 'it is for another patient';
  if (!rootOf(c)) return 'it has no provision and no OPTIN/OPTOUT policy rule';
  return undefined;
}

const verdict = (effect: Verdict['effect'], code: VerdictCode, reason: string, o?: Outcome, obligations: Obligation[] = []): Verdict => ({
  effect, code, reason, obligations,
  ...(o ? { consentRef: o.node.consentRef, provisionPath: o.node.path } : {}),
});

/**
 * Builds the evaluator for one request. Cost: one pass over the consents here; forResource() then walks
 * the (small) provision trees with direct element reads.
 */
/**
 * Whether patients' consents apply to a recipient: they restrict disclosures to others, not the
 * organization's own systems (partners of kind `internal`). policy.release and the explanation both ask this.
 */
export const consentsApplyTo = (partnerKind: string): boolean => partnerKind !== 'internal';

/**
 * One resource of one patient, under that patient's consents, as policy.release decides it and the explanation
 * reports it: a whole-record deny, a deny for the resource, or (when the agreement requires consent) no permit
 * withholds it; otherwise it may leave, on the given verdict.
 */
export function consentVerdictFor(ev: ConsentEvaluator, resource: Resource, consentRequired: boolean):
  { allowed: true; verdict: Verdict } | { allowed: false; code: VerdictCode } {
  if (ev.patientLevel.effect === 'deny') return { allowed: false, code: ev.patientLevel.code };
  const verdict = ev.forResource(resource);
  if (verdict.effect === 'deny' || (consentRequired && verdict.effect !== 'permit')) return { allowed: false, code: verdict.code };
  return { allowed: true, verdict };
}

export function createConsentEvaluator(consents: readonly Consent[], ctx: ConsentContext): ConsentEvaluator {
  const nowMs = toEpochMs(ctx.now);
  const roots: Node[] = [];
  const considered: ConsentSummary[] = [];
  const ignored: Array<{ ref: string; reason: string }> = [];
  for (const c of consents) {
    const ref = `Consent/${c.id ?? '?'}`;
    const why = whyIgnored(c, ctx.patient);
    if (why) { ignored.push({ ref, reason: why }); continue; }
    considered.push(summarizeConsent(c));
    roots.push(buildNode(rootOf(c) as ConsentProvision, ref, 'provision', undefined, ctx, nowMs));
  }
  const who = `${ctx.recipient.partnerId} for ${ctx.purpose}`;

  const outcomes = (r: Resource | undefined) => roots.map((n) => evaluate(n, r, false, false)).filter((o): o is Outcome => o !== undefined);

  // ---- patient level
  const permitsAny = roots.some((n) => canPermit(n, false));
  const part2Possible = roots.some((n) => canPermit(n, true));
  const whole = outcomes(undefined);
  const wholeDeny = whole.find((o) => o.effect === 'deny');
  const withhold: Obligation[] = [];
  const labels = new Set<string>();
  for (const n of roots) deniedLabels(n, labels);
  if (labels.size) withhold.push({ kind: 'withhold', labels: [...labels].sort(), reason: 'a consent denies data with these labels to this recipient' });
  if (!part2Possible) withhold.push({ kind: 'withhold', labels: [...PART2_LABELS], reason: '42 CFR Part 2 data needs a consent naming this recipient and purpose' });

  let patientLevel: Verdict;
  const total = roots.map((n) => ({ n, o: evaluate(n, undefined, false, false) }))
    .find(({ n, o }) => o?.effect === 'deny' && !canPermit(n, false))?.o;
  if (total) {
    patientLevel = verdict('deny', 'GW_CONSENT_DENIED', `${total.node.consentRef} denies disclosure of the record to ${who}`, total);
  } else if (ctx.consentRequired && !permitsAny) {
    patientLevel = verdict('deny', 'GW_CONSENT_REQUIRED', `the agreement requires patient consent and no active consent permits ${who}`);
  } else if (!wholeDeny && whole.some((o) => o.effect === 'permit')) {
    const o = pick(whole);
    patientLevel = verdict('permit', 'GW_CONSENT_PERMIT', `${o.node.consentRef} permits disclosure to ${who}`, o, withhold);
  } else {
    patientLevel = verdict('none', 'GW_NO_CONSENT', wholeDeny
      ? `${wholeDeny.node.consentRef} denies the record to ${who} except where an exception permits`
      : `no consent covers the whole record for ${who}`, wholeDeny, withhold);
  }

  function forResource(r: Resource): Verdict {
    const os = outcomes(r);
    const deny = os.find((o) => o.effect === 'deny');
    const self = `${r.resourceType}/${r.id ?? '?'}`;
    if (deny) return verdict('deny', 'GW_CONSENT_DENIED', `${deny.node.consentRef} denies ${self} to ${who}`, deny);
    if (part2Required(r)) {
      const ok = os.find((o) => o.effect === 'permit' && o.part2);
      if (!ok) {
        return verdict('deny', 'GW_PART2_CONSENT_REQUIRED',
          `${self} is 42 CFR Part 2 data: it needs an active consent naming ${ctx.recipient.partnerId} and covering ${ctx.purpose}`);
      }
      return verdict('permit', 'GW_CONSENT_PERMIT', `${ok.node.consentRef} permits ${self} (42 CFR Part 2) to ${who}`, ok, [
        { kind: 'redisclosure-notice', authority: '42 CFR 2.32(a)(1)', text: PART2_REDISCLOSURE_NOTICE, consentRef: ok.node.consentRef },
        { kind: 'consent-scope', authority: '42 CFR 2.32(b)', consentRef: ok.node.consentRef },
      ]);
    }
    const permit = os.find((o) => o.effect === 'permit');
    if (permit) return verdict('permit', 'GW_CONSENT_PERMIT', `${permit.node.consentRef} permits ${self} to ${who}`, permit);
    if (ctx.consentRequired) return verdict('deny', 'GW_CONSENT_REQUIRED', `the agreement requires patient consent and none permits ${self} to ${who}`);
    return verdict('none', 'GW_NO_CONSENT', `no consent applies to ${self} for ${who}`);
  }

  return { patientLevel, permitsAny, forResource, considered, ignored };
}
