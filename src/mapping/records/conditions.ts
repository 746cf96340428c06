/**
 * `when:` conditions: whether a field, a group or a whole resource applies to a record. Evaluated on
 * the record's raw values (trimmed text), before any transform, so a condition reads like the export.
 */
import { columnText } from './columns.js';

export type Condition =
  | { kind: 'present' | 'absent'; column: string }
  | { kind: 'equals'; column: string; value: string }
  | { kind: 'in'; column: string; values: ReadonlySet<string> }
  | { kind: 'matches'; column: string; pattern: RegExp }
  | { kind: 'all' | 'any'; conditions: readonly Condition[] }
  | { kind: 'not'; condition: Condition };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

const FORMS = '{ present: col }, { absent: col }, { column: col, equals: x }, { column: col, in: [..] }, '
  + '{ column: col, matches: regex }, { all: [..] }, { any: [..] }, { not: {..} }';

/** Compiles a YAML condition; returns it or a message naming what is wrong (with a path suffix when nested). */
export function compileCondition(spec: unknown, at = ''): Condition | string {
  const fail = (m: string) => `${at ? `${at}: ` : ''}${m}`;
  if (!isRecord(spec)) return fail(`a condition is an object, one of ${FORMS}`);
  const keys = Object.keys(spec).sort().join(',');
  if (keys === 'present' || keys === 'absent') {
    const column = spec[keys];
    if (typeof column !== 'string' || !column) return fail(`${keys} needs a column name`);
    return { kind: keys, column };
  }
  if (keys === 'all' || keys === 'any') {
    const list = spec[keys];
    if (!Array.isArray(list) || !list.length) return fail(`${keys} needs a non-empty list of conditions`);
    const conditions: Condition[] = [];
    for (const [i, c] of list.entries()) {
      const r = compileCondition(c, `${at ? `${at}.` : ''}${keys}[${i}]`);
      if (typeof r === 'string') return r;
      conditions.push(r);
    }
    return { kind: keys, conditions };
  }
  if (keys === 'not') {
    const r = compileCondition(spec.not, `${at ? `${at}.` : ''}not`);
    return typeof r === 'string' ? r : { kind: 'not', condition: r };
  }
  const column = spec.column;
  if (typeof column === 'string' && column) {
    if (keys === 'column,equals') {
      if (!scalar(spec.equals)) return fail('equals needs a text, number or boolean');
      return { kind: 'equals', column, value: String(spec.equals).trim() };
    }
    if (keys === 'column,in') {
      if (!Array.isArray(spec.in) || !spec.in.length || !spec.in.every(scalar)) return fail('in needs a non-empty list of values');
      return { kind: 'in', column, values: new Set(spec.in.map((x) => String(x).trim())) };
    }
    if (keys === 'column,matches') {
      if (typeof spec.matches !== 'string') return fail('matches needs a regular expression');
      try {
        return { kind: 'matches', column, pattern: new RegExp(spec.matches) };
      } catch (err) {
        return fail(`matches: ${(err as Error).message}`);
      }
    }
  }
  return fail(`unknown condition { ${Object.keys(spec).join(', ')} } (forms: ${FORMS})`);
}

/** Whether the condition holds for the record. */
export function holds(c: Condition, record: Readonly<Record<string, unknown>>): boolean {
  switch (c.kind) {
    case 'present': return columnText(record, c.column) !== '';
    case 'absent': return columnText(record, c.column) === '';
    case 'equals': return columnText(record, c.column) === c.value;
    case 'in': return c.values.has(columnText(record, c.column));
    case 'matches': return c.pattern.test(columnText(record, c.column));
    case 'all': return c.conditions.every((x) => holds(x, record));
    case 'any': return c.conditions.some((x) => holds(x, record));
    case 'not': return !holds(c.condition, record);
  }
}

/** Every column a condition reads (load-time checks and documentation). */
export function conditionColumns(c: Condition): string[] {
  switch (c.kind) {
    case 'all': case 'any': return c.conditions.flatMap(conditionColumns);
    case 'not': return conditionColumns(c.condition);
    default: return [c.column];
  }
}
