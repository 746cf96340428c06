/**
 * `GET {base}/fhir/AuditEvent?patient=...`: the disclosure log read as BALP AuditEvents, for partners
 * holding system/AuditEvent.rs. Reading the log is itself a disclosure about the patient and is recorded.
 */
import type { AuditEvent, Bundle, BundleEntry, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { badRequest, forbidden, OutcomeError } from '../core/outcome.js';
import { isFhirId } from '../core/ids.js';
import { obligationEntries, release } from '../fhir/disclose.js';
import type { FhirHandler } from '../fhir/types.js';
import type { Policy } from '../policy/types.js';
import type { DisclosureLog } from '../store/types.js';
import { toAuditEvent, type BalpSource } from './balp.js';
import type { Audit } from './types.js';

export interface AuditEventApiDeps {
  log: DisclosureLog;
  policy: Policy;
  audit: Audit;
  source: BalpSource;
  fhirBase: string;
  defaultCount: number;
  maxCount: number;
}

const DATE = /^(ge|gt|le|lt)?(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?)$/;

export function createAuditEventSearch(d: AuditEventApiDeps): FhirHandler {
  return async (req, ctx) => {
    if (req.method !== 'GET' || req.segments.length !== 1) {
      throw new OutcomeError(405, 'not-supported', 'GW_METHOD_NOT_ALLOWED', 'AuditEvent supports search (GET) only', { headers: { allow: 'GET' } });
    }
    let patient: string | undefined;
    let since: string | undefined;
    let until: string | undefined;
    let count = d.defaultCount;
    let offset = 0;
    for (const [k, v] of req.params) {
      if (k === 'patient' || k === 'entity') {
        const id = v.replace(/^(.*\/)?Patient\//, '');
        if (!isFhirId(id)) throw badRequest(`invalid patient reference ${JSON.stringify(v).slice(0, 80)}`);
        patient = id;
      } else if (k === 'date') {
        const m = DATE.exec(v);
        if (!m) throw badRequest('date must be a FHIR date with an optional ge/gt/le/lt prefix', 'GW_INVALID_SEARCH_VALUE');
        const prefix = m[1] ?? 'ge';
        if (prefix.startsWith('g')) since = m[2]; else until = m[2];
      } else if (k === '_count') {
        if (!/^\d{1,6}$/.test(v) || Number(v) < 1) throw badRequest('_count must be a positive integer');
        count = Math.min(Number(v), d.maxCount);
      } else if (k === '_offset') {
        if (!/^\d{1,9}$/.test(v)) throw badRequest('_offset must be a non-negative integer below 1,000,000,000');
        offset = Number(v);
      } else if (!k.startsWith('_')) {
        throw badRequest(`AuditEvent search supports patient, date, _count and _offset, not ${k.slice(0, 40)}`, 'GW_UNKNOWN_PARAM');
      }
    }
    if (!patient) throw badRequest('AuditEvent search needs patient=', 'GW_PATIENT_REQUIRED');
    const decision = d.policy.decide(ctx.principal, { interaction: 'search', resourceType: 'AuditEvent', patients: [patient] });
    if (decision.effect === 'deny') throw forbidden(decision.reason, decision.code);

    const rows = await d.log.listByPatient(patient, { since, until, count: count + 1, offset });
    const events: AuditEvent[] = rows.slice(0, count).map((e) => toAuditEvent(e, d.source));
    // The same road as every disclosure (fhir/disclose.ts release): scopes, agreement, the patient's consents and
    // the Part 2 rule (an event carries the labels of the data it is about), its obligations, then the log.
    const released = await release(d, ctx, decision, 'audit', events);
    const visible = released.resources as AuditEvent[];
    const link = (o: number) => {
      const pairs: Array<[string, string]> = [['patient', patient as string]];
      if (since) pairs.push(['date', `ge${since}`]);
      if (until) pairs.push(['date', `lt${until}`]);
      pairs.push(['_count', String(count)], ['_offset', String(o)]);
      const q = new URLSearchParams(pairs);
      return `${d.fhirBase}/AuditEvent?${q}`;
    };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [
        { relation: 'self', url: link(offset) },
        // No next link from a page policy emptied: it would say there is more about this patient.
        ...(rows.length > count && visible.length ? [{ relation: 'next', url: link(offset + count) }] : []),
        ...(offset > 0 ? [{ relation: 'previous', url: link(Math.max(0, offset - count)) }] : []),
      ],
      entry: [
        ...visible.map((r): BundleEntry => ({ fullUrl: `${d.fhirBase}/AuditEvent/${r.id}`, resource: r, search: { mode: 'match' } })),
        ...obligationEntries(released.obligations),
      ],
    };
    return { status: 200, body: bundle };
  };
}

/** The CapabilityStatement entry for what createAuditEventSearch serves: search by patient and date. */
export function auditEventCapability(): CapabilityStatementRestResource {
  return {
    type: 'AuditEvent',
    supportedProfile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source'],
    interaction: [{ code: 'search-type' }],
    searchParam: [
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-patient' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-date' },
    ],
  };
}
