/**
 * Parsing and checking of search parameter values, by parameter type. A value that cannot be of its
 * type (a date that is not a date, a number that is not a number) is a 400 before any query runs;
 * anything else goes to the store as a bound value, never as SQL text.
 *
 * See: https://hl7.org/fhir/R4/search.html#ptypes, #prefix, #escaping
 */
import type { SearchParamType } from '../core/fhir-definitions.js';
import { FHIR_ID } from '../core/ids.js';
import type { SearchPrefix, SearchValue } from '../store/types.js';
import { invalidParamValue } from './errors.js';

const PREFIXES: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);
/** Types whose values may start with a comparison prefix. */
const ORDERED_TYPES: ReadonlySet<SearchParamType> = new Set(['date', 'number', 'quantity']);

/** Longest single search value accepted (keeps pathological input away from the store). */
export const MAX_VALUE_LENGTH = 1024;

/**
 * FHIR date/dateTime/instant as search accepts it: a year, month, day, or a time to the minute,
 * second or fraction, with an optional zone.
 */
const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPED_REFERENCE = /^([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const ABSOLUTE = /^(?:https?:\/\/[^\s]+|urn:(?:uuid|oid):[^\s]+)$/;

/**
 * Splits a parameter value on unescaped commas (OR). For most types the escapes `\,` `\$` `\|` `\\`
 * are undone here; token values keep theirs (except `\,`), because the store splits `system|code`
 * on unescaped bars and unescapes the parts itself.
 */
export function splitOr(raw: string, keepEscapes: boolean): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === '\\' && i + 1 < raw.length) {
      const next = raw[i + 1] as string;
      if (next === ',' || next === '$' || next === '|' || next === '\\') {
        cur += next === ',' || !keepEscapes ? next : `\\${next}`;
        i++;
        continue;
      }
    }
    if (ch === ',') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out;
}

/** True when `s` is a real calendar date/time in FHIR search syntax. */
export function isSearchDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const [, , mo, d, h, mi, sec, zone] = m;
  if (mo !== undefined && (+mo < 1 || +mo > 12)) return false;
  if (d !== undefined) {
    const days = new Date(Date.UTC(+(m[1] as string), +(mo as string), 0)).getUTCDate();
    if (+d < 1 || +d > days) return false;
  }
  if (h !== undefined && (+h > 23 || +(mi as string) > 59)) return false;
  if (sec !== undefined && +sec > 59) return false;
  if (zone && zone !== 'Z') {
    const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zh > 14 || zm > 59) return false;
  }
  return true;
}

export interface ValueContext {
  /** Parameter name as sent (for error messages). */
  name: string;
  type: SearchParamType;
  modifier?: string;
  /** Public FHIR base: absolute references to ourselves become relative. */
  fhirBase: string;
}

/** Parses one comma-separated parameter value into SearchValues, or throws 400. */
export function parseValues(raw: string, ctx: ValueContext): SearchValue[] {
  if (raw.length > MAX_VALUE_LENGTH) throw invalidParamValue(ctx.name, 'value too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalidParamValue(ctx.name, 'control characters are not allowed');

  if (ctx.modifier === 'missing') {
    if (raw !== 'true' && raw !== 'false') throw invalidParamValue(ctx.name, ':missing takes true or false');
    return [{ value: raw }];
  }
  const tokenLike = ctx.type === 'token' || (ctx.type === 'reference' && ctx.modifier === 'identifier');
  const parts = splitOr(raw, tokenLike);
  if (parts.some((p) => p === '')) throw invalidParamValue(ctx.name, 'empty value in a comma-separated list');
  return parts.map((p) => parseOne(p, ctx, tokenLike));
}

function parseOne(value: string, ctx: ValueContext, tokenLike: boolean): SearchValue {
  if (tokenLike || ctx.type === 'token') {
    if (ctx.modifier !== 'text' && value.split(/(?<!\\)\|/).length > 2) throw invalidParamValue(ctx.name, 'a token is [system|]code');
    return { value };
  }
  switch (ctx.type) {
    case 'string':
    case 'uri':
      return { value };
    case 'reference':
      return { value: referenceValue(value, ctx) };
    case 'date':
    case 'number':
    case 'quantity': {
      const { prefix, rest } = splitPrefix(value, ctx.type);
      if (ctx.type === 'date' && !isSearchDate(rest)) throw invalidParamValue(ctx.name, 'not a FHIR date');
      if (ctx.type === 'number' && !NUMBER.test(rest)) throw invalidParamValue(ctx.name, 'not a number');
      if (ctx.type === 'quantity') {
        const [num, system, code, ...more] = rest.split('|');
        if (!NUMBER.test(num ?? '') || more.length || (system !== undefined && code === undefined)) {
          throw invalidParamValue(ctx.name, 'a quantity is number[|system|code]');
        }
      }
      return prefix ? { prefix, value: rest } : { value: rest };
    }
    default:
      throw invalidParamValue(ctx.name, `${ctx.type} parameters are not supported`);
  }
}

function splitPrefix(value: string, type: SearchParamType): { prefix?: SearchPrefix; rest: string } {
  const head = value.slice(0, 2);
  if (ORDERED_TYPES.has(type) && PREFIXES.has(head) && value.length > 2) return { prefix: head as SearchPrefix, rest: value.slice(2) };
  return { rest: value };
}

/**
 * A reference value: `Type/id`, a bare `id` (any target type), `Type/id/_history/v`, or an absolute URL.
 * Absolute URLs under our own base are made relative, so `patient={base}/Patient/1` equals `patient=Patient/1`.
 */
function referenceValue(value: string, ctx: ValueContext): string {
  const base = `${ctx.fhirBase.replace(/\/+$/, '')}/`;
  const v = value.startsWith(base) ? value.slice(base.length) : value;
  const typedModifier = ctx.modifier && /^[A-Z]/.test(ctx.modifier) ? ctx.modifier : undefined;
  const typed = TYPED_REFERENCE.exec(v);
  if (typed) {
    if (typedModifier && typed[1] !== typedModifier) throw invalidParamValue(ctx.name, `reference type does not match :${typedModifier}`);
    return typed[3] ? `${typed[1]}/${typed[2]}` : v;
  }
  if (FHIR_ID.test(v)) return typedModifier ? `${typedModifier}/${v}` : v;
  if (!typedModifier && ABSOLUTE.test(v)) return v;
  throw invalidParamValue(ctx.name, 'not a reference (Type/id, id or absolute URL)');
}

/**
 * The Patient id a (normalized) reference value names: `Patient/x`, or a bare `x` on a parameter that can
 * point at a Patient (read conservatively as a Patient, so policy sees every patient a query could reach).
 */
export function patientIdOf(value: string): string | undefined {
  const typed = TYPED_REFERENCE.exec(value);
  if (typed) return typed[1] === 'Patient' ? typed[2] : undefined;
  return FHIR_ID.test(value) ? value : undefined;
}
