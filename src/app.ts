/**
 * Composition root: builds every service from config and wires them. The only place that picks
 * implementations (which store, which outbound client). Tests build whole gateways in-process with it.
 */
import type { Express } from 'express';
import pino from 'pino';
import { createAudit } from './audit/disclosure-recorder.js';
import { auditEventCapability, createAuditEventSearch } from './audit/audit-event-api.js';
import { createAccountingService, type AccountingService } from './audit/accounting-service.js';
import { createDisclosuresOperation } from './audit/disclosures-operation.js';
import type { Audit } from './audit/types.js';
import { createAuthService, type AuthService } from './auth/service.js';
import { createAuthRouter, smartConfigurationHandler } from './auth/routes.js';
import { parseScopes } from './auth/scopes.js';
import type { Principal } from './auth/principal.js';
import type { GatewayConfig } from './config/config.js';
import { readPartnerFiles } from './config/partner-files.js';
import { systemClock, type Clock } from './core/clock.js';
import { loadFhirDefinitions, type FhirDefinitions } from './core/fhir-definitions.js';
import type { Logger } from './core/logger.js';
import { createOutboundClient } from './exchange/outbound.js';
import { createFhirApi } from './fhir/api.js';
import type { FhirHandler } from './fhir/types.js';
import { createFhirRouter } from './http/fhir-routes.js';
import { createIngestRouter } from './http/ingest-routes.js';
import { createAdminRouter } from './http/admin-routes.js';
import { createAdminApi } from './admin/admin-api.js';
import { createHl7Ingest, type Hl7Ingest } from './mapping/hl7v2-ingest.js';
import { createIngestPipeline, type IngestPipeline } from './mapping/ingest.js';
import { loadLabeler } from './mapping/labels.js';
import { loadTerminology } from './mapping/terminology.js';
import type { Labeler, Terminology } from './mapping/types.js';
import { createRateLimiter } from './http/rate-limit.js';
import { createAdminHttpApp, createHttpApp } from './http/server.js';
import { createPolicy, tokenPurpose } from './policy/policy.js';
import { invalidGrant } from './auth/errors.js';
import type { ConsentSource, Policy } from './policy/types.js';
import type { Consent } from '@medplum/fhirtypes';
import { openStores } from './store/open.js';
import { searchIndexSelection } from './fhir/resource-catalogue.js';
import type { Partner, Stores } from './store/types.js';
import { canonicalJson } from './core/hash-chain.js';

export interface AppDeps {
  config: GatewayConfig;
  clock?: Clock;
  log?: Logger;
  /** Pre-opened stores (tests); otherwise opened from config and closed by close(). */
  stores?: Stores;
}

export interface Gateway {
  app: Express;
  /** The administration API (/admin), served on its own listener (config admin.host:admin.port). */
  adminApp: Express;
  config: GatewayConfig;
  stores: Stores;
  auth: AuthService;
  policy: Policy;
  audit: Audit;
  defs: FhirDefinitions;
  /** The FHIR handler every route uses (also used by `fxg import`). */
  fhir: FhirHandler;
  log: Logger;
  /** Ingest of internal records: the shared pipeline, HL7 v2, terminology and labels. */
  accounting: AccountingService;
  ingest: { pipeline: IngestPipeline; hl7: Hl7Ingest; terminology: Terminology; labeler: Labeler };
  /** A principal for the organization's own tools (fxg import): system/*.cruds, purpose HOPERAT. */
  internalPrincipal(name: string): Principal;
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, redact: ['req.headers.authorization', '*.access_token', '*.client_assertion'] }) as unknown as Logger;
}

/**
 * Active patient-privacy consents of a page's patients, in one indexed read of their compartments.
 * Read on every disclosure, so a revocation takes effect on the very next request.
 */
export function consentSource(stores: Stores): ConsentSource {
  return async (patients) => {
    const out = new Map<string, Consent[]>();
    for (const [patient, found] of await stores.resources.ofTypeInCompartments('Consent', patients)) {
      const active = (found as Consent[]).filter((c) => c.status === 'active');
      if (active.length) out.set(patient, active);
    }
    return out;
  };
}

/**
 * Upserts the partners declared in config/partners, recording in the admin trail each one that the
 * files add or change (actor `config:<dir>`), so a change made by editing a file is as visible as one
 * made through the admin API.
 */
export async function loadPartnerFiles(stores: Stores, dir: string): Promise<void> {
  const comparable = (p: Partial<Partner>) => {
    const { createdAt: _c, updatedAt: _u, ...rest } = p;
    return canonicalJson(rest);
  };
  const view = (x: Partner) => ({ ...x, jwks: undefined, keys: x.jwks?.keys.map((k) => k.kid) ?? [], createdAt: undefined, updatedAt: undefined });
  for (const declared of readPartnerFiles(dir)) {
    // Read, change and trail entry in one transaction under the partners lock: two processes starting together
    // cannot both record a change from the same `before`, and a change is never left without its entry.
    await stores.atomically(async () => {
      const before = await stores.partners.get(declared.id);
      // What a file leaves out, an administrator may have set (a suspension, an agreement through the admin
      // API): it is kept, so a restart never re-activates a suspended partner or drops an agreement.
      const p = {
        ...declared,
        status: declared.status ?? before?.status ?? 'active',
        ...(declared.agreement ?? before?.agreement ? { agreement: declared.agreement ?? before?.agreement } : {}),
      };
      if (before && comparable(before) === comparable(p)) return;
      const saved = await stores.partners.upsert(p);
      await stores.adminTrail.record({
        actor: `config:${dir}`, action: 'partner.upsert', target: `partner/${p.id}`,
        ...(before ? { before: JSON.parse(JSON.stringify(view(before))) } : {}), after: JSON.parse(JSON.stringify(view(saved))),
      });
    }, { lock: 'partners' });
  }
}

export async function createApp(deps: AppDeps): Promise<Gateway> {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger(config.logLevel);
  const defs = loadFhirDefinitions();
  const ownsStores = !deps.stores;
  const stores = deps.stores ?? await openStores({
    databaseUrl: config.databaseUrl || undefined, dataDir: config.dataDir, clock, defs, log, searchIndex: searchIndexSelection(defs),
  });
  if (stores.kind === 'sqlite' && process.env.NODE_ENV === 'production') {
    log.warn({}, 'the embedded SQLite store is meant for one machine; use DATABASE_URL (PostgreSQL) in production');
  }

  await loadPartnerFiles(stores, config.partnersDir);

  const fhirBase = `${config.baseUrl}/fhir`;
  const balpSource = { observer: config.baseUrl, network: config.baseUrl, partnerSystem: `${config.baseUrl}/partners` };
  const outbound = createOutboundClient({ timeoutMs: 5000, maxBytes: 64 * 1024, allowInsecureLoopback: config.auth.allowInsecureJwksUrls });
  const auth = createAuthService({
    stores: { partners: stores.partners, replay: stores.replay, keys: stores.keys },
    clock, log, baseUrl: config.baseUrl,
    fetchJwks: (url: string) => outbound.fetchJson(url),
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    resolvePurpose: (partner, asserted) => {
      const r = tokenPurpose(partner, asserted, clock.now());
      if (!r.ok) throw invalidGrant(r.reason);
      return r.purpose;
    },
  });
  await auth.ensureSigningKey();

  const consents = consentSource(stores);
  const policy = createPolicy({ defs, clock, consents });
  const audit = createAudit({ log: stores.disclosures, defs, logger: log, inTransaction: () => stores.inTransaction() });
  const limits = config.fhir;
  const api = createFhirApi({ store: stores.resources, policy, audit, defs, clock, log, fhirBase, limits });
  const auditEvents = createAuditEventSearch({
    log: stores.disclosures, policy, audit, fhirBase, defaultCount: limits.defaultCount, maxCount: limits.maxCount,
    source: balpSource,
  });
  const accounting = createAccountingService({
    stores, clock, source: balpSource, fhirBase,
    businessAssociate: (a) => a?.businessAssociate === true,
    html: { organization: config.organization.name, contact: config.organization.privacyContact },
  });
  const disclosuresOp = createDisclosuresOperation({ accounting, store: stores.resources, policy });
  const capability = api.capabilityStatement();
  capability.rest?.[0]?.resource?.push(auditEventCapability());
  const patientCapability = capability.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
  patientCapability?.operation?.push({ name: 'disclosures', definition: 'https://fhir-exchange-gateway.dev/OperationDefinition/Patient-disclosures' });
  const handle: FhirHandler = (req, ctx) => {
    if (req.segments[0] === 'AuditEvent') return auditEvents(req, ctx);
    if (req.segments[0] === 'Patient' && req.segments[2] === '$disclosures' && req.segments.length === 3) return disclosuresOp(req, ctx);
    return api.handle(req, ctx);
  };

  const terminology = loadTerminology(config.ingest.terminologyDir);
  const labeler = loadLabeler(config.ingest.labelsDir);
  const pipeline = createIngestPipeline({ store: stores.resources, errors: stores.ingestErrors, defs, labeler, clock });
  const hl7 = createHl7Ingest({ pipeline, terminology, now: () => new Date(clock.now()), timezone: config.ingest.timezone });
  const authenticate = (h: string | undefined) => auth.verifyAccessToken(h);

  const app = createHttpApp({
    log,
    ready: () => stores.ping(),
    authRouter: createAuthRouter({ auth, log }),
    fhirRouter: createFhirRouter({
      handle,
      capabilityStatement: () => capability,
      smartConfiguration: smartConfigurationHandler({ auth }),
      authenticate,
      rateLimiter: createRateLimiter({ perMinute: config.rateLimit.perClientPerMinute, clock }),
      log,
      bodyLimit: config.http.bodyLimit,
      maxJsonDepth: config.http.maxJsonDepth,
    }),
    ingestRouter: createIngestRouter({
      hl7, authenticate, bodyLimit: config.http.bodyLimit,
      mayWrite: (p, resourceType) => (['create', 'update'] as const)
        .every((interaction) => policy.decide(p, { interaction, resourceType }).effect === 'permit'),
    }),
  });
  const adminApp = createAdminHttpApp({
    log, adminRouter: createAdminRouter({ api: createAdminApi({ stores, accounting, consents, clock }), authenticate, log }),
  });

  return {
    app, adminApp, config, stores, auth, policy, audit, defs, fhir: handle, log,
    accounting,
    ingest: { pipeline, hl7, terminology, labeler },
    internalPrincipal(name) {
      const scope = 'system/*.cruds';
      return {
        clientId: `fxg:${name}`, partner: { id: `fxg:${name}`, name: `fxg ${name}`, kind: 'internal' },
        tokenId: `local:${name}`, scope, grants: parseScopes(scope), purposeOfUse: 'HOPERAT', expiresAt: Number.MAX_SAFE_INTEGER,
      };
    },
    async close() {
      if (ownsStores) await stores.close();
    },
  };
}
