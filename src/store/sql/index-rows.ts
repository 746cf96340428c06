/**
 * Where index rows live: the idx_* table for each search parameter type and its columns.
 * Writes (index-rows -> batches) and search (which table/columns to query) share this one map.
 */
import type { SearchParamType } from '../../core/fhir-definitions.js';
import type { IndexRows } from '../indexer.js';
import type { RowBatch } from './executor.js';

export type IndexedType = Exclude<SearchParamType, 'composite' | 'special'>;

export const INDEX_TABLE: Readonly<Record<IndexedType, string>> = {
  token: 'idx_token',
  string: 'idx_string',
  date: 'idx_date',
  reference: 'idx_reference',
  quantity: 'idx_quantity',
  number: 'idx_number',
  uri: 'idx_uri',
};

/** Every table holding rows owned by one resource version (cleared on update and delete). */
export const INDEX_TABLES: readonly string[] = [...Object.values(INDEX_TABLE), 'compartment'];

/** Index rows are keyed (rid, code, seq): seq numbers a resource's rows within one table. */
const KEY = ['rid', 'code', 'seq', 'resource_type'] as const;

/**
 * The insert batches for a resource's index rows (empty tables omitted). rid: the resource row's
 * key; lastUpdatedMs: its version's time, kept on reference and compartment rows for ordered leads.
 */
export function indexBatches(resourceType: string, rid: number, lastUpdatedMs: number, rows: IndexRows): RowBatch[] {
  const key = (code: string, seq: number) => [rid, code, seq, resourceType];
  const batches: RowBatch[] = [
    {
      table: INDEX_TABLE.token,
      columns: [...KEY, 'system', 'value', 'text'],
      rows: rows.token.map((r, i) => [...key(r.code, i), r.system, r.value, r.text]),
    },
    {
      table: INDEX_TABLE.string,
      columns: [...KEY, 'norm', 'exact'],
      rows: rows.string.map((r, i) => [...key(r.code, i), r.norm, r.exact]),
    },
    {
      table: INDEX_TABLE.date,
      columns: [...KEY, 'low', 'high'],
      rows: rows.date.map((r, i) => [...key(r.code, i), r.low, r.high]),
    },
    {
      table: INDEX_TABLE.reference,
      columns: [...KEY, 'last_updated_ms', 'target'],
      rows: rows.reference.map((r, i) => [...key(r.code, i), lastUpdatedMs, r.target]),
    },
    {
      table: INDEX_TABLE.quantity,
      columns: [...KEY, 'low', 'high', 'system', 'unit'],
      rows: rows.quantity.map((r, i) => [...key(r.code, i), r.low, r.high, r.system, r.unit]),
    },
    {
      table: INDEX_TABLE.number,
      columns: [...KEY, 'low', 'high'],
      rows: rows.number.map((r, i) => [...key(r.code, i), r.low, r.high]),
    },
    {
      table: INDEX_TABLE.uri,
      columns: [...KEY, 'value'],
      rows: rows.uri.map((r, i) => [...key(r.code, i), r.value]),
    },
    {
      table: 'compartment',
      columns: ['patient_id', 'resource_type', 'last_updated_ms', 'rid'],
      rows: rows.compartment.map((p) => [p, resourceType, lastUpdatedMs, rid]),
    },
  ];
  return batches.filter((b) => b.rows.length > 0);
}
