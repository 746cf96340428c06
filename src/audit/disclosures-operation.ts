/**
 * `GET [base]/Patient/{id}/$disclosures`: the patient's accounting of disclosures.
 *
 * Parameters: `kind` = hipaa (default; 45 CFR 164.528) | access-report (every disclosure) | part2
 * (42 CFR 2.24/2.25); `start`, `end` (dates or instants) for a shorter period; `requester`: who asked,
 * when an internal system asks on a patient's behalf. `Accept: text/html` returns the page a patient can be
 * handed; otherwise a searchset Bundle of BALP PrivacyDisclosure AuditEvents.
 *
 * Who may ask: the organization's internal systems (its patient portal, its privacy office), or a
 * patient-context token for this very patient; either way policy.decide must permit an AuditEvent search
 * for the patient (the agreement in force, an explicit AuditEvent scope: a wildcard never reaches it).
 * A partner's system-level token may not: the accounting is the individual's, not a partner's. A foreign
 * patient answers 404, like a missing one.
 */
import { badRequest, forbidden, notFound, OutcomeError } from '../core/outcome.js';
import type { Policy } from '../policy/types.js';
import type { FhirHandler } from '../fhir/types.js';
import type { ResourceStore } from '../store/types.js';
import { parseKind, type AccountingService } from './accounting-service.js';

export function createDisclosuresOperation(d: {
  accounting: AccountingService;
  store: ResourceStore;
  /** The same decision as every request: agreement in force, purpose, an explicit AuditEvent scope, patient context. */
  policy: Policy;
}): FhirHandler {
  return async (req, ctx) => {
    const id = req.segments[1] ?? '';
    // GET only: providing an accounting is recorded, and a HEAD would record one that nobody received.
    if (req.method !== 'GET') throw badRequest('$disclosures is read-only: use GET', 'GW_METHOD');
    const p = ctx.principal;
    if (p.patient && p.patient !== id) throw notFound(`Patient/${id}`);
    if (!p.patient && p.partner.kind !== 'internal') {
      throw forbidden('the accounting of disclosures is given to the individual: ask through the organization\'s systems or a patient-context token with an AuditEvent read scope', 'GW_ACCOUNTING_NOT_ALLOWED');
    }
    const decision = d.policy.decide(p, { interaction: 'search', resourceType: 'AuditEvent', patients: [id] });
    if (decision.effect === 'deny') {
      if (decision.status === 404) throw notFound(`Patient/${id}`);
      throw new OutcomeError(decision.status, decision.status === 401 ? 'login' : 'forbidden', decision.code, decision.reason);
    }
    await d.store.read('Patient', id); // 404/410 for an unknown patient, before anything is recorded
    const param = (name: string) => {
      const values = req.params.filter(([k]) => k === name).map(([, v]) => v);
      if (values.length > 1) throw badRequest(`${name} may be given once`, 'GW_REPEATED_PARAMETER');
      return values[0];
    };
    const known = new Set(['kind', 'start', 'end', 'requester', '_format']);
    const unknown = req.params.find(([k]) => !known.has(k));
    if (unknown) throw badRequest(`unknown parameter ${unknown[0].slice(0, 40)} for $disclosures`, 'GW_UNKNOWN_PARAMETER');
    const kind = parseKind(param('kind'));
    const start = param('start');
    const end = param('end');
    const requester = param('requester');
    if (requester !== undefined && (requester.length === 0 || requester.length > 200)) throw badRequest('requester: 1 to 200 characters', 'GW_INVALID_PARAMETER');
    const html = (req.headers.accept ?? '').split(',').some((t) => t.trim().toLowerCase().startsWith('text/html'));
    const out = await d.accounting.provide({
      patient: id,
      kind,
      ...(start || end ? { period: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } : {}),
      format: html ? 'html' : 'fhir',
      requestedBy: requester ?? p.user ?? (p.patient ? `Patient/${p.patient}` : p.partner.name),
      recipient: { partnerId: p.partner.id, name: p.partner.name, kind: p.partner.kind, ...(p.partner.address ? { address: p.partner.address } : {}) },
      clientId: p.clientId,
      tokenId: p.tokenId,
      ...(p.user ? { user: p.user } : {}),
      requestId: ctx.requestId,
    });
    if (out.html !== undefined) {
      return {
        status: 200, body: out.html, contentType: 'text/html; charset=utf-8',
        // The page carries its own inline stylesheet and nothing else: no scripts, no other sources.
        headers: { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'", 'cache-control': 'no-store' },
      };
    }
    return { status: 200, body: out.bundle };
  };
}
