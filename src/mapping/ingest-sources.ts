/**
 * The inputs `fxg import` and `fxg ingest retry` feed to the ingest pipeline: HL7 v2 files (.hl7, one or
 * more messages each) and the organization's exports through a declarative mapping. Each message or
 * record is one unit: stored whole, or queued in the error queue with its reason; a bad one never stops
 * the rest of the file.
 */
import { readFileSync } from 'node:fs';
import { isoNow, type Clock } from '../core/clock.js';
import type { IngestError } from '../store/types.js';
import type { Hl7Ingest } from './hl7v2-ingest.js';
import { mapHl7v2 } from './hl7v2/index.js';
import { withProvenance, type IngestPipeline, type IngestResult } from './ingest.js';
import { loadMapping, mapQueuedRecord, mapRecord, readRows, type RecordMapping } from './records/index.js';
import { MappingError, type Terminology } from './types.js';

export interface IngestTally {
  units: number;
  stored: number;
  unchanged: number;
  failed: Array<{ source: string; reason: string; errorId?: string }>;
  /** Non-fatal findings (unmapped codes), counted by code. */
  warnings: Map<string, number>;
}

export const newTally = (): IngestTally => ({ units: 0, stored: 0, unchanged: 0, failed: [], warnings: new Map() });

function count(t: IngestTally, r: IngestResult): void {
  t.units++;
  if (r.status === 'failed') { t.failed.push({ source: r.source, reason: r.reason, errorId: r.errorId }); return; }
  if (r.status === 'stored') t.stored++;
  else t.unchanged++;
  for (const i of r.issues) if (i.severity !== 'information') t.warnings.set(i.code, (t.warnings.get(i.code) ?? 0) + 1);
}

export async function importHl7File(file: string, hl7: Hl7Ingest, tally: IngestTally): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const outcomes = await hl7.messages(text, 'import');
  if (!outcomes.length) tally.failed.push({ source: file, reason: 'no HL7 v2 message (no MSH segment) in the file' });
  for (const o of outcomes) {
    if (o.result) count(tally, o.result);
    else tally.failed.push({ source: `${file} MSH-10 ${o.controlId}`, reason: 'the store is unavailable' });
  }
}

export interface MappedImportDeps {
  pipeline: IngestPipeline;
  terminology: Terminology;
  clock: Clock;
}

/** One export file through `mapping`: every record mapped, labelled, validated and stored, or queued. */
export async function importMappedFile(file: string, mapping: RecordMapping, d: MappedImportDeps, tally: IngestTally): Promise<void> {
  try {
    for await (const row of readRows(file, mapping)) {
      const r = await d.pipeline.ingest(
        { channel: 'import', format: `mapping:${mapping.name}`, input: row.input, source: row.source },
        () => {
          if ('error' in row) throw row.error;
          return withProvenance(mapRecord(mapping, row.set, row.record, row.source, { terminology: d.terminology }), {
            agent: `mapping ${mapping.name}`, recorded: isoNow(d.clock),
          });
        },
      );
      count(tally, r);
    }
  } catch (err) {
    if (!(err instanceof MappingError)) throw err;
    // The file as a whole cannot be read with this mapping (no record set matches it, a column is missing).
    tally.failed.push({ source: file, reason: err.message });
  }
}

/** Replays one queued input with the current mappings and terminology. */
export async function retryIngestError(
  e: IngestError,
  d: MappedImportDeps & {
    mappingsDir: string;
    timezone?: string;
    /** Mappings loaded so far, by name (filled as entries need them): a batch of retries reads each mapping once. */
    loaded?: Map<string, RecordMapping>;
  },
): Promise<IngestResult> {
  if (e.format === 'hl7v2') return d.pipeline.retry(e, () => mapHl7v2(e.input, { terminology: d.terminology, ...(d.timezone ? { timezone: d.timezone } : {}) }));
  const m = /^mapping:(.+)$/.exec(e.format);
  if (m) {
    let mapping = d.loaded?.get(m[1]!);
    if (!mapping) {
      mapping = loadMapping(d.mappingsDir, m[1]!);
      d.loaded?.set(m[1]!, mapping);
    }
    return d.pipeline.retry(e, () => withProvenance(mapQueuedRecord(mapping, e.source, e.input, { terminology: d.terminology }), {
      agent: `mapping ${mapping.name}`, recorded: isoNow(d.clock),
    }));
  }
  throw new Error(`queued input ${e.id} has format ${e.format}, which this version cannot replay`);
}
