/**
 * The benchmark's server process (forked by bench/run.ts, one per storage backend): builds a gateway
 * with createApp on a fresh store, fills it, and serves it next to a bare express app that answers the
 * same JSON. Load comes from the parent process, so the load generator never competes with the
 * servers' event loop; both servers share this process, so they run on the same terms.
 *
 * Messages: -> parent { type: 'ready', ... } | { type: 'go', token } | { type: 'stats', ... } | { type: 'error', message }
 *           <- parent { type: 'go' } (load is about to start) | { type: 'drain' } (-> { type: 'drained', ms, left })
 *                     | { type: 'stats' } (load is over) | { type: 'stop' }
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as inspector from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import express from 'express';
import pg from 'pg';
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { createApp, type Gateway } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { systemClock } from '../src/core/clock.js';
import { groupCommit } from '../src/core/group-commit.js';
import { PROJECT_ROOT, loadFhirDefinitions } from '../src/core/fhir-definitions.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { searchIndexSelection } from '../src/fhir/resource-catalogue.js';
import { benchObservation, benchPatient, patientId } from './data.js';

export interface TargetReady {
  type: 'ready';
  backend: 'sqlite' | 'postgres';
  gatewayUrl: string;
  bareUrl: string;
  /** Bare express plus the durable disclosure entry alone (the gateway's recorder and log, same store). */
  floorUrl: string;
  /** Bare express plus one durable row in a table without indexes (the cheapest durable write the bench measures). */
  machineFloorUrl: string;
  readPath: string;
  searchPath: string;
  readBytes: number;
  searchBytes: number;
  searchEntries: number;
  /** Latency of the first (unloaded, cold) gateway read and search. */
  firstRequestMs: { read: number; search: number };
  ingest: { patients: number; observations: number; ms: number; chunk: number; concurrency: number };
  /** Time spent refreshing planner statistics after the fill (absent with BENCH_ANALYZE=0). */
  analyzeMs?: number;
  rssAfterLoadMb: number;
}

/** Answer to { type: 'go' }: a fresh token (so a store that waited for another fill has a full TTL). */
export interface TargetGo {
  type: 'go';
  token: string;
  /**
   * A token of the organization's own integration engine (partner kind internal): its reads go through
   * scopes and the agreement but not through consent and labels, i.e. the foundation's decision.
   */
  internalToken: string;
}

export interface TargetStats {
  type: 'stats';
  rssMb: number;
  maxRssMb: number;
  heapUsedMb: number;
  disclosures: number;
}

const backend = (process.env.BENCH_BACKEND ?? 'sqlite') as 'sqlite' | 'postgres';
const pgUrl = process.env.BENCH_PG_URL ?? '';
const patients = Number(process.env.BENCH_PATIENTS ?? 1000);
const observations = Number(process.env.BENCH_OBSERVATIONS ?? 100_000);
const chunk = Number(process.env.BENCH_CHUNK ?? 1000);
const analyze = process.env.BENCH_ANALYZE !== '0';
const fillConcurrency = Number(process.env.BENCH_FILL_CONCURRENCY ?? (backend === 'postgres' ? 8 : 1));
const PARTNER = 'demo-ehr';
const SCOPE = 'system/Observation.rs';

const send = (m: unknown) => process.send?.(m);
const mb = (bytes: number) => Math.round(bytes / 1048576);

/** Undo steps, run last-registered first, once: on 'stop', on SIGTERM (the parent gave up) and on failure. */
const cleanups: Array<() => unknown> = [];
let shutdown: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  shutdown ??= (async () => {
    for (const undo of cleanups.reverse()) {
      try { await undo(); } catch (err) { process.stderr.write(`bench cleanup: ${String(err)}\n`); }
    }
  })();
  return shutdown;
}
process.once('SIGTERM', () => void cleanUp().finally(() => process.exit(1)));

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fxg-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  // PostgreSQL: a unique schema (created by the store, dropped at the end), so the run touches nothing else.
  const schema = backend === 'postgres' ? `bench_${randomBytes(6).toString('hex')}` : undefined;
  if (schema) cleanups.push(() => withPg(pgUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)));
  const defs = loadFhirDefinitions();
  const stores = schema
    ? await openPostgresStores({ url: pgUrl, schema, clock: systemClock, defs, searchIndex: searchIndexSelection(defs) })
    : undefined;
  if (stores) cleanups.push(() => stores.close());

  // env: {} so nothing from the caller's environment (DATABASE_URL, PORT, NODE_ENV) leaks into the run.
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      databaseUrl: '',
      partnersDir: join(PROJECT_ROOT, 'fixtures', 'demo', 'partners'),
      rateLimit: { perClientPerMinute: 0 },
      logLevel: 'silent',
      baseUrl: 'http://127.0.0.1:8080',
    },
  });
  // SQLite: createApp opens ${dataDir}/gateway.db itself, as in production.
  const gw = await createApp({ config, ...(stores ? { stores } : {}) });
  cleanups.push(() => gw.close());

  // ---- fill the store: chunks of `chunk` creates per transaction, straight into the store;
  // PostgreSQL runs `fillConcurrency` transactions at once (its pool has several connections).
  const t0 = performance.now();
  await inChunks(patients, 1, async (from, to) => {
    await gw.stores.resources.transaction(async (tx) => {
      for (let j = from; j < to; j++) await tx.create(benchPatient(j), { id: patientId(j) });
    });
  });
  // The read target: patient 42's first reading (slot 0: laboratory).
  const target = 42 % patients;
  let readId = '';
  await inChunks(observations, fillConcurrency, async (from, to) => {
    await gw.stores.resources.transaction(async (tx) => {
      for (let n = from; n < to; n++) {
        const created = await tx.create<Observation>(benchObservation(n, patients));
        if (n === target) readId = created.id!;
      }
    });
  });
  const ingestMs = performance.now() - t0;

  // Steady state: planner statistics as autovacuum (PostgreSQL) or the store's open-time
  // `PRAGMA optimize` (SQLite) would have them a while after a bulk load. BENCH_ANALYZE=0 measures
  // the state right after the load instead.
  const a0 = performance.now();
  if (analyze) {
    if (schema) {
      await withPg(pgUrl, async (c) => {
        const { rows } = await c.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema]);
        for (const r of rows) await c.query(`VACUUM (ANALYZE) ${schema}."${r.tablename}"`);
      });
    } else {
      const db = new Database(join(dataDir, 'gateway.db'));
      try { db.exec('ANALYZE'); } finally { db.close(); }
    }
  }
  const analyzeMs = performance.now() - a0;

  // ---- servers
  const gatewayServer = await listen(gw.app, config);
  cleanups.push(() => close(gatewayServer));
  const token = await issueToken(gw);
  const readPath = `/fhir/Observation/${readId}`;
  const searchPath = `/fhir/Observation?patient=${patientId(target)}&category=laboratory&_count=20`;
  const gatewayUrl = `http://127.0.0.1:${port(gatewayServer)}`;
  let t = performance.now();
  const readBody = await fetchJson(`${gatewayUrl}${readPath}`, token);
  const readMs = performance.now() - t;
  t = performance.now();
  const searchBody = await fetchJson(`${gatewayUrl}${searchPath}`, token) as Bundle;
  const searchMs = performance.now() - t;
  const searchEntries = searchBody.entry?.length ?? 0;
  if ((readBody as Resource).id !== readId) throw new Error(`the gateway read answered ${JSON.stringify(readBody).slice(0, 200)}`);
  let labs = 0;
  for (let n = target; n < observations; n += patients) if (Math.floor(n / patients) % 2 === 0) labs++;
  if (searchEntries !== Math.min(20, labs)) throw new Error(`the gateway search answered ${searchEntries} entries, expected ${Math.min(20, labs)}`);

  // The baseline: the same bytes, the same content type, serialized per request like the gateway does.
  const bare = express();
  bare.disable('x-powered-by');
  bare.set('etag', false);
  bare.get('/fhir/Observation/:id', (_req, res) => { res.type('application/fhir+json').send(JSON.stringify(readBody)); });
  bare.get('/fhir/Observation', (_req, res) => { res.type('application/fhir+json').send(JSON.stringify(searchBody)); });
  const bareServer = await listen(bare, config);
  cleanups.push(() => close(bareServer));

  // The floor: the bare handler plus only the disclosure entry the gateway must commit before it answers
  // (the same entry, through the gateway's own recorder and log, on the same store). The gateway, which does
  // all of this and more, cannot beat this side: floor / bare bounds its ratio on this machine.
  const principal = await gw.auth.verifyAccessToken(`Bearer ${token}`);
  const [readEntry, searchEntry] = await gw.stores.disclosures.scan((await gw.stores.disclosures.count()) - 2, 2);
  if (readEntry?.channel !== 'read' || searchEntry?.channel !== 'search') throw new Error('the gateway did not record its read and search');
  const searchResources = (searchBody.entry ?? []).map((e) => e.resource as Resource);
  let floorRequests = 0;
  const floorRoute = (entry: typeof readEntry, resources: Resource[], body: unknown): express.RequestHandler => async (_req, res) => {
    try {
      await gw.audit.recordDisclosure({
        principal, purposeOfUse: entry.purposeOfUse, legalBasis: entry.legalBasis, channel: entry.channel,
        resources, requestId: `bench-floor-${++floorRequests}`,
      });
    } catch {
      res.status(503).end();
      return;
    }
    res.type('application/fhir+json').send(JSON.stringify(body));
  };
  const floor = express();
  floor.disable('x-powered-by');
  floor.set('etag', false);
  floor.get('/fhir/Observation/:id', floorRoute(readEntry, [readBody as Resource], readBody));
  floor.get('/fhir/Observation', floorRoute(searchEntry, searchResources, searchBody));
  const floorServer = await listen(floor, config);
  cleanups.push(() => close(floorServer));

  // The machine's floor for this design: the bare handler plus one durable row in a table without indexes in
  // the same kind of store, group-committed as the recorder commits (one commit in flight). It bounds what a
  // service that commits this way before it answers can reach here, whatever its log looks like.
  const minimal = await minimalDurableWrite(dataDir, schema);
  cleanups.push(() => minimal.close());
  // The row: the read's disclosure entry as JSON text (for both paths; no hashing, no per-patient split).
  const rawRow = JSON.stringify(readEntry);
  const machineFloor = express();
  machineFloor.disable('x-powered-by');
  machineFloor.set('etag', false);
  const minimalRoute = (body: unknown): express.RequestHandler => async (_req, res) => {
    try {
      await minimal.write(rawRow);
    } catch {
      res.status(503).end();
      return;
    }
    res.type('application/fhir+json').send(JSON.stringify(body));
  };
  machineFloor.get('/fhir/Observation/:id', minimalRoute(readBody));
  machineFloor.get('/fhir/Observation', minimalRoute(searchBody));
  const machineFloorServer = await listen(machineFloor, config);
  cleanups.push(() => close(machineFloorServer));

  const ready: TargetReady = {
    type: 'ready', backend, readPath, searchPath, gatewayUrl,
    bareUrl: `http://127.0.0.1:${port(bareServer)}`,
    floorUrl: `http://127.0.0.1:${port(floorServer)}`,
    machineFloorUrl: `http://127.0.0.1:${port(machineFloorServer)}`,
    readBytes: JSON.stringify(readBody).length,
    searchBytes: JSON.stringify(searchBody).length,
    searchEntries,
    firstRequestMs: { read: readMs, search: searchMs },
    ingest: { patients, observations, ms: ingestMs, chunk, concurrency: fillConcurrency },
    analyzeMs: analyze ? analyzeMs : undefined,
    rssAfterLoadMb: mb(process.memoryUsage().rss),
  };
  send(ready);

  process.on('message', (m: { type: string }) => {
    void (async () => {
      if (m.type === 'drain') {
        const t = performance.now();
        while (inFlight > 0 && performance.now() - t < 300_000) await new Promise((r) => setTimeout(r, 20));
        send({ type: 'drained', ms: performance.now() - t, left: inFlight });
      } else if (m.type === 'go') {
        const go: TargetGo = { type: 'go', token: await issueToken(gw), internalToken: await issueToken(gw, 'demo-internal') };
        await profiler?.start();
        send(go);
      } else if (m.type === 'stats') {
        await profiler?.stop();
        const mem = process.memoryUsage();
        const stats: TargetStats = {
          type: 'stats', rssMb: mb(mem.rss), heapUsedMb: mb(mem.heapUsed),
          maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
          disclosures: await gw.stores.disclosures.count(),
        };
        send(stats);
      } else if (m.type === 'stop') {
        await cleanUp();
        process.disconnect?.();
      }
    })().catch(fail);
  });
}

/**
 * BENCH_CPU_PROF=dir: a V8 CPU profile of this process covering only the load phase (from 'ready'
 * to 'stats'), so the fill does not drown the request path. Summarise it with bench/cpu-profile-summary.ts.
 */
const profiler = process.env.BENCH_CPU_PROF
  ? (() => {
    const session = new inspector.Session();
    return {
      async start() {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
      },
      async stop() {
        const { profile } = await session.post('Profiler.stop');
        mkdirSync(process.env.BENCH_CPU_PROF!, { recursive: true });
        const file = join(process.env.BENCH_CPU_PROF!, `load-${backend}-${Date.now()}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        session.disconnect();
        process.stderr.write(`[${backend}] CPU profile of the load phase: ${file}\n`);
      },
    };
  })()
  : undefined;

/** Runs fn over [0, total) in chunks of `chunk`, at most `concurrency` at a time. */
async function inChunks(total: number, concurrency: number, fn: (from: number, to: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const from = next;
      const to = Math.min(total, from + chunk);
      next = to;
      await fn(from, to);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/**
 * Issues an access token for the demo EHR partner without a client assertion round trip
 * (the token endpoint is not what is measured).
 */
async function issueToken(gw: Gateway, id = PARTNER): Promise<string> {
  const partner = await gw.stores.partners.get(id);
  if (!partner) throw new Error(`partner ${id} is not registered (fixtures/demo/partners)`);
  const issued = await gw.auth.issueAccessToken({ partner, scope: SCOPE, ...(partner.kind === 'internal' ? { purposeOfUse: 'HOPERAT' } : {}) });
  return issued.access_token;
}

async function fetchJson(url: string, token: string): Promise<unknown> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/**
 * Requests whose handler has not answered yet, over both servers. A client that gave up (autocannon
 * stops at the end of a slice) does not stop a handler, so the parent waits for this to reach 0
 * ('drain') before the next slice: one side's backlog must not eat the other side's measurement.
 */
let inFlight = 0;

function listen(app: express.Express, config: { http: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number } }): Promise<Server> {
  const server = createServer((req, res) => {
    inFlight++;
    let done = false;
    const finish = () => { if (!done) { done = true; inFlight--; } };
    const end = res.end.bind(res) as (...a: unknown[]) => unknown;
    (res as { end: (...a: unknown[]) => unknown }).end = (...a: unknown[]) => { finish(); return end(...a); };
    res.once('finish', finish);
    app(req, res);
  });
  // The same socket settings as src/main.ts, for both servers.
  server.headersTimeout = config.http.headersTimeoutMs;
  server.requestTimeout = config.http.requestTimeoutMs;
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const port = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });

/**
 * One durable row per request, group-committed by the disclosure recorder's mechanism (rows queued in one
 * turn of the event loop share a commit; one commit in flight): SQLite with synchronous=FULL in a file of its
 * own, set up as the store's (WAL, checkpoint interval, page cache), or PostgreSQL (synchronous_commit on)
 * in the bench schema. No index (SQLite's rowid is the table's own key; the PostgreSQL table is a heap without
 * a key), no hashing.
 */
async function minimalDurableWrite(dir: string, schema: string | undefined): Promise<{ write(row: string): Promise<void>; close(): Promise<void> }> {
  let insert: (rows: string[]) => Promise<void>;
  let close: () => Promise<void>;
  if (schema) {
    const c = new pg.Client({ connectionString: pgUrl });
    // A lost connection fails the pending writes (503s in the report), not the process.
    c.on('error', (err) => process.stderr.write(`bench minimal write: ${String(err)}\n`));
    await c.connect();
    await c.query(`CREATE TABLE ${schema}.minimal_log (entry TEXT NOT NULL)`);
    insert = async (rows) => {
      await c.query(`INSERT INTO ${schema}.minimal_log (entry) SELECT unnest($1::text[])`, [rows]);
    };
    close = () => c.end();
  } else {
    const db = new Database(join(dir, 'minimal.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('cache_size = -32768');
    db.pragma('wal_autocheckpoint = 10000');
    db.exec('CREATE TABLE minimal_log (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)');
    const one = db.prepare('INSERT INTO minimal_log (entry) VALUES (?)');
    const many = db.transaction((rows: string[]) => { for (const r of rows) one.run(r); });
    insert = async (rows) => { many(rows); };
    close = async () => { db.close(); };
  }
  return {
    // The gateway's own group commit (src/core/group-commit.ts), so this side commits exactly as the recorder does.
    write: groupCommit(insert),
    close,
  };
}

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

function fail(err: unknown): void {
  send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exitCode = 1;
  void cleanUp().finally(() => setTimeout(() => process.exit(1), 100).unref());
}

main().catch(fail);
