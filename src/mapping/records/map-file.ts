/**
 * A whole export file through its mapping: each record read and mapped in file order, each failure
 * (an unreadable row, a record that cannot be mapped) yielded in place with the record text, so the
 * ingest pipeline stores the good ones and queues the bad ones with their reason. One bad record never
 * stops the file.
 */
import { safeJsonParse } from '../../core/json-limits.js';
import { MappingError, type MappedUnit } from '../types.js';
import { mapRecord, type MapDeps } from './map.js';
import type { RecordMapping } from './model.js';
import { readRows, setForFile } from './read.js';

/** A record that could not be read or mapped; `input` is the record as read (for the error queue). */
export interface RecordFailure {
  source: string;
  error: MappingError;
  input: string;
}

export async function* mapFile(file: string, mapping: RecordMapping, deps: MapDeps): AsyncIterable<MappedUnit | RecordFailure> {
  for await (const row of readRows(file, mapping)) {
    if ('error' in row) {
      yield { source: row.source, error: row.error, input: row.input };
      continue;
    }
    try {
      yield mapRecord(mapping, row.set, row.record, row.source, deps);
    } catch (err) {
      if (!(err instanceof MappingError)) throw err;
      yield { source: row.source, error: err, input: row.input };
    }
  }
}

/** Narrows mapFile's items. */
export const isRecordFailure = (x: MappedUnit | RecordFailure): x is RecordFailure => 'error' in x;

/**
 * Maps a record again from what the error queue keeps (the `input` and `source` that readRows gave):
 * `fxg ingest retry` after the mapping or a ConceptMap was fixed. The set is found from the file name
 * in `source` (`patients.csv:14`), as on import, so the record gets the same ids.
 */
export function mapQueuedRecord(mapping: RecordMapping, source: string, input: string, deps: MapDeps): MappedUnit {
  const set = setForFile(mapping, source.replace(/:\d+$/, ''));
  let record: unknown;
  try {
    record = safeJsonParse(input);
  } catch {
    record = undefined;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new MappingError('content', `${source}: the queued input is not a record (it could not be read when imported); fix the file and import it again`);
  }
  return mapRecord(mapping, set.name, record as Record<string, unknown>, source, deps);
}
