/**
 * One export record -> one MappedUnit: the resources its record set declares, each with a
 * deterministic id (stableId of the mapping namespace, set, resource name and key values), so
 * importing the same export again updates the same resources instead of duplicating them.
 * References between sets are computed the same way, with no store lookup: a visit's subject is
 * `Patient/<stableId(namespace, 'patients', 'Patient', patient_id)>` whether or not the patient file
 * was imported first.
 *
 * Every problem of a record is collected before failing, so one MappingError lists them all, each
 * naming `file:line column <name>`. Unmapped local codes are not errors: they stay as local codings
 * and are reported in `issues` (Terminology.concept).
 */
import type { Resource } from '@medplum/fhirtypes';
import { stableId } from '../../core/ids.js';
import { MappingError, type MappedUnit, type MappingIssue, type Terminology } from '../types.js';
import { columnText, readColumn } from './columns.js';
import { holds } from './conditions.js';
import type { FieldRule, RecordMapping, TemplatePart } from './model.js';
import { compact, PathConflictError, setPath } from './paths.js';
import { applyTransforms, isBlank, TransformError, type Transform, type Value } from './transforms.js';

export interface MapDeps {
  terminology: Terminology;
}

interface Context {
  readonly mapping: RecordMapping;
  readonly record: Readonly<Record<string, unknown>>;
  readonly source: string;
  readonly deps: MapDeps;
  readonly issues: MappingIssue[];
  readonly errors: MappingIssue[];
}

/** Maps one record of record set `set`; throws MappingError ('content') listing every problem of the record. */
export function mapRecord(
  mapping: RecordMapping,
  set: string,
  record: Record<string, unknown>,
  source: string,
  deps: MapDeps,
): MappedUnit {
  const rules = mapping.sets.get(set);
  if (!rules) throw new MappingError('unprocessable', `mapping ${mapping.name} has no record set '${set}'`);
  const ctx: Context = { mapping, record, source, deps, issues: [], errors: [] };
  const resources: Resource[] = [];
  for (const rule of rules.resources) {
    if (rule.when && !holds(rule.when, record)) continue;
    const keyValues = rule.key.map((column) => {
      const v = safeText(ctx, column);
      if (v === '') fail(ctx, 'MISSING_KEY', column, `key column is empty; the ${rule.type} id is made from it`);
      return v;
    });
    const body: Record<string, unknown> = {};
    applyFields(rule.fields, body, ctx);
    const { meta, ...content } = (compact(body) ?? {}) as Record<string, unknown>;
    resources.push({
      resourceType: rule.type,
      id: stableId(mapping.namespace, set, rule.name, ...keyValues),
      meta: { ...(meta as object | undefined), ...(rule.profiles.length ? { profile: [...rule.profiles] } : {}), source: mapping.source },
      ...content,
    } as Resource);
  }
  if (ctx.errors.length) {
    const [first, ...rest] = ctx.errors;
    throw new MappingError('content', `${first!.message}${rest.length ? ` (and ${rest.length} more problem${rest.length > 1 ? 's' : ''})` : ''}`, ctx.errors);
  }
  if (!resources.length) {
    ctx.issues.push({ severity: 'information', code: 'RECORD_SKIPPED', message: `${source}: no resource of record set ${set} applies to this record`, location: source });
  }
  return { source, resources, issues: ctx.issues };
}

function fail(ctx: Context, code: string, column: string | undefined, message: string): void {
  const location = column ? `${ctx.source} column ${column}` : ctx.source;
  ctx.errors.push({ severity: 'error', code, message: `${location}: ${message}`, location });
}

/** Column text, recording (not throwing) a column that holds an object. */
function safeText(ctx: Context, column: string): string {
  try {
    return columnText(ctx.record, column);
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    fail(ctx, 'INVALID_VALUE', column, err.message);
    return '';
  }
}

/**
 * Applies field rules into `target`. Returns whether anything taken from the record was written: a
 * group whose record-derived fields are all blank is left out even if it has constants (a telecom
 * with `system: phone` but no number is not written).
 */
function applyFields(fields: readonly FieldRule[], target: Record<string, unknown>, ctx: Context): boolean {
  let produced = false;
  for (const field of fields) {
    if (field.when && !holds(field.when, ctx.record)) continue;
    const result = evaluate(field, ctx);
    if (!result) continue;
    try {
      setPath(target, field.path, result.value, field.pathText);
      produced ||= result.fromRecord;
    } catch (err) {
      if (!(err instanceof PathConflictError)) throw err;
      fail(ctx, 'MAPPING_CONFLICT', undefined, `${err.message} (a mapping rule conflict, not a data problem)`);
    }
  }
  return produced;
}

type Evaluated = { value: unknown; fromRecord: boolean } | undefined;

function evaluate(field: FieldRule, ctx: Context): Evaluated {
  const s = field.source;
  const missing = (column: string | undefined, what = 'required value is missing') => {
    if (field.required) fail(ctx, 'MISSING_FIELD', column, `${what} (${field.element})`);
    return undefined;
  };
  switch (s.kind) {
    case 'constant':
      return { value: structuredClone(s.value), fromRecord: false };
    case 'column': {
      let raw: Value | undefined;
      try {
        raw = readColumn(ctx.record, s.column);
      } catch (err) {
        if (!(err instanceof TransformError)) throw err;
        fail(ctx, 'INVALID_VALUE', s.column, err.message);
        return undefined;
      }
      if (raw === undefined || isBlank(raw)) return s.default !== undefined ? { value: s.default, fromRecord: false } : missing(s.column);
      const value = transform(raw, s.transforms, s.column, field, ctx);
      if (value === undefined) return undefined;
      if (isBlank(value)) return s.default !== undefined ? { value: s.default, fromRecord: false } : missing(s.column);
      return { value, fromRecord: true };
    }
    case 'template': {
      const filled = fillTemplate(s.parts, ctx);
      if (filled === undefined) {
        const columns = s.parts.flatMap((p) => ('column' in p ? [p.column] : []));
        return s.default !== undefined ? { value: s.default, fromRecord: false } : missing(columns.join(', '), 'required values are missing');
      }
      const value = transform(filled, s.transforms, s.parts.flatMap((p) => ('column' in p ? [p.column] : [])).join(', '), field, ctx);
      if (value === undefined) return undefined;
      return isBlank(value) ? missing(undefined) : { value, fromRecord: true };
    }
    case 'code': {
      const raw = safeText(ctx, s.column);
      if (raw === '') return missing(s.column);
      const code = transform(raw, s.transforms, s.column, field, ctx);
      if (code === undefined) return undefined;
      if (typeof code !== 'string' || !code.trim()) return missing(s.column);
      const display = s.display ? safeText(ctx, s.display) : '';
      const concept = ctx.deps.terminology.concept(
        { system: s.system, code: code.trim(), ...(display ? { display } : {}) },
        ctx.issues,
        `${ctx.source} column ${s.column}`,
      );
      return { value: concept, fromRecord: true };
    }
    case 'ref': {
      const values = s.key.map((column) => safeText(ctx, column));
      const blank = s.key.filter((_, i) => values[i] === '');
      if (blank.length) return missing(blank.join(', '), `reference to ${s.target.set} needs a value`);
      const display = s.display ? fillTemplate(s.display, ctx) : undefined;
      const id = stableId(ctx.mapping.namespace, s.target.set, s.target.resource, ...values);
      return { value: { reference: `${s.resourceType}/${id}`, ...(display ? { display } : {}) }, fromRecord: true };
    }
    case 'group': {
      const element: Record<string, unknown> = {};
      const produced = applyFields(s.fields, element, ctx);
      if (!produced) return missing(undefined, 'required element has no values in this record');
      return { value: element, fromRecord: true };
    }
  }
}

function transform(raw: Value, transforms: readonly Transform[], column: string, field: FieldRule, ctx: Context): Value | undefined {
  try {
    return applyTransforms(raw, transforms);
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    fail(ctx, 'INVALID_VALUE', column, `${err.message} (${field.element})`);
    return undefined;
  }
}

/** Fills `{column}` placeholders; blank placeholders become empty and spacing is tidied. Undefined when all are blank. */
function fillTemplate(parts: readonly TemplatePart[], ctx: Context): string | undefined {
  let any = false;
  const text = parts.map((p) => {
    if ('text' in p) return p.text;
    const v = safeText(ctx, p.column);
    if (v) any = true;
    return v;
  }).join('');
  if (!any) return undefined;
  return text.replace(/\s+/g, ' ').trim();
}
