/**
 * The rule text of the accounting of disclosures as small pure functions: periods (164.528(a)(1), (a)(3);
 * 42 CFR 2.25), legal bases and their plain-language purpose statements (164.528(b)(2)(iv)), Part 2
 * information (42 CFR 2.25), and suspensions (164.528(a)(2)). buildAccounting (accounting.ts) composes them.
 */
import { badRequest } from '../core/outcome.js';
import { basisForPurpose, parseLegalBasis, type LegalBasis } from '../core/purpose-of-use.js';
import type { AccountingKind, Suspension } from './accounting-types.js';

// ---------------------------------------------------------------- dates and periods

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

/** Years the individual may look back: 164.528(a)(1) "six years prior to the date on which the accounting is requested", 2.25(a) and (b)(2) three. */
export const LOOKBACK_YEARS: Readonly<Record<AccountingKind, number | undefined>> = {
  hipaa: 6,
  part2: 3,
  'access-report': undefined,
};

/** An oral suspension lasts no longer than 30 days from the date of the statement (164.528(a)(2)(ii)(C)). */
export const ORAL_SUSPENSION_MAX_MS = 30 * DAY_MS;

/**
 * Parses an ISO date (`YYYY-MM-DD`, UTC midnight) or instant (with a zone) to epoch ms; undefined when it is
 * neither or not a real date (2025-02-30 is refused, where Date.parse would roll it over).
 */
export function parseTime(text: string): number | undefined {
  if (DATE_ONLY.test(text)) {
    const ms = Date.parse(`${text}T00:00:00Z`);
    return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text ? undefined : ms;
  }
  if (!INSTANT.test(text)) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  // Reject calendar roll-overs in the date part (the zone can legitimately move the UTC date).
  const [y, m, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const check = new Date(Date.UTC(y, m - 1, d));
  return check.getUTCMonth() === m - 1 && check.getUTCDate() === d ? ms : undefined;
}

/**
 * `ms` minus `years` calendar years (UTC), keeping the time of day. When the day does not exist in the target
 * year (29 February) the last day of that month is used: the earlier instant, so the window covers more, never less.
 */
export function minusYears(ms: number, years: number): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear() - years;
  const m = d.getUTCMonth();
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(y, m, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

/** The period as epoch ms, both bounds inclusive; startMs -Infinity when unbounded. */
export interface PeriodMs {
  startMs: number;
  endMs: number;
}

/**
 * Resolves the period a report covers.
 *
 * - Default start: `now` minus 6 years (hipaa) or 3 years (part2), inclusive: a disclosure recorded exactly
 *   6 years before the request is included, one a millisecond earlier is not. "Six years prior to the date on
 *   which the accounting is requested" is read as the same instant 6 calendar years earlier.
 * - An asked start before that is moved to it: the rule grants 6 (3) years, and a longer look-back is what the
 *   access report is for. An asked shorter period is honoured (164.528(a)(3); 2.25(a) "or a shorter time period").
 * - End: `now` by default; an asked end after `now` is `now`. A date-only end covers that whole day (UTC).
 *
 * Throws 400 OutcomeErrors for unreadable dates or an empty period.
 */
export function resolvePeriod(kind: AccountingKind, nowMs: number, asked?: { start?: string; end?: string }): PeriodMs {
  const years = LOOKBACK_YEARS[kind];
  const floor = years === undefined ? -Infinity : minusYears(nowMs, years);
  let startMs = floor;
  let endMs = nowMs;
  if (asked?.start !== undefined) {
    const s = parseTime(asked.start);
    if (s === undefined) throw badRequest('period start must be an ISO date (YYYY-MM-DD) or instant', 'GW_INVALID_PERIOD');
    startMs = Math.max(s, floor);
  }
  if (asked?.end !== undefined) {
    const e = parseTime(asked.end);
    if (e === undefined) throw badRequest('period end must be an ISO date (YYYY-MM-DD) or instant', 'GW_INVALID_PERIOD');
    endMs = Math.min(DATE_ONLY.test(asked.end) ? e + DAY_MS - 1 : e, nowMs);
  }
  if (startMs > endMs) throw badRequest('period start is after its end (or the whole period is in the future)', 'GW_INVALID_PERIOD');
  return { startMs, endMs };
}

// ---------------------------------------------------------------- legal bases

/** Bases the accounting reports with a 164.512 (or 164.502(a)(2)(ii)) citation: those (b)(3) lets us summarize. */
const SECTION_512_BASES: ReadonlySet<string> = new Set<LegalBasis>([
  'required-by-law', 'public-health', 'health-oversight', 'judicial', 'law-enforcement', 'research',
  'decedent', 'organ-donation', 'serious-threat', 'workers-comp',
]);

/** Disclosures a 164.528(a)(2) suspension can hide: to a health oversight agency (512(d)) or law enforcement (512(f)). */
export const SUSPENDABLE_BASES: ReadonlySet<string> = new Set<LegalBasis>(['health-oversight', 'law-enforcement']);

export function isSection512Basis(basis: string): boolean {
  return SECTION_512_BASES.has(basis);
}

/**
 * The legal basis of a log entry in the purpose-of-use.ts vocabulary. parseLegalBasis already reads the
 * historical `TPO` and `purpose:<CODE>` forms; the historical `consent:Consent/<id>` form (DisclosureInput's
 * doc comment) is read as "the basis the purpose implies, made under that consent", so a consented research
 * disclosure stays on the accounting and a consented treatment disclosure stays off it, as they were decided.
 */
export function entryBasis(legalBasis: string, purposeOfUse: string): { basis: string; consentRef?: string } {
  if (legalBasis.startsWith('consent:')) {
    return { basis: basisForPurpose(purposeOfUse), consentRef: legalBasis.slice('consent:'.length) };
  }
  return parseLegalBasis(legalBasis);
}

// HL7 v3 PurposeOfUse codes of purpose-of-use.ts TPO_PURPOSES, split so a TPO line can say which of the three it was.
const TREATMENT: ReadonlySet<string> = new Set(['TREAT', 'ETREAT', 'CAREMGT']);
const PAYMENT: ReadonlySet<string> = new Set([
  'HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER', 'ENROLLM', 'REMITADV',
]);

/**
 * 164.528(b)(2)(iv): "a brief statement of the purpose of the disclosure that reasonably informs the individual
 * of the basis for the disclosure". Plain words first, then the regulation, so a patient can read it and a
 * privacy officer can check it.
 */
const STATEMENTS: Readonly<Record<Exclude<LegalBasis, 'tpo'>, string>> = {
  'required-by-law': 'Required by law (45 CFR 164.512(a))',
  'public-health': 'Public health activity, such as reporting a disease, injury or vaccination to a public health authority (45 CFR 164.512(b))',
  'health-oversight': 'Health oversight, such as an audit, inspection or investigation by a government agency (45 CFR 164.512(d))',
  judicial: 'Court order, subpoena or other legal proceeding (45 CFR 164.512(e))',
  'law-enforcement': 'Law enforcement purpose, for a law enforcement official (45 CFR 164.512(f))',
  decedent: 'To a coroner, medical examiner or funeral director (45 CFR 164.512(g))',
  'organ-donation': 'Organ, eye or tissue donation (45 CFR 164.512(h))',
  research: 'Research, as permitted without your authorization (45 CFR 164.512(i))',
  'serious-threat': 'To prevent or lessen a serious threat to health or safety (45 CFR 164.512(j))',
  'workers-comp': "Workers' compensation (45 CFR 164.512(l))",
  individual: 'Provided to you or your personal representative (45 CFR 164.502(a)(1)(i))',
  authorization: 'With your signed authorization (45 CFR 164.508)',
  'limited-data-set': 'As part of a limited data set, without direct identifiers (45 CFR 164.514(e))',
  'national-security': 'National security and intelligence activities (45 CFR 164.512(k)(2))',
  correctional: 'To a correctional institution or a law enforcement official having custody (45 CFR 164.512(k)(5))',
};

function tpoStatement(purposeOfUse: string): string {
  if (TREATMENT.has(purposeOfUse)) return 'Your treatment (45 CFR 164.506)';
  if (PAYMENT.has(purposeOfUse)) return 'Payment for your care (45 CFR 164.506)';
  return 'Health care operations, such as quality review and administration (45 CFR 164.506)';
}

/** The purpose statement of a line: the basis in plain words, and whether a consent on file allowed it. */
export function purposeStatement(basis: string, purposeOfUse: string, consentRef?: string): string {
  let text: string;
  if (basis === 'tpo') text = tpoStatement(purposeOfUse);
  else if (Object.hasOwn(STATEMENTS, basis)) text = STATEMENTS[basis as keyof typeof STATEMENTS];
  // A basis outside the vocabulary (a future policy, a hand-written entry): say what was recorded rather than guess.
  else text = `Purpose recorded as ${purposeOfUse || 'unspecified'} (legal basis: ${basis || 'unspecified'})`;
  if (consentRef && basis !== 'authorization' && basis !== 'individual') text += '; made with your written consent';
  return text;
}

// ---------------------------------------------------------------- 42 CFR Part 2

/**
 * Labels that mark information as 42 CFR Part 2 (substance use disorder) records, as policy reads them
 * (policy/consent.ts part2Required): the v3 ActCode sensitivity code ETH, and the privacy-law code 42CFRPart2
 * (the disclosure recorder adds it whenever a label's sec-label-basis is 42 CFR Part 2; SUD alone is HIPAA
 * data when it does not come from a Part 2 program, so it is not enough), and (which is
 * how an R-labelled resource says its restriction comes from Part 2). R alone is not enough: it also marks
 * HIV, psychotherapy and state-law restrictions.
 */
const PART2_LABELS: ReadonlySet<string> = new Set(['ETH', '42CFRPart2']);

/** Labels may be recorded as bare codes or as `system|code`. */
export function isPart2(labels: ReadonlyArray<string> | undefined): boolean {
  if (!labels) return false;
  for (const l of labels) {
    const bar = l.lastIndexOf('|');
    if (PART2_LABELS.has(bar < 0 ? l : l.slice(bar + 1))) return true;
  }
  return false;
}

/**
 * Whether a Part 2 disclosure is on the 42 CFR 2.25 list: (a) every disclosure made with consent under 2.31,
 * and (b) TPO disclosures made through an EHR. The gateway is itself an electronic system that discloses health
 * records, so every TPO disclosure it made is read as "through an electronic health record".
 * Disclosures without consent that are not TPO (2.51 medical emergency, 2.52 research, 2.53 audit, court
 * orders) are not on it; those under a 164.512 basis are on the HIPAA accounting instead.
 */
export function part2Route(basis: string, consentRef: string | undefined): 'consent' | 'tpo-ehr' | undefined {
  if (basis === 'tpo') return consentRef ? 'consent' : 'tpo-ehr';
  if (consentRef || basis === 'authorization') return 'consent';
  return undefined;
}

// ---------------------------------------------------------------- suspensions

/**
 * What is wrong with a suspension record, if anything (the admin API should refuse it; buildAccounting does not
 * honour it). An oral statement must be documented with who made it (164.528(a)(2)(ii)(A)); a written one
 * specifies the time the suspension is required (164.528(a)(2)(i)).
 */
export function suspensionProblems(s: Suspension): string[] {
  const problems: string[] = [];
  if (!s.id) problems.push('id is required');
  if (!s.agency?.trim()) problems.push('agency is required');
  if (!s.requestedBy?.trim()) problems.push('requestedBy (who made the statement) is required');
  const start = parseTime(s.start);
  if (start === undefined) problems.push('start must be an ISO date or instant');
  if (s.end !== undefined) {
    const end = parseTime(s.end);
    if (end === undefined) problems.push('end must be an ISO date or instant');
    else if (start !== undefined && end < start) problems.push('end is before start');
  } else if (s.form === 'written') {
    problems.push('a written statement specifies the time for which the suspension is required (end)');
  }
  if (s.form !== 'written' && s.form !== 'oral') problems.push('form must be written or oral');
  if (parseTime(s.recordedAt) === undefined) problems.push('recordedAt must be an ISO instant');
  return problems;
}

/**
 * Whether the suspension must be honoured: its record is usable (an id, who made it, a readable start and end)
 * and `nowMs` falls in [start, effective end). A written statement without an end is honoured until an end is
 * recorded: the admin API refuses such a record (suspensionProblems), and failing open here would disclose an
 * investigation. An oral one ends at the earlier of the end asked and start + 30 days.
 */
export function suspensionInEffect(s: Suspension, nowMs: number): boolean {
  if (!isHonourable(s)) return false;
  const start = parseTime(s.start) as number;
  if (nowMs < start) return false;
  const asked = s.end === undefined ? undefined : parseTime(s.end) as number;
  const end = s.form === 'oral' ? Math.min(asked ?? Infinity, start + ORAL_SUSPENSION_MAX_MS) : asked ?? Infinity;
  return nowMs < end;
}

/** Suspensions whose record is too broken to honour (reported to administrators in suspensionsIgnored). */
export function isHonourable(s: Suspension): boolean {
  if (!s.id || !s.requestedBy?.trim() || (s.form !== 'written' && s.form !== 'oral')) return false;
  if (parseTime(s.start) === undefined) return false;
  return s.end === undefined || parseTime(s.end) !== undefined;
}

/** Whether a suspension in effect hides this disclosure (to the named agency, or to any oversight/law-enforcement recipient). */
export function suspensionCovers(s: Suspension, patient: string, basis: string, recipientPartnerId: string): boolean {
  if (!SUSPENDABLE_BASES.has(basis)) return false;
  if (s.patient !== undefined && s.patient !== patient) return false;
  return s.recipientPartnerId === undefined || s.recipientPartnerId === recipientPartnerId;
}
