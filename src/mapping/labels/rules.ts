/**
 * Label rule files (config/labels/*.yaml): their schema, loading and compilation into a lookup
 * table. A file is one sensitivity category; its defaults (sensitivity, confidentiality, basis)
 * apply to every rule unless the rule overrides them. A bad file stops start-up with a message that
 * names the file and the rule: a rule that silently matches nothing would leave sensitive records
 * labelled N, which is worse than not starting.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  CONFIDENTIALITY_ORDER,
  PREFIX_SYSTEMS,
  SENSITIVITY_DISPLAY,
  canonicalSystem,
  normalizeCode,
  type ConfidentialityCode,
} from './vocabulary.js';

const nonBlank = z.string().trim().min(1, 'must not be empty');
const sensitivityCode = z.string().refine((c) => Object.hasOwn(SENSITIVITY_DISPLAY, c), {
  message: `must be a v3 ActCode InformationSensitivityPolicy code (${Object.keys(SENSITIVITY_DISPLAY).join(', ')})`,
});
const sensitivityList = z.union([sensitivityCode, z.array(sensitivityCode).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]));
const confidentiality = z.enum(CONFIDENTIALITY_ORDER);
const basisCoding = z.object({
  system: nonBlank.url('must be an absolute URI'),
  code: nonBlank,
  display: nonBlank.optional(),
}).strict();
const basisList = z.array(basisCoding);

const ruleSchema = z.object({
  /** Unique across all files; names the rule in errors and in `LabelMatch.rule`. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and hyphens'),
  system: nonBlank.url('must be an absolute URI'),
  codes: z.array(z.object({ code: nonBlank, display: nonBlank }).strict()).min(1).optional(),
  prefixes: z.array(z.object({ prefix: nonBlank, display: nonBlank }).strict()).min(1).optional(),
  sensitivity: sensitivityList.optional(),
  confidentiality: confidentiality.optional(),
  /** Replaces the file's basis; `[]` for none. */
  basis: basisList.optional(),
  note: z.string().optional(),
}).strict().superRefine((rule, ctx) => {
  if (!rule.codes === !rule.prefixes) {
    ctx.addIssue({ code: 'custom', message: 'give exactly one of `codes` or `prefixes`' });
  }
  if (rule.prefixes && !PREFIX_SYSTEMS.has(canonicalSystem(rule.system) ?? '')) {
    ctx.addIssue({
      code: 'custom', path: ['prefixes'],
      message: `prefixes are only allowed for hierarchical classifications (${[...PREFIX_SYSTEMS].join(', ')}); list exact codes for ${rule.system}`,
    });
  }
  for (const [i, p] of (rule.prefixes ?? []).entries()) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.]*$/.test(p.prefix) || normalizeCode(canonicalSystem(rule.system) ?? '', p.prefix).length < 2) {
      ctx.addIssue({ code: 'custom', path: ['prefixes', i, 'prefix'], message: `"${p.prefix}" is not a usable code prefix (at least two characters, letters, digits and dots)` });
    }
  }
});

const fileSchema = z.object({
  category: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and hyphens'),
  description: nonBlank,
  sensitivity: sensitivityList,
  confidentiality,
  basis: basisList.optional(),
  rules: z.array(ruleSchema).min(1, 'a rule file needs at least one rule'),
}).strict();

export type RuleFile = z.input<typeof fileSchema>;

/** What one matched rule contributes to a resource's labels. */
export interface LabelMatch {
  rule: string;
  category: string;
  sensitivity: readonly string[];
  confidentiality: ConfidentialityCode;
  basis: ReadonlyArray<{ system: string; code: string; display?: string }>;
}

/** Rules compiled for lookup: exact codes by system, and prefix lists for hierarchical systems. */
export interface CompiledRules {
  exact: ReadonlyMap<string, ReadonlyMap<string, readonly LabelMatch[]>>;
  prefixes: ReadonlyMap<string, ReadonlyArray<{ prefix: string; match: LabelMatch }>>;
  /** Rule count, for start-up logs and tests. */
  size: number;
}

/** A rule file that cannot be used. The message names the file, the rule and the field. */
export class LabelRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelRuleError';
  }
}

/**
 * Validates rule files (already parsed) and compiles them. `source` names each file in errors.
 * Rule ids must be unique across files, so a message or a match always points at one rule.
 */
export function compileRules(files: ReadonlyArray<{ source: string; content: unknown }>): CompiledRules {
  const exact = new Map<string, Map<string, LabelMatch[]>>();
  const prefixes = new Map<string, Array<{ prefix: string; match: LabelMatch }>>();
  const seen = new Map<string, string>();
  let size = 0;
  for (const { source, content } of files) {
    const parsed = fileSchema.safeParse(content);
    if (!parsed.success) throw new LabelRuleError(describeIssues(source, content, parsed.error.issues));
    const file = parsed.data;
    for (const [index, rule] of file.rules.entries()) {
      const where = `${source}: rule "${rule.id}" (rules[${index}])`;
      const previous = seen.get(rule.id);
      if (previous) throw new LabelRuleError(`${where}: id "${rule.id}" is already used in ${previous}`);
      seen.set(rule.id, source);
      const system = canonicalSystem(rule.system) as string;
      const match: LabelMatch = Object.freeze({
        rule: rule.id,
        category: file.category,
        sensitivity: Object.freeze([...(rule.sensitivity ?? file.sensitivity)]),
        confidentiality: rule.confidentiality ?? file.confidentiality,
        basis: Object.freeze([...(rule.basis ?? file.basis ?? [])]),
      });
      for (const { code } of rule.codes ?? []) {
        let bySystem = exact.get(system);
        if (!bySystem) exact.set(system, (bySystem = new Map()));
        const key = normalizeCode(system, code);
        bySystem.set(key, [...(bySystem.get(key) ?? []), match]);
      }
      for (const { prefix } of rule.prefixes ?? []) {
        let list = prefixes.get(system);
        if (!list) prefixes.set(system, (list = []));
        list.push({ prefix: normalizeCode(system, prefix), match });
      }
      size++;
    }
  }
  return { exact, prefixes, size };
}

/** Every rule that matches one coding (system and code as sent; aliases and ICD dots are handled). */
export function matchCoding(rules: CompiledRules, system: string | undefined, code: string | undefined): LabelMatch[] {
  const sys = canonicalSystem(system);
  if (!sys || !code) return [];
  const key = normalizeCode(sys, code);
  const found = [...(rules.exact.get(sys)?.get(key) ?? [])];
  for (const p of rules.prefixes.get(sys) ?? []) {
    if (key.startsWith(p.prefix)) found.push(p.match);
  }
  return found;
}

/** Reads every `*.yaml` / `*.yml` file of `dir` (sorted by name, so results do not depend on the file system). */
export function readRuleFiles(dir: string): Array<{ source: string; content: unknown }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/i.test(n)).sort();
  } catch (err) {
    throw new LabelRuleError(`security label rules: cannot read directory ${dir}: ${(err as Error).message}`);
  }
  if (!names.length) throw new LabelRuleError(`security label rules: no *.yaml rule files in ${dir}`);
  return names.map((name) => {
    const path = join(dir, name);
    const source = `${basename(dir)}/${name}`;
    try {
      return { source, content: parseYaml(readFileSync(path, 'utf8')) as unknown };
    } catch (err) {
      throw new LabelRuleError(`${source}: not readable YAML: ${(err as Error).message}`);
    }
  });
}

function describeIssues(source: string, content: unknown, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    const path = issue.path;
    let where = path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(file)';
    if (path[0] === 'rules' && typeof path[1] === 'number') {
      const id = ruleId(content, path[1]);
      const rest = path.slice(2).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
      where = `rule ${id ? `"${id}" ` : ''}(rules[${path[1]}])${rest ? ` ${rest}` : ''}`;
    }
    return `  ${where}: ${issue.message}`;
  });
  return `${source}: invalid security label rules:\n${lines.join('\n')}`;
}

function ruleId(content: unknown, index: number): string | undefined {
  const rules = (content as { rules?: unknown } | null)?.rules;
  const rule = Array.isArray(rules) ? (rules[index] as { id?: unknown } | undefined) : undefined;
  return typeof rule?.id === 'string' ? rule.id : undefined;
}
