/**
 * Purposes of use (HL7 v3 PurposeOfUse, http://terminology.hl7.org/CodeSystem/v3-ActReason) and the
 * legal bases the disclosure log records. Shared by policy/ (which decides) and audit/ (which reports
 * the HIPAA accounting from what was recorded), so both read the same vocabulary.
 */
export const PURPOSE_OF_USE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** Purposes that are treatment, payment or health-care operations (45 CFR 164.506). */
export const TPO_PURPOSES: ReadonlySet<string> = new Set([
  // treatment (COC coordination of care, ERTREAT emergency room treatment, BTG break the glass)
  'TREAT', 'ETREAT', 'CAREMGT', 'COC', 'ERTREAT', 'BTG',
  // payment
  'HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER', 'ENROLLM', 'REMITADV',
  // health-care operations
  'HOPERAT', 'HACCRED', 'HCOMPL', 'HDIRECT', 'HOUTCOMS', 'HPRGRP', 'HQUALIMP', 'HSYSADMIN', 'MEMADMIN',
  'PATADMIN', 'PATSFTY', 'PERFMSR', 'RECORDMGT', 'SYSDEV', 'HTEST', 'TRAIN',
]);
// Deliberately not TPO (45 CFR 164.512 disclosures, which the accounting of disclosures must list):
// PUBHLTH, POPHLTH, CLINTRL, HRESCH, DONAT, GOV, HLEGAL, MILCDM, HDECD, FRAUD, LABOR, ...

/**
 * Legal basis of a disclosure, as recorded in DisclosureInput.legalBasis: `<basis>` optionally followed
 * by `;consent=Consent/<id>` naming the consent (or authorization) on file that allowed it.
 *
 * - `tpo`: treatment, payment, operations (164.506): excluded from the HIPAA accounting (164.528(a)(1)(i));
 * - `individual`: to the patient or their personal representative (164.502(a)(1)(i)): excluded ((a)(1)(ii));
 * - `authorization`: under a signed HIPAA authorization (164.508): excluded ((a)(1)(iv));
 * - `limited-data-set`: excluded ((a)(1)(viii));
 * - `national-security`, `correctional`: excluded ((a)(1)(vi), (vii));
 * - `required-by-law`, `public-health`, `health-oversight`, `judicial`, `law-enforcement`, `research`,
 *   `decedent`, `organ-donation`, `serious-threat`, `workers-comp` (164.512): included.
 */
export type LegalBasis =
  | 'tpo' | 'individual' | 'authorization' | 'limited-data-set' | 'national-security' | 'correctional'
  | 'required-by-law' | 'public-health' | 'health-oversight' | 'judicial' | 'law-enforcement' | 'research'
  | 'decedent' | 'organ-donation' | 'serious-threat' | 'workers-comp';

export const ACCOUNTING_EXCLUDED_BASES: ReadonlySet<LegalBasis> = new Set([
  'tpo', 'individual', 'authorization', 'limited-data-set', 'national-security', 'correctional',
]);

/** The basis a purpose of use implies when nothing more specific is known. */
export function basisForPurpose(purpose: string): LegalBasis {
  if (TPO_PURPOSES.has(purpose)) return 'tpo';
  switch (purpose) {
    case 'PATRQT': case 'FAMRQT': case 'PWATRNY': return 'individual';
    case 'PUBHLTH': case 'POPHLTH': case 'DISASTER': return 'public-health';
    case 'HRESCH': case 'CLINTRL': case 'TRANSRCH': return 'research';
    case 'HLEGAL': return 'judicial';
    case 'GOV': case 'FRAUD': return 'health-oversight';
    case 'HDECD': return 'decedent';
    case 'DONAT': return 'organ-donation';
    case 'THREAT': return 'serious-threat';
    case 'LABOR': return 'workers-comp';
    default: return 'required-by-law';
  }
}

export function formatLegalBasis(basis: LegalBasis, consentRef?: string): string {
  return consentRef ? `${basis};consent=${consentRef}` : basis;
}

export function parseLegalBasis(text: string): { basis: string; consentRef?: string } {
  const [basis = '', ...rest] = text.split(';');
  const consent = rest.find((p) => p.startsWith('consent='));
  // Entries written before this vocabulary used `TPO` and `purpose:<CODE>`.
  if (basis === 'TPO') return { basis: 'tpo' };
  if (basis.startsWith('purpose:')) return { basis: basisForPurpose(basis.slice('purpose:'.length)) };
  return consent ? { basis, consentRef: consent.slice('consent='.length) } : { basis };
}
