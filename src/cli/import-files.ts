/**
 * `fxg import`: FHIR Bundles (.json; transaction, batch, or collection) and NDJSON files (one resource
 * a line), through the same FHIR handler and policy as HTTP writes. A failed transaction stores nothing;
 * every failed record is reported with its OperationOutcome text.
 */
import { createReadStream, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import { safeJsonParse } from '../core/json-limits.js';
import { OutcomeError } from '../core/outcome.js';
import { newId } from '../core/ids.js';
import type { FhirHandler, FhirResponse } from '../fhir/types.js';

export interface ImportFailure { source: string; message: string }
export interface ImportReport { files: number; resources: number; failures: ImportFailure[] }
export interface ImportProgress { start(total: number): void; tick(n: number): void; stop(): void }

/** Expands directories (recursively) to their files with these extensions (default .json, .ndjson), sorted. */
export function listImportFiles(paths: string[], extensions: readonly string[] = ['.json', '.ndjson']): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n));
    else if (extensions.includes(extname(p).toLowerCase())) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

export async function importFiles(o: {
  files: string[];
  handle: FhirHandler;
  principal: Principal;
  progress?: ImportProgress;
}): Promise<ImportReport> {
  const report: ImportReport = { files: 0, resources: 0, failures: [] };
  o.progress?.start(o.files.length);
  const call = async (req: Parameters<FhirHandler>[0]): Promise<FhirResponse> =>
    o.handle(req, { principal: o.principal, requestId: newId() });
  for (const file of o.files) {
    report.files++;
    try {
      if (file.toLowerCase().endsWith('.ndjson')) await importNdjson(file, call, report);
      else await importJson(file, call, report);
    } catch (err) {
      report.failures.push({ source: file, message: describe(err) });
    }
    o.progress?.tick(1);
  }
  o.progress?.stop();
  return report;
}

async function importJson(file: string, call: (r: Parameters<FhirHandler>[0]) => Promise<FhirResponse>, report: ImportReport) {
  let doc: Resource;
  try {
    doc = safeJsonParse(readFileSync(file, 'utf8')) as Resource;
  } catch {
    throw new Error('not valid JSON');
  }
  if (doc?.resourceType === 'Bundle' && (doc.type === 'transaction' || doc.type === 'batch')) {
    const res = await call({ method: 'POST', segments: [], params: [], body: doc, headers: { prefer: 'return=minimal' } });
    const entries = ((res.body as Bundle | undefined)?.entry ?? []);
    if (doc.type === 'transaction') { report.resources += entries.length; return; }
    entries.forEach((e, i) => {
      const status = Number.parseInt(e.response?.status ?? '0', 10);
      if (status >= 200 && status < 300) report.resources++;
      else report.failures.push({ source: `${file} entry ${i}`, message: outcomeText(e.response?.outcome) });
    });
    return;
  }
  const resources = doc?.resourceType === 'Bundle' ? (doc.entry ?? []).map((e) => e.resource).filter(Boolean) as Resource[] : [doc];
  for (const [i, r] of resources.entries()) {
    await writeOne(r, `${file}${resources.length > 1 ? ` entry ${i}` : ''}`, call, report);
  }
}

async function importNdjson(file: string, call: (r: Parameters<FhirHandler>[0]) => Promise<FhirResponse>, report: ImportReport) {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let r: Resource;
    try {
      r = safeJsonParse(line) as Resource;
    } catch {
      report.failures.push({ source: `${file}:${n}`, message: 'not valid JSON' });
      continue;
    }
    await writeOne(r, `${file}:${n}`, call, report);
  }
}

/** A resource with an id is upserted under that id (PUT), one without is created (POST). */
async function writeOne(r: Resource, source: string, call: (req: Parameters<FhirHandler>[0]) => Promise<FhirResponse>, report: ImportReport) {
  if (!r || typeof r.resourceType !== 'string') {
    report.failures.push({ source, message: 'not a FHIR resource (no resourceType)' });
    return;
  }
  try {
    await call(r.id
      ? { method: 'PUT', segments: [r.resourceType, r.id], params: [], body: r, headers: { prefer: 'return=minimal' } }
      : { method: 'POST', segments: [r.resourceType], params: [], body: r, headers: { prefer: 'return=minimal' } });
    report.resources++;
  } catch (err) {
    report.failures.push({ source, message: describe(err) });
  }
}

function describe(err: unknown): string {
  if (err instanceof OutcomeError) {
    const o = err.toOutcome();
    return outcomeText(o);
  }
  return err instanceof Error ? err.message : String(err);
}

function outcomeText(o: unknown): string {
  const issues = (o as { issue?: Array<{ details?: { text?: string }; diagnostics?: string; expression?: string[] }> } | undefined)?.issue ?? [];
  if (!issues.length) return 'failed';
  return issues.map((i) => `${i.details?.text ?? i.diagnostics ?? 'error'}${i.expression?.length ? ` (at ${i.expression.join(', ')})` : ''}`).join('; ');
}
