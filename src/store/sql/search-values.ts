/**
 * Parsing of typed search values (FHIR R4 search, §3.1.1.4-5): tokens, numbers with their implied
 * precision, dates as ranges, quantities and references. A malformed value is the client's error
 * (400, GW_INVALID_SEARCH_VALUE), never an SQL error.
 * See: https://hl7.org/fhir/R4/search.html#ptypes
 */
import { badRequest, type OutcomeError } from '../../core/outcome.js';
import { fhirDateRange, indexKey } from '../indexer.js';

const invalidSearchValue = (code: string, value: string, expected: string): OutcomeError =>
  badRequest(`search parameter ${code}: ${JSON.stringify(value.slice(0, 100))} is not a valid ${expected}`, 'GW_INVALID_SEARCH_VALUE');

/** Splits at unescaped `|` and removes FHIR search escapes (`\|`, `\,`, `\$`, `\\`). */
function splitEscaped(value: string, max: number): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\' && i + 1 < value.length) {
      cur += value[++i];
    } else if (ch === '|' && parts.length < max - 1) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

/**
 * A token: `code` (any system), `system|code`, `|code` (no system), `system|` (any code of system).
 * system null = must have no system; undefined = any.
 */
export interface TokenValue {
  system?: string | null;
  code?: string;
}

export function parseToken(value: string): TokenValue {
  const parts = splitEscaped(value, 2);
  if (parts.length === 1) return { code: indexKey(parts[0] as string) };
  const [system, code] = parts as [string, string];
  return {
    system: system === '' ? null : indexKey(system),
    ...(code === '' ? {} : { code: indexKey(code) }),
  };
}

const DECIMAL = /^[+-]?(?:\d+(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;

/** A decimal search value and the half-width of the range its precision implies (`100` -> ±0.5). */
export interface NumberValue {
  value: number;
  halfWidth: number;
}

export function parseNumber(code: string, text: string): NumberValue {
  const m = DECIMAL.exec(text);
  const value = Number(text);
  if (!m || !Number.isFinite(value)) throw invalidSearchValue(code, text, 'number');
  const decimals = (m[1] ?? m[2] ?? '').length;
  const exponent = m[3] === undefined ? 0 : Number(m[3]);
  return { value, halfWidth: 0.5 * 10 ** (exponent - decimals) };
}

/** A date search value as the inclusive epoch-ms range its precision covers. */
export function parseDate(code: string, text: string): [number, number] {
  const range = fhirDateRange(text);
  if (!range) throw invalidSearchValue(code, text, 'date');
  return range;
}

/** `number|system|code`: system and code optional (`5.4||mg` matches the unit code in any system). */
export interface QuantityValue extends NumberValue {
  system?: string;
  unit?: string;
}

export function parseQuantity(code: string, text: string): QuantityValue {
  const [num = '', system = '', unit = ''] = splitEscaped(text, 3);
  return {
    ...parseNumber(code, num),
    ...(system ? { system: indexKey(system) } : {}),
    ...(unit ? { unit: indexKey(unit) } : {}),
  };
}

const TYPED_REF = /^(?:(https?:\/\/.+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const BARE_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * The index targets a reference search value can match: `123` -> `T/123` for each allowed type,
 * `Patient/123` -> itself, an absolute `.../Patient/123` -> itself and `Patient/123` (the fhir/
 * layer only passes our own base or a canonical URL through); anything else matches literally,
 * so a hostile value finds nothing instead of failing.
 */
export function referenceTargets(value: string, allowedTypes: readonly string[]): string[] {
  const m = TYPED_REF.exec(value);
  if (m) {
    const [, base, type, id] = m as unknown as [string, string | undefined, string, string];
    if (!allowedTypes.includes(type)) return [];
    const relative = `${type}/${id}`;
    return base ? [indexKey(`${base}/${relative}`), relative] : [relative];
  }
  if (BARE_ID.test(value)) return allowedTypes.map((t) => `${t}/${value}`);
  return [indexKey(value)];
}

/** Parses `true`/`false` for the `:missing` modifier. */
export function parseMissing(code: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalidSearchValue(code, text, 'boolean (true or false) for :missing');
}
