/**
 * The accounting of disclosures as a service: reads the patient's log entries (one indexed range read),
 * the suspensions on file and the partner directory, builds the report (accounting.ts), renders it as a
 * FHIR Bundle of BALP AuditEvents or as the HTML page, and documents each accounting provided
 * (45 CFR 164.530(j)): the record of what was given, plus a disclosure-log entry of its delivery.
 *
 * `Patient/{id}/$disclosures` (FHIR) and `fxg accounting` (CLI) and /admin/accounting all come here.
 */
import type { Bundle, AuditEvent } from '@medplum/fhirtypes';
import type { Clock } from '../core/clock.js';
import { isoNow } from '../core/clock.js';
import { newId } from '../core/ids.js';
import { badRequest } from '../core/outcome.js';
import { formatLegalBasis } from '../core/purpose-of-use.js';
import type { Stores } from '../store/types.js';
import {
  ACCOUNTING_KINDS, accountingProvided, buildAccounting, type AccountingKind, type AccountingReport, type RecipientInfo, type Suspension,
} from './accounting.js';
import { accountingBundle } from './accounting-bundle.js';
import { accountingHtml, type AccountingHtmlOptions } from './accounting-html.js';
import { auditUnavailable } from './disclosure-recorder.js';
import type { BalpSource } from './balp.js';

export interface AccountingServiceDeps {
  stores: Pick<Stores, 'disclosures' | 'accounting' | 'partners'>;
  clock: Clock;
  source: BalpSource;
  fhirBase: string;
  /** Who the page names as the covered entity and where to ask questions. */
  html?: Pick<AccountingHtmlOptions, 'organization' | 'contact'>;
  /** Reads the business-associate flag of a stored agreement (policy/agreements.ts). */
  businessAssociate?: (agreement: Record<string, unknown> | undefined) => boolean;
}

export interface AccountingAsk {
  patient: string;
  kind: AccountingKind;
  period?: { start?: string; end?: string };
  /** Administrators reviewing an access report may see disclosures under suspension; never a patient. */
  includeSuspended?: boolean;
}

export interface ProvideInput extends AccountingAsk {
  format: 'fhir' | 'html';
  /** The person or office that asked (the patient, a representative, a privacy officer). */
  requestedBy: string;
  recipient: { partnerId: string; name: string; kind: string; address?: string };
  clientId: string;
  tokenId: string;
  user?: string;
  requestId: string;
}

export interface AccountingService {
  report(ask: AccountingAsk): Promise<AccountingReport>;
  /** Builds, renders and documents an accounting handed out; returns the rendered body. */
  provide(input: ProvideInput): Promise<{ report: AccountingReport; bundle?: Bundle<AuditEvent>; html?: string }>;
}

export function parseKind(value: string | undefined): AccountingKind {
  const kind = (value ?? 'hipaa') as AccountingKind;
  if (!ACCOUNTING_KINDS.has(kind)) throw badRequest(`kind must be one of ${[...ACCOUNTING_KINDS].join(', ')}`, 'GW_INVALID_KIND');
  return kind;
}

export function createAccountingService(d: AccountingServiceDeps): AccountingService {
  async function report(ask: AccountingAsk): Promise<AccountingReport> {
    const now = isoNow(d.clock);
    const [stored, partners] = await Promise.all([d.stores.accounting.suspensionsFor(ask.patient), d.stores.partners.list()]);
    const suspensions = stored.map((s) => ({ ...s.body, id: s.id, ...(s.patient ? { patient: s.patient } : {}), recordedAt: s.recordedAt }) as Suspension);
    const recipients = new Map<string, RecipientInfo>(partners.map((p) => [p.id, {
      name: p.name, ...(p.address ? { address: p.address } : {}), businessAssociate: d.businessAssociate?.(p.agreement) ?? false,
    }]));
    // The builder bounds the period; reading from the earliest instant it can need keeps the read one range.
    const entries = await d.stores.disclosures.listByPatient(ask.patient, earliest(ask, now));
    return buildAccounting(entries, { patient: ask.patient, kind: ask.kind, ...(ask.period ? { period: ask.period } : {}), now }, {
      suspensions, recipients, ...(ask.includeSuspended ? { includeSuspended: true } : {}),
    });
  }

  return {
    report,
    async provide(input) {
      const r = await report(input);
      const rendered = input.format === 'html'
        ? { html: accountingHtml(r, d.html ?? {}) }
        : { bundle: accountingBundle(r, d.source, { fhirBase: d.fhirBase }) };
      const provided = accountingProvided(r, {
        requestedBy: input.requestedBy, clientId: input.clientId, requestId: input.requestId, format: input.format,
        ...(input.user ? { user: input.user } : {}),
      });
      const id = newId();
      // The accounting itself discloses the patient's disclosure history: it is logged like any disclosure,
      // to the individual (excluded from later accountings by 164.528(a)(1)(ii)), before it is returned.
      // The log entry comes first: when it cannot be written the caller gets 503 and no accounting, and no
      // record says one was provided. (Not one transaction: an append inside a store transaction could wait
      // on the recorder's own commit, see disclosure-recorder.ts.)
      try {
        await d.stores.disclosures.append([{
          patient: input.patient,
          recipient: input.recipient,
          ...(input.user ? { user: input.user } : {}),
          clientId: input.clientId,
          tokenId: input.tokenId,
          purposeOfUse: 'PATRQT',
          legalBasis: formatLegalBasis('individual'),
          channel: 'audit',
          resources: [],
          description: `accounting of disclosures (${r.kind}, ${provided.lines} lines) provided as ${input.format === 'html' ? 'a page' : 'a FHIR Bundle'}; record ${id}`,
          requestId: input.requestId,
        }]);
      } catch (err) {
        throw auditUnavailable(err);
      }
      await d.stores.accounting.recordProvided({ id, patient: input.patient, body: provided as unknown as Record<string, unknown> });
      return { report: r, ...rendered };
    },
  };
}

/** The earliest instant any report of this kind can include (undefined: the whole log, for the access report). */
function earliest(ask: AccountingAsk, now: string): { since?: string } {
  const years = ask.kind === 'hipaa' ? 6 : ask.kind === 'part2' ? 3 : undefined;
  if (years === undefined) return {};
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  d.setUTCDate(d.getUTCDate() - 1); // a day of margin; the builder applies the exact boundary
  return { since: d.toISOString() };
}
