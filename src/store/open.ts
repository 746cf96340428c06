/**
 * Picks the store implementation from configuration: PostgreSQL when a database URL is set,
 * otherwise the embedded SQLite file in the data directory. Only the composition root calls this.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import type { Logger } from '../core/logger.js';
import { openPostgresStores } from './postgres/index.js';
import { openSqliteStores } from './sqlite/index.js';
import type { SearchIndexSelection, Stores } from './types.js';

export interface OpenStoresOptions {
  /** postgres://... — when set, PostgreSQL is used. */
  databaseUrl?: string;
  /** Directory for the embedded database (`gateway.db`), created if missing. */
  dataDir: string;
  clock: Clock;
  defs: FhirDefinitions;
  log: Logger;
  /** The search parameters the gateway serves (fhir/resource-catalogue.ts searchIndexSelection). */
  searchIndex?: SearchIndexSelection;
}

/** Opens the configured stores (migrated and ready). */
export async function openStores(opts: OpenStoresOptions): Promise<Stores> {
  const common = {
    clock: opts.clock, defs: opts.defs,
    ...(opts.searchIndex ? { searchIndex: opts.searchIndex } : {}),
    onReindexing: () => opts.log.info({ reason: 'the indexed search parameters changed; every resource is re-indexed before the gateway serves' }, 'store.search_index_rebuilding'),
    onReindexed: (resources: number) => opts.log.info({ resources }, 'store.search_index_rebuilt'),
  };
  if (opts.databaseUrl) {
    const stores = await openPostgresStores({ url: opts.databaseUrl, ...common });
    opts.log.info({ store: 'postgres' }, 'store.opened');
    return stores;
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const filename = join(opts.dataDir, 'gateway.db');
  const stores = await openSqliteStores({ filename, ...common });
  opts.log.info({ store: 'sqlite', filename }, 'store.opened');
  return stores;
}
