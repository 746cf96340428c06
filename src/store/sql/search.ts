/**
 * Compiles a SearchQuery into parameterised SQL over the idx_* tables (never the JSON).
 * Filters are AND-ed, a filter's values OR-ed, policy narrowing adds more of the same.
 *
 * Plan shape: the most selective filter (a reference, the compartment, an _id list, a token...)
 * leads as `r.rid IN (SELECT rid FROM idx_<type> WHERE resource_type = ? AND code = ? AND value ...)`,
 * served by the lookup index (resource_type, code, value, ..., rid); every other filter is a
 * correlated `EXISTS (... WHERE rid = r.rid AND code = ? ...)` probe on the rows of that one
 * resource (SQLite clusters index tables by (rid, code); PostgreSQL has an owner index).
 * A second `IN` would make SQLite materialize its whole id list (50,000 ids for
 * `category=laboratory`), which this shape avoids. test/store/sqlite.test.ts pins these plans.
 *
 * Table and column names come from constants and parameter codes are bound values: no user text
 * ever becomes SQL. See: https://hl7.org/fhir/R4/search.html
 */
import type { FhirDefinitions, SearchParamDef } from '../../core/fhir-definitions.js';
import { badRequest, notSupported } from '../../core/outcome.js';
import { COLUMN_PARAMS, identifierCode, indexKey, normalizeText, withoutNul } from '../indexer.js';
import type { SearchFilter, SearchIndexSelection, SearchPrefix, SearchQuery, SearchValue } from '../types.js';
import { INDEX_TABLE, type IndexedType } from './index-rows.js';
import {
  parseDate,
  parseMissing,
  parseNumber,
  parseQuantity,
  parseToken,
  referenceTargets,
  type NumberValue,
} from './search-values.js';
import { escapeLike, join, list, raw, sql, type SqlFragment } from './sql.js';

export interface CompiledSearch {
  /** The page: `count + 1` rows from `offset` (the extra row tells whether more exist). */
  page: SqlFragment;
  count: SqlFragment;
}

const TRUE = raw('1 = 1');
const FALSE = raw('1 = 0');
/** Above every code point: `x >= p AND x < p || MAX_CHAR` is a prefix match an index can serve. */
const MAX_CHAR = '\u{10FFFF}';
const ORDERED_TYPES: ReadonlySet<string> = new Set(['date', 'number', 'quantity']);

/** Builds the page and count statements for a query; throws 400 for unknown codes or bad values. */
export function compileSearch(defs: FhirDefinitions, q: SearchQuery, nowMs: number, selection?: SearchIndexSelection): CompiledSearch {
  const ctx: Ctx = { defs, type: q.resourceType, nowMs, ...(selection ? { selection } : {}) };
  if (!defs.isResourceType(q.resourceType)) throw badRequest(`unknown resource type ${q.resourceType}`);
  const conds = q.filters.map((f) => filterCondition(ctx, f));
  if (q.narrow?.compartmentPatient !== undefined) conds.push(compartmentCondition(q.resourceType, q.narrow.compartmentPatient));
  if (q.narrow?.anyOf) {
    const groups = q.narrow.anyOf.map((g) => (g.length ? sql`(${join(g.map((f) => filterCondition(ctx, f).test), ' AND ')})` : TRUE));
    conds.push({ test: groups.length ? sql`(${join(groups, ' OR ')})` : FALSE });
  }
  const lead = leading(conds);
  const where = [
    // A lead from an index table or the compartment only yields rows of this type; repeating the
    // type test would offer SQLite the (resource_type, ...) index as a worse way in.
    ...(lead?.drive?.typed ? [] : [sql`r.resource_type = ${q.resourceType}`]),
    raw('r.deleted = 0'),
    ...conds.map((c) => (c === lead ? (c.drive as Drive).sql : c.test)),
  ];
  const cond = join(where, ' AND ');
  const count = sql`SELECT COUNT(*) AS n FROM resources r WHERE ${cond}`;
  const limit = sql`LIMIT ${q.count + 1} OFFSET ${q.offset}`;
  const ordered = lead?.drive?.ordered;
  const byTime = timeOrder(q);
  if (ordered && byTime) {
    // The lead's index hands out candidates in lastUpdated order: no sort, and the scan stops after one page.
    const rest = join([raw('r.deleted = 0'), ...conds.filter((c) => c !== lead).map((c) => c.test)], ' AND ');
    return {
      page: sql`SELECT r.content FROM ${ordered.from} JOIN resources r ON r.rid = l.rid WHERE ${ordered.where} AND ${rest}
        ORDER BY l.last_updated_ms ${raw(byTime)}, r.id ASC ${limit}`,
      count,
    };
  }
  const order = join([...(q.sort ?? []).map((s) => sortExpression(ctx, s.code, s.descending, !!lead)), ...defaultOrder(q, !!lead)], ', ');
  return { page: sql`SELECT r.content FROM resources r WHERE ${cond} ORDER BY ${order} ${limit}`, count };
}

/** 'ASC' or 'DESC' when the page is ordered by lastUpdated alone (the default, or `_sort=[-]_lastUpdated`). */
function timeOrder(q: SearchQuery): 'ASC' | 'DESC' | undefined {
  if (!q.sort?.length) return 'ASC';
  const [first] = q.sort;
  if (q.sort.length === 1 && first?.code === '_lastUpdated') return first.descending ? 'DESC' : 'ASC';
  return undefined;
}

/**
 * A condition on `r`. `test` is a correlated check; `drive`, when present, is the same condition as
 * `r.rid IN (...)` that can lead the plan, ranked by how selective such filters usually are.
 */
interface Condition {
  test: SqlFragment;
  drive?: Drive;
}

interface Drive {
  rank: number;
  sql: SqlFragment;
  /** The IN subquery itself restricts to the query's resource type. */
  typed: boolean;
  /**
   * The same rows as a table `l` whose index yields them in last_updated_ms order (one reference
   * target, or a compartment): `FROM <from> ... WHERE <where>`.
   */
  ordered?: { from: SqlFragment; where: SqlFragment };
}

/** Lower leads: an id list, then references and the compartment, exact values, tokens, exact dates. */
const RANK = { id: 0, reference: 1, exact: 2, token: 3, date: 4 } as const;

/** The condition whose IN form leads the plan: the best-ranked one, the first among equals. */
function leading(conds: readonly Condition[]): Condition | undefined {
  let best: Condition | undefined;
  for (const c of conds) if (c.drive && (!best?.drive || c.drive.rank < best.drive.rank)) best = c;
  return best;
}

function compartmentCondition(resourceType: string, patientId: string): Condition {
  return {
    test: sql`EXISTS (SELECT 1 FROM compartment c WHERE c.rid = r.rid AND c.patient_id = ${patientId})`,
    drive: {
      rank: RANK.reference,
      typed: true,
      sql: sql`r.rid IN (SELECT c.rid FROM compartment c WHERE c.patient_id = ${patientId} AND c.resource_type = ${resourceType})`,
      ordered: { from: raw('compartment l'), where: sql`l.patient_id = ${patientId} AND l.resource_type = ${resourceType}` },
    },
  };
}

/** Resources of `resourceType` whose reference parameter `code` points at one of `targets` (_revinclude). */
export function referencingQuery(
  defs: FhirDefinitions,
  resourceType: string,
  code: string,
  targets: readonly string[],
  limit: number,
  selection?: SearchIndexSelection,
): SqlFragment {
  const p = paramOf({ defs, type: resourceType, nowMs: 0, ...(selection ? { selection } : {}) }, code);
  if (p.type !== 'reference') throw badRequest(`${resourceType}.${code} is not a reference search parameter`);
  return sql`SELECT r.content FROM resources r WHERE r.resource_type = ${resourceType} AND r.deleted = 0
    AND r.rid IN (SELECT i.rid FROM idx_reference i WHERE i.resource_type = ${resourceType} AND i.code = ${code}
      AND i.target IN ${list(targets.map(indexKey))})
    ORDER BY r.id LIMIT ${limit}`;
}

interface Ctx {
  defs: FhirDefinitions;
  type: string;
  nowMs: number;
  /** The parameters that have index rows (absent: all of them). */
  selection?: SearchIndexSelection;
}

function paramOf(ctx: Ctx, code: string): SearchParamDef {
  const p = ctx.defs.searchParam(ctx.type, code);
  if (!p) throw badRequest(`unknown search parameter ${ctx.type}.${code}`, 'GW_UNKNOWN_SEARCH_PARAM');
  // A parameter without index rows would match nothing: refuse it rather than answer from missing rows.
  if (ctx.selection && !COLUMN_PARAMS.has(code) && !ctx.selection.params(ctx.type).has(code)) {
    throw notSupported(`search parameter ${ctx.type}.${code} is not indexed by this gateway`);
  }
  return p;
}

/** The condition for one filter (its values OR-ed). */
function filterCondition(ctx: Ctx, f: SearchFilter): Condition {
  const p = paramOf(ctx, f.code);
  if (f.values.length === 0) throw badRequest(`search parameter ${f.code} has no value`, 'GW_INVALID_SEARCH_VALUE');
  const values = f.values.map((v) => restorePrefix(p, v));
  if (p.code === '_id') return idCondition(f, values);
  if (p.code === '_lastUpdated') return lastUpdatedCondition(ctx, f, values);
  if (p.type === 'composite' || p.type === 'special' || !p.expression.trim()) {
    throw notSupported(`search parameter ${f.code} (${p.type}) is not supported`);
  }
  const type = p.type as IndexedType;
  if (f.modifier === 'missing') return missingCondition(ctx, type, p.code, values);
  switch (type) {
    case 'token':
      return tokenCondition(ctx, p.code, f.modifier, values);
    case 'string':
      return stringCondition(ctx, p.code, f.modifier, values);
    case 'reference':
      return referenceCondition(ctx, p, f.modifier, values);
    case 'uri':
      return uriCondition(ctx, p.code, f.modifier, values);
    case 'date': {
      noModifier(p, f.modifier);
      const exact = values.every((v) => (v.prefix ?? 'eq') === 'eq');
      const conds = values.map((v) => dateRange(ctx, v.prefix, parseDate(p.code, v.value), 'i.low', 'i.high'));
      return indexed(ctx, 'date', p.code, conds, exact ? RANK.date : undefined);
    }
    case 'number':
      noModifier(p, f.modifier);
      return indexed(ctx, 'number', p.code, values.map((v) => numberRange(v.prefix, parseNumber(p.code, v.value))));
    case 'quantity':
      noModifier(p, f.modifier);
      return indexed(ctx, 'quantity', p.code, values.map((v) => quantityCondition(p.code, v)));
  }
}

/**
 * A prefix only means something for ordered types; elsewhere `eq...` is part of the text (`eqbert`).
 * NUL is replaced as in the index, so such a value matches nothing instead of failing in the driver.
 */
function restorePrefix(p: SearchParamDef, v: SearchValue): SearchValue {
  const value = withoutNul(v.value);
  if (!v.prefix || ORDERED_TYPES.has(p.type) || p.code === '_lastUpdated') return { ...v, value };
  return { value: `${v.prefix}${value}` };
}

function noModifier(p: SearchParamDef, modifier: string | undefined): void {
  if (modifier !== undefined) throw notSupported(`modifier :${modifier} is not supported on ${p.type} parameter ${p.code}`);
}

/**
 * Index rows of `code` matching any of the value conditions: a correlated EXISTS, plus an IN form
 * to lead with when `rank` is given. Negated (`:not`, `:missing=true`): NOT EXISTS, never leading.
 */
function indexed(
  ctx: Ctx,
  type: IndexedType,
  code: string,
  valueConds: readonly SqlFragment[],
  rank?: number,
  negate = false,
): Condition {
  const table = raw(INDEX_TABLE[type]);
  const any = valueConds.length === 1 ? (valueConds[0] as SqlFragment) : sql`(${join(valueConds, ' OR ')})`;
  const test = sql`${raw(negate ? 'NOT EXISTS' : 'EXISTS')} (SELECT 1 FROM ${table} i WHERE i.rid = r.rid AND i.code = ${code} AND ${any})`;
  if (negate || rank === undefined) return { test };
  return {
    test,
    drive: { rank, typed: true, sql: sql`r.rid IN (SELECT i.rid FROM ${table} i WHERE i.resource_type = ${ctx.type} AND i.code = ${code} AND ${any})` },
  };
}

const always = (holds: boolean): Condition => ({ test: holds ? TRUE : FALSE });

function missingCondition(ctx: Ctx, type: IndexedType, code: string, values: readonly SearchValue[]): Condition {
  const missing = parseMissing(code, (values[0] as SearchValue).value);
  return indexed(ctx, type, code, [TRUE], missing ? undefined : RANK.token, missing);
}

function idCondition(f: SearchFilter, values: readonly SearchValue[]): Condition {
  if (f.modifier === 'missing') return always(!parseMissing(f.code, (values[0] as SearchValue).value));
  if (f.modifier !== undefined && f.modifier !== 'not') throw notSupported(`modifier :${f.modifier} is not supported on _id`);
  if (f.modifier === 'not') return { test: sql`r.id NOT IN ${list(values.map((v) => v.value))}` };
  const test = sql`r.id IN ${list(values.map((v) => v.value))}`;
  return { test, drive: { rank: RANK.id, typed: false, sql: test } };
}

function lastUpdatedCondition(ctx: Ctx, f: SearchFilter, values: readonly SearchValue[]): Condition {
  if (f.modifier === 'missing') return always(!parseMissing(f.code, (values[0] as SearchValue).value));
  if (f.modifier !== undefined) throw notSupported(`modifier :${f.modifier} is not supported on _lastUpdated`);
  const conds = values.map((v) => dateRange(ctx, v.prefix, parseDate(f.code, v.value), 'r.last_updated_ms', 'r.last_updated_ms'));
  return { test: conds.length === 1 ? (conds[0] as SqlFragment) : sql`(${join(conds, ' OR ')})` };
}

// ---------------------------------------------------------------- token, string, uri, reference

function tokenCondition(ctx: Ctx, code: string, modifier: string | undefined, values: readonly SearchValue[]): Condition {
  if (modifier === 'text') {
    return indexed(ctx, 'token', code, values.map((v) => prefixMatch('i.text', normalizeText(v.value))));
  }
  if (modifier !== undefined && modifier !== 'not') throw notSupported(`modifier :${modifier} is not supported on token parameter ${code}`);
  const negate = modifier === 'not';
  return indexed(ctx, 'token', code, values.map((v) => tokenMatch(v.value)), negate ? undefined : RANK.token, negate);
}

function tokenMatch(value: string): SqlFragment {
  const t = parseToken(value);
  const parts: SqlFragment[] = [];
  if (t.system === null) parts.push(raw('i.system IS NULL'));
  else if (t.system !== undefined) parts.push(sql`i.system = ${t.system}`);
  if (t.code !== undefined) parts.push(sql`i.value = ${t.code}`);
  else parts.push(raw('i.value IS NOT NULL'));
  return sql`(${join(parts, ' AND ')})`;
}

/** Prefix match on an index column (normalized text): a range scan, not LIKE. */
function prefixMatch(column: string, prefix: string): SqlFragment {
  const p = indexKey(prefix);
  return sql`(${raw(column)} >= ${p} AND ${raw(column)} < ${p + MAX_CHAR})`;
}

/** Default: starts with, case- and accent-insensitive; :exact: the whole text as written; :contains: anywhere. */
function stringCondition(ctx: Ctx, code: string, modifier: string | undefined, values: readonly SearchValue[]): Condition {
  const conds = values.map((v) => {
    const norm = normalizeText(v.value);
    switch (modifier) {
      case undefined:
        return prefixMatch('i.norm', norm);
      case 'exact':
        return sql`(i.norm = ${indexKey(norm)} AND i.exact = ${v.value})`;
      case 'contains':
        return sql`i.norm LIKE ${`%${escapeLike(indexKey(norm))}%`} ESCAPE '\\'`;
      default:
        throw notSupported(`modifier :${modifier} is not supported on string parameter ${code}`);
    }
  });
  const rank = modifier === 'exact' ? RANK.exact : modifier === undefined ? RANK.token : undefined;
  return indexed(ctx, 'string', code, conds, rank);
}

/** Exact match; :below = URL starts with the value; :above = the value starts with the stored URL. */
function uriCondition(ctx: Ctx, code: string, modifier: string | undefined, values: readonly SearchValue[]): Condition {
  const conds = values.map((v) => {
    switch (modifier) {
      case undefined:
        return sql`i.value = ${indexKey(v.value)}`;
      case 'below':
        return prefixMatch('i.value', v.value);
      case 'above': {
        const prefixes = v.value.split('/').map((_, i, parts) => indexKey(parts.slice(0, i + 1).join('/')));
        return sql`i.value IN ${list(prefixes)}`;
      }
      default:
        throw notSupported(`modifier :${modifier} is not supported on uri parameter ${code}`);
    }
  });
  return indexed(ctx, 'uri', code, conds, RANK.exact);
}

/**
 * `123`, `Patient/123`, an absolute URL ending in `Patient/123`, or `:Patient` with `123`;
 * `:identifier` matches Reference.identifier (`system|value`).
 */
function referenceCondition(ctx: Ctx, p: SearchParamDef, modifier: string | undefined, values: readonly SearchValue[]): Condition {
  if (modifier === 'identifier') {
    return indexed(ctx, 'token', identifierCode(p.code), values.map((v) => tokenMatch(v.value)), RANK.reference);
  }
  let allowed = p.target.length ? p.target : ctx.defs.resourceTypes();
  if (modifier !== undefined) {
    if (!ctx.defs.isResourceType(modifier)) throw notSupported(`modifier :${modifier} is not supported on reference parameter ${p.code}`);
    allowed = allowed.includes(modifier) ? [modifier] : [];
  }
  const targets = [...new Set(values.flatMap((v) => referenceTargets(v.value, allowed)))];
  const [only] = targets;
  if (only === undefined) return always(false);
  const cond = indexed(ctx, 'reference', p.code, [sql`i.target IN ${list(targets)}`], RANK.reference);
  if (targets.length > 1 || !cond.drive) return cond;
  const where = sql`l.resource_type = ${ctx.type} AND l.code = ${p.code} AND l.target = ${only}`;
  return { ...cond, drive: { ...cond.drive, ordered: { from: raw('idx_reference l'), where } } };
}

// ---------------------------------------------------------------- ranges: date, number, quantity

/**
 * Date prefixes against a stored range [low, high] (inclusive ms) and the search range [lo, hi].
 * See: https://hl7.org/fhir/R4/search.html#prefix
 */
function dateRange(ctx: Ctx, prefix: SearchPrefix | undefined, [lo, hi]: [number, number], lowCol: string, highCol: string): SqlFragment {
  const low = raw(lowCol);
  const high = raw(highCol);
  switch (prefix ?? 'eq') {
    case 'eq':
      return sql`(${low} >= ${lo} AND ${high} <= ${hi})`;
    case 'ne':
      return sql`(${low} < ${lo} OR ${high} > ${hi})`;
    case 'gt':
      return sql`${high} > ${hi}`;
    case 'lt':
      return sql`${low} < ${lo}`;
    case 'ge':
      return sql`${high} >= ${lo}`;
    case 'le':
      return sql`${low} <= ${hi}`;
    case 'sa':
      return sql`${low} > ${hi}`;
    case 'eb':
      return sql`${high} < ${lo}`;
    case 'ap': {
      // Approximately: widen by 10% of the distance from now (at least the value's own precision).
      const d = Math.max(Math.round(Math.abs(ctx.nowMs - lo) * 0.1), hi - lo + 1);
      return sql`(${low} <= ${hi + d} AND ${high} >= ${lo - d})`;
    }
  }
}

/**
 * Number prefixes against a stored [low, high] (a point, or a Range). `eq` uses the precision the
 * value was written with (`100` = [99.5, 100.5)); comparisons use the value itself.
 */
function numberRange(prefix: SearchPrefix | undefined, { value, halfWidth }: NumberValue): SqlFragment {
  switch (prefix ?? 'eq') {
    case 'eq':
      return sql`(i.low >= ${value - halfWidth} AND i.high < ${value + halfWidth})`;
    case 'ne':
      return sql`(i.low < ${value - halfWidth} OR i.high >= ${value + halfWidth})`;
    case 'gt':
      return sql`i.high > ${value}`;
    case 'lt':
      return sql`i.low < ${value}`;
    case 'ge':
      return sql`i.high >= ${value}`;
    case 'le':
      return sql`i.low <= ${value}`;
    case 'sa':
      return sql`i.low > ${value}`;
    case 'eb':
      return sql`i.high < ${value}`;
    case 'ap': {
      const d = Math.max(Math.abs(value) * 0.1, halfWidth);
      return sql`(i.low <= ${value + d} AND i.high >= ${value - d})`;
    }
  }
}

function quantityCondition(code: string, v: SearchValue): SqlFragment {
  const q = parseQuantity(code, v.value);
  const parts = [numberRange(v.prefix, q)];
  if (q.system !== undefined) parts.push(sql`i.system = ${q.system}`);
  if (q.unit !== undefined) parts.push(sql`i.unit = ${q.unit}`);
  return parts.length === 1 ? (parts[0] as SqlFragment) : sql`(${join(parts, ' AND ')})`;
}

// ---------------------------------------------------------------- sort

/** Ascending sorts on a parameter's lowest value, descending on its highest (FHIR §3.1.1.7). */
const SORT_COLUMNS: Readonly<Record<IndexedType, [string, string]>> = {
  token: ['value', 'value'],
  string: ['norm', 'norm'],
  date: ['low', 'high'],
  reference: ['target', 'target'],
  quantity: ['low', 'high'],
  number: ['low', 'high'],
  uri: ['value', 'value'],
};

/**
 * With a leading IN, ordering columns are wrapped (`x + 0`, `x || ''`) so no index can provide the
 * order: otherwise SQLite may walk resources in that order probing every row, instead of sorting
 * the few the lead finds. Without a lead, walking in index order is what makes `LIMIT` cheap.
 */
function orderColumn(column: 'r.id' | 'r.last_updated_ms', hasLead: boolean): SqlFragment {
  if (!hasLead) return raw(column);
  return raw(column === 'r.id' ? "(r.id || '')" : '(r.last_updated_ms + 0)');
}

function sortExpression(ctx: Ctx, code: string, descending: boolean, hasLead: boolean): SqlFragment {
  const dir = raw(descending ? 'DESC' : 'ASC');
  if (code === '_id') return sql`${orderColumn('r.id', hasLead)} ${dir}`;
  if (code === '_lastUpdated') return sql`${orderColumn('r.last_updated_ms', hasLead)} ${dir}`;
  const p = paramOf(ctx, code);
  if (!(p.type in SORT_COLUMNS)) throw notSupported(`cannot sort by ${p.type} parameter ${code}`);
  const type = p.type as IndexedType;
  const [ascCol, descCol] = SORT_COLUMNS[type];
  const agg = raw(descending ? `MAX(s.${descCol})` : `MIN(s.${ascCol})`);
  return sql`(SELECT ${agg} FROM ${raw(INDEX_TABLE[type])} s WHERE s.rid = r.rid AND s.code = ${code}) ${dir} NULLS LAST`;
}

/** Ties (and unsorted searches) fall back to lastUpdated, then id, so paging is stable. */
function defaultOrder(q: SearchQuery, hasLead: boolean): SqlFragment[] {
  const id = sql`${orderColumn('r.id', hasLead)} ASC`;
  if (q.sort?.length) return [id];
  return [sql`${orderColumn('r.last_updated_ms', hasLead)} ASC`, id];
}
