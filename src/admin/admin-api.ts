/**
 * The administration API (/admin), transport-independent: partner agreements, partner status, the admin
 * trail, accounting suspensions, the administrator's view of a patient's disclosures, and policy
 * explanations. Every change is written to the admin trail (who, when, before, after) in the same
 * transaction as the change itself: both are committed, or neither.
 *
 * Who: a partner of kind `internal` holding the admin scope each operation names (auth/scopes.ts
 * ADMIN_SCOPES); anyone else gets 403. The actor in the trail is `partner:<id>` (plus the user, when one is
 * behind the token).
 */
import type { Consent, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { Clock } from '../core/clock.js';
import { isoNow } from '../core/clock.js';
import { newId } from '../core/ids.js';
import { badRequest, forbidden, notFound } from '../core/outcome.js';
import { parseKind, type AccountingService } from '../audit/accounting-service.js';
import { suspensionProblems, type Suspension } from '../audit/accounting.js';
import { parseAgreement } from '../policy/agreements.js';
import { explainDisclosure, type Explanation } from '../policy/explain.js';
import { agreementFor } from '../policy/policy.js';
import type { ConsentSource } from '../policy/types.js';
import type { Partner, PartnerStatus, Stores } from '../store/types.js';

export type AdminScope = 'admin/partners.read' | 'admin/partners.write' | 'admin/accounting.read' | 'admin/accounting.write' | 'admin/policy.read';

export interface AdminDeps {
  stores: Pick<Stores, 'partners' | 'adminTrail' | 'accounting' | 'resources' | 'atomically'>;
  accounting: AccountingService;
  consents: ConsentSource;
  clock: Clock;
}

export interface AdminApi {
  listPartners(p: Principal): Promise<unknown[]>;
  getPartner(p: Principal, id: string): Promise<unknown>;
  putAgreement(p: Principal, id: string, body: unknown): Promise<unknown>;
  deleteAgreement(p: Principal, id: string): Promise<unknown>;
  setStatus(p: Principal, id: string, body: unknown): Promise<unknown>;
  trail(p: Principal, q: { target?: string; count?: number; offset?: number }): Promise<unknown[]>;
  listSuspensions(p: Principal): Promise<unknown[]>;
  addSuspension(p: Principal, body: unknown): Promise<unknown>;
  accounting(p: Principal, patient: string, q: Record<string, string | undefined>): Promise<unknown>;
  explain(p: Principal, q: Record<string, string | undefined>): Promise<Explanation>;
}

export function requireAdmin(p: Principal, scope: AdminScope): void {
  if (p.partner.kind !== 'internal' || !p.scope.split(' ').includes(scope)) {
    throw forbidden(`this needs a token of an internal system with scope ${scope}`, 'GW_ADMIN_SCOPE_REQUIRED');
  }
}

const actorOf = (p: Principal) => `partner:${p.partner.id}${p.user ? ` user:${p.user}` : ''}`;
const STATUSES: readonly PartnerStatus[] = ['active', 'suspended', 'terminated'];

export function createAdminApi(d: AdminDeps): AdminApi {
  const view = (partner: Partner) => {
    let agreement: unknown;
    let agreementError: string | undefined;
    try {
      agreement = agreementFor(partner);
    } catch (err) {
      agreementError = (err as Error).message;
    }
    const { jwks: _k, ...rest } = partner;
    return {
      ...rest,
      keys: partner.jwks ? partner.jwks.keys.map((k) => k.kid) : [],
      agreement,
      agreementSource: partner.agreement ? 'stored' : 'default for kind',
      ...(agreementError ? { agreementError } : {}),
    };
  };
  const partnerOr404 = async (id: string) => {
    const partner = await d.stores.partners.get(id);
    if (!partner) throw notFound(`partner ${id}`);
    return partner;
  };
  const record = (p: Principal, action: string, target: string, before: unknown, after: unknown) =>
    d.stores.adminTrail.record({ actor: actorOf(p), action, target, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) });

  return {
    async listPartners(p) {
      requireAdmin(p, 'admin/partners.read');
      return (await d.stores.partners.list()).map(view);
    },
    async getPartner(p, id) {
      requireAdmin(p, 'admin/partners.read');
      return view(await partnerOr404(id));
    },
    async putAgreement(p, id, body) {
      requireAdmin(p, 'admin/partners.write');
      await partnerOr404(id); // 404 before the body is looked at
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON agreement object', 'GW_INVALID_AGREEMENT');
      const given = body as Record<string, unknown>;
      if (given.partnerId !== undefined && given.partnerId !== id) throw badRequest(`partnerId ${String(given.partnerId)} does not match the path (${id})`, 'GW_INVALID_AGREEMENT');
      let parsed;
      try {
        parsed = parseAgreement({ ...given, partnerId: id }, `agreement for ${id}`);
      } catch (err) {
        throw badRequest((err as Error).message, 'GW_INVALID_AGREEMENT');
      }
      const { partnerId: _p, ...agreement } = parsed;
      return view(await d.stores.atomically(async () => {
        const current = await partnerOr404(id);
        const { createdAt: _c, updatedAt: _u, ...registration } = current;
        const saved = await d.stores.partners.upsert({ ...registration, agreement });
        await record(p, 'agreement.update', `partner/${id}`, current.agreement ?? { default: current.kind }, agreement);
        return saved;
      }, { lock: 'partners' }));
    },
    async deleteAgreement(p, id) {
      requireAdmin(p, 'admin/partners.write');
      return view(await d.stores.atomically(async () => {
        const partner = await partnerOr404(id);
        const { createdAt: _c, updatedAt: _u, agreement: before, ...registration } = partner;
        const saved = await d.stores.partners.upsert(registration);
        await record(p, 'agreement.reset', `partner/${id}`, before, { default: partner.kind });
        return saved;
      }, { lock: 'partners' }));
    },
    async setStatus(p, id, body) {
      requireAdmin(p, 'admin/partners.write');
      const status = (body as { status?: unknown } | undefined)?.status;
      if (typeof status !== 'string' || !STATUSES.includes(status as PartnerStatus)) {
        throw badRequest(`status must be one of ${STATUSES.join(', ')}`, 'GW_INVALID_STATUS');
      }
      return view(await d.stores.atomically(async () => {
        const before = await partnerOr404(id);
        const saved = await d.stores.partners.setStatus(id, status as PartnerStatus);
        await record(p, 'partner.status', `partner/${id}`, { status: before.status }, { status });
        return saved as Partner;
      }, { lock: 'partners' }));
    },
    async trail(p, q) {
      requireAdmin(p, 'admin/partners.read');
      const entries = await d.stores.adminTrail.list({
        ...(q.target ? { target: q.target } : {}), count: Math.min(q.count ?? 100, 1000), offset: q.offset ?? 0,
      });
      // Entries about patients (reviews, explanations) and suspensions (an investigating agency) are for those
      // who may see accountings, not for everyone who manages partners.
      const mayReadPatients = p.scope.split(' ').includes('admin/accounting.read');
      return mayReadPatients ? entries : entries.filter((e) => !e.target.startsWith('patient/') && !e.target.startsWith('suspension/'));
    },
    async listSuspensions(p) {
      requireAdmin(p, 'admin/accounting.read');
      return d.stores.accounting.listSuspensions();
    },
    async addSuspension(p, body) {
      requireAdmin(p, 'admin/accounting.write');
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON suspension object', 'GW_INVALID_SUSPENSION');
      const b = body as Record<string, unknown>;
      const allowed = ['patient', 'recipientPartnerId', 'agency', 'form', 'requestedBy', 'start', 'end', 'reason'];
      const extra = Object.keys(b).filter((k) => !allowed.includes(k));
      if (extra.length) throw badRequest(`unknown field ${extra[0]!.slice(0, 40)}; allowed: ${allowed.join(', ')}`, 'GW_INVALID_SUSPENSION');
      for (const k of allowed) {
        if (b[k] !== undefined && (typeof b[k] !== 'string' || (b[k] as string).length > 500)) throw badRequest(`${k} must be a string (at most 500 characters)`, 'GW_INVALID_SUSPENSION');
      }
      const suspension = { ...b, id: newId(), recordedAt: isoNow(d.clock) } as unknown as Suspension;
      const problems = suspensionProblems(suspension);
      if (problems.length) throw badRequest(`invalid suspension: ${problems.join('; ')}`, 'GW_INVALID_SUSPENSION');
      // 164.528(a)(2) suspends the accounting of disclosures *to the agency or official* that asked: a
      // suspension must name that recipient, or it would hide every oversight and law-enforcement disclosure.
      if (!suspension.recipientPartnerId) {
        throw badRequest('invalid suspension: name the agency\'s partner id (recipientPartnerId): a suspension covers disclosures to that agency only', 'GW_INVALID_SUSPENSION');
      }
      const { id, patient, recordedAt: _r, ...rest } = suspension;
      return d.stores.atomically(async () => {
        const stored = await d.stores.accounting.addSuspension({ id, ...(patient ? { patient } : {}), body: rest as unknown as Record<string, unknown> });
        await record(p, 'suspension.add', `suspension/${id}`, undefined, stored);
        return stored;
      });
    },
    async accounting(p, patient, q) {
      requireAdmin(p, 'admin/accounting.read');
      await d.stores.resources.read('Patient', patient); // 404 for an unknown patient, before the trail records a review
      const report = await d.accounting.report({
        patient,
        kind: parseKind(q.kind ?? 'access-report'),
        ...(q.start || q.end ? { period: { ...(q.start ? { start: q.start } : {}), ...(q.end ? { end: q.end } : {}) } } : {}),
        ...(q.includeSuspended === 'true' ? { includeSuspended: true } : {}),
      });
      // Reviewing a patient's disclosure history is itself an administrative act worth a trail entry.
      await record(p, 'accounting.review', `patient/${patient}`, undefined, { kind: report.kind, lines: report.entries.length });
      return report;
    },
    async explain(p, q) {
      requireAdmin(p, 'admin/policy.read');
      const partnerId = q.partner;
      const patient = q.patient;
      const purpose = q.purpose;
      if (!partnerId || !patient || !purpose) throw badRequest('partner, patient and purpose are required', 'GW_INVALID_PARAMETER');
      const partner = await d.stores.partners.get(partnerId);
      await d.stores.resources.read('Patient', patient);
      const resources: Resource[] = [];
      for (let offset = 0; ; offset += 1000) {
        const page = await d.stores.resources.compartment(patient, { count: 1000, offset });
        resources.push(...page.resources);
        if (!page.hasMore || resources.length >= 20_000) break;
      }
      const consents: Consent[] = [...((await d.consents([patient])).get(patient) ?? [])];
      const explanation = explainDisclosure({ partner, partnerId, patient, purpose, now: d.clock.now(), consents, resources });
      // An explanation reveals what kinds of data a patient has (and why they are withheld): it is recorded.
      await record(p, 'policy.explain', `patient/${patient}`, undefined, { partner: partnerId, purpose, outcome: explanation.outcome });
      return explanation;
    },
  };
}
