/**
 * Loads config/mappings/<name>.yaml: YAML (duplicate keys refused), then the structure with zod, then
 * the checks that need the whole file (transforms, conditions, references between sets, keys). Every
 * problem is reported at once, each with its place in the file (`sets.labs.resources[0].fields[2]`),
 * because an integrator fixing a mapping should not have to iterate one error at a time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { SYSTEMS } from '../types.js';
import { compileCondition, conditionColumns, type Condition } from './conditions.js';
import {
  MappingConfigError, type FieldRule, type FieldSource, type InputFormat, type RecordMapping, type RecordSet,
  type ResourceRule, type TemplatePart,
} from './model.js';
import { parsePath } from './paths.js';
import { compileTransform, type Transform } from './transforms.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const scalar = z.union([z.string(), z.number(), z.boolean()]);
const columnList = z.union([z.string().min(1).transform((s) => [s]), z.array(z.string().min(1)).min(1)]);

interface RawField {
  path: string;
  from?: string;
  value?: unknown;
  template?: string;
  code?: { from: string; system: string; display?: string };
  ref?: { set: string; resource?: string; key: string[]; display?: string };
  fields?: RawField[];
  transform?: unknown;
  when?: unknown;
  required?: boolean;
  default?: string | number | boolean;
}

const rawField: z.ZodType<RawField> = z.lazy(() => z.object({
  path: z.string().min(1),
  from: z.string().min(1).optional(),
  value: z.unknown().optional(),
  template: z.string().min(1).optional(),
  code: z.object({ from: z.string().min(1), system: z.string().min(1), display: z.string().min(1).optional() }).strict().optional(),
  ref: z.object({ set: z.string().min(1), resource: z.string().min(1).optional(), key: columnList, display: z.string().min(1).optional() }).strict().optional(),
  fields: z.array(rawField).min(1).optional(),
  transform: z.unknown().optional(),
  when: z.unknown().optional(),
  required: z.boolean().optional(),
  default: scalar.optional(),
}).strict());

const encoding = z.enum(['utf8', 'latin1']).default('utf8');
const rawFormat = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('csv'),
    delimiter: z.string().length(1).default(','),
    quote: z.string().length(1).default('"'),
    header: z.boolean().default(true),
    columns: z.array(z.string().min(1)).min(1).optional(),
    encoding,
  }).strict(),
  z.object({ type: z.literal('ndjson'), encoding }).strict(),
  z.object({ type: z.literal('json'), recordPath: z.string().min(1).optional(), encoding }).strict(),
]);

const rawResource = z.object({
  type: z.string().regex(/^[A-Z][A-Za-z]+$/, 'a FHIR resource type such as Patient'),
  name: z.string().regex(NAME, 'letters, digits, _ and -').optional(),
  key: columnList.optional(),
  profile: z.union([z.string().min(1).transform((s) => [s]), z.array(z.string().min(1))]).optional(),
  when: z.unknown().optional(),
  fields: z.array(rawField).min(1),
}).strict();

const rawSet = z.object({
  description: z.string().optional(),
  files: z.union([z.string().min(1).transform((s) => [s]), z.array(z.string().min(1)).min(1)]),
  format: rawFormat,
  key: columnList,
  resources: z.array(rawResource).min(1),
}).strict();

const rawMapping = z.object({
  description: z.string().optional(),
  namespace: z.string().regex(NAME, 'letters, digits, _ and -').optional(),
  source: z.string().regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/, 'a URI').optional(),
  sets: z.record(z.string().regex(NAME, 'set names: letters, digits, _ and -'), rawSet)
    .refine((s) => Object.keys(s).length > 0, 'at least one record set'),
}).strict();

type RawMapping = z.infer<typeof rawMapping>;
type RawResource = z.infer<typeof rawResource>;

/** The mapping names in a folder (`clinic` for clinic.yaml), sorted. */
export function listMappings(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, '')).filter((n) => NAME.test(n)).sort();
}

/** Loads and checks `<dir>/<name>.yaml` (or .yml); throws MappingConfigError listing every problem. */
export function loadMapping(dir: string, name: string): RecordMapping {
  if (!NAME.test(name)) throw new MappingConfigError(name, [`'${name}' is not a mapping name (letters, digits, _ and -)`]);
  const file = ['.yaml', '.yml'].map((ext) => join(dir, `${name}${ext}`)).find((f) => existsSync(f));
  if (!file) {
    const known = listMappings(dir);
    throw new MappingConfigError(join(dir, `${name}.yaml`), [`no such mapping${known.length ? ` (available: ${known.join(', ')})` : ` (${dir} has none)`}`]);
  }
  return parseMapping(readFileSync(file, 'utf8'), name, file);
}

/** Parses mapping YAML text (tests and tools that hold the text already). */
export function parseMapping(text: string, name: string, file = `${name}.yaml`): RecordMapping {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    // One syntax slip makes the parser report every following token; the first few locate it.
    const shown = doc.errors.slice(0, 3).map((e) => `YAML ${e.linePos?.[0] ? `line ${e.linePos[0].line}` : ''}: ${e.message.split('\n')[0]}`);
    if (doc.errors.length > 3) shown.push(`(${doc.errors.length - 3} more YAML errors follow from these; in flow style, quote paths with brackets: "name[0].family")`);
    throw new MappingConfigError(file, shown);
  }
  const parsed = rawMapping.safeParse(doc.toJS());
  if (!parsed.success) throw new MappingConfigError(file, parsed.error.issues.map((i) => `${where(i.path)}: ${i.message}`));
  return compile(parsed.data, name, file);
}

/** `sets.labs.resources[0].fields[2]` from a zod issue path. */
function where(path: ReadonlyArray<PropertyKey>): string {
  if (!path.length) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function compile(raw: RawMapping, name: string, file: string): RecordMapping {
  const problems: string[] = [];
  const sets = new Map<string, RecordSet>();
  // References are checked after every set's resources are known.
  const pendingRefs: Array<() => void> = [];
  const resourceIndex = new Map<string, Map<string, RawResource & { keyCols: string[] }>>();
  for (const [setName, set] of Object.entries(raw.sets)) {
    const byName = new Map<string, RawResource & { keyCols: string[] }>();
    for (const [i, r] of set.resources.entries()) {
      const rName = r.name ?? r.type;
      if (byName.has(rName)) problems.push(`sets.${setName}.resources[${i}]: two resources named '${rName}' in one set; give them distinct names`);
      byName.set(rName, { ...r, keyCols: r.key ?? set.key });
    }
    resourceIndex.set(setName, byName);
  }

  for (const [setName, set] of Object.entries(raw.sets)) {
    const at = `sets.${setName}`;
    const columns = new Set<string>(set.key);
    const format = compileFormat(set.format, `${at}.format`, problems);
    const resources: ResourceRule[] = set.resources.map((r, i) => {
      const rAt = `${at}.resources[${i}]`;
      const key = r.key ?? set.key;
      key.forEach((k) => columns.add(k));
      const when = r.when === undefined ? undefined : condition(r.when, `${rAt}.when`, problems, columns);
      const fields = r.fields.map((f, j) => compileField(f, `${rAt}.fields[${j}]`, r.type));
      return { name: r.name ?? r.type, type: r.type, key, profiles: r.profile ?? [], ...(when ? { when } : {}), fields };
    });
    if (format.type === 'csv' && format.columns) {
      const missing = [...columns].filter((c) => !format.columns!.includes(c));
      if (missing.length) problems.push(`${at}.format.columns: the rules read column(s) ${missing.join(', ')} that are not listed`);
    }
    sets.set(setName, {
      name: setName, files: set.files, filePatterns: set.files.map(globToRegExp), format, key: set.key, resources, columns,
    });

    function compileField(f: RawField, fAt: string, parent: string): FieldRule {
      const root = !parent.includes('.'); // the resource type itself, not an element under it
      const element = `${parent}.${f.path}`;
      const path = parsePath(f.path);
      if (typeof path === 'string') problems.push(`${fAt}.path: ${path}`);
      else if (root && (path[0]?.name === 'resourceType' || path[0]?.name === 'id') && path.length === 1) {
        problems.push(`${fAt}.path: ${f.path} is set by the mapping itself (the id comes from the key)`);
      }
      const sources = (['from', 'value', 'template', 'code', 'ref', 'fields'] as const).filter((k) => f[k] !== undefined);
      if (sources.length !== 1) {
        problems.push(`${fAt}: give exactly one of from, value, template, code, ref, fields (found ${sources.length ? sources.join(', ') : 'none'})`);
      }
      const transforms = compileTransforms(f.transform, `${fAt}.transform`);
      const kind = sources[0];
      if (transforms.length && kind !== 'from' && kind !== 'template' && kind !== 'code') {
        problems.push(`${fAt}.transform: transforms apply to from, template and code values only`);
      }
      if (f.default !== undefined && kind !== 'from' && kind !== 'template') problems.push(`${fAt}.default: only from and template fields take a default`);
      const when = f.when === undefined ? undefined : condition(f.when, `${fAt}.when`, problems, columns);
      let source: FieldSource;
      switch (kind) {
        case 'from':
          columns.add(f.from!);
          source = { kind: 'column', column: f.from!, transforms, ...(f.default !== undefined ? { default: f.default } : {}) };
          break;
        case 'template':
          source = { kind: 'template', parts: template(f.template!, `${fAt}.template`), transforms, ...(f.default !== undefined ? { default: f.default } : {}) };
          break;
        case 'code': {
          const c = f.code!;
          columns.add(c.from);
          if (c.display) columns.add(c.display);
          const system = c.system.includes(':') ? c.system : `${SYSTEMS.localPrefix}/${c.system}`;
          if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(system)) problems.push(`${fAt}.code.system: '${c.system}' is neither a local table name nor a URI`);
          source = { kind: 'code', column: c.from, system, ...(c.display ? { display: c.display } : {}), transforms };
          break;
        }
        case 'ref': {
          const ref = f.ref!;
          ref.key.forEach((k) => columns.add(k));
          const display = ref.display ? template(ref.display, `${fAt}.ref.display`) : undefined;
          const ref_: { kind: 'ref'; resourceType: string; target: { set: string; resource: string }; key: string[]; display?: TemplatePart[] } = {
            kind: 'ref', resourceType: '', target: { set: ref.set, resource: ref.resource ?? '' }, key: ref.key, ...(display ? { display } : {}),
          };
          // Filled in once every set's resources are known (a reference may point forward in the file).
          pendingRefs.push(() => {
            const targetSet = resourceIndex.get(ref.set);
            if (!targetSet) {
              problems.push(`${fAt}.ref.set: no record set '${ref.set}' (sets: ${[...resourceIndex.keys()].join(', ')})`);
              return;
            }
            const targetName = ref.resource ?? [...targetSet.keys()][0]!;
            const target = targetSet.get(targetName);
            if (!target) {
              problems.push(`${fAt}.ref.resource: set '${ref.set}' has no resource '${targetName}' (it has: ${[...targetSet.keys()].join(', ')})`);
              return;
            }
            if (target.keyCols.length !== ref.key.length) {
              problems.push(`${fAt}.ref.key: '${ref.set}' resources are keyed by ${target.keyCols.length} column(s) (${target.keyCols.join(', ')}), this reference gives ${ref.key.length}`);
            }
            ref_.resourceType = target.type;
            ref_.target.resource = targetName;
          });
          source = ref_;
          break;
        }
        case 'fields':
          source = { kind: 'group', fields: f.fields!.map((g, k) => compileField(g, `${fAt}.fields[${k}]`, element)) };
          break;
        default:
          source = { kind: 'constant', value: f.value ?? null };
      }
      if (kind === 'value' && (f.value === null || f.value === '')) problems.push(`${fAt}.value: a constant must not be empty`);
      if (f.required && kind === 'value') problems.push(`${fAt}.required: a constant is always present`);
      return { path: typeof path === 'string' ? [] : path, pathText: f.path, element, ...(when ? { when } : {}), required: f.required ?? false, source };
    }

    function template(text: string, tAt: string): TemplatePart[] {
      const parts: TemplatePart[] = [];
      const re = /\{([^{}]*)\}/g;
      let last = 0;
      for (let m = re.exec(text); m; m = re.exec(text)) {
        if (m.index > last) parts.push({ text: text.slice(last, m.index) });
        const column = m[1]!.trim();
        if (!column) problems.push(`${tAt}: empty placeholder {} in '${text}'`);
        columns.add(column);
        parts.push({ column });
        last = m.index + m[0].length;
      }
      if (last < text.length) parts.push({ text: text.slice(last) });
      if (parts.some((p) => 'text' in p && /[{}]/.test(p.text))) problems.push(`${tAt}: unbalanced braces in '${text}'`);
      if (!parts.some((p) => 'column' in p)) problems.push(`${tAt}: a template needs at least one {column} (use value: for constant text)`);
      return parts;
    }

    function compileTransforms(spec: unknown, tAt: string): Transform[] {
      if (spec === undefined) return [];
      const list = Array.isArray(spec) ? spec : [spec];
      const out: Transform[] = [];
      list.forEach((s, i) => {
        const t = compileTransform(s);
        if (typeof t === 'string') problems.push(`${tAt}[${i}]: ${t}`);
        else out.push(t);
      });
      return out;
    }
  }
  for (const check of pendingRefs) check();
  if (problems.length) throw new MappingConfigError(file, problems);
  return {
    name, file,
    ...(raw.description ? { description: raw.description } : {}),
    namespace: raw.namespace ?? name,
    source: raw.source ?? `urn:fxg:mapping:${name}`,
    sets,
  };
}

function condition(spec: unknown, at: string, problems: string[], columns: Set<string>): Condition | undefined {
  const c = compileCondition(spec);
  if (typeof c === 'string') { problems.push(`${at}: ${c}`); return undefined; }
  conditionColumns(c).forEach((col) => columns.add(col));
  return c;
}

function compileFormat(f: z.infer<typeof rawFormat>, at: string, problems: string[]): InputFormat {
  switch (f.type) {
    case 'csv':
      if (!f.header && !f.columns) problems.push(`${at}: a CSV without a header row needs columns: [...]`);
      if (f.delimiter === f.quote) problems.push(`${at}: delimiter and quote must differ`);
      return { type: 'csv', delimiter: f.delimiter, quote: f.quote, header: f.header, ...(f.columns ? { columns: f.columns } : {}), encoding: f.encoding };
    case 'ndjson':
      return { type: 'ndjson', encoding: f.encoding };
    case 'json':
      return { type: 'json', recordPath: f.recordPath ? f.recordPath.split('.') : [], encoding: f.encoding };
  }
}

/** A file-name pattern (`*` any characters, `?` one), matched case-insensitively against the base name. */
function globToRegExp(glob: string): RegExp {
  const body = glob.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'i');
}
