/**
 * Benchmark: the gateway's secured read and search against a bare express baseline measured in the
 * same run, on SQLite and (when BENCH_PG_URL or TEST_PG_URL is set) PostgreSQL. Prints markdown and
 * replaces the results section of docs/benchmarks.md. Ratios, never absolute timings, are what to
 * compare across machines; nothing here is asserted by the tests.
 *
 *   npm run bench
 *
 * Environment (all optional):
 *   BENCH_PG_URL / TEST_PG_URL   also run on PostgreSQL (a unique schema, dropped afterwards)
 *   BENCH_BACKENDS=sqlite,postgres   which backends to run
 *   BENCH_PATIENTS=1000 BENCH_OBSERVATIONS=100000   store size
 *   BENCH_CONNECTIONS=10 BENCH_DURATION=5 BENCH_WARMUP=1   autocannon settings (seconds per side)
 *   BENCH_ROUNDS=2   measured slices per side, alternating the servers
 *   BENCH_FILL_CONCURRENCY   transactions filling at once (default 1 on SQLite, 8 on PostgreSQL)
 *   BENCH_PARALLEL_FILL=0   fill the stores one after the other (clean ingest rates, longer run)
 *   BENCH_ANALYZE=0   skip refreshing planner statistics after the fill (measure right after a bulk load)
 *   BENCH_CPU_PROF=dir   write a V8 CPU profile of the server process during the load phase to dir
 *   BENCH_WRITE=0   do not touch docs/benchmarks.md
 *   BENCH_INGEST=0   skip the ingest and accounting figures (bench/ingest-accounting.ts; its own variables there)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem, platform, arch } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import type { TargetGo, TargetReady, TargetStats } from './target.js';

const env = process.env;
const connections = Number(env.BENCH_CONNECTIONS ?? 10);
const duration = Number(env.BENCH_DURATION ?? 5);
const warmup = Number(env.BENCH_WARMUP ?? 1);
const rounds = Math.max(1, Number(env.BENCH_ROUNDS ?? 2));
const pgUrl = env.BENCH_PG_URL || env.TEST_PG_URL || '';
const backends = (env.BENCH_BACKENDS ?? (pgUrl ? 'sqlite,postgres' : 'sqlite')).split(',').map((s) => s.trim()).filter(Boolean) as Array<'sqlite' | 'postgres'>;
/** Fill the stores at the same time (default when there are several): halves the run on 2+ CPUs. */
const parallelFill = backends.length > 1 && env.BENCH_PARALLEL_FILL !== '0';
const docsPath = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const BEGIN = '<!-- bench:results:begin (written by npm run bench; edits inside are overwritten) -->';
const END = '<!-- bench:results:end -->';

const TARGETS = { read: 0.8, search: 0.5 } as const;
type Scenario = keyof typeof TARGETS;

interface Measured { rps: number; p50: number; p99: number; non2xx: number; errors: number; total: number }
interface BackendResult {
  ready: TargetReady;
  /** minimal: bare express plus one durable row; floor: plus the gateway's durable disclosure entry (bench/target.ts). */
  runs: Record<Scenario, { bare: Measured; minimal: Measured; floor: Measured; gateway: Measured }>;
  /** The same read by an external EHR (agreement + consent + labels) against the internal engine (scopes + agreement). */
  decision: { bare: Measured; gateway: Measured };
  stats: TargetStats;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  if (backends.includes('postgres') && !pgUrl) throw new Error('postgres requested but neither BENCH_PG_URL nor TEST_PG_URL is set');
  const started = Date.now();
  const results: BackendResult[] = [];
  if (parallelFill) {
    // Fill every store at once (the slow part), then measure one store at a time with the others idle.
    const children = backends.map(start);
    try {
      const readies = await Promise.all(children.map((c) => c.ready));
      for (const [i, c] of children.entries()) results.push(await measure(c.child, readies[i]!));
    } catch (err) {
      for (const c of children) c.child.kill();
      throw err;
    }
  } else {
    for (const backend of backends) {
      const c = start(backend);
      try {
        results.push(await measure(c.child, await c.ready));
      } catch (err) {
        c.child.kill();
        throw err;
      }
    }
  }
  let md = render(results, (Date.now() - started) / 1000);
  if (env.BENCH_INGEST !== '0') {
    log('[ingest and accounting] mapping HL7 v2, storing Synthea, building accountings over a large log...');
    md += `\n\n${await ingestAndAccounting()}`;
  }
  process.stdout.write(`${md}\n`);
  if (env.BENCH_WRITE !== '0') {
    writeDocs(md);
    log(`wrote ${docsPath}`);
  }
}

/** bench/ingest-accounting.ts in its own process (one core, nothing else running), its markdown returned. */
function ingestAndAccounting(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./ingest-accounting.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'], env: { ...env, BENCH_PG_URL: pgUrl }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`bench/ingest-accounting.ts exited with ${code}`))));
  });
}

/** Forks the server process for one store; `ready` resolves once it is filled and serving. */
function start(backend: 'sqlite' | 'postgres'): { child: ChildProcess; ready: Promise<TargetReady> } {
  log(`[${backend}] starting the server process and filling the store...`);
  const child = fork(fileURLToPath(new URL('./target.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...env, BENCH_BACKEND: backend, BENCH_PG_URL: pgUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = next<TargetReady>(child, 'ready', 900_000).then((r) => {
    const n = r.ingest.patients + r.ingest.observations;
    log(`[${backend}] stored ${n} resources in ${(r.ingest.ms / 1000).toFixed(1)} s (${Math.round(n / (r.ingest.ms / 1000))}/s)` +
      (r.analyzeMs !== undefined ? `; statistics refreshed in ${(r.analyzeMs / 1000).toFixed(1)} s` : '; statistics NOT refreshed (BENCH_ANALYZE=0)'));
    return r;
  });
  return { child, ready };
}

async function measure(child: ChildProcess, ready: TargetReady): Promise<BackendResult> {
  const backend = ready.backend;
  child.send({ type: 'go' });
  const { token, internalToken } = await next<TargetGo>(child, 'go', 30_000);
  const auth = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
  const runs = {} as BackendResult['runs'];
  for (const scenario of ['read', 'search'] as const) {
    const path = scenario === 'read' ? ready.readPath : ready.searchPath;
    const { sides } = await compare(child, [
      { name: 'bare', url: `${ready.bareUrl}${path}` },
      { name: 'minimal', url: `${ready.machineFloorUrl}${path}` },
      { name: 'floor', url: `${ready.floorUrl}${path}` },
      { name: 'gateway', url: `${ready.gatewayUrl}${path}`, headers: auth },
    ], `${backend} ${scenario}`);
    runs[scenario] = { bare: sides.bare!, minimal: sides.minimal!, floor: sides.floor!, gateway: sides.gateway! };
  }
  const { sides } = await compare(child, [
    { name: 'internal', url: `${ready.gatewayUrl}${ready.readPath}`, headers: { authorization: `Bearer ${internalToken}`, accept: 'application/fhir+json' } },
    { name: 'ehr', url: `${ready.gatewayUrl}${ready.readPath}`, headers: auth },
  ], `${backend} decision`);
  const decision = { bare: sides.internal!, gateway: sides.ehr! };
  child.send({ type: 'stats' });
  const stats = await next<TargetStats>(child, 'stats', 60_000);
  child.send({ type: 'stop' });
  await exited(child);
  return { ready, runs, decision, stats };
}

interface Side { name: string; url: string; headers?: Record<string, string> }

/**
 * One comparison: a warm-up of each side (discarded), then `rounds` alternating measured slices
 * (bare, minimal, floor, gateway, bare, ...), so background load on the machine hits every side alike.
 * req/s = requests / seconds over all slices; p50 = mean of the slices' p50; p99 = worst slice's p99.
 */
async function compare(child: ChildProcess, sides: readonly Side[], label: string): Promise<{ sides: Record<string, Measured>; drainMs: number }> {
  let drainMs = 0;
  /** autocannon, then wait until the server process has answered every request it accepted. */
  const run = async (side: Side, seconds: number) => {
    const r = await autocannon({ connections, url: side.url, duration: seconds, ...(side.headers ? { headers: side.headers } : {}) });
    child.send({ type: 'drain' });
    const d = await next<{ type: 'drained'; ms: number; left: number }>(child, 'drained', 330_000);
    drainMs += d.ms;
    if (d.left) log(`  ${label}: ${d.left} requests still running after ${Math.round(d.ms / 1000)} s`);
    return r;
  };
  if (warmup > 0) for (const side of sides) await run(side, warmup);
  const slices = new Map<string, Result[]>(sides.map((s) => [s.name, []]));
  const slice = Math.max(1, duration / rounds);
  for (let i = 0; i < rounds; i++) for (const side of sides) slices.get(side.name)!.push(await run(side, slice));
  const out: Record<string, Measured> = {};
  for (const side of sides) {
    const m = (out[side.name] = combine(slices.get(side.name)!));
    log(`  ${`${label} ${side.name}`.padEnd(24)} ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms` +
      (m.non2xx || m.errors ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : ''));
  }
  if (drainMs > 1000) log(`  ${label}: waited ${(drainMs / 1000).toFixed(1)} s in all for the server to finish requests clients had given up on`);
  return { sides: out, drainMs };
}

function combine(results: Result[]): Measured {
  const total = results.reduce((a, r) => a + r.requests.total, 0);
  const seconds = results.reduce((a, r) => a + r.duration, 0);
  return {
    rps: total / seconds,
    p50: results.reduce((a, r) => a + r.latency.p50, 0) / results.length,
    p99: Math.max(...results.map((r) => r.latency.p99)),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0),
    total,
  };
}

function next<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the server process sent no '${type}' within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string; message?: string }) => {
      if (m.type === type) done(undefined, m as T);
      else if (m.type === 'error') done(new Error(`server process: ${m.message}`));
    };
    const onExit = (code: number | null) => done(new Error(`the server process exited (${code}) before '${type}'`));
    function done(err?: Error, v?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(v as T);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => {
  if (child.exitCode !== null) return resolve();
  const t = setTimeout(() => child.kill(), 30_000);
  child.once('exit', () => { clearTimeout(t); resolve(); });
});

// ------------------------------------------------------------------ report

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
/** Two decimals, or two significant digits below 0.1 (0.0048x, not 0.00x). */
const ratioText = (r: number) => (!Number.isFinite(r) ? 'n/a' : r >= 0.1 ? r.toFixed(2) : r === 0 ? '0' : r.toPrecision(2));

function render(results: BackendResult[], seconds: number): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const first = results[0]?.ready;
  const lines: string[] = [];
  lines.push(`Run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench\`, ${seconds.toFixed(0)} s in all.`);
  lines.push('');
  lines.push(`Machine: ${availableParallelism()} CPUs (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${platform()} ${arch()}.`);
  if (first) {
    lines.push(`Store: ${int(first.ingest.patients)} Patients and ${int(first.ingest.observations)} Observations ` +
      `(half laboratory, half vital signs; ${int(first.ingest.observations / first.ingest.patients)} per patient).`);
    if (parallelFill) lines.push(`Fill: the ${results.length} stores were filled at the same time (ingest rates below are under that contention; BENCH_PARALLEL_FILL=0 for clean ones); each store was then measured alone.`);
    lines.push(`Load: autocannon, ${connections} connections against 127.0.0.1; per row and side ${warmup} s warm-up, then ${duration} s measured ` +
      `in ${rounds} slices alternating the servers (req/s over all slices, p50 their mean, p99 the worst slice).`);
  }
  lines.push('');
  const x = (v: number) => `${ratioText(v)}${Number.isFinite(v) ? 'x' : ''}`;
  const bad = (m: Measured) => (m.non2xx || m.errors ? ` (${m.non2xx} non-2xx, ${m.errors} errors)` : '');
  const labelOf = (r: BackendResult, scenario: Scenario) => (scenario === 'read' ? `read \`GET /fhir/Observation/{id}\` (${int(r.ready.readBytes)} B)` :
    `search \`?patient&category=laboratory&_count=20\` (${int(r.ready.searchBytes)} B)`);
  lines.push('| store | request | bare express req/s | gateway req/s | gateway / bare | target | bare p50 / p99 (ms) | gateway p50 / p99 (ms) | gateway first request, cold (ms) |');
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    for (const scenario of ['read', 'search'] as const) {
      const { bare, gateway } = r.runs[scenario];
      const ratio = gateway.rps / bare.rps;
      const verdict = ratio >= TARGETS[scenario] ? 'met' : '**missed**';
      lines.push(`| ${r.ready.backend} | ${labelOf(r, scenario)} | ${int(bare.rps)} | ${int(gateway.rps)}${bad(gateway)} | **${x(ratio)}** | ≥ ${TARGETS[scenario]}x ${verdict} | ` +
        `${ms(bare.p50)} / ${ms(bare.p99)} | ${ms(gateway.p50)} / ${ms(gateway.p99)} | ${ms(r.ready.firstRequestMs[scenario])} |`);
    }
  }
  lines.push('');
  lines.push('What bounds the ratio: two more servers in the same process and run, each the bare handler plus only a durable write before it answers, group-committed as the gateway commits. ' +
    '*Minimal*: one row in a table without indexes in the same kind of store (SQLite with synchronous=FULL in its own file, or a PostgreSQL table with synchronous_commit on). ' +
    '*Disclosure entry*: the same entry the gateway records, through the gateway\'s own recorder and hash-chained log on the same store. ' +
    'The minimal side is the cheapest durable write measured here, committed the way the gateway commits (one commit in flight, so with 10 connections at most 10 answers per commit); gateway / disclosure entry is what the rest of the gateway (token, scopes, policy, store read, FHIR handling) costs.');
  lines.push('');
  lines.push('| store | request | bare express req/s | minimal durable write req/s (/ bare) | disclosure entry only req/s (/ bare) | gateway req/s (/ bare) | gateway / disclosure entry |');
  lines.push('|---|---|--:|--:|--:|--:|--:|');
  for (const r of results) {
    for (const scenario of ['read', 'search'] as const) {
      const { bare, minimal, floor, gateway } = r.runs[scenario];
      const of = (m: Measured) => `${int(m.rps)}${bad(m)} (${x(m.rps / bare.rps)})`;
      lines.push(`| ${r.ready.backend} | ${scenario} | ${int(bare.rps)} | ${of(minimal)} | ${of(floor)} | ${of(gateway)} | ${x(gateway.rps / floor.rps)} |`);
    }
  }
  lines.push('');
  lines.push('Full policy decision (issue #4): the same read by the demo EHR (agreement, consent query, labels, obligations) against the demo internal integration engine (scopes and agreement only: the foundation\'s decision), same server, same run. Target: within 10% (≥ 0.9x).');
  lines.push('');
  lines.push('| store | internal engine req/s | EHR, full decision req/s | full / foundation | target | internal p50 / p99 (ms) | EHR p50 / p99 (ms) |');
  lines.push('|---|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    const { bare, gateway } = r.decision;
    const ratio = gateway.rps / bare.rps;
    lines.push(`| ${r.ready.backend} | ${int(bare.rps)}${bad(bare)} | ${int(gateway.rps)}${bad(gateway)} | **${ratioText(ratio)}x** | ≥ 0.9x ${ratio >= 0.9 ? 'met' : '**missed**'} | ${ms(bare.p50)} / ${ms(bare.p99)} | ${ms(gateway.p50)} / ${ms(gateway.p99)} |`);
  }
  lines.push('');
  lines.push('| store | ingest (`stores.resources.transaction`, direct) | statistics refresh | server RSS after fill | server RSS after load (peak) | disclosure entries written |');
  lines.push('|---|--:|--:|--:|--:|--:|');
  for (const r of results) {
    const n = r.ready.ingest.patients + r.ready.ingest.observations;
    const gatewayRequests = r.runs.read.gateway.total + r.runs.search.gateway.total;
    const floorRequests = r.runs.read.floor.total + r.runs.search.floor.total;
    const decisionRequests = r.decision.bare.total + r.decision.gateway.total;
    const refresh = r.ready.analyzeMs === undefined ? 'skipped' : `${(r.ready.analyzeMs / 1000).toFixed(1)} s (${r.ready.backend === 'postgres' ? 'VACUUM ANALYZE' : 'ANALYZE'})`;
    lines.push(`| ${r.ready.backend} | ${int(n / (r.ready.ingest.ms / 1000))} resources/s (${int(n)} in ${(r.ready.ingest.ms / 1000).toFixed(1)} s; ` +
      `${r.ready.ingest.chunk} creates per transaction, ${r.ready.ingest.concurrency} at a time) | ${refresh} | ` +
      `${int(r.ready.rssAfterLoadMb)} MB | ${int(r.stats.rssMb)} MB (${int(r.stats.maxRssMb)} MB) | ${int(r.stats.disclosures)} (${int(gatewayRequests)} gateway, ${int(floorRequests)} disclosure-entry-only and ${int(decisionRequests)} full-decision answers measured, plus warm-ups and checks) |`);
  }
  return lines.join('\n');
}

function writeDocs(section: string): void {
  const block = `${BEGIN}\n${section}\n${END}`;
  let doc = existsSync(docsPath) ? readFileSync(docsPath, 'utf8') : '';
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a >= 0 && b > a) doc = doc.slice(0, a) + block + doc.slice(b + END.length);
  else doc = `${doc.trimEnd()}${doc ? '\n\n' : ''}${block}\n`;
  writeFileSync(docsPath, doc);
}

main().catch((err) => {
  log(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
