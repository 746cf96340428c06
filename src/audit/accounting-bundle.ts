/**
 * An accounting as a FHIR Bundle of IHE BALP PrivacyDisclosure.Source AuditEvents (spec-rules §3.3: "the event
 * to feed the accounting of disclosures"), one per disclosure, built by toAuditEvent (balp.ts) so the accounting
 * and `GET AuditEvent?patient=` show the same event for the same log entry (same id, same fullUrl).
 *
 * Mapping (spec-rules §3.4 tester case): date -> AuditEvent.recorded; recipient name and address ->
 * agent[recipient].who.display (and who.identifier); description -> entity[data].description; purpose ->
 * purposeOfEvent, with the plain-language statement in purposeOfEvent.text.
 *
 * Summaries (164.528(b)(3)): every summarized disclosure is still its own AuditEvent, so a client that ignores
 * extensions sees every disclosure and loses nothing; the first of each summary carries the
 * RECURRING_EXTENSION (count, lastDate) and the others point to it with SUMMARIZED_IN_EXTENSION, so a client
 * that renders the accounting shows the same rows as the HTML page.
 */
import type { AuditEvent, Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { AccountingLine, AccountingReport, AccountingSummary } from './accounting-types.js';
import { toAuditEvent, type BalpSource } from './balp.js';

const GW = 'https://fhir-exchange-gateway.dev/StructureDefinition';
/** On the first AuditEvent of a 164.528(b)(3) summary: `count` (valueUnsignedInt) and `lastDate` (valueDateTime). */
export const RECURRING_EXTENSION = `${GW}/accounting-recurring-disclosures`;
/** On the other AuditEvents of a summary: valueReference to the first one. */
export const SUMMARIZED_IN_EXTENSION = `${GW}/accounting-summarized-in`;
/** On every AuditEvent of a 42 CFR Part 2 list: valueCode `consent` or `tpo-ehr` (why it is on the list). */
export const PART2_ROUTE_EXTENSION = `${GW}/accounting-part2-route`;

export interface AccountingBundleOptions {
  /** The FHIR base URL (`{baseUrl}/fhir`): fullUrls are `{fhirBase}/AuditEvent/{seq}`, as the AuditEvent search serves them. */
  fhirBase: string;
  /** The request URL, for Bundle.link self (it carries the period asked). */
  selfUrl?: string;
}

/**
 * Type `searchset`: the answer of an operation that returns a set of resources (as `$everything` does), with
 * `total` and `search.mode = match`, which generic FHIR clients page through and read without special handling.
 * Not paged: a report is bounded by the rule's period and is provided whole.
 * Entries are oldest first. Nothing about suspensions appears in it.
 */
export function accountingBundle(report: AccountingReport, src: BalpSource, opts: AccountingBundleOptions): Bundle<AuditEvent> {
  const lineBySeq = new Map<number, AccountingLine>();
  const summaryBySeq = new Map<number, AccountingSummary>();
  for (const l of report.entries) lineBySeq.set(l.seq, l);
  for (const s of report.summaries) for (const seq of s.seqs) summaryBySeq.set(seq, s);

  const entry: Array<BundleEntry<AuditEvent>> = [];
  for (const e of report.disclosures) {
    const summary = summaryBySeq.get(e.seq);
    const l = lineBySeq.get(e.seq) ?? summary?.first;
    if (!l) throw new Error(`accounting report is inconsistent: disclosure ${e.seq} has no line`);
    const ev = toAuditEvent(e, src);
    // The statement the patient reads, next to the coded purpose.
    ev.purposeOfEvent = (ev.purposeOfEvent ?? []).map((c) => ({ ...c, text: l.purpose }));
    // The address may come from the partner directory when the entry did not record one (164.528(b)(2)(ii)).
    const recipient = ev.agent.find((a) => a.type?.coding?.[0]?.code === '110152');
    // (A summary groups one partner id, so the first line's directory address is this recipient's too.)
    const address = e.recipient.address || l.recipient.address;
    if (recipient?.who) recipient.who.display = address ? `${e.recipient.name}, ${address}` : e.recipient.name;
    const data = ev.entity?.at(-1);
    if (data && !data.description) data.description = l.description;
    const ext: NonNullable<AuditEvent['extension']> = [];
    if (summary && summary.first.seq === e.seq) {
      ext.push({
        url: RECURRING_EXTENSION,
        extension: [
          { url: 'count', valueUnsignedInt: summary.count },
          { url: 'lastDate', valueDateTime: summary.lastDate },
        ],
      });
    } else if (summary) {
      ext.push({ url: SUMMARIZED_IN_EXTENSION, valueReference: { reference: `AuditEvent/${summary.first.seq}` } });
    }
    if (l.part2) ext.push({ url: PART2_ROUTE_EXTENSION, valueCode: l.part2 });
    if (ext.length) ev.extension = ext;
    entry.push({ fullUrl: `${opts.fhirBase}/AuditEvent/${ev.id}`, resource: ev, search: { mode: 'match' } });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    timestamp: report.generated,
    total: entry.length,
    ...(opts.selfUrl ? { link: [{ relation: 'self', url: opts.selfUrl }] } : {}),
    entry,
  };
}
