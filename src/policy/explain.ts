/**
 * "Would partner P get patient X's data for purpose U, and why?" for administrators: the same rules as
 * policy.decide/release, evaluated step by step over the patient's stored resources, answering with
 * reasons and counts only. Nothing is disclosed and nothing is recorded as a disclosure.
 */
import type { Consent, Resource } from '@medplum/fhirtypes';
import type { Partner } from '../store/types.js';
import { agreementFor } from './policy.js';
import { checkAgreement, explainAgreementCoverage } from './agreements.js';
import { consentsApplyTo, consentVerdictFor, createConsentEvaluator, part2Required, type ConsentSummary } from './consent.js';

export interface ExplainStep {
  step: 'partner' | 'agreement' | 'purpose' | 'consent';
  ok: boolean;
  reason: string;
}

export interface Explanation {
  partner: string;
  patient: string;
  purpose: string;
  at: string;
  /** permit: some of the patient's data would leave; deny: none would. */
  outcome: 'permit' | 'deny';
  steps: ExplainStep[];
  /** Per resource type: how many stored resources would leave, and how many are held back and why. */
  resources: Array<{ resourceType: string; released: number; withheld: Record<string, number> }>;
  consents: { considered: ConsentSummary[]; ignored: Array<{ ref: string; reason: string }> };
  /** What the recipient would have to honour (42 CFR 2.32 notices), when any Part 2 data would leave. */
  obligations: string[];
  legalReference?: string;
}

export function explainDisclosure(o: {
  partner: Partner | undefined;
  partnerId: string;
  patient: string;
  purpose: string;
  now: number;
  consents: Consent[];
  /** The patient's stored resources (compartment), already fetched by the caller. */
  resources: Resource[];
}): Explanation {
  const at = new Date(o.now).toISOString();
  const base = { partner: o.partnerId, patient: o.patient, purpose: o.purpose, at };
  const steps: ExplainStep[] = [];
  const deny = (extra: Partial<Explanation> = {}): Explanation => ({
    ...base, outcome: 'deny', steps, resources: [], consents: { considered: [], ignored: [] }, obligations: [], ...extra,
  });

  if (!o.partner) {
    steps.push({ step: 'partner', ok: false, reason: `no partner ${o.partnerId} is registered` });
    return deny();
  }
  if (o.partner.status !== 'active') {
    steps.push({ step: 'partner', ok: false, reason: `the partner's registration is ${o.partner.status}: its tokens do not work` });
    return deny();
  }
  steps.push({ step: 'partner', ok: true, reason: `${o.partner.name} (${o.partner.kind}) is registered and active` });

  let agreement;
  try {
    agreement = agreementFor(o.partner);
  } catch (err) {
    steps.push({ step: 'agreement', ok: false, reason: (err as Error).message });
    return deny();
  }
  const source = o.partner.agreement ? 'its agreement' : `the default agreement for kind ${o.partner.kind}`;
  const check = checkAgreement(agreement, { purpose: o.purpose, now: o.now });
  if (!check.ok) {
    steps.push({ step: check.code === 'GW_PURPOSE_NOT_ALLOWED' ? 'purpose' : 'agreement', ok: false, reason: `${check.reason} (${source})` });
    return deny(agreement.legalReference ? { legalReference: agreement.legalReference } : {});
  }
  steps.push({ step: 'agreement', ok: true, reason: `${source} is in force${agreement.legalReference ? ` (${agreement.legalReference})` : ''}` });
  steps.push({ step: 'purpose', ok: true, reason: `${o.purpose} is among the agreement's purposes (${agreement.purposes.join(', ')})` });

  const consentsApply = consentsApplyTo(o.partner.kind);
  const ev = createConsentEvaluator(consentsApply ? o.consents : [], {
    recipient: { partnerId: o.partner.id, ...agreement.recipient }, purpose: o.purpose, now: o.now, patient: o.patient, consentRequired: agreement.consentRequired,
  });
  steps.push(consentsApply
    ? {
      step: 'consent',
      ok: ev.patientLevel.effect !== 'deny',
      reason: `${ev.patientLevel.reason}${ev.patientLevel.consentRef ? ` (${ev.patientLevel.consentRef})` : ''}`,
    }
    : { step: 'consent', ok: true, reason: 'consents restrict disclosures to others, not the organization\'s own systems (kind internal)' });

  const byType = new Map<string, { released: number; withheld: Record<string, number> }>();
  const obligations = new Set<string>();
  for (const r of o.resources) {
    const row = byType.get(r.resourceType) ?? { released: 0, withheld: {} };
    byType.set(r.resourceType, row);
    const hold = (why: string) => { row.withheld[why] = (row.withheld[why] ?? 0) + 1; };
    const coverage = explainAgreementCoverage(agreement, r);
    if (!coverage.ok) { hold(coverage.code); continue; }
    if (!consentsApply) { row.released++; continue; }
    const c = consentVerdictFor(ev, r, agreement.consentRequired);
    if (!c.allowed) { hold(c.code); continue; }
    row.released++;
    if (part2Required(r)) for (const ob of c.verdict.obligations) if (ob.kind === 'redisclosure-notice') obligations.add(ob.authority);
  }
  const resources = [...byType].map(([resourceType, v]) => ({ resourceType, ...v })).sort((a, b) => a.resourceType.localeCompare(b.resourceType));
  return {
    ...base,
    outcome: resources.some((r) => r.released > 0) ? 'permit' : 'deny',
    steps,
    resources,
    consents: { considered: ev.considered, ignored: ev.ignored },
    obligations: [...obligations],
    ...(agreement.legalReference ? { legalReference: agreement.legalReference } : {}),
  };
}
