/**
 * The accounting of disclosures, built from the disclosure log: the HIPAA accounting (45 CFR 164.528), the
 * full access report, and the 42 CFR Part 2 list (2.24, 2.25). Pure: the caller reads the patient's entries
 * from the store (DisclosureLog.listByPatient), the suspensions and the partner directory, and renders the
 * result with accountingBundle (accounting-bundle.ts) or accountingHtml (accounting-html.ts). One pass over the
 * entries, so a report stays cheap however long the patient's history is. Rules and decisions: docs/accounting.md.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/hash-chain.js';
import { badRequest } from '../core/outcome.js';
import { ACCOUNTING_EXCLUDED_BASES, type LegalBasis } from '../core/purpose-of-use.js';
import type { DisclosureEntry } from '../store/types.js';
import {
  entryBasis, isHonourable, isPart2, isSection512Basis, parseTime, part2Route, purposeStatement, resolvePeriod,
  suspensionCovers, suspensionInEffect, SUSPENDABLE_BASES,
} from './accounting-rules.js';
import {
  ACCOUNTING_KINDS, type AccountingKind, type AccountingLine, type AccountingOptions, type AccountingPeriod,
  type AccountingReport, type AccountingRequest, type AccountingSummary, type ExclusionReason, type Part2Route,
  type Suspension,
} from './accounting-types.js';

export * from './accounting-types.js';
export { suspensionInEffect, suspensionProblems } from './accounting-rules.js';

/** Recurring disclosures are summarized from this many on (164.528(b)(3) "multiple disclosures"). */
export const DEFAULT_SUMMARIZE_FROM = 3;

/** Bumped whenever a rule below changes what a report contains, so a retained record says which rules built it. */
export const ACCOUNTING_RULES_VERSION = '1';

interface Included {
  entry: DisclosureEntry;
  ms: number;
  basis: string;
  consentRef?: string;
  part2?: Part2Route;
}

/**
 * Builds one patient's report.
 *
 * For each entry of `entries` (any order; normally the store's oldest-first answer), in this order:
 * 1. another patient's entry is dropped (a store bug must not leak it: catalogue A-05);
 * 2. outside the period (resolvePeriod) it is dropped;
 * 3. hipaa: a basis in ACCOUNTING_EXCLUDED_BASES is excluded (164.528(a)(1)(i), (ii), (iv), (vi), (vii), (viii));
 *    business associates are not a reason to exclude (164.528(b)(1));
 *    part2: only Part 2 information (isPart2) disclosed with consent, or for TPO (part2Route; 2.25(a), (b));
 *    access-report: nothing is excluded;
 * 4. a disclosure to a health oversight agency or law enforcement official covered by a suspension in effect at
 *    `now` is withheld (164.528(a)(2); 2.25(a) applies (a)(2) to Part 2 too), unless opts.includeSuspended.
 * Then, for hipaa only, disclosures under 164.512 to the same recipient with the same basis and purpose of use
 * are summarized per 164.528(b)(3) once there are `summarizeFrom` (default 3) of them in the period.
 *
 * Throws a 400 OutcomeError for a malformed request (unknown kind, unreadable dates, an empty period).
 */
export function buildAccounting(
  entries: ReadonlyArray<DisclosureEntry>,
  req: AccountingRequest,
  opts: AccountingOptions,
): AccountingReport {
  if (!ACCOUNTING_KINDS.has(req.kind)) throw badRequest(`unknown accounting kind ${String(req.kind).slice(0, 40)}`, 'GW_INVALID_PERIOD');
  if (!req.patient) throw badRequest('an accounting is for one patient', 'GW_PATIENT_REQUIRED');
  const nowMs = parseTime(req.now);
  if (nowMs === undefined) throw badRequest('now must be an ISO instant', 'GW_INVALID_PERIOD');
  const summarizeFrom = opts.summarizeFrom ?? DEFAULT_SUMMARIZE_FROM;
  if (!(summarizeFrom >= 2) || (Number.isFinite(summarizeFrom) && !Number.isInteger(summarizeFrom))) {
    throw new RangeError('summarizeFrom must be an integer of at least 2, or Infinity');
  }
  const { startMs, endMs } = resolvePeriod(req.kind, nowMs, req.period);

  // Suspensions are few; keep those that can hide something of this patient's now.
  const active: Suspension[] = [];
  const ignored: string[] = [];
  for (const s of opts.suspensions) {
    if (!isHonourable(s)) { ignored.push(s.id || '(no id)'); continue; }
    if ((s.patient === undefined || s.patient === req.patient) && suspensionInEffect(s, nowMs)) active.push(s);
  }
  const applied = new Set<string>();

  const excluded: Partial<Record<ExclusionReason, number>> = {};
  const exclude = (why: ExclusionReason) => { excluded[why] = (excluded[why] ?? 0) + 1; };
  let withheld = 0;
  const included: Included[] = [];
  let ordered = true;
  let lastMs = -Infinity;
  let lastSeq = -Infinity;

  for (const e of entries) {
    if (e.patient !== req.patient) { exclude('other-patient'); continue; }
    // `recorded` comes from the store (an ISO instant it wrote), so the plain parse is enough and cheap.
    const ms = Date.parse(e.recorded);
    if (Number.isNaN(ms)) { exclude('invalid-date'); continue; }
    if (ms < startMs || ms > endMs) { exclude('outside-period'); continue; }
    const { basis, consentRef } = entryBasis(e.legalBasis, e.purposeOfUse);
    let route: Part2Route | undefined;
    if (req.kind === 'hipaa') {
      if (ACCOUNTING_EXCLUDED_BASES.has(basis as LegalBasis)) { exclude(basis as ExclusionReason); continue; }
    } else if (req.kind === 'part2') {
      if (!isPart2(e.labels)) { exclude('not-part2'); continue; }
      route = part2Route(basis, consentRef);
      if (!route) { exclude('part2-without-consent'); continue; }
    }
    if (!opts.includeSuspended && SUSPENDABLE_BASES.has(basis)) {
      const s = active.find((x) => suspensionCovers(x, req.patient, basis, e.recipient.partnerId));
      if (s) { withheld++; applied.add(s.id); continue; }
    }
    if (ms < lastMs || (ms === lastMs && e.seq < lastSeq)) ordered = false;
    lastMs = ms;
    lastSeq = e.seq;
    included.push({ entry: e, ms, basis, ...(consentRef ? { consentRef } : {}), ...(route ? { part2: route } : {}) });
  }
  // The store answers oldest first, so this sort almost never runs; when it does it only sorts what is reported.
  if (!ordered) included.sort((a, b) => a.ms - b.ms || a.entry.seq - b.entry.seq);

  const toLine = (i: Included): AccountingLine => line(i, req.kind, opts);
  const lines: AccountingLine[] = [];
  const summaries: AccountingSummary[] = [];
  if (req.kind === 'hipaa' && Number.isFinite(summarizeFrom)) {
    // Group by recipient, basis and purpose; (b)(3) allows it for 164.502(a)(2)(ii) and 164.512 disclosures only.
    const groups = new Map<string, Included[]>();
    for (const i of included) {
      if (!isSection512Basis(i.basis)) continue;
      const key = `${i.entry.recipient.partnerId}\u0000${i.basis}\u0000${i.entry.purposeOfUse}`;
      const g = groups.get(key);
      if (g) g.push(i); else groups.set(key, [i]);
    }
    const summarizedBy = new Map<Included, Included[]>();
    for (const g of groups.values()) {
      if (g.length >= summarizeFrom) for (const i of g) summarizedBy.set(i, g);
    }
    for (const i of included) {
      const g = summarizedBy.get(i);
      if (!g) { lines.push(toLine(i)); continue; }
      if (g[0] !== i) continue; // the summary is emitted at its first disclosure
      const last = g[g.length - 1] as Included;
      summaries.push({ first: toLine(i), count: g.length, lastDate: last.entry.recorded, seqs: g.map((x) => x.entry.seq) });
    }
  } else {
    for (const i of included) lines.push(toLine(i));
  }

  const period: AccountingPeriod = {
    ...(startMs === -Infinity ? {} : { start: new Date(startMs).toISOString() }),
    end: new Date(endMs).toISOString(),
  };
  return {
    patient: req.patient,
    kind: req.kind,
    period,
    generated: req.now,
    entries: lines,
    summaries,
    withheldBySuspension: withheld,
    suspensionsApplied: [...applied],
    suspensionsIgnored: ignored,
    excludedCounts: excluded,
    disclosures: included.map((i) => i.entry),
  };
}

function line(i: Included, kind: AccountingKind, opts: AccountingOptions): AccountingLine {
  const e = i.entry;
  const known = opts.recipients?.get(e.recipient.partnerId);
  // The name as recorded at the time of the disclosure; the directory only fills in an address the log lacks.
  const address = e.recipient.address || known?.address;
  return {
    seq: e.seq,
    date: e.recorded,
    recipient: {
      partnerId: e.recipient.partnerId,
      name: e.recipient.name,
      ...(address ? { address } : {}),
      businessAssociate: known?.businessAssociate === true,
    },
    description: e.description.trim() || describeResources(e.resources),
    purpose: purposeStatement(i.basis, e.purposeOfUse, i.consentRef),
    basis: i.basis,
    ...(i.consentRef ? { consentRef: i.consentRef } : {}),
    purposeOfUse: e.purposeOfUse,
    ...(kind === 'access-report' ? { access: { clientId: e.clientId, ...(e.user ? { user: e.user } : {}), channel: e.channel } } : {}),
    ...(i.part2 ? { part2: i.part2 } : {}),
  };
}

/** (b)(2)(iii) when an entry carries no description: the kinds of records and how many, no PHI. */
function describeResources(resources: DisclosureEntry['resources']): string {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r.resourceType, (counts.get(r.resourceType) ?? 0) + 1);
  if (!counts.size) return 'Health information (details not recorded)';
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${n} ${t}`).join(', ');
}

// ---------------------------------------------------------------- the accounting, itself recorded

/** Who asked for the accounting and how it was delivered. */
export interface AccountingRequester {
  /** The person or office that asked (the patient, a personal representative, a privacy officer). */
  requestedBy: string;
  clientId?: string;
  user?: string;
  requestId?: string;
  /** How it was provided: a FHIR Bundle or the HTML page. */
  format: 'fhir' | 'html';
}

/**
 * What the lead stores so that "each accounting provided" is documented and retained for 6 years
 * (164.530(j)(1)(ii) and (iii); 42 CFR 2.25(a) through 164.528(d)). The log is append-only, so the seqs, the
 * period, the suspensions applied and the rules version reproduce the accounting; `digest` (SHA-256 of the
 * canonical JSON of what the patient was given) proves it was that one.
 */
export interface AccountingProvided {
  event: 'accounting.provided';
  patient: string;
  kind: AccountingKind;
  period: AccountingPeriod;
  generated: string;
  requestedBy: string;
  clientId?: string;
  user?: string;
  requestId?: string;
  format: 'fhir' | 'html';
  /** Rows given: individual lines plus summaries. */
  lines: number;
  /** Disclosures those rows account for. */
  disclosures: number;
  summaries: number;
  seqs: number[];
  withheldBySuspension: number;
  suspensionsApplied: string[];
  rulesVersion: string;
  digest: string;
}

export function accountingProvided(report: AccountingReport, who: AccountingRequester): AccountingProvided {
  const visible = { patient: report.patient, kind: report.kind, period: report.period, generated: report.generated, entries: report.entries, summaries: report.summaries };
  return {
    event: 'accounting.provided',
    patient: report.patient,
    kind: report.kind,
    period: report.period,
    generated: report.generated,
    requestedBy: who.requestedBy,
    ...(who.clientId ? { clientId: who.clientId } : {}),
    ...(who.user ? { user: who.user } : {}),
    ...(who.requestId ? { requestId: who.requestId } : {}),
    format: who.format,
    lines: report.entries.length + report.summaries.length,
    disclosures: report.disclosures.length,
    summaries: report.summaries.length,
    seqs: report.disclosures.map((e) => e.seq),
    withheldBySuspension: report.withheldBySuspension,
    suspensionsApplied: report.suspensionsApplied,
    rulesVersion: ACCOUNTING_RULES_VERSION,
    digest: createHash('sha256').update(canonicalJson(visible)).digest('hex'),
  };
}

/** JSON with object keys sorted, so the digest does not depend on property order. */
