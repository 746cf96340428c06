/**
 * Search-index extraction: turns a resource into the rows the idx_* tables hold, one list per
 * search parameter type, by evaluating every SearchParameter expression of its type with
 * medplum's FHIRPath engine. Search then reads only these rows, never the JSON.
 * See: https://hl7.org/fhir/R4/search.html#ptypes
 *
 * Expressions are parsed once per (type, parameter) and a parameter whose top-level element is
 * absent from the resource is skipped without evaluation, which keeps ingest fast.
 */
import { evalFhirPathTyped, getAllDataTypes, isEmpty, parseFhirPath, toTypedValue, type FhirPathAtom, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { FhirDefinitions, SearchParamType } from '../core/fhir-definitions.js';
import { patientCompartmentOf } from './compartment.js';
import type { SearchIndexSelection } from './types.js';

export interface TokenRow { code: string; system: string | null; value: string | null; text: string | null }
export interface StringRow { code: string; norm: string; exact: string }
/** An inclusive [low, high] range: epoch ms for dates, decimal for numbers and quantities. */
export interface RangeRow { code: string; low: number; high: number }
export interface QuantityRow extends RangeRow { system: string | null; unit: string | null }
export interface ReferenceRow { code: string; target: string }
export interface UriRow { code: string; value: string }

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  date: RangeRow[];
  reference: ReferenceRow[];
  quantity: QuantityRow[];
  number: RangeRow[];
  uri: UriRow[];
  /** Ids of the Patients whose compartment holds the resource. */
  compartment: string[];
}

export interface Indexer {
  /** The index rows of a resource (its id must be set for a Patient's own compartment row). */
  index(resource: Resource): IndexRows;
}

/** Types whose parameters the indexer extracts; `_id` and `_lastUpdated` are columns of the resource row. */
const INDEXED_TYPES: ReadonlySet<SearchParamType> = new Set(['token', 'string', 'date', 'reference', 'quantity', 'number', 'uri']);
/** Parameters searched on columns of the resources table, never through index rows. */
export const COLUMN_PARAMS: ReadonlySet<string> = new Set(['_id', '_lastUpdated']);

/**
 * Indexed text is cut to this many code points: PostgreSQL b-tree entries are limited to about
 * 2.7 kB. Search values are cut the same way (indexKey), so long values still match.
 */
export const INDEX_TEXT_MAX = 256;

/** Lowest and highest instants a date range can have (JavaScript Date limits). */
export const MIN_INSTANT = -8.64e15;
export const MAX_INSTANT = 8.64e15;

interface CompiledPart {
  /** The expression as evaluated (reference type filter stripped): parts with equal keys share one evaluation. */
  key: string;
  atom: FhirPathAtom;
  /** For a plain member path of single-typed elements (`Observation.code`): evaluated without the engine. */
  members?: MemberPath;
  /** Leading element path the expression needs (`meta.security`, `valueQuantity`); empty: always evaluate. */
  path: readonly PathStep[];
  /** From `.where(resolve() is X)`: keep only references to these types. */
  referenceTypes?: ReadonlySet<string>;
}

interface CompiledParam {
  code: string;
  type: SearchParamType;
  parts: CompiledPart[];
}

/** Builds an indexer that compiles each type's parameters on first use and then reuses them. */
export function createIndexer(defs: FhirDefinitions, selection?: SearchIndexSelection): Indexer {
  const compiled = new Map<string, CompiledParam[]>();
  const paramsOf = (resourceType: string): CompiledParam[] => {
    let params = compiled.get(resourceType);
    if (!params) compiled.set(resourceType, (params = compileParams(defs, resourceType, selection?.params(resourceType))));
    return params;
  };

  return {
    index(resource) {
      const rows: IndexRows = { token: [], string: [], date: [], reference: [], quantity: [], number: [], uri: [], compartment: [] };
      const input = [toTypedValue(resource)];
      const evaluated = new Map<string, TypedValue[]>(); // `code` and `combo-code` share `Observation.code`
      for (const param of paramsOf(resource.resourceType)) {
        for (const part of param.parts) {
          if (!hasPath(resource, part.path)) continue;
          let values = evaluated.get(part.key);
          if (!values) {
            values = (part.members && followMembers(resource, part.members)) ?? evaluate(part.atom, input);
            evaluated.set(part.key, values);
          }
          for (const v of values) addValue(rows, param, part, v);
        }
      }
      rows.compartment = patientCompartmentOf(defs, resource);
      return dedupe(rows);
    },
  };
}

function evaluate(atom: FhirPathAtom, input: TypedValue[]): TypedValue[] {
  try {
    return evalFhirPathTyped(atom, input);
  } catch {
    return []; // an expression the engine cannot evaluate on this resource indexes nothing
  }
}

/**
 * A search expression that is nothing but member navigation (`Observation.component.code`), every step an
 * element with exactly one type (no choice, no `Resource`), with the type each step yields. Most R4 search
 * parameters are this; following the members directly gives the values medplum's FHIRPath engine gives
 * (test/store/indexer.test.ts compares the two over every parameter of the project's and Synthea's resources),
 * without the engine's per-step schema look-ups.
 */
export interface MemberPath { steps: Array<{ name: string; type: string }> }

const MEMBER_PATH = /^([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z0-9]*)+)$/;

export function memberPath(resourceType: string, expression: string): MemberPath | undefined {
  const m = MEMBER_PATH.exec(expression.trim());
  if (!m || m[1] !== resourceType) return undefined;
  let type = resourceType;
  const steps: MemberPath['steps'] = [];
  for (const name of (m[2] as string).slice(1).split('.')) {
    const element = getAllDataTypes()[type]?.elements[name];
    const only = element?.type?.length === 1 ? element.type[0]?.code : undefined;
    if (!element || !only || element.path.endsWith('[x]') || only === 'Resource' || only === 'Element' || only === 'BackboneElement') return undefined;
    steps.push({ name, type: only });
    type = only;
  }
  return { steps };
}

/**
 * The values at the end of the path, as the engine types them; undefined where the engine's answer could
 * differ (a primitive extension `_name`, a null), so the caller evaluates the expression instead.
 */
export function followMembers(resource: Resource, path: MemberPath): TypedValue[] | undefined {
  let values: unknown[] = [resource];
  for (const step of path.steps) {
    const next: unknown[] = [];
    for (const v of values) {
      // getTypedPropertyValue: nothing below a falsy value; an empty property is no value.
      if (!v || typeof v !== 'object') continue;
      const o = v as Record<string, unknown>;
      if (o[`_${step.name}`] !== undefined) return undefined;
      const x = o[step.name];
      if (x === undefined || isEmpty(x)) continue;
      if (Array.isArray(x)) {
        for (const item of x) {
          if (item === null || item === undefined) return undefined;
          next.push(item);
        }
      } else {
        next.push(x);
      }
    }
    values = next;
  }
  const type = path.steps[path.steps.length - 1]?.type as string;
  return values.map((value) => ({ type, value }));
}

function compileParams(defs: FhirDefinitions, resourceType: string, selected: ReadonlySet<string> | undefined): CompiledParam[] {
  const out: CompiledParam[] = [];
  const atoms = new Map<string, FhirPathAtom | undefined>(); // one parse per distinct expression
  for (const p of defs.searchParams(resourceType).values()) {
    if (!INDEXED_TYPES.has(p.type) || COLUMN_PARAMS.has(p.code) || !p.expression.trim()) continue;
    if (selected && !selected.has(p.code)) continue;
    const parts: CompiledPart[] = [];
    for (const expr of splitUnion(p.expression)) {
      const part = compilePart(resourceType, expr, atoms);
      if (part) parts.push(part);
    }
    if (parts.length) out.push({ code: p.code, type: p.type, parts });
  }
  return out;
}

const RESOLVE_IS = /\.where\(\s*resolve\(\)\s+is\s+([A-Za-z]+)\s*\)/g;

function compilePart(
  resourceType: string,
  expression: string,
  atoms: Map<string, FhirPathAtom | undefined>,
): CompiledPart | undefined {
  const referenceTypes = new Set([...expression.matchAll(RESOLVE_IS)].map((m) => m[1] as string));
  const key = expression.replace(RESOLVE_IS, '');
  if (!atoms.has(key)) atoms.set(key, parseOrUndefined(key));
  const atom = atoms.get(key);
  if (!atom) return undefined;
  const members = memberPath(resourceType, key);
  return {
    key,
    atom,
    ...(members ? { members } : {}),
    path: leadingPath(resourceType, key),
    ...(referenceTypes.size ? { referenceTypes } : {}),
  };
}

/**
 * One element on the way into a resource: key `name`, or a choice key `name[x]` — any type
 * (`value` -> `valueQuantity`), or only `typed` when the expression casts (`as Quantity`).
 */
interface PathStep {
  name: string;
  typed?: string;
}

/**
 * The member path an expression starts with, as far as it can be read without evaluating:
 * `Observation.meta.security` -> meta, security; `(Observation.value as Quantity)` -> valueQuantity.
 * If an element on it is absent, the expression yields nothing and need not be evaluated.
 */
function leadingPath(resourceType: string, expression: string): PathStep[] {
  // Members only: a name followed by `(` is a function (`.where(`), where the readable path ends.
  const m = new RegExp(`^\\(?\\s*${resourceType}((?:\\.[a-z][A-Za-z0-9]*(?![A-Za-z0-9(]))+)(?:\\s+as\\s+([A-Za-z]+)\\s*\\)|\\.as\\(([A-Za-z]+)\\))?`).exec(expression);
  if (!m) return [];
  const steps = (m[1] as string).slice(1).split('.').map((name): PathStep => ({ name }));
  const type = m[2] ?? m[3];
  const last = steps[steps.length - 1] as PathStep;
  if (type) last.typed = last.name + type.charAt(0).toUpperCase() + type.slice(1);
  return steps;
}

/** Whether some value exists along the path (through arrays); false means the expression cannot match. */
function hasPath(value: unknown, path: readonly PathStep[], from = 0): boolean {
  if (from === path.length) return true;
  if (Array.isArray(value)) return value.some((v) => hasPath(v, path, from));
  if (value === null || typeof value !== 'object') return false;
  const o = value as Record<string, unknown>;
  const step = path[from] as PathStep;
  if (o[step.name] !== undefined && hasPath(o[step.name], path, from + 1)) return true;
  if (step.typed !== undefined) return o[step.typed] !== undefined && hasPath(o[step.typed], path, from + 1);
  for (const k in o) {
    if (k.length > step.name.length && k.startsWith(step.name)) {
      const c = k.charCodeAt(step.name.length);
      if (c >= 65 && c <= 90 && hasPath(o[k], path, from + 1)) return true;
    }
  }
  return false;
}

/** Undefined for the few shipped expressions the engine cannot parse (they index nothing). */
function parseOrUndefined(expression: string): FhirPathAtom | undefined {
  try {
    return parseFhirPath(expression);
  } catch {
    return undefined;
  }
}

/** Splits a FHIRPath union at top-level `|` (not inside parentheses or quotes). */
export function splitUnion(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      out.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expression.slice(start).trim());
  return out.filter(Boolean);
}

// ---------------------------------------------------------------- values by parameter type

type Json = Record<string, unknown>;

function addValue(rows: IndexRows, param: CompiledParam, part: CompiledPart, tv: TypedValue): void {
  const { code } = param;
  const v = tv.value as unknown;
  if (v === undefined || v === null) return;
  switch (param.type) {
    case 'token':
      addToken(rows.token, code, tv.type, v);
      break;
    case 'string':
      addString(rows.string, code, tv.type, v);
      break;
    case 'date': {
      const r = dateValueRange(tv.type, v);
      if (r) rows.date.push({ code, low: r[0], high: r[1] });
      break;
    }
    case 'reference':
      addReference(rows, code, part.referenceTypes, v);
      break;
    case 'quantity':
      addQuantity(rows.quantity, code, tv.type, v);
      break;
    case 'number':
      if (typeof v === 'number' && Number.isFinite(v)) rows.number.push({ code, low: v, high: v });
      break;
    case 'uri':
      if (typeof v === 'string' && v) rows.uri.push({ code, value: indexKey(v) });
      break;
    default:
      break;
  }
}

function addToken(out: TokenRow[], code: string, type: string, v: unknown): void {
  const push = (system: unknown, value: unknown, text: unknown) => {
    const s = typeof system === 'string' && system ? indexKey(system) : null;
    const c = typeof value === 'string' && value ? indexKey(value) : null;
    const t = typeof text === 'string' && text ? indexKey(normalizeText(text)) : null;
    if (c !== null || t !== null) out.push({ code, system: s, value: c, text: t });
  };
  if (typeof v === 'boolean') return push(null, String(v), null);
  if (typeof v === 'string' || typeof v === 'number') return push(null, String(v), null);
  if (typeof v !== 'object') return;
  const o = v as Json;
  switch (type) {
    case 'CodeableConcept':
      for (const c of (o.coding as Json[] | undefined) ?? []) push(c.system, c.code, c.display);
      push(null, null, o.text);
      return;
    case 'Coding':
      return push(o.system, o.code, o.display);
    case 'Identifier':
      return push(o.system, o.value, (o.type as Json | undefined)?.text);
    case 'ContactPoint':
      return push(null, o.value, null);
    default:
      // Other complex types (rare in token parameters): a coding-like shape still indexes.
      if ('code' in o) push(o.system, o.code, o.display);
  }
}

function addString(out: StringRow[], code: string, type: string, v: unknown): void {
  const push = (s: unknown) => {
    if (typeof s === 'string' && s.trim()) out.push({ code, norm: indexKey(normalizeText(s)), exact: withoutNul(s) });
  };
  if (typeof v === 'string') return push(v);
  if (typeof v !== 'object') return;
  const o = v as Json;
  const fields =
    type === 'HumanName' ? ['text', 'family', 'given', 'prefix', 'suffix']
    : type === 'Address' ? ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country']
    : [];
  for (const f of fields) {
    const x = o[f];
    if (Array.isArray(x)) x.forEach(push);
    else push(x);
  }
}

/** FHIR's date-like values (date, dateTime, instant, Period, Timing events) as an inclusive ms range. */
function dateValueRange(type: string, v: unknown): [number, number] | undefined {
  if (typeof v === 'string') return fhirDateRange(v);
  if (typeof v !== 'object') return undefined;
  const o = v as Json;
  if (type === 'Period') {
    const start = typeof o.start === 'string' ? fhirDateRange(o.start) : undefined;
    const end = typeof o.end === 'string' ? fhirDateRange(o.end) : undefined;
    if (!start && !end) return undefined;
    return [start?.[0] ?? MIN_INSTANT, end?.[1] ?? MAX_INSTANT];
  }
  if (type === 'Timing' && Array.isArray(o.event)) {
    const ranges = (o.event as unknown[]).flatMap((e) => (typeof e === 'string' ? [fhirDateRange(e)] : []))
      .filter((r): r is [number, number] => r !== undefined);
    if (!ranges.length) return undefined;
    return [Math.min(...ranges.map((r) => r[0])), Math.max(...ranges.map((r) => r[1]))];
  }
  return undefined;
}

const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE_REF = /^(https?:\/\/.+\/([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * A reference as an index target: `Type/id` for relative references (history suffix dropped),
 * absolute URLs as written; contained (`#x`) and unresolved `urn:` references index nothing.
 */
export function referenceTarget(reference: string): { target: string; type?: string } | undefined {
  const rel = RELATIVE_REF.exec(reference);
  if (rel) return { target: `${rel[1]}/${rel[2]}`, type: rel[1] as string };
  const abs = ABSOLUTE_REF.exec(reference);
  if (abs) return { target: indexKey(abs[1] as string), type: abs[2] as string };
  if (/^https?:\/\//.test(reference)) return { target: indexKey(reference) };
  return undefined;
}

function addReference(rows: IndexRows, code: string, types: ReadonlySet<string> | undefined, v: unknown): void {
  if (typeof v === 'string') {
    // canonical / uri values of reference parameters (e.g. Questionnaire url)
    if (v) rows.reference.push({ code, target: indexKey(v) });
    return;
  }
  if (typeof v !== 'object') return;
  const ref = v as Json;
  if (typeof ref.reference === 'string') {
    const t = referenceTarget(ref.reference);
    if (t && (!types || (t.type !== undefined && types.has(t.type)))) rows.reference.push({ code, target: t.target });
  }
  const id = ref.identifier as Json | undefined;
  if (id && (!types || (typeof ref.type === 'string' && types.has(ref.type)))) {
    addToken(rows.token, identifierCode(code), 'Identifier', id);
  }
}

/** Token rows holding Reference.identifier of reference parameter `code` (for `:identifier`). */
export const identifierCode = (code: string) => `${code}:identifier`;

function addQuantity(out: QuantityRow[], code: string, type: string, v: unknown): void {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) out.push({ code, low: v, high: v, system: null, unit: null });
    return;
  }
  if (typeof v !== 'object') return;
  const o = v as Json;
  const unitOf = (q: Json) => ({
    system: typeof q.system === 'string' ? indexKey(q.system) : null,
    unit: typeof q.code === 'string' ? indexKey(q.code) : typeof q.unit === 'string' ? indexKey(q.unit) : null,
  });
  if (type === 'Range') {
    const low = o.low as Json | undefined;
    const high = o.high as Json | undefined;
    if (typeof low?.value !== 'number' && typeof high?.value !== 'number') return;
    out.push({
      code,
      low: typeof low?.value === 'number' ? low.value : -Number.MAX_VALUE,
      high: typeof high?.value === 'number' ? high.value : Number.MAX_VALUE,
      ...unitOf(low ?? high ?? {}),
    });
    return;
  }
  if (type === 'Money' && typeof o.value === 'number') {
    const unit = typeof o.currency === 'string' ? o.currency : null;
    out.push({ code, low: o.value, high: o.value, system: unit ? 'urn:iso:std:iso:4217' : null, unit });
    return;
  }
  if (typeof o.value === 'number' && Number.isFinite(o.value)) out.push({ code, low: o.value, high: o.value, ...unitOf(o) });
}

// ---------------------------------------------------------------- shared with search

/**
 * Case- and accent-insensitive form used for string search: `Müller` and `muller` match.
 * See: https://hl7.org/fhir/R4/search.html#string
 */
export function normalizeText(s: string): string {
  return s.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
}

/**
 * Cuts a value to INDEX_TEXT_MAX code points (indexed and searched values alike) and replaces NUL,
 * which FHIR strings cannot contain and PostgreSQL text refuses.
 */
export function indexKey(s: string): string {
  const clean = withoutNul(s);
  if (clean.length <= INDEX_TEXT_MAX) return clean;
  return Array.from(clean).slice(0, INDEX_TEXT_MAX).join('');
}

/** NUL -> U+FFFD, so that a value carrying NUL is stored and matched as data instead of failing. */
export const withoutNul = (s: string) => (s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s);

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The inclusive epoch-ms range a FHIR date, dateTime or instant covers at its precision:
 * `2020` is the whole year, `2020-03-05` the whole day, `...T10:00:00Z` one second.
 * Values without a time zone are taken as UTC. Undefined when the text is not a valid date.
 * See: https://hl7.org/fhir/R4/search.html#date
 */
export function fhirDateRange(s: string): [number, number] | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, tz] = m;
  const year = Number(ys);
  const month = mos === undefined ? undefined : Number(mos);
  const day = ds === undefined ? undefined : Number(ds);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysInMonth(year, month as number))) return undefined;
  if (month === undefined) return [utc(year, 0, 1), utc(year + 1, 0, 1) - 1];
  if (day === undefined) return [utc(year, month - 1, 1), utc(year, month, 1) - 1];
  if (hs === undefined) return [utc(year, month - 1, day), utc(year, month - 1, day + 1) - 1];
  const hour = Number(hs);
  const minute = Number(mis);
  const second = ss === undefined ? 0 : Number(ss);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMs = 0;
  if (tz && tz !== 'Z') {
    const oh = Number(tz.slice(1, 3));
    const om = Number(tz.slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offsetMs = (tz[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const fracMs = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const start = utc(year, month - 1, day, hour, minute, second) + fracMs - offsetMs;
  const width =
    ss === undefined ? 60_000
    : frac === undefined ? 1000
    : frac.length >= 3 ? 1
    : 10 ** (3 - frac.length);
  return [start, start + width - 1];
}

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d); // setUTCFullYear keeps years 0-99 literal (Date.UTC maps them to 19xx)
  t.setUTCHours(h, mi, s, 0);
  return t.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 0)).getUTCDate();
}

/** Drops duplicate rows (a code reached through two paths) so each is stored once. */
function dedupe(rows: IndexRows): IndexRows {
  const uniq = <T>(xs: T[]): T[] => {
    if (xs.length < 2) return xs;
    const seen = new Set<string>();
    return xs.filter((x) => {
      const k = JSON.stringify(x);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };
  return {
    token: uniq(rows.token),
    string: uniq(rows.string),
    date: uniq(rows.date),
    reference: uniq(rows.reference),
    quantity: uniq(rows.quantity),
    number: uniq(rows.number),
    uri: uniq(rows.uri),
    compartment: rows.compartment,
  };
}
