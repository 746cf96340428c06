/**
 * Reading a named column from one record. CSV records are flat; JSON and NDJSON records may nest,
 * so a column name is first looked up as written (CSV headers may contain dots) and then as a dotted
 * path into nested objects (`address.city`, `codes.0`).
 */
import { TransformError, type Value } from './transforms.js';

/** The column's value, or undefined when the record does not have it. */
export function readColumn(record: Readonly<Record<string, unknown>>, column: string): Value | undefined {
  const own = Object.prototype.hasOwnProperty.call(record, column) ? record[column] : lookupPath(record, column);
  return asValue(own, column);
}

function lookupPath(record: Readonly<Record<string, unknown>>, column: string): unknown {
  let cur: unknown = record;
  for (const part of column.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function asValue(v: unknown, column: string): Value | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      const item = asValue(x, `${column}.${i}`);
      if (item === undefined) return '';
      return item;
    });
  }
  throw new TransformError(`column ${column} holds an object; name one of its fields (e.g. ${column}.${Object.keys(v as object)[0] ?? 'field'})`);
}

/** A column's value as trimmed text for conditions and keys ('' when absent). */
export function columnText(record: Readonly<Record<string, unknown>>, column: string): string {
  const v = readColumn(record, column);
  if (v === undefined) return '';
  return Array.isArray(v) ? v.map(String).join(',').trim() : String(v).trim();
}
