/**
 * In-process harness for the transport-independent FHIR API: a real SQLite store in memory, the real
 * policy and audit, and principals built directly (no token round trip; test/http covers that).
 */
import { readFileSync } from 'node:fs';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { createAudit } from '../../src/audit/disclosure-recorder.js';
import type { Audit } from '../../src/audit/types.js';
import type { Principal } from '../../src/auth/principal.js';
import { parseScopes } from '../../src/auth/scopes.js';
import { ManualClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { silentLogger } from '../../src/core/logger.js';
import { OutcomeError } from '../../src/core/outcome.js';
import { createFhirApi, type FhirApi } from '../../src/fhir/api.js';
import type { FhirDeps, FhirLimits, FhirRequest, FhirResponse } from '../../src/fhir/types.js';
import { createPolicy } from '../../src/policy/policy.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import { searchIndexSelection } from '../../src/fhir/resource-catalogue.js';
import type { Stores } from '../../src/store/types.js';

export const FHIR_BASE = 'https://gw.test.example/fhir';
export const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

export const DEFAULT_LIMITS: FhirLimits = { defaultCount: 20, maxCount: 100, maxBundleEntries: 1000, maxIncludes: 200 };

/** A principal as auth would build it from a token. */
export function principal(scope: string, o: { patient?: string; client?: string; purposeOfUse?: string; kind?: string } = {}): Principal {
  const client = o.client ?? 'test-client';
  // Writes are for the organization's internal systems: a principal with write scopes is one unless told otherwise.
  const kind = o.kind ?? (/\.[a-z]*[cud]/.test(scope) && !/\.read\b/.test(scope) ? 'internal' : 'ehr');
  return {
    clientId: client,
    partner: { id: `partner-${client}`, name: `Partner ${client}`, kind },
    tokenId: `jti-${client}`,
    scope,
    grants: parseScopes(scope),
    ...(o.patient ? { patient: o.patient } : {}),
    purposeOfUse: o.purposeOfUse ?? 'TREAT',
    expiresAt: 4_000_000_000,
  };
}

export const SYSTEM = principal('system/*.cruds', { client: 'internal-ehr' });
export const ALICE_APP = principal('patient/*.rs', { patient: 'alice', client: 'alice-app' });
export const LAB_ONLY = principal(`system/Observation.rs?category=${LAB}`, { client: 'lab-partner' });

export interface Harness {
  api: FhirApi;
  stores: Stores;
  deps: FhirDeps;
  clock: ManualClock;
  /** Calls the API; resolves with the response or with the OutcomeError's status and outcome. */
  call(p: Principal, method: FhirRequest['method'], path: string, o?: { body?: unknown; headers?: FhirRequest['headers'] }): Promise<FhirResponse>;
  /** Stores resources with their own ids (set-up, bypassing the API). */
  seed(...resources: Resource[]): Promise<Resource[]>;
  /** Disclosure-log entries for a patient. */
  disclosures(patient: string): ReturnType<Stores['disclosures']['listByPatient']>;
  close(): Promise<void>;
}

let requestSeq = 0;

export async function createHarness(o: { limits?: Partial<FhirLimits>; audit?: (real: Audit) => Audit } = {}): Promise<Harness> {
  const defs = loadFhirDefinitions();
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const stores = await openSqliteStores({ filename: ':memory:', clock, defs, searchIndex: searchIndexSelection(defs) });
  const realAudit = createAudit({ log: stores.disclosures, defs, logger: silentLogger, inTransaction: () => stores.inTransaction() });
  const deps: FhirDeps = {
    store: stores.resources,
    policy: createPolicy({ defs, clock }),
    audit: o.audit ? o.audit(realAudit) : realAudit,
    defs,
    clock,
    log: silentLogger,
    fhirBase: FHIR_BASE,
    limits: { ...DEFAULT_LIMITS, ...o.limits },
  };
  const api = createFhirApi(deps);
  return {
    api, stores, deps, clock,
    async call(p, method, path, opts = {}) {
      const [rawPath = '', query] = path.split('?', 2) as [string, string | undefined];
      const segments = rawPath === '' ? [] : rawPath.split('/').map((s) => decodeURIComponent(s));
      const params: Array<[string, string]> = query === undefined ? [] : [...new URLSearchParams(query)];
      const req: FhirRequest = {
        method, segments, params,
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        headers: opts.headers ?? {},
      };
      try {
        return await api.handle(req, { principal: p, requestId: `req-${++requestSeq}` });
      } catch (err) {
        if (err instanceof OutcomeError) return { status: err.status, body: err.toOutcome(), headers: err.headers };
        throw err;
      }
    },
    async seed(...resources) {
      const out: Resource[] = [];
      for (const r of resources) out.push((await stores.resources.update(structuredClone(r))).resource);
      return out;
    },
    disclosures: (patient) => stores.disclosures.listByPatient(patient),
    close: () => stores.close(),
  };
}

/** The resources of fixtures/fhir/<name> (a collection Bundle or one resource). */
export function fixture(name: string): Resource[] {
  const json = JSON.parse(readFileSync(new URL(`../../fixtures/fhir/${name}`, import.meta.url), 'utf8')) as Resource;
  if (json.resourceType === 'Bundle') return ((json as Bundle).entry ?? []).map((e) => e.resource as Resource);
  return [json];
}

/** Entry resources of a Bundle body, optionally only one search mode. */
export function entries(body: unknown, mode?: 'match' | 'include' | 'outcome'): Resource[] {
  const b = body as Bundle;
  return (b.entry ?? []).filter((e) => !mode || e.search?.mode === mode).map((e) => e.resource as Resource);
}

export const ids = (rs: Resource[]) => rs.map((r) => `${r.resourceType}/${r.id}`).sort();

/** The GW code of an OperationOutcome body's first issue. */
export const gwCode = (body: unknown) =>
  (body as { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> }).issue?.[0]?.details?.coding?.[0]?.code;

export const issueCode = (body: unknown) => (body as { issue?: Array<{ code?: string }> }).issue?.[0]?.code;
