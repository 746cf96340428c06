import type { Resource } from '@medplum/fhirtypes';
import type { Clock } from '../../core/clock.js';
import type { FhirDefinitions } from '../../core/fhir-definitions.js';
import { isFhirId, newId } from '../../core/ids.js';
import { badRequest, conflict, gone, notFound, preconditionFailed } from '../../core/outcome.js';
import type { Indexer } from '../indexer.js';
import type { HistoryEntry, ResourceStore, SearchIndexSelection, SearchQuery, SearchResult } from '../types.js';
import type { SqlExecutor } from './executor.js';
import { indexBatches, INDEX_TABLES } from './index-rows.js';
import { compileSearch, referencingQuery } from './search.js';
import { join, list, raw, sql, type SqlFragment } from './sql.js';
import { isoInstant } from './time.js';

export interface ResourceStoreDeps {
  clock: Clock;
  defs: FhirDefinitions;
  indexer: Indexer;
  /** The parameters the indexer writes rows for (absent: all); searches on others are refused. */
  searchIndex?: SearchIndexSelection;
}

/**
 * A page from `count + 1` rows: the first `count` resources, whether more exist, and the first match after
 * the page (what the next page starts with; the caller's policy asks it along with the page).
 */
function page(rows: ReadonlyArray<{ content: string }>, count: number): { resources: Resource[]; hasMore: boolean; next?: Resource } {
  const hasMore = rows.length > count;
  const after = hasMore && count > 0 ? rows[count] : undefined;
  return {
    resources: rows.slice(0, count).map((r) => JSON.parse(r.content) as Resource),
    hasMore,
    ...(after ? { next: JSON.parse(after.content) as Resource } : {}),
  };
}

/** Resources re-indexed per transaction when the search index selection changed. */
const REINDEX_CHUNK = 500;

interface CurrentRow extends Record<string, unknown> {
  rid: number;
  version: number;
  last_updated_ms: number;
  deleted: number;
}

type Method = HistoryEntry['method'];

/** Attempts of a write that lost a race with another writer for the same new resource (PostgreSQL). */
const WRITE_ATTEMPTS = 3;
/** Largest IN list per statement in readMany (well under both drivers' parameter limits). */
const READ_MANY_CHUNK = 500;

/** Another transaction created or changed the resource between our read and our write: retry. */
class LostRace extends Error {}

/**
 * Versioned FHIR resources with their search index, on either dialect.
 * Every write is one transaction: the current row, a row in resource_versions, and the index rows
 * are replaced together, so a search never sees a half-indexed resource. The current row is read
 * under a row lock (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE locks the database), so two
 * concurrent updates of one resource serialize and never produce the same version.
 * See: https://hl7.org/fhir/R4/http.html
 */
export class SqlResourceStore implements ResourceStore {
  constructor(
    private readonly db: SqlExecutor,
    private readonly deps: ResourceStoreDeps,
  ) {}

  async create<T extends Resource>(resource: T, opts?: { id?: string }): Promise<T> {
    if (opts?.id === undefined) {
      // A fresh UUID cannot exist yet: no need to read first (the insert still refuses a duplicate).
      return this.write((tx) => this.writeVersion(tx, resource, newId(), undefined, 'POST'));
    }
    const id = opts.id;
    assertId(id);
    return this.write(async (tx) => {
      const current = await this.lockCurrent(tx, resource.resourceType, id);
      if (current && !current.deleted) throw conflict(`${resource.resourceType}/${id} already exists`, 'GW_DUPLICATE_ID');
      return this.writeVersion(tx, resource, id, current, 'POST');
    });
  }

  async update<T extends Resource>(resource: T, opts?: { ifMatch?: string }): Promise<{ resource: T; created: boolean }> {
    const { resourceType, id } = resource;
    if (!id) throw badRequest('update needs resource.id');
    assertId(id);
    return this.write(async (tx) => {
      const current = await this.lockCurrent(tx, resourceType, id);
      checkIfMatch(`${resourceType}/${id}`, current, opts?.ifMatch);
      const saved = await this.writeVersion(tx, resource, id, current, 'PUT');
      return { resource: saved, created: !current || current.deleted === 1 };
    });
  }

  async delete(resourceType: string, id: string, opts?: { ifMatch?: string }): Promise<void> {
    await this.write(async (tx) => {
      const current = await this.lockCurrent(tx, resourceType, id);
      if (!current || current.deleted) return;
      checkIfMatch(`${resourceType}/${id}`, current, opts?.ifMatch);
      await this.writeVersion(tx, { resourceType } as Resource, id, current, 'DELETE');
    });
  }

  async read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T> {
    const [row] = await this.db.all<{ deleted: number; content: string | null }>(
      'SELECT deleted, content FROM resources WHERE resource_type = ? AND id = ?',
      [resourceType, id],
    );
    if (!row) throw notFound(`${resourceType}/${id}`);
    if (row.deleted || row.content === null) throw gone(`${resourceType}/${id}`);
    return JSON.parse(row.content) as T;
  }

  async readMany(refs: ReadonlyArray<{ resourceType: string; id: string }>): Promise<Resource[]> {
    const idsByType = new Map<string, Set<string>>();
    for (const r of refs) {
      let ids = idsByType.get(r.resourceType);
      if (!ids) idsByType.set(r.resourceType, (ids = new Set()));
      ids.add(r.id);
    }
    const found = new Map<string, Resource>();
    for (const [type, idSet] of idsByType) {
      const ids = [...idSet];
      for (let i = 0; i < ids.length; i += READ_MANY_CHUNK) {
        const q = sql`SELECT content FROM resources WHERE resource_type = ${type} AND deleted = 0 AND id IN ${list(ids.slice(i, i + READ_MANY_CHUNK))}`;
        for (const row of await this.db.all<{ content: string }>(q.text, q.params)) {
          const res = JSON.parse(row.content) as Resource;
          found.set(`${type}/${res.id}`, res);
        }
      }
    }
    // Input order, each resource once.
    const out: Resource[] = [];
    for (const key of new Set(refs.map((r) => `${r.resourceType}/${r.id}`))) {
      const res = found.get(key);
      if (res) out.push(res);
    }
    return out;
  }

  async vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    const ref = `${resourceType}/${id}/_history/${versionId}`;
    if (!/^[1-9]\d{0,9}$/.test(versionId)) throw notFound(ref);
    const [row] = await this.db.all<{ method: Method; content: string | null }>(
      'SELECT method, content FROM resource_versions WHERE resource_type = ? AND id = ? AND version = ?',
      [resourceType, id, Number(versionId)],
    );
    if (!row) throw notFound(ref);
    if (row.method === 'DELETE' || row.content === null) throw gone(ref);
    return JSON.parse(row.content) as T;
  }

  async history(
    resourceType: string,
    id: string,
    opts: { count: number; offset: number; since?: string },
  ): Promise<{ entries: HistoryEntry[]; total: number }> {
    const where: SqlFragment[] = [sql`resource_type = ${resourceType}`, sql`id = ${id}`];
    if (opts.since !== undefined) where.push(sql`last_updated_ms >= ${Date.parse(isoInstant(opts.since))}`);
    const cond = join(where, ' AND ');
    const countQ = sql`SELECT COUNT(*) AS n FROM resource_versions WHERE ${cond}`;
    const pageQ = sql`SELECT version, last_updated_ms, method, content FROM resource_versions WHERE ${cond}
      ORDER BY version DESC LIMIT ${opts.count} OFFSET ${opts.offset}`;
    const [exists] = await this.db.all('SELECT 1 AS x FROM resources WHERE resource_type = ? AND id = ?', [resourceType, id]);
    if (!exists) throw notFound(`${resourceType}/${id}`);
    const [count] = await this.db.all<{ n: number }>(countQ.text, countQ.params);
    const rows = await this.db.all<{ version: number; last_updated_ms: number; method: Method; content: string | null }>(
      pageQ.text,
      pageQ.params,
    );
    const entries = rows.map((r): HistoryEntry => ({
      resourceType,
      id,
      versionId: String(r.version),
      lastUpdated: new Date(Number(r.last_updated_ms)).toISOString(),
      method: r.method,
      ...(r.content === null ? {} : { resource: JSON.parse(r.content) as Resource }),
    }));
    return { entries, total: Number(count?.n ?? 0) };
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const compiled = compileSearch(this.deps.defs, query, this.deps.clock.now(), this.deps.searchIndex);
    const total = query.total
      ? Number((await this.db.all<{ n: number }>(compiled.count.text, compiled.count.params))[0]?.n ?? 0)
      : undefined;
    const rows = await this.db.all<{ content: string }>(compiled.page.text, compiled.page.params);
    return { ...page(rows, query.count), ...(total === undefined ? {} : { total }) };
  }

  async searchReferencing(
    resourceType: string,
    code: string,
    targets: ReadonlyArray<string>,
    limit: number,
  ): Promise<Resource[]> {
    if (targets.length === 0 || limit <= 0) return [];
    const q = referencingQuery(this.deps.defs, resourceType, code, targets, limit, this.deps.searchIndex);
    const rows = await this.db.all<{ content: string }>(q.text, q.params);
    return rows.map((r) => JSON.parse(r.content) as Resource);
  }

  async compartment(
    patientId: string,
    opts: { types?: string[]; since?: string; count: number; offset: number },
  ): Promise<{ resources: Resource[]; hasMore: boolean; next?: Resource }> {
    const where: SqlFragment[] = [sql`c.patient_id = ${patientId}`, raw('r.deleted = 0')];
    if (opts.types) {
      if (opts.types.length === 0) return { resources: [], hasMore: false };
      where.push(sql`c.resource_type IN ${list(opts.types)}`);
    }
    if (opts.since !== undefined) where.push(sql`r.last_updated_ms >= ${Date.parse(isoInstant(opts.since))}`);
    const q = sql`SELECT r.content FROM compartment c
      JOIN resources r ON r.rid = c.rid
      WHERE ${join(where, ' AND ')}
      ORDER BY c.resource_type, c.last_updated_ms, c.rid LIMIT ${opts.count + 1} OFFSET ${opts.offset}`;
    return page(await this.db.all<{ content: string }>(q.text, q.params), opts.count);
  }

  async ofTypeInCompartments(resourceType: string, patientIds: readonly string[]): Promise<Map<string, Resource[]>> {
    const out = new Map<string, Resource[]>();
    if (!patientIds.length) return out;
    const q = sql`SELECT c.patient_id, r.content FROM compartment c
      JOIN resources r ON r.rid = c.rid
      WHERE c.patient_id IN ${list([...new Set(patientIds)])} AND c.resource_type = ${resourceType} AND r.deleted = 0
      ORDER BY c.patient_id, c.last_updated_ms, c.rid`;
    for (const row of await this.db.all<{ patient_id: string; content: string }>(q.text, q.params)) {
      const list = out.get(row.patient_id) ?? [];
      list.push(JSON.parse(row.content) as Resource);
      out.set(row.patient_id, list);
    }
    return out;
  }

  /**
   * Brings the index rows in line with the search index selection: when the selection differs from the one
   * recorded with the rows (a new release serves other parameters, or a store written before selections were
   * recorded), every current resource's rows are rebuilt, a chunk per transaction. Each chunk holds the
   * 'search-index' lock and first re-reads the recorded selection, so processes opening the store at once
   * take turns and stop as soon as one has finished; the last chunk records the selection (a crash part way
   * leaves the old record, and the next start rebuilds again). Returns how many resources this call re-indexed.
   */
  async syncSearchIndex(onRebuilding?: () => void): Promise<number> {
    const selection = this.deps.searchIndex;
    if (!selection) return 0;
    const recorded = async (db: SqlExecutor) =>
      (await db.all<{ value: string }>("SELECT value FROM store_settings WHERE key = 'search_index'"))[0]?.value;
    if (await recorded(this.db) === selection.fingerprint) return 0;
    onRebuilding?.();
    let done = 0;
    for (let after = 0, more = true; more;) {
      more = await this.db.transaction(async (tx) => {
        if (await recorded(tx) === selection.fingerprint) return false; // another process finished the rebuild
        const rows = await tx.all<{ rid: number; resource_type: string; last_updated_ms: number; content: string }>(
          'SELECT rid, resource_type, last_updated_ms, content FROM resources WHERE rid > ? AND deleted = 0 ORDER BY rid LIMIT ?',
          [after, REINDEX_CHUNK],
        );
        for (const row of rows) {
          const rid = Number(row.rid);
          for (const table of INDEX_TABLES) await tx.run(`DELETE FROM ${table} WHERE rid = ?`, [rid]);
          const resource = JSON.parse(row.content) as Resource;
          await tx.insert(indexBatches(row.resource_type, rid, Number(row.last_updated_ms), this.deps.indexer.index(resource)));
          after = rid;
        }
        done += rows.length;
        if (rows.length === REINDEX_CHUNK) return true;
        await tx.run(
          "INSERT INTO store_settings (key, value) VALUES ('search_index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          [selection.fingerprint],
        );
        return false;
      }, { lock: 'search-index' });
    }
    return done;
  }

  /** Runs fn in one transaction; fn gets a store bound to it (nested calls become savepoints). */
  transaction<T>(fn: (tx: ResourceStore) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new SqlResourceStore(tx, this.deps)));
  }

  // ---------------------------------------------------------------- writes

  /** A write transaction, retried when it lost a race (the retry then sees the other writer's row and locks it). */
  private async write<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(fn);
      } catch (err) {
        if (!(err instanceof LostRace) || attempt >= WRITE_ATTEMPTS) throw err;
      }
    }
  }

  private async lockCurrent(tx: SqlExecutor, resourceType: string, id: string): Promise<CurrentRow | undefined> {
    const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [row] = await tx.all<CurrentRow>(
      `SELECT rid, version, last_updated_ms, deleted FROM resources WHERE resource_type = ? AND id = ?${lock}`,
      [resourceType, id],
    );
    return row && {
      rid: Number(row.rid),
      version: Number(row.version),
      last_updated_ms: Number(row.last_updated_ms),
      deleted: Number(row.deleted),
    };
  }

  /** Stores the next version (or a DELETE marker) and re-indexes; returns the stored resource. */
  private async writeVersion<T extends Resource>(
    tx: SqlExecutor,
    input: T,
    id: string,
    current: CurrentRow | undefined,
    method: Method,
  ): Promise<T> {
    const { resourceType } = input;
    if (!this.deps.defs.isResourceType(resourceType)) throw badRequest(`unknown resource type ${resourceType}`);
    const version = (current?.version ?? 0) + 1;
    // meta.lastUpdated strictly increases along one resource's versions, even with a coarse or stepped-back clock.
    const lastUpdatedMs = Math.max(this.deps.clock.now(), (current?.last_updated_ms ?? -Infinity) + 1);
    const deleted = method === 'DELETE';
    const { resourceType: _type, id: _id, meta, ...body } = input;
    const saved = deleted
      ? undefined
      : ({
          resourceType,
          id,
          meta: { ...meta, versionId: String(version), lastUpdated: new Date(lastUpdatedMs).toISOString() },
          ...body,
        } as T);
    const content = saved ? JSON.stringify(saved) : null;

    let rid: number;
    if (current) {
      rid = current.rid;
      const changed = await tx.run(
        'UPDATE resources SET version = ?, last_updated_ms = ?, deleted = ?, content = ? WHERE rid = ? AND version = ?',
        [version, lastUpdatedMs, deleted ? 1 : 0, content, rid, current.version],
      );
      if (changed !== 1) throw new LostRace();
      for (const table of INDEX_TABLES) await tx.run(`DELETE FROM ${table} WHERE rid = ?`, [rid]);
    } else {
      const [inserted] = await tx.all<{ rid: number }>(
        `INSERT INTO resources (resource_type, id, version, last_updated_ms, deleted, content) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (resource_type, id) DO NOTHING RETURNING rid`,
        [resourceType, id, version, lastUpdatedMs, 0, content],
      );
      if (!inserted) throw new LostRace();
      rid = Number(inserted.rid);
    }
    await tx.insert([
      {
        table: 'resource_versions',
        columns: ['resource_type', 'id', 'version', 'last_updated_ms', 'method', 'content'],
        rows: [[resourceType, id, version, lastUpdatedMs, method, content]],
      },
      ...(saved ? indexBatches(resourceType, rid, lastUpdatedMs, this.deps.indexer.index(saved)) : []),
    ]);
    return (saved ?? input) as T;
  }
}

function assertId(id: string): void {
  if (!isFhirId(id)) throw badRequest(`invalid resource id: ${JSON.stringify(id.slice(0, 70))}`);
}

/** If-Match: the expected current version, or 412. See: https://hl7.org/fhir/R4/http.html#concurrency */
function checkIfMatch(ref: string, current: CurrentRow | undefined, ifMatch: string | undefined): void {
  if (ifMatch === undefined) return;
  const expected = /^(?:W\/)?"?([^"]*)"?$/.exec(ifMatch.trim())?.[1]; // `3`, `"3"` or the ETag form `W/"3"`
  if (!current || String(current.version) !== expected) {
    throw preconditionFailed(`${ref}: version ${ifMatch} is not the current version`);
  }
}
