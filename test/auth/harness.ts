/**
 * A tiny express app serving only the authorization server (the /auth router and the discovery
 * document) over the real SQLite store, for supertest. The FHIR routes are not needed here.
 */
import express, { type Express } from 'express';
import { createAuthRouter, smartConfigurationHandler } from '../../src/auth/routes.js';
import { createAuthService, type AuthService, type AuthServiceDeps } from '../../src/auth/service.js';
import type { AuthEvent } from '../../src/auth/token-endpoint.js';
import { ManualClock } from '../../src/core/clock.js';
import { loadFhirDefinitions, type FhirDefinitions } from '../../src/core/fhir-definitions.js';
import { createOutboundClient, type OutboundClient } from '../../src/exchange/outbound.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import type { Partner, Stores } from '../../src/store/types.js';
import { BASE_URL, eventLog, recordingLogger, type ClientKey } from './helpers.js';

let defs: FhirDefinitions | undefined;

export interface AuthHarness {
  app: Express;
  auth: AuthService;
  stores: Stores;
  clock: ManualClock;
  events: AuthEvent[];
  lastRejection(): string | undefined;
  log: ReturnType<typeof recordingLogger>;
  outbound: OutboundClient;
  nowSeconds(): number;
  /** Registers an active partner holding `keys` (as a JWKS) unless jwks/jwksUrl are given. */
  addPartner(id: string, o?: { keys?: ClientKey[]; scopes?: string[] } & Partial<Partner>): Promise<Partner>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** SQLite file (to reopen it as a "restarted" gateway); default ':memory:'. */
  filename?: string;
  clock?: ManualClock;
  /** Loopback ports the JWKS fetcher may reach (the local JWKS servers of a test). */
  jwksPorts?: number[];
  service?: Partial<AuthServiceDeps>;
  /** Public base URL (default https://gw.test); a listening test passes its real origin. */
  baseUrl?: string;
}

export async function createAuthHarness(o: HarnessOptions = {}): Promise<AuthHarness> {
  defs ??= loadFhirDefinitions();
  const clock = o.clock ?? new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const stores = await openSqliteStores({ filename: o.filename ?? ':memory:', clock, defs });
  const log = recordingLogger();
  const events = eventLog();
  const outbound = createOutboundClient({
    timeoutMs: 2000, maxBytes: 64 * 1024, allowInsecureLoopback: true, loopbackPorts: o.jwksPorts ?? [],
  });
  const auth = createAuthService({
    stores: { partners: stores.partners, replay: stores.replay, keys: stores.keys },
    clock, log, baseUrl: o.baseUrl ?? BASE_URL,
    fetchJwks: (url) => outbound.fetchJson(url),
    accessTokenTtlSeconds: 300,
    onEvent: events.onEvent,
    ...o.service,
  });
  await auth.ensureSigningKey();

  const app = express();
  app.use('/auth', createAuthRouter({ auth, log }));
  app.get('/fhir/.well-known/smart-configuration', smartConfigurationHandler({ auth }));

  return {
    app, auth, stores, clock, log, outbound,
    events: events.events,
    lastRejection: events.lastRejection,
    nowSeconds: () => Math.floor(clock.now() / 1000),
    addPartner: (id, p = {}) => {
      const { keys, scopes, ...rest } = p;
      return stores.partners.upsert({
        id, name: `${id} organization`, kind: 'ehr', status: 'active', scopes: scopes ?? ['system/*.rs'],
        ...(rest.jwks || rest.jwksUrl ? {} : { jwks: { keys: (keys ?? []).map((k) => ({ ...k.publicJwk })) } }),
        ...rest,
      });
    },
    async close() {
      await outbound.close();
      await stores.close();
    },
  };
}
