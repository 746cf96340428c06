/**
 * Value transforms of the mapping language: each turns one source value into the form a FHIR element
 * needs (`M` -> `male`, `03/07/1961` -> `1961-03-07`, `"7.2"` -> 7.2). They are declared in YAML,
 * compiled once at load (so a bad format or an unknown transform is refused before any record is
 * read), and applied in order. None of them evaluates code from the configuration.
 */
import { checkZone, compileDateFormat, toFhirDate, toFhirDateTime, type DateFormat } from './dates.js';

/** A value flowing through a field: what a record holds, after zero or more transforms. */
export type Value = string | number | boolean | Value[];

export type Transform =
  | { kind: 'trim' | 'upper' | 'lower' | 'number' | 'integer' | 'string' }
  | { kind: 'boolean'; truthy: ReadonlySet<string>; falsy: ReadonlySet<string> }
  | { kind: 'date'; formats: readonly DateFormat[] }
  | { kind: 'dateTime'; formats: readonly DateFormat[]; zone?: string }
  | { kind: 'map'; table: ReadonlyMap<string, Value>; otherwise?: Value }
  | { kind: 'split'; separator: string }
  | { kind: 'replace'; pattern: RegExp; with: string };

/** Transform names, as written in YAML. */
export const TRANSFORM_NAMES = ['trim', 'upper', 'lower', 'number', 'integer', 'string', 'boolean', 'date', 'dateTime', 'map', 'split', 'replace'] as const;

const DEFAULT_TRUE = ['true', 'yes', 'y', '1', 't'];
const DEFAULT_FALSE = ['false', 'no', 'n', '0', 'f'];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v);

/**
 * Compiles one YAML transform: a bare name (`trim`) or a one-key object (`{ date: MM/DD/YYYY }`,
 * `{ map: {...}, default: x }`). Returns the transform, or a message saying what is wrong.
 */
export function compileTransform(spec: unknown): Transform | string {
  if (typeof spec === 'string') {
    if (spec === 'trim' || spec === 'upper' || spec === 'lower' || spec === 'number' || spec === 'integer' || spec === 'string') return { kind: spec };
    if (spec === 'boolean') return { kind: 'boolean', truthy: new Set(DEFAULT_TRUE), falsy: new Set(DEFAULT_FALSE) };
    return TRANSFORM_NAMES.includes(spec as (typeof TRANSFORM_NAMES)[number])
      ? `transform '${spec}' needs parameters, e.g. { ${spec}: ... }`
      : `unknown transform '${spec}' (known: ${TRANSFORM_NAMES.join(', ')})`;
  }
  if (!isRecord(spec)) return `a transform is a name or a one-key object, not ${JSON.stringify(spec)}`;
  const keys = Object.keys(spec);
  const name = keys.find((k) => TRANSFORM_NAMES.includes(k as (typeof TRANSFORM_NAMES)[number]));
  if (!name) return `unknown transform '${keys[0] ?? ''}' (known: ${TRANSFORM_NAMES.join(', ')})`;
  const arg = spec[name];
  const extra = keys.filter((k) => k !== name && !(name === 'map' && k === 'default'));
  if (extra.length) return `transform '${name}' does not take '${extra.join("', '")}'`;
  try {
    switch (name) {
      case 'date': {
        const formats = formatList(arg);
        if (!formats) return `date needs a format or a list of formats, e.g. { date: MM/DD/YYYY } or { date: [MM/DD/YYYY, YYYY] }`;
        return { kind: 'date', formats: formats.map(compileDateFormat) };
      }
      case 'dateTime': {
        const o = isRecord(arg) ? arg : { format: arg };
        const formats = formatList(o.format);
        if (!formats) return `dateTime needs { format: <format or list>, zone: <time zone> }`;
        const unknown = Object.keys(o).filter((k) => k !== 'format' && k !== 'zone');
        if (unknown.length) return `dateTime does not take '${unknown.join("', '")}'`;
        if (o.zone !== undefined && typeof o.zone !== 'string') return `dateTime zone must be a string`;
        const compiled = formats.map(compileDateFormat);
        if (o.zone) checkZone(o.zone);
        const naive = compiled.find((f) => (f.precision === 'minute' || f.precision === 'second') && !f.tokens.includes('Z'));
        if (naive && !o.zone) return `dateTime format '${naive.text}' has a time but no offset (Z): name a zone, e.g. zone: America/New_York`;
        return { kind: 'dateTime', formats: compiled, ...(typeof o.zone === 'string' ? { zone: o.zone } : {}) };
      }
      case 'map': {
        if (!isRecord(arg) || !Object.keys(arg).length) return `map needs a table, e.g. { map: { M: male, F: female } }`;
        const table = new Map<string, Value>();
        for (const [k, v] of Object.entries(arg)) {
          if (!isScalar(v)) return `map value for '${k}' must be a string, number or boolean`;
          table.set(k, v);
        }
        const d = spec.default;
        if (d !== undefined && !isScalar(d)) return `map default must be a string, number or boolean`;
        return { kind: 'map', table, ...(d !== undefined ? { otherwise: d } : {}) };
      }
      case 'split': {
        if (typeof arg !== 'string' || !arg) return `split needs a separator, e.g. { split: ';' }`;
        return { kind: 'split', separator: arg };
      }
      case 'replace': {
        if (!isRecord(arg) || typeof arg.pattern !== 'string' || typeof arg.with !== 'string') return `replace needs { pattern: <regular expression>, with: <text> }`;
        return { kind: 'replace', pattern: new RegExp(arg.pattern, 'g'), with: arg.with };
      }
      case 'boolean': {
        if (!isRecord(arg) || !Array.isArray(arg.true) || !Array.isArray(arg.false)) return `boolean takes { true: [...], false: [...] } or no parameters`;
        const norm = (xs: unknown[]) => new Set(xs.map((x) => String(x).trim().toLowerCase()));
        return { kind: 'boolean', truthy: norm(arg.true), falsy: norm(arg.false) };
      }
      default:
        return `transform '${name}' takes no parameters; write it as a bare name`;
    }
  } catch (err) {
    return (err as Error).message;
  }
}

/** Thrown by applyTransforms for a value the transform cannot convert; the caller adds record and column. */
export class TransformError extends Error {}

/** Applies the transforms in order; arrays (from `split` or a JSON array) are transformed element by element. */
export function applyTransforms(value: Value, transforms: readonly Transform[]): Value {
  let v = value;
  for (const t of transforms) v = applyOne(v, t);
  return v;
}

function applyOne(v: Value, t: Transform): Value {
  if (Array.isArray(v)) return v.map((x) => applyOne(x, t)).filter((x) => !isBlank(x));
  switch (t.kind) {
    case 'trim': return String(v).trim();
    case 'upper': return String(v).toUpperCase();
    case 'lower': return String(v).toLowerCase();
    case 'string': return String(v);
    case 'number': {
      if (typeof v === 'number') return v;
      const s = String(v).trim();
      if (!/^[+-]?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new TransformError(`'${s}' is not a number`);
      return Number(s);
    }
    case 'integer': {
      const s = String(v).trim();
      if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new TransformError(`'${s}' is not an integer`);
      return Number(s);
    }
    case 'boolean': {
      if (typeof v === 'boolean') return v;
      const s = String(v).trim().toLowerCase();
      if (t.truthy.has(s)) return true;
      if (t.falsy.has(s)) return false;
      throw new TransformError(`'${String(v)}' is not a yes/no value (true: ${[...t.truthy].join(', ')}; false: ${[...t.falsy].join(', ')})`);
    }
    case 'date': {
      const text = String(v).trim();
      return guard(() => toFhirDate(text, matching(text, t.formats)));
    }
    case 'dateTime': {
      const text = String(v).trim();
      return guard(() => toFhirDateTime(text, matching(text, t.formats), t.zone));
    }
    case 'map': {
      const key = String(v);
      if (t.table.has(key)) return t.table.get(key)!;
      if (t.otherwise !== undefined) return t.otherwise;
      throw new TransformError(`'${key}' is not in the map (${[...t.table.keys()].join(', ')})`);
    }
    case 'split': return String(v).split(t.separator).map((s) => s.trim()).filter(Boolean);
    case 'replace': return String(v).replace(t.pattern, t.with);
  }
}

/** The first format the text has the shape of (its calendar validity is checked by the conversion). */
function matching(text: string, formats: readonly DateFormat[]): DateFormat {
  const f = formats.find((x) => x.regex.test(text));
  if (!f) {
    const names = formats.map((x) => x.text);
    throw new TransformError(`'${text}' does not match the date format${names.length > 1 ? 's' : ''} ${names.join(', ')}`);
  }
  return f;
}

function formatList(arg: unknown): string[] | undefined {
  if (typeof arg === 'string' && arg) return [arg];
  if (Array.isArray(arg) && arg.length && arg.every((x) => typeof x === 'string' && x)) return arg as string[];
  return undefined;
}

function guard(f: () => string): string {
  try {
    return f();
  } catch (err) {
    throw new TransformError((err as Error).message);
  }
}

/** Blank values produce no element: absent, null, empty or whitespace-only text, an empty list. */
export function isBlank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '') || (Array.isArray(v) && v.every(isBlank));
}
