/**
 * Local codes to standard terminologies (LOINC, SNOMED CT, RxNorm, CVX, ICD-10-CM) through FHIR R4
 * ConceptMaps kept in config/terminology/ (one ConceptMap per JSON file).
 *
 * The rules the mappers rely on:
 * - the local coding is always kept; mapped targets are added after it, so a receiver that knows the
 *   local system still sees it, and nothing the source said is lost;
 * - a target whose equivalence is `unmatched` or `disjoint` says "this is NOT that code" and is never
 *   added (https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html);
 * - a code no ConceptMap knows stays as a local coding and is reported (UNMAPPED_CODE), never dropped;
 * - a coding already in a standard system (LOINC, SNOMED CT, RxNorm, CVX, ICD-10-CM) needs no
 *   translation: it counts as mapped, with any ConceptMap targets for it added as usual.
 * ConceptMaps are validated when loaded (a file with a mistake is refused, naming file and element),
 * and indexed by source system and code, so a translation is two map lookups.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeableConcept, Coding, ConceptMap } from '@medplum/fhirtypes';
import { z } from 'zod';
import { safeJsonParse } from '../core/json-limits.js';
import { SYSTEMS, type MappingIssue, type Terminology } from './types.js';

/** R4 ConceptMap equivalences (https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html). */
const EQUIVALENCES = ['relatedto', 'equivalent', 'equal', 'wider', 'subsumes', 'narrower', 'specializes', 'inexact', 'unmatched', 'disjoint'] as const;
/** Equivalences that deny a relationship: such targets are never added. */
const NEGATIVE = new Set(['unmatched', 'disjoint']);
/** Systems whose codes are already standard: no translation needed. */
const STANDARD = new Set<string>([SYSTEMS.loinc, SYSTEMS.snomed, SYSTEMS.rxnorm, SYSTEMS.cvx, SYSTEMS.icd10cm]);

const uri = z.string().regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/, 'must be an absolute URI');

const targetSchema = z.object({
  code: z.string().min(1).optional(),
  display: z.string().optional(),
  equivalence: z.enum(EQUIVALENCES, { message: `must be one of ${EQUIVALENCES.join(', ')}` }),
  comment: z.string().optional(),
}).superRefine((t, ctx) => {
  if (!t.code && t.equivalence !== 'unmatched') ctx.addIssue({ code: 'custom', path: ['code'], message: 'is required unless equivalence is unmatched' });
});

const elementSchema = z.object({
  code: z.string().min(1, 'is required'),
  display: z.string().optional(),
  target: z.array(targetSchema).optional(),
});

const groupSchema = z.object({
  source: uri,
  sourceVersion: z.string().optional(),
  target: uri.optional(),
  targetVersion: z.string().optional(),
  element: z.array(elementSchema).min(1, 'needs at least one element'),
  unmapped: z.unknown().optional(),
}).superRefine((g, ctx) => {
  if (g.unmapped !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['unmapped'], message: 'is not supported: an unmapped code stays a local coding and is reported, never replaced by a default' });
  }
  if (!g.target && g.element.some((e) => e.target?.some((t) => t.code))) {
    ctx.addIssue({ code: 'custom', path: ['target'], message: 'is required when elements have target codes (the target code system)' });
  }
});

const conceptMapSchema = z.object({
  resourceType: z.literal('ConceptMap', { message: "must be 'ConceptMap'" }),
  url: uri,
  status: z.enum(['draft', 'active', 'retired', 'unknown']),
  group: z.array(groupSchema).min(1, 'needs at least one group'),
});

/** A terminology folder or ConceptMap that cannot be used; each problem names file and element. */
export class TerminologyConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid terminology configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'TerminologyConfigError';
  }
}

/** `group[0].element[3].target[0].equivalence` from a zod issue path. */
function elementPath(path: ReadonlyArray<PropertyKey>): string {
  if (!path.length) return 'ConceptMap';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Validates one parsed ConceptMap; returns the problems (empty when usable). */
export function checkConceptMap(value: unknown): string[] {
  const r = conceptMapSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${elementPath(i.path)}: ${i.message}`);
}

/**
 * Loads every *.json ConceptMap in `dir` (sorted by name, so the index is the same on every machine).
 * Throws TerminologyConfigError listing every problem of every file.
 */
export function loadTerminology(dir: string): Terminology {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    names = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.json')).sort();
  } catch (err) {
    throw new TerminologyConfigError([`${dir}: cannot read the terminology folder (${(err as Error).message})`]);
  }
  const problems: string[] = [];
  const maps: ConceptMap[] = [];
  const urls = new Map<string, string>();
  for (const name of names) {
    const file = join(dir, name);
    let value: unknown;
    try {
      value = safeJsonParse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
    } catch (err) {
      problems.push(`${file}: not valid JSON (${(err as Error).message})`);
      continue;
    }
    const found = checkConceptMap(value);
    if (found.length) { problems.push(...found.map((p) => `${file}: ${p}`)); continue; }
    const cm = value as ConceptMap;
    const other = urls.get(cm.url!);
    if (other) { problems.push(`${file}: url ${cm.url} is also the url of ${other}`); continue; }
    urls.set(cm.url!, file);
    maps.push(cm);
  }
  if (problems.length) throw new TerminologyConfigError(problems);
  return terminologyFromConceptMaps(maps);
}

/** A Terminology over ConceptMaps already in memory (validated here too; retired maps are not used). */
export function terminologyFromConceptMaps(maps: readonly ConceptMap[]): Terminology {
  const problems = maps.flatMap((m, i) => checkConceptMap(m).map((p) => `ConceptMap ${m.url ?? `#${i}`}: ${p}`));
  if (problems.length) throw new TerminologyConfigError(problems);

  /** source system -> source code -> targets (deduplicated, in file order). */
  const index = new Map<string, Map<string, Coding[]>>();
  for (const map of maps) {
    if (map.status === 'retired') continue;
    for (const group of map.group ?? []) {
      let codes = index.get(group.source!);
      if (!codes) index.set(group.source!, (codes = new Map()));
      for (const element of group.element ?? []) {
        let targets = codes.get(element.code!);
        if (!targets) codes.set(element.code!, (targets = []));
        for (const t of element.target ?? []) {
          if (NEGATIVE.has(t.equivalence!) || !t.code) continue;
          if (targets.some((x) => x.system === group.target && x.code === t.code)) continue;
          targets.push({
            system: group.target!,
            ...(group.targetVersion ? { version: group.targetVersion } : {}),
            code: t.code,
            ...(t.display ? { display: t.display } : {}),
          });
        }
      }
    }
  }

  const translate = (source: Coding): { codings: Coding[]; mapped: boolean } => {
    const local = tidy(source);
    const targets = (source.system && source.code ? index.get(source.system)?.get(source.code) : undefined) ?? [];
    const standard = Boolean(source.system && STANDARD.has(source.system) && source.code);
    const codings = [local, ...targets.filter((t) => !(t.system === local.system && t.code === local.code)).map((t) => ({ ...t }))];
    return { codings, mapped: standard || targets.length > 0 };
  };

  return {
    translate,
    concept(source: Coding, issues: MappingIssue[], location?: string): CodeableConcept {
      const { codings, mapped } = translate(source);
      if (!mapped) {
        issues.push({
          severity: 'warning',
          code: 'UNMAPPED_CODE',
          message: `local code ${source.system ?? '(no system)'}|${source.code ?? ''} has no mapping in the terminology ConceptMaps; kept as a local coding`,
          ...(location ? { location } : {}),
        });
      }
      return { coding: codings, ...(source.display ? { text: source.display } : {}) };
    },
  };
}

/** A copy of the coding without empty members (a FHIR coding must not carry empty strings). */
function tidy(c: Coding): Coding {
  const out: Coding = {};
  for (const [k, v] of Object.entries(c) as Array<[keyof Coding, unknown]>) {
    if (v !== undefined && v !== null && v !== '') (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
