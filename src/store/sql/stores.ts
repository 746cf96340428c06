import type { Clock } from '../../core/clock.js';
import type { FhirDefinitions } from '../../core/fhir-definitions.js';
import { createIndexer } from '../indexer.js';
import type { SearchIndexSelection, Stores } from '../types.js';
import { SqlAccountingRecords } from './accounting-records.js';
import { SqlAdminTrail } from './admin-trail.js';
import { SqlDisclosureLog } from './disclosure-log.js';
import type { SqlExecutor } from './executor.js';
import { SqlIngestErrorQueue } from './ingest-errors.js';
import { SqlPartnerStore } from './partners.js';
import { SqlReplayCache } from './replay-cache.js';
import { SqlResourceStore } from './resource-store.js';
import { SqlSigningKeyStore } from './signing-keys.js';

export interface StoreDeps {
  clock: Clock;
  defs: FhirDefinitions;
  /** The search parameters to index (absent: every parameter of the definitions). */
  searchIndex?: SearchIndexSelection;
  /** Told when the selection changed and the rows are being rebuilt (a long step on a large store)... */
  onReindexing?: () => void;
  /** ...and how many resources were re-indexed. */
  onReindexed?: (resources: number) => void;
}

/**
 * The Stores bundle over one (migrated) executor: the same store classes serve both dialects. Before it
 * returns, the index rows are brought in line with the search index selection.
 */
export async function buildStores(
  kind: Stores['kind'],
  db: SqlExecutor,
  deps: StoreDeps,
  lifecycle: Pick<Stores, 'ping' | 'close'>,
): Promise<Stores> {
  const resources = new SqlResourceStore(db, {
    clock: deps.clock, defs: deps.defs, indexer: createIndexer(deps.defs, deps.searchIndex),
    ...(deps.searchIndex ? { searchIndex: deps.searchIndex } : {}),
  });
  const reindexed = await resources.syncSearchIndex(deps.onReindexing);
  if (reindexed) deps.onReindexed?.(reindexed);
  return {
    kind,
    resources,
    disclosures: new SqlDisclosureLog(db, deps.clock),
    replay: new SqlReplayCache(db, deps.clock),
    partners: new SqlPartnerStore(db, deps.clock),
    keys: new SqlSigningKeyStore(db),
    ingestErrors: new SqlIngestErrorQueue(db, deps.clock),
    adminTrail: new SqlAdminTrail(db, deps.clock),
    accounting: new SqlAccountingRecords(db, deps.clock),
    atomically: (fn, opts) => db.transaction(() => fn(), opts?.lock ? { lock: opts.lock } : undefined),
    inTransaction: () => db.inTransaction(),
    ...lifecycle,
  };
}
