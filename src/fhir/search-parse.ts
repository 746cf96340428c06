/**
 * Turns search parameters (query string or POST _search form body) into a store SearchQuery plus the
 * result-shaping controls (_include, _summary, _elements, ...), checking every name, modifier and
 * value against the resource catalogue. Unknown parameters are ignored (and left out of the self link)
 * unless the client sent `Prefer: handling=strict`; unsupported modifiers, chains, `_has` and malformed
 * values are always 400.
 *
 * See: https://hl7.org/fhir/R4/search.html (parameters, modifiers, prefixes, escaping, _sort, _count,
 * _include, _summary, _elements, _total) and https://hl7.org/fhir/R4/search.html#errors (handling)
 */
import type { SearchParamType } from '../core/fhir-definitions.js';
import type { FhirLimits } from './types.js';
import type { SearchFilter } from '../store/types.js';
import type { CatalogueResource, ResourceCatalogue } from './resource-catalogue.js';
import {
  echo, invalidParamValue, searchNotSupported, tooManyIncludes, unknownParam, unsupportedModifier,
} from './errors.js';
import { parseValues, patientIdOf } from './search-values.js';

/** Deepest `_offset` served; deeper requests are clamped (the self link shows the clamped value). */
export const MAX_OFFSET = 10_000;
/** Most `_include` + `_revinclude` parameters in one search. */
export const MAX_INCLUDE_PARAMS = 10;

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';
export type TotalMode = 'none' | 'estimate' | 'accurate';

export interface IncludeSpec {
  /** The resource type holding the reference (`_include`: the searched type; `_revinclude`: the other type). */
  sourceType: string;
  param: string;
  /** Only references to this type (`Type:param:Target`). */
  targetType?: string;
}

export interface ParsedSearch {
  resourceType: string;
  filters: SearchFilter[];
  sort: Array<{ code: string; descending: boolean }>;
  count: number;
  offset: number;
  includes: IncludeSpec[];
  revIncludes: IncludeSpec[];
  summary?: SummaryMode;
  elements?: string[];
  total?: TotalMode;
  /** Patients the request names explicitly (compartment reference parameters, Patient `_id`). */
  patients: string[];
  /** The accepted parameters in request order, as sent, minus `_count`/`_offset` (for Bundle links). */
  linkParams: Array<[string, string]>;
}

export interface SearchParseOptions {
  strict: boolean;
  limits: Pick<FhirLimits, 'defaultCount' | 'maxCount'>;
  fhirBase: string;
}

/** Modifiers each parameter type accepts (reference parameters also accept a target type). */
const MODIFIERS: Readonly<Record<SearchParamType, ReadonlySet<string>>> = {
  token: new Set(['missing', 'not', 'text']),
  string: new Set(['missing', 'exact', 'contains']),
  reference: new Set(['missing', 'identifier']),
  date: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['missing', 'above', 'below']),
  composite: new Set(),
  special: new Set(),
};

/** Result parameters that are accepted and have no effect here (content negotiation happens in http/). */
const IGNORED_CONTROLS: ReadonlySet<string> = new Set(['_format', '_pretty']);
const SINGLE_CONTROLS: ReadonlySet<string> = new Set(['_count', '_offset', '_sort', '_summary', '_elements', '_total']);
const ELEMENT_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
const NON_NEGATIVE_INT = /^\d{1,9}$/;

/** Parses search parameters for `resourceType` (a catalogue type), or throws a 400/422 OutcomeError. */
export function parseSearch(
  catalogue: ResourceCatalogue,
  resourceType: string,
  params: ReadonlyArray<readonly [string, string]>,
  opts: SearchParseOptions,
): ParsedSearch {
  const res = catalogue.get(resourceType);
  if (!res) throw searchNotSupported(`search on ${echo(resourceType)}`);
  const out: ParsedSearch = {
    resourceType, filters: [], sort: [], count: opts.limits.defaultCount, offset: 0,
    includes: [], revIncludes: [], patients: [], linkParams: [],
  };
  const seen = new Set<string>();
  const patients = new Set<string>();

  for (const [rawName, value] of params) {
    const name = rawName.trim();
    const [code = '', ...mods] = name.split(':');
    if (code === '_has' || name.startsWith('_has:')) throw searchNotSupported('_has (reverse chaining)');
    if (name.includes('.')) throw searchNotSupported('chained search parameters');
    if (IGNORED_CONTROLS.has(code)) continue;

    if (code.startsWith('_') && !res.params.has(code)) {
      if (SINGLE_CONTROLS.has(code)) {
        if (seen.has(code)) throw invalidParamValue(code, 'may appear only once');
        seen.add(code);
      }
      if (applyControl(out, res, catalogue, code, mods, value, opts)) out.linkParams.push([name, value]);
      continue;
    }

    const def = res.params.get(code);
    if (!def) {
      if (opts.strict) throw unknownParam(name);
      continue; // lenient: ignored, and absent from the self link
    }
    if (mods.length > 1) throw unsupportedModifier(code, mods.join(':'));
    const modifier = mods[0];
    if (modifier !== undefined && !modifierAllowed(def.type, def.target, modifier, catalogue)) {
      throw unsupportedModifier(code, modifier);
    }
    if (value === '') continue; // an empty value is no criterion (and not echoed)
    const values = parseValues(value, { name, type: def.type, fhirBase: opts.fhirBase, ...(modifier ? { modifier } : {}) });
    out.filters.push({ code, ...(modifier ? { modifier } : {}), values });
    out.linkParams.push([name, value]);

    if (res.patientParams.includes(code) && (modifier === undefined || modifier === 'Patient')) {
      for (const v of values) {
        const id = code === '_id' ? v.value : patientIdOf(v.value);
        if (id) patients.add(id);
      }
    }
  }
  if (out.includes.length + out.revIncludes.length > MAX_INCLUDE_PARAMS) throw tooManyIncludes(MAX_INCLUDE_PARAMS);
  if (out.summary !== undefined && out.elements !== undefined) {
    throw invalidParamValue('_elements', 'cannot be combined with _summary');
  }
  if (out.summary === 'count') out.count = 0;
  out.patients = [...patients];
  return out;
}

function modifierAllowed(type: SearchParamType, target: readonly string[], modifier: string, catalogue: ResourceCatalogue): boolean {
  if (MODIFIERS[type].has(modifier)) return true;
  return type === 'reference' && target.includes(modifier) && catalogue.has(modifier);
}

/** Applies one `_xxx` control parameter; returns whether it belongs in the Bundle links. */
function applyControl(
  out: ParsedSearch,
  res: CatalogueResource,
  catalogue: ResourceCatalogue,
  code: string,
  mods: string[],
  value: string,
  opts: SearchParseOptions,
): boolean {
  const noModifier = () => {
    if (mods.length) throw unsupportedModifier(code, mods.join(':'));
  };
  switch (code) {
    case '_count': {
      noModifier();
      if (!NON_NEGATIVE_INT.test(value)) throw invalidParamValue('_count', 'must be a non-negative integer');
      out.count = Math.min(Number(value), opts.limits.maxCount);
      return false;
    }
    case '_offset': {
      noModifier();
      if (!NON_NEGATIVE_INT.test(value)) throw invalidParamValue('_offset', 'must be a non-negative integer');
      out.offset = Math.min(Number(value), MAX_OFFSET);
      return false;
    }
    case '_sort': {
      noModifier();
      for (const part of value.split(',')) {
        const descending = part.startsWith('-');
        const sortCode = descending ? part.slice(1) : part;
        const def = res.params.get(sortCode);
        if (!def || def.type === 'composite' || def.type === 'special') {
          throw invalidParamValue('_sort', `each entry must be a sortable search parameter of ${res.type}, optionally prefixed with -`);
        }
        out.sort.push({ code: sortCode, descending });
      }
      return true;
    }
    case '_include':
    case '_revinclude': {
      if (mods.length) {
        if (mods.length === 1 && mods[0] === 'iterate') throw searchNotSupported(`${code}:iterate`);
        throw unsupportedModifier(code, mods.join(':'));
      }
      const spec = parseInclude(code, value, res, catalogue);
      (code === '_include' ? out.includes : out.revIncludes).push(spec);
      return true;
    }
    case '_summary': {
      noModifier();
      if (!['true', 'false', 'text', 'data', 'count'].includes(value)) {
        throw invalidParamValue('_summary', 'must be true, false, text, data or count');
      }
      out.summary = value as SummaryMode;
      return true;
    }
    case '_elements': {
      noModifier();
      const names = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (!names.length || names.some((n) => !ELEMENT_NAME.test(n))) {
        if (opts.strict) throw invalidParamValue('_elements', 'a comma-separated list of element names');
        return false;
      }
      out.elements = names;
      return true;
    }
    case '_total': {
      noModifier();
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
        throw invalidParamValue('_total', 'must be none, estimate or accurate');
      }
      out.total = value;
      return true;
    }
    default:
      if (opts.strict) throw unknownParam(code);
      return false;
  }
}

/** `Type:param[:Target]`; `*` and anything not in the catalogue are refused. */
function parseInclude(code: '_include' | '_revinclude', value: string, res: CatalogueResource, catalogue: ResourceCatalogue): IncludeSpec {
  if (value.includes('*')) throw searchNotSupported(`${code}=*`);
  const [sourceType = '', param = '', targetType, ...extra] = value.split(':');
  if (extra.length || !sourceType || !param) throw invalidParamValue(code, 'must be Type:parameter[:TargetType]');
  const pair = `${sourceType}:${param}`;
  if (code === '_include') {
    if (sourceType !== res.type || !res.includes.includes(pair)) throw searchNotSupported(`${code}=${echo(value)}`);
    if (targetType !== undefined) {
      const def = res.params.get(param);
      if (!def?.target.includes(targetType) || !catalogue.has(targetType)) throw searchNotSupported(`${code}=${echo(value)}`);
    }
  } else {
    if (!res.revIncludes.includes(pair)) throw searchNotSupported(`${code}=${echo(value)}`);
    if (targetType !== undefined && targetType !== res.type) throw searchNotSupported(`${code}=${echo(value)}`);
  }
  return { sourceType, param, ...(targetType ? { targetType } : {}) };
}
