/**
 * Ingest and accounting benchmarks (issues #3 and #4), in one process on one core, each figure next to
 * a baseline measured in the same run:
 * - HL7 v2 messages mapped, labelled and validated per second (the project's own fixtures, repeated),
 *   against a loop that only parses them (Hl7Message.parse); target 2,000 messages/s or more;
 * - resources stored per second from Synthea transaction Bundles through the import path (`fxg import`:
 *   the FHIR transaction handler, validation included), per store, against a loop that only parses the
 *   Bundles (JSON.parse); target 3,000 resources/s or more on SQLite;
 * - a patient's accounting of disclosures over a log of BENCH_LOG_ENTRIES (default 1,000,000) entries,
 *   p50/p95/p99 over BENCH_ACCOUNTING_SAMPLES reports; target p95 under 100 ms.
 * Prints markdown (the caller, bench/run.ts, puts it in docs/benchmarks.md). Nothing here is asserted by tests.
 *
 * Environment: BENCH_HL7_MESSAGES (2000), BENCH_LOG_ENTRIES (1000000), BENCH_LOG_PATIENTS (10000),
 * BENCH_ACCOUNTING_SAMPLES (200), BENCH_INGEST_ROUNDS (3: ingest figures are medians of rounds),
 * BENCH_PG_URL / TEST_PG_URL (PostgreSQL rows), BENCH_INGEST_BACKENDS.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Hl7Message } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import { createApp, type Gateway } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { PROJECT_ROOT } from '../src/core/fhir-definitions.js';
import { silentLogger } from '../src/core/logger.js';
import { newId } from '../src/core/ids.js';
import { mapHl7v2, splitHl7Messages } from '../src/mapping/hl7v2/index.js';
import { validateForIngest } from '../src/mapping/validate.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { openSqliteStores } from '../src/store/sqlite/index.js';
import { searchIndexSelection } from '../src/fhir/resource-catalogue.js';
import type { DisclosureInput, Stores } from '../src/store/types.js';
import { systemClock } from '../src/core/clock.js';

const env = process.env;
const hl7Count = Number(env.BENCH_HL7_MESSAGES ?? 2000);
const logEntries = Number(env.BENCH_LOG_ENTRIES ?? 1_000_000);
const logPatients = Number(env.BENCH_LOG_PATIENTS ?? 10_000);
const samples = Number(env.BENCH_ACCOUNTING_SAMPLES ?? 200);
const rounds = Math.max(1, Number(env.BENCH_INGEST_ROUNDS ?? 3));
const pgUrl = env.BENCH_PG_URL || env.TEST_PG_URL || '';
const backends = (env.BENCH_INGEST_BACKENDS ?? (pgUrl ? 'sqlite,postgres' : 'sqlite')).split(',').filter(Boolean) as Array<'sqlite' | 'postgres'>;
const SYNTHEA = join(PROJECT_ROOT, '..', 'shared', 'data', 'synthea');
const log = (s: string) => process.stderr.write(`${s}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

interface Opened { stores: Stores; drop: () => Promise<void> }

async function open(kind: 'sqlite' | 'postgres'): Promise<Opened> {
  const defs = (await import('../src/core/fhir-definitions.js')).loadFhirDefinitions();
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'fxg-bench-'));
    // Indexing what the gateway serves, as createApp's own stores do.
    const stores = await openSqliteStores({ filename: join(dir, 'gateway.db'), clock: systemClock, defs, searchIndex: searchIndexSelection(defs) });
    return { stores, drop: async () => { await stores.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const schema = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const stores = await openPostgresStores({ url: pgUrl, clock: systemClock, defs, schema, searchIndex: searchIndexSelection(defs) });
  return {
    stores,
    drop: async () => {
      await stores.close();
      const pg = await import('pg');
      const c = new pg.default.Client({ connectionString: pgUrl });
      await c.connect();
      try { await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } finally { await c.end(); }
    },
  };
}

async function gateway(stores: Stores): Promise<Gateway> {
  const config = loadConfig({ env: {}, overrides: { logLevel: 'silent', rateLimit: { perClientPerMinute: 0 }, partnersDir: join(tmpdir(), 'fxg-no-partners') } });
  return createApp({ config, stores, log: silentLogger });
}

// ------------------------------------------------------------------ HL7 v2

async function hl7Bench(gw: Gateway): Promise<string[]> {
  const dir = join(PROJECT_ROOT, 'fixtures', 'hl7v2');
  const messages = readdirSync(dir).filter((f) => f.endsWith('.hl7')).sort()
    .flatMap((f) => splitHl7Messages(readFileSync(join(dir, f), 'utf8')))
    .filter((m) => { try { mapHl7v2(m, { terminology: gw.ingest.terminology, timezone: 'UTC' }); return true; } catch { return false; } });
  // Distinct messages, as a live feed sends them: each copy gets its own control id, patient identifier and
  // visit number, so Patients, Encounters, results and Provenance differ, while the sending facility,
  // practitioners and locations repeat (as they do in a real feed).
  const input = Array.from({ length: hl7Count }, (_, i) => vary(messages[i % messages.length]!, i));
  // Warm-up, not timed: each US Core profile is parsed on its first use in a process, once.
  for (const m of messages) {
    for (const r of gw.ingest.labeler.labelAll(mapHl7v2(m, { terminology: gw.ingest.terminology, timezone: 'UTC' }).resources)) validateForIngest(gw.defs, r);
  }
  // Rounds of the three loops, interleaved so background load on a shared machine hits each alike; medians reported.
  const parseRates: number[] = [];
  const mapOnlyRates: number[] = [];
  const rates: number[] = [];
  let segments = 0;
  let resources = 0;
  let invalid = 0;
  for (let round = 0; round < rounds; round++) {
    segments = 0;
    const t0 = performance.now();
    for (const m of input) segments += Hl7Message.parse(m).segments.length;
    parseRates.push(hl7Count / ((performance.now() - t0) / 1000));
    // Mapping and labelling alone, to show what validation costs on top.
    const t2 = performance.now();
    for (const m of input) gw.ingest.labeler.labelAll(mapHl7v2(m, { terminology: gw.ingest.terminology, timezone: 'UTC' }).resources);
    mapOnlyRates.push(hl7Count / ((performance.now() - t2) / 1000));
    resources = 0;
    invalid = 0;
    const t1 = performance.now();
    for (const m of input) {
      const unit = mapHl7v2(m, { terminology: gw.ingest.terminology, timezone: 'UTC' });
      for (const r of gw.ingest.labeler.labelAll(unit.resources)) {
        resources++;
        const report = validateForIngest(gw.defs, r);
        if (report.invalid.length || report.profile.length) invalid++;
      }
    }
    rates.push(hl7Count / ((performance.now() - t1) / 1000));
  }
  const rate = median(rates);
  const base = median(parseRates);
  const mapOnly = median(mapOnlyRates);
  log(`  hl7v2: ${int(rate)} msg/s mapped+validated (rounds: ${rates.map(int).join(', ')}; ${resources} resources, ${invalid} invalid), parse only ${int(base)} msg/s (${segments} segments)`);
  return [
    `| HL7 v2 messages mapped and labelled, not validated (for comparison) | ${int(base)} messages/s | ${int(mapOnly)} messages/s | ${(mapOnly / base).toFixed(3)}x | (no target) |`,
    `| HL7 v2 messages mapped, labelled and validated (${messages.length} distinct fixture messages, ${int(hl7Count)} in all; ${int(resources)} resources; median of ${rounds} rounds: ${rates.map(int).join(', ')}) | ${int(base)} messages/s (Hl7Message.parse only) | ${int(rate)} messages/s | ${(rate / base).toFixed(3)}x | ≥ 2,000 messages/s ${rate >= 2000 ? 'met' : '**missed**'} |`,
  ];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** A copy of `message` made distinct: MSH-10, PID-3.1, MRG-1.1 and PV1-19.1 get the suffix `-<i>`. */
function vary(message: string, i: number): string {
  const suffix = (field: string | undefined) => {
    if (!field) return field ?? '';
    const [first, ...rest] = field.split('~');
    const parts = (first ?? '').split('^');
    parts[0] = `${parts[0]}-${i}`;
    return [parts.join('^'), ...rest].join('~');
  };
  return message.split('\r').map((seg) => {
    const f = seg.split('|');
    if (f[0] === 'MSH' && f[9]) f[9] = `${f[9]}-${i}`;
    if (f[0] === 'PID' && f[3]) f[3] = suffix(f[3]);
    if (f[0] === 'MRG' && f[1]) f[1] = suffix(f[1]);
    if (f[0] === 'PV1' && f[19]) f[19] = suffix(f[19]);
    return f.join('|');
  }).join('\r');
}

// ------------------------------------------------------------------ Synthea

async function syntheaBench(kind: 'sqlite' | 'postgres'): Promise<string[]> {
  if (!existsSync(SYNTHEA)) return [`| Synthea on ${kind} | skipped: ${SYNTHEA} is absent | | | |`];
  const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort().map((f) => join(SYNTHEA, f));
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  let entries = 0;
  for (const t of texts) entries += ((JSON.parse(t) as Bundle).entry ?? []).length;
  // Warm-up, not timed: the first Bundles through a fresh process run cold code (JIT) and compile the search
  // parameters and statements of each type; a scratch store of the same kind takes them, then is dropped.
  const scratch = await open(kind);
  try {
    const gw = await gateway(scratch.stores);
    const principal = gw.internalPrincipal('bench-warm-up');
    for (const t of texts.slice(0, 3)) {
      await gw.fhir({ method: 'POST', segments: [], params: [], body: JSON.parse(t), headers: { prefer: 'return=minimal' } }, { principal, requestId: newId() });
    }
    await gw.close();
  } finally {
    await scratch.drop();
  }
  // Rounds, each on a fresh store of this kind; the median is reported.
  const rates: number[] = [];
  const parseRates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const tp = performance.now();
    for (const t of texts) JSON.parse(t);
    parseRates.push(entries / ((performance.now() - tp) / 1000));
    const o = await open(kind);
    try {
      const gw = await gateway(o.stores);
      const principal = gw.internalPrincipal('bench-import');
      const t1 = performance.now();
      for (const t of texts) {
        const res = await gw.fhir({ method: 'POST', segments: [], params: [], body: JSON.parse(t), headers: { prefer: 'return=minimal' } }, { principal, requestId: newId() });
        if (res.status !== 200) throw new Error(`Synthea bundle refused: ${res.status}`);
      }
      rates.push(entries / ((performance.now() - t1) / 1000));
      await gw.close();
    } finally {
      await o.drop();
    }
  }
  const rate = median(rates);
  const base = median(parseRates);
  log(`  synthea ${kind}: ${int(rate)} resources/s stored (rounds: ${rates.map(int).join(', ')}; ${entries} resources each)`);
  return [`| Synthea transaction Bundles stored through the import path on ${kind} (${files.length} Bundles, ${int(entries)} resources; validation included; median of ${rounds} rounds: ${rates.map(int).join(', ')}) | ${int(base)} resources/s (JSON.parse only) | ${int(rate)} resources/s | ${(rate / base).toFixed(4)}x | ${kind === 'sqlite' ? `≥ 3,000 resources/s ${rate >= 3000 ? 'met' : '**missed**'}` : 'none set'} |`];
}

// ------------------------------------------------------------------ accounting

const PURPOSES: Array<[string, string]> = [['TREAT', 'tpo'], ['TREAT', 'tpo'], ['HPAYMT', 'tpo'], ['PUBHLTH', 'public-health'], ['HRESCH', 'research']];

async function accountingBench(kind: 'sqlite' | 'postgres'): Promise<string> {
  const o = await open(kind);
  try {
    const gw = await gateway(o.stores);
    const t0 = performance.now();
    const batch = 10_000;
    for (let n = 0; n < logEntries; n += batch) {
      const entries: DisclosureInput[] = [];
      for (let i = n; i < Math.min(logEntries, n + batch); i++) {
        const [purpose, basis] = PURPOSES[i % PURPOSES.length]!;
        entries.push({
          patient: `acct-pt-${i % logPatients}`,
          recipient: { partnerId: `partner-${i % 7}`, name: `Partner ${i % 7}`, kind: 'ehr', address: '1 Example Way' },
          clientId: `partner-${i % 7}`, tokenId: `jti-${i}`, purposeOfUse: purpose, legalBasis: basis, channel: 'read',
          resources: [{ resourceType: 'Observation', id: `obs-${i}`, versionId: '1' }],
          description: '1 Observation disclosed by read', requestId: `req-${i}`,
        });
      }
      await o.stores.disclosures.append(entries);
    }
    const fillMs = performance.now() - t0;
    log(`  accounting ${kind}: ${int(logEntries)} log entries written in ${(fillMs / 1000).toFixed(1)} s`);
    const times: number[] = [];
    let lines = 0;
    for (let s = 0; s < samples; s++) {
      const patient = `acct-pt-${(s * 7919) % logPatients}`;
      const t = performance.now();
      const r = await gw.accounting.report({ patient, kind: 'hipaa' });
      times.push(performance.now() - t);
      lines += r.entries.length + r.summaries.length;
    }
    await gw.close();
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
    log(`  accounting ${kind}: p50 ${q(0.5).toFixed(1)} ms p95 ${q(0.95).toFixed(1)} ms p99 ${q(0.99).toFixed(1)} ms`);
    return `| ${kind} | ${int(logEntries)} entries, ${int(logPatients)} patients (${int(logEntries / logPatients)} each) | ${(fillMs / 1000).toFixed(1)} s | ${q(0.5).toFixed(1)} / ${q(0.95).toFixed(1)} / ${q(0.99).toFixed(1)} ms | ${int(lines / samples)} | < 100 ms ${q(0.95) < 100 ? 'met' : '**missed**'} |`;
  } finally {
    await o.drop();
  }
}

export async function runIngestAccounting(): Promise<string> {
  const out: string[] = [];
  out.push('Ingest (issue #3), one process, measured against a parse-only loop over the same input in the same run:');
  out.push('');
  out.push('| what | baseline | measured | measured / baseline | target |');
  out.push('|---|--:|--:|--:|--:|');
  const o = await open('sqlite');
  try {
    const gw = await gateway(o.stores);
    out.push(...await hl7Bench(gw));
    await gw.close();
  } finally {
    await o.drop();
  }
  for (const b of backends) out.push(...await syntheaBench(b));
  out.push('');
  out.push(`Accounting of disclosures (issue #4): \`accounting.report(patient, hipaa)\` (one indexed range read of the patient's entries, suspensions, the partner directory, the 164.528 rules) over a log of ${int(logEntries)} entries, ${samples} reports for different patients.`);
  out.push('');
  out.push('| store | log | fill | p50 / p95 / p99 | lines per report | target p95 |');
  out.push('|---|--:|--:|--:|--:|--:|');
  for (const b of backends) out.push(await accountingBench(b));
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runIngestAccounting().then((md) => process.stdout.write(`${md}\n`)).catch((err) => {
    log(err instanceof Error ? err.stack ?? err.message : String(err));
    process.exit(1);
  });
}
