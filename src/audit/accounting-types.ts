/**
 * Types of the accounting of disclosures (45 CFR 164.528; 42 CFR 2.24 and 2.25): what the lead's
 * `Patient/{id}/$disclosures` handler asks for, and what buildAccounting answers. See docs/accounting.md.
 */
import type { DisclosureChannel, DisclosureEntry } from '../store/types.js';

/**
 * - `hipaa`: the accounting an individual is entitled to under 45 CFR 164.528 (6 years, exclusions of (a)(1)).
 * - `access-report`: every disclosure recorded for the patient, nothing excluded (HITECH 13405(c) "access report",
 *   proposed in 76 FR 31426; also what an administrator or privacy officer reviews).
 * - `part2`: the 42 CFR 2.25 accounting of disclosures made with consent (and TPO through an EHR), 3 years;
 *   it also answers a 2.24 request to an intermediary (recipient, date, brief description).
 */
export type AccountingKind = 'hipaa' | 'access-report' | 'part2';

export const ACCOUNTING_KINDS: ReadonlySet<AccountingKind> = new Set(['hipaa', 'access-report', 'part2']);

/**
 * A temporary suspension of the individual's right to an accounting of disclosures to a health
 * oversight agency or law enforcement official (45 CFR 164.528(a)(2)).
 */
export interface Suspension {
  id: string;
  /** Patient id the suspension is about; absent: it covers every patient. */
  patient?: string;
  /**
   * The agency whose disclosures are hidden (its partner id in the disclosure log). Absent: every disclosure
   * made under the `health-oversight` or `law-enforcement` basis.
   */
  recipientPartnerId?: string;
  /** Name of the agency or official making the statement. */
  agency: string;
  /** (a)(2)(i) written statement, or (a)(2)(ii) oral statement (documented, at most 30 days). */
  form: 'written' | 'oral';
  /** Who made the statement; (a)(2)(ii)(A) requires it for an oral one, and we require it for both. */
  requestedBy: string;
  /** ISO date or instant the suspension starts (for an oral one: the date of the statement). */
  start: string;
  /**
   * Written: the time the agency specified ((a)(2)(i)). Oral: what was asked, but never later than
   * start + 30 days ((a)(2)(ii)(C)); a written statement that follows is recorded as its own Suspension.
   */
  end?: string;
  reason?: string;
  recordedAt: string;
}

/** The period covered, as ISO instants; both bounds inclusive. `start` absent: from the first entry. */
export interface AccountingPeriod {
  start?: string;
  end: string;
}

export interface AccountingRequest {
  /** Patient id (without `Patient/`). */
  patient: string;
  kind: AccountingKind;
  /**
   * The period the individual asked for (ISO date `YYYY-MM-DD` or instant; a date-only end covers that whole day,
   * UTC). Default: 6 years before `now` (hipaa), 3 years (part2), everything (access-report). For hipaa and part2
   * the period is limited to what the rule grants (164.528(a)(1), (a)(3); 2.25(a), (b)(2)); an end after `now`
   * is limited to `now`.
   */
  period?: { start?: string; end?: string };
  /** The date of the request (ISO instant): the 6- and 3-year windows count back from it. */
  now: string;
}

/** What the partner directory knows about a recipient now (the log keeps what was known at the time). */
export interface RecipientInfo {
  name: string;
  address?: string;
  /** A business associate of the covered entity: its disclosures are still accounted for (164.528(b)(1)). */
  businessAssociate?: boolean;
}

export interface AccountingOptions {
  suspensions: ReadonlyArray<Suspension>;
  /** Partner directory by partner id: fills a missing address, says who is a business associate. */
  recipients?: ReadonlyMap<string, RecipientInfo>;
  /**
   * Recurring disclosures (same recipient, purpose and basis) are summarized per 164.528(b)(3) from this many
   * on (hipaa only). Default 3; `Infinity` lists every disclosure. Must be at least 2.
   */
  summarizeFrom?: number;
  /**
   * Administrators only, never for a report handed to the patient: do not withhold disclosures under an active
   * suspension (withheldBySuspension is then 0). The access report an administrator reviews uses it.
   */
  includeSuspended?: boolean;
}

/** Why a Part 2 disclosure is on the 42 CFR 2.25 list. */
export type Part2Route = 'consent' | 'tpo-ehr';

/** One disclosure as the accounting lists it: exactly the four 164.528(b)(2) fields, plus references. */
export interface AccountingLine {
  /** The disclosure-log entry this line reports. */
  seq: number;
  /** (b)(2)(i) date of the disclosure: when it was recorded (ISO instant), which is when it left. */
  date: string;
  /** (b)(2)(ii) who received it, and their address if known. */
  recipient: { partnerId: string; name: string; address?: string; businessAssociate: boolean };
  /** (b)(2)(iii) brief description of the information disclosed. */
  description: string;
  /** (b)(2)(iv) brief statement of purpose that reasonably informs the individual of the basis. */
  purpose: string;
  /** Normalized legal basis (purpose-of-use.ts vocabulary, or the recorded text when unknown). */
  basis: string;
  consentRef?: string;
  /** HL7 v3 PurposeOfUse code as recorded. */
  purposeOfUse: string;
  /** access-report only: who asked and how. */
  access?: { clientId: string; user?: string; channel: DisclosureChannel };
  /** part2 only: why it is on the list. */
  part2?: Part2Route;
}

/** 164.528(b)(3): multiple disclosures to the same recipient for a single purpose, summarized. */
export interface AccountingSummary {
  /** (b)(3)(i) the (b)(2) information for the first disclosure in the period. */
  first: AccountingLine;
  /** (b)(3)(ii) the number of disclosures in the period. */
  count: number;
  /** (b)(3)(iii) the date of the last such disclosure in the period. */
  lastDate: string;
  /** Every disclosure summarized, oldest first (the first one included). */
  seqs: number[];
}

export type ExclusionReason =
  // 164.528(a)(1) exclusions, by basis
  | 'tpo' | 'individual' | 'authorization' | 'limited-data-set' | 'national-security' | 'correctional'
  // 42 CFR 2.25: not Part 2 information, or a Part 2 disclosure made without consent (2.51 to 2.53, court orders)
  | 'not-part2' | 'part2-without-consent'
  | 'outside-period' | 'other-patient' | 'invalid-date';

export interface AccountingReport {
  patient: string;
  kind: AccountingKind;
  /** The period actually covered (after defaults and the rule's limits). */
  period: AccountingPeriod;
  /** = request.now. */
  generated: string;
  /** Disclosures listed one by one, oldest first (not those a summary covers). */
  entries: AccountingLine[];
  /** Recurring disclosures, by date of the first one. */
  summaries: AccountingSummary[];
  /**
   * Disclosures hidden by a suspension in effect. Administrators only: neither the HTML page nor the Bundle
   * reveals it, since telling the patient could itself impede the agency (164.528(a)(2)).
   */
  withheldBySuspension: number;
  /** Ids of the suspensions that withheld at least one disclosure (administrators only). */
  suspensionsApplied: string[];
  /** Ids of suspensions not honoured because they are malformed (see suspensionProblems). */
  suspensionsIgnored: string[];
  /** Entries not listed, by reason (administrators only; the patient page explains the categories instead). */
  excludedCounts: Partial<Record<ExclusionReason, number>>;
  /**
   * Every log entry the report accounts for (listed or summarized), oldest first, for the BALP Bundle.
   * Holds token ids and hashes: never render it to the patient as is.
   */
  disclosures: DisclosureEntry[];
}
