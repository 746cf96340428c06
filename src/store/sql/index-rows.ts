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

const OWNER = ['resource_type', 'id', 'code'] as const;

/** The insert batches for a resource's index rows (empty tables omitted). */
export function indexBatches(resourceType: string, id: string, rows: IndexRows): RowBatch[] {
  const batches: RowBatch[] = [
    {
      table: INDEX_TABLE.token,
      columns: [...OWNER, 'system', 'value', 'text'],
      rows: rows.token.map((r) => [resourceType, id, r.code, r.system, r.value, r.text]),
    },
    {
      table: INDEX_TABLE.string,
      columns: [...OWNER, 'norm', 'exact'],
      rows: rows.string.map((r) => [resourceType, id, r.code, r.norm, r.exact]),
    },
    {
      table: INDEX_TABLE.date,
      columns: [...OWNER, 'low', 'high'],
      rows: rows.date.map((r) => [resourceType, id, r.code, r.low, r.high]),
    },
    {
      table: INDEX_TABLE.reference,
      columns: [...OWNER, 'target'],
      rows: rows.reference.map((r) => [resourceType, id, r.code, r.target]),
    },
    {
      table: INDEX_TABLE.quantity,
      columns: [...OWNER, 'low', 'high', 'system', 'unit'],
      rows: rows.quantity.map((r) => [resourceType, id, r.code, r.low, r.high, r.system, r.unit]),
    },
    {
      table: INDEX_TABLE.number,
      columns: [...OWNER, 'low', 'high'],
      rows: rows.number.map((r) => [resourceType, id, r.code, r.low, r.high]),
    },
    {
      table: INDEX_TABLE.uri,
      columns: [...OWNER, 'value'],
      rows: rows.uri.map((r) => [resourceType, id, r.code, r.value]),
    },
    {
      table: 'compartment',
      columns: ['patient_id', 'resource_type', 'id'],
      rows: rows.compartment.map((p) => [p, resourceType, id]),
    },
  ];
  return batches.filter((b) => b.rows.length > 0);
}
