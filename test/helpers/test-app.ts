/**
 * Builds a whole gateway in-process for HTTP tests: real stores (SQLite in memory, or PostgreSQL in a
 * throw-away schema when the suite runs with TEST_PG_URL), real auth, policy and audit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { createApp, type Gateway } from '../../src/app.js';
import { loadConfig, type DeepPartial, type GatewayConfig } from '../../src/config/config.js';
import type { Clock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { silentLogger } from '../../src/core/logger.js';
import { systemClock } from '../../src/core/clock.js';
import { openSqliteStores } from '../../src/store/sqlite/index.js';
import { searchIndexSelection } from '../../src/fhir/resource-catalogue.js';
import { openPostgresStores } from '../../src/store/postgres/index.js';
import type { Partner, Stores } from '../../src/store/types.js';

export type StoreKind = 'sqlite' | 'postgres';

export const PG_URL = process.env.TEST_PG_URL;
/** node:test `skip` option for PostgreSQL suites. */
export const pgSkip = PG_URL ? false : 'TEST_PG_URL is not set: PostgreSQL suite skipped';

export interface TestApp {
  gw: Gateway;
  app: Gateway['app'];
  stores: Stores;
  location: StoreLocation;
  /** Registers a partner (active, with a throw-away key) and returns it. */
  addPartner(p: Partial<Partner> & { id: string; scopes: string[] }): Promise<Partner>;
  /** A bearer token for a registered partner, as the token endpoint would issue it. */
  token(o: { partner: string; scope?: string; patient?: string; purposeOfUse?: string }): Promise<string>;
  /** Stores resources directly (test set-up), returning them with ids. */
  seed(...resources: Resource[]): Promise<Resource[]>;
  close(): Promise<void>;
}

/** Where a test store lives, so a test can reach it with a second connection (fault injection). */
export type StoreLocation = { kind: 'sqlite'; filename: string } | { kind: 'postgres'; url: string; schema: string };

export async function openTestStores(kind: StoreKind, clock: Clock = systemClock, o: { file?: boolean } = {}): Promise<{
  stores: Stores; drop: () => Promise<void>; location: StoreLocation;
}> {
  const defs = loadFhirDefinitions();
  if (kind === 'sqlite') {
    const filename = o.file ? join(mkdtempSync(join(tmpdir(), 'fxg-db-')), 'gateway.db') : ':memory:';
    // The search index selection createApp's own stores use (only the served parameters are indexed).
    const stores = await openSqliteStores({ filename, clock, defs, searchIndex: searchIndexSelection(defs) });
    return { stores, drop: () => stores.close(), location: { kind, filename } };
  }
  if (!PG_URL) throw new Error('TEST_PG_URL is not set');
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const stores = await openPostgresStores({ url: PG_URL, clock, defs, schema, searchIndex: searchIndexSelection(defs) });
  return {
    stores,
    location: { kind, url: PG_URL, schema },
    drop: async () => {
      await stores.close();
      const pg = await import('pg');
      const c = new pg.default.Client({ connectionString: PG_URL });
      await c.connect();
      try { await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } finally { await c.end(); }
    },
  };
}

export async function createTestApp(o: { store?: StoreKind; config?: DeepPartial<GatewayConfig>; clock?: Clock; file?: boolean } = {}): Promise<TestApp> {
  const clock = o.clock ?? systemClock;
  const { stores, drop, location } = await openTestStores(o.store ?? 'sqlite', clock, { file: o.file });
  const dataDir = mkdtempSync(join(tmpdir(), 'fxg-test-'));
  const config = loadConfig({
    env: {},
    overrides: {
      baseUrl: 'https://gw.test', dataDir, partnersDir: join(dataDir, 'no-partners'),
      rateLimit: { perClientPerMinute: 0 }, logLevel: 'silent', ...o.config,
    },
  });
  const gw = await createApp({ config, clock, log: silentLogger, stores });
  return {
    gw,
    app: gw.app,
    stores,
    location,
    async addPartner(p) {
      return stores.partners.upsert({
        name: `${p.id} organization`, kind: 'ehr', status: 'active',
        jwks: { keys: [{ kty: 'EC', crv: 'P-384', kid: `${p.id}-k1`, x: 'x', y: 'y' }] }, ...p,
      });
    },
    async token(t) {
      const partner = await stores.partners.get(t.partner);
      if (!partner) throw new Error(`no partner ${t.partner}`);
      const issued = await gw.auth.issueAccessToken({
        partner, scope: t.scope ?? partner.scopes.join(' '),
        ...(t.patient ? { patient: t.patient } : {}), ...(t.purposeOfUse ? { purposeOfUse: t.purposeOfUse } : {}),
      });
      return issued.access_token;
    },
    async seed(...resources) {
      const out = [];
      for (const r of resources) {
        out.push(r.id ? (await stores.resources.update(r)).resource : await stores.resources.create(r));
      }
      return out;
    },
    async close() {
      await gw.close();
      await drop();
    },
  };
}
