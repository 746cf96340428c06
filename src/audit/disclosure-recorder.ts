/**
 * Records disclosures before the response leaves (design.md "Every disclosure goes one way").
 * Concurrent requests are group-committed: entries queued in the same turn of the event loop are
 * appended in one transaction (one fsync), and every caller waits for that commit.
 */
import { AsyncResource } from 'node:async_hooks';
import type { Resource } from '@medplum/fhirtypes';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import { part2Required } from '../policy/consent.js';
import type { Logger } from '../core/logger.js';
import { groupCommit } from '../core/group-commit.js';
import { OutcomeError } from '../core/outcome.js';
import { patientCompartmentOf } from '../store/compartment.js';
import type { DisclosureInput, DisclosureLog } from '../store/types.js';
import type { Audit, DisclosureRequest } from './types.js';

export const auditUnavailable = (cause: unknown) =>
  new OutcomeError(503, 'transient', 'GW_AUDIT_UNAVAILABLE',
    'the disclosure could not be recorded, so nothing was sent; retry later', {
      cause, headers: { 'retry-after': '1' },
    });

/** Splits what leaves into one entry per patient whose compartment it belongs to. */
export function disclosureEntries(defs: FhirDefinitions, req: DisclosureRequest): DisclosureInput[] {
  const byPatient = new Map<string, Resource[]>();
  for (const r of req.resources) {
    for (const patient of patientCompartmentOf(defs, r)) {
      let list = byPatient.get(patient);
      if (!list) byPatient.set(patient, (list = []));
      list.push(r);
    }
  }
  const p = req.principal;
  return [...byPatient].map(([patient, resources]) => ({
    patient,
    recipient: { partnerId: p.partner.id, name: p.partner.name, kind: p.partner.kind, ...(p.partner.address ? { address: p.partner.address } : {}) },
    ...(p.user ? { user: p.user } : {}),
    clientId: p.clientId,
    tokenId: p.tokenId,
    purposeOfUse: req.purposeOfUse,
    legalBasis: req.legalBasisByPatient?.get(patient) ?? req.legalBasis,
    channel: req.channel,
    resources: resources.map((r) => ({
      resourceType: r.resourceType, id: r.id as string, ...(r.meta?.versionId ? { versionId: r.meta.versionId } : {}),
    })),
    description: describe(resources, req.channel),
    requestId: req.requestId,
    ...labelsOf(resources),
  }));
}

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

/**
 * The sensitivity codes (v3 ActCode) and the restrictive confidentiality codes (R, V) of what was
 * disclosed: the accounting reads them (ETH puts an entry on the 42 CFR Part 2 list).
 */
function labelsOf(resources: Resource[]): { labels?: string[] } {
  const codes = new Set<string>();
  for (const r of resources) {
    for (const c of r.meta?.security ?? []) {
      if (!c.code) continue;
      if (c.system === ACT_CODE || (c.system === CONFIDENTIALITY && (c.code === 'R' || c.code === 'V'))) codes.add(c.code);
    }
    // Policy's reading of "42 CFR Part 2 data": the marker puts the entry on the Part 2 list of the accounting.
    if (part2Required(r)) codes.add('42CFRPart2');
  }
  return codes.size ? { labels: [...codes].sort() } : {};
}


function describe(resources: Resource[], channel: string): string {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r.resourceType, (counts.get(r.resourceType) ?? 0) + 1);
  const what = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${n} ${t}`).join(', ');
  return `${what} disclosed by ${channel}`;
}

export function createAudit(o: {
  log: DisclosureLog;
  defs: FhirDefinitions;
  logger: Logger;
  /** Whether the caller is inside a store transaction (recording there is a programming error: see below). */
  inTransaction?: () => boolean;
}): Audit {
  // Commits run in the async context the recorder was created in, never in the one of whichever request
  // happened to schedule them: a request inside a store transaction must not pull other requests' entries
  // into that transaction (its rollback would erase disclosures already answered for).
  const outside = new AsyncResource('fxg.disclosure-commit');
  const record = groupCommit<DisclosureInput[]>(async (batches) => {
    try {
      await o.log.append(batches.flat());
    } catch (err) {
      o.logger.error({ err: String(err) }, 'disclosure.append_failed');
      throw auditUnavailable(err);
    }
  }, (flush) => outside.runInAsyncScope(flush));

  return {
    recordDisclosure(req) {
      const entries = disclosureEntries(o.defs, req);
      if (!entries.length) return Promise.resolve();
      // A disclosure inside a write transaction would wait for that transaction's lock (SQLite) and could be
      // rolled back with it: callers record after the transaction ends (see fhir/write.ts ConditionalMatches).
      if (o.inTransaction?.()) {
        return Promise.reject(new Error('a disclosure must be recorded after the store transaction ends, not inside it'));
      }
      return record(entries);
    },
  };
}
