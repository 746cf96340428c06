/**
 * The DS4P labeler: matches a resource's coded content against the compiled rules and writes the
 * result into meta.security. Decisions (see docs/security-labels.md):
 * - Exactly one confidentiality code (v3-Confidentiality) on every resource. It is the highest of N,
 *   the codes already on the resource and the matched rules' levels: the gateway never lowers a
 *   level a sender or an earlier run assigned, and never stores below N, because everything it
 *   stores is identifiable PHI (HCS: N is the HIPAA baseline). Unknown codes in that system are dropped.
 * - Sensitivity codes (v3 ActCode) of every matched rule are added; codes already present are kept,
 *   never duplicated. Labels of other systems (obligations, purpose, local tags) are kept as they are.
 * - The basis of a matched rule (e.g. 42 CFR Part 2) is recorded as the DS4P sec-label-basis
 *   extension on the confidentiality coding, as in the DS4P IG's own example.
 * Labelling is idempotent: a second run produces the same meta.security.
 */
import type { Coding, Extension, Resource } from '@medplum/fhirtypes';
import { SYSTEMS, type Labeler } from '../types.js';
import { INSPECTED_ELEMENTS, MEDICATION_REFERRERS, inspectedCodings } from './elements.js';
import { compileRules, matchCoding, readRuleFiles, type CompiledRules, type LabelMatch } from './rules.js';
import {
  CONFIDENTIALITY_DISPLAY,
  DEFAULT_CONFIDENTIALITY,
  SEC_LABEL_BASIS_URL,
  SENSITIVITY_DISPLAY,
  canonicalSystem,
  confidentialityRank,
  isConfidentialityCode,
  type ConfidentialityCode,
} from './vocabulary.js';

/** One rule file's content and a name for it in error messages (e.g. `labels/hiv.yaml`). */
export interface RuleSource {
  source: string;
  content: unknown;
}

export interface RuleLabeler extends Labeler {
  /** The rules one resource matches: its inspected elements and those of its contained resources. */
  matches(resource: Resource): LabelMatch[];
  /**
   * Labels resources stored together (one MappedUnit, one transaction). Unlike label(), a
   * MedicationRequest/Statement/Administration/Dispense whose medicationReference points at a
   * Medication in the same set also receives that Medication's labels: the prescription is what
   * tells a reader that this patient is treated for the condition. Returns the same array.
   */
  labelAll<T extends Resource>(resources: T[]): T[];
  /** Number of rules loaded. */
  readonly ruleCount: number;
}

/** Loads every rule file in `dir` (config/labels) and builds the labeler; throws LabelRuleError on a bad file. */
export function loadLabeler(dir: string): RuleLabeler {
  return createLabeler(readRuleFiles(dir));
}

/** Builds a labeler from rule file contents (validated here; throws LabelRuleError naming file and rule). */
export function createLabeler(files: readonly RuleSource[]): RuleLabeler {
  const rules = compileRules(files);
  const matches = (resource: Resource) => matchResource(rules, resource);
  return {
    ruleCount: rules.size,
    matches,
    label<T extends Resource>(resource: T): T {
      return applyLabels(resource, matches(resource));
    },
    labelAll<T extends Resource>(resources: T[]): T[] {
      const medications = new Map<string, LabelMatch[]>();
      for (const r of resources) {
        if (r.resourceType === 'Medication' && r.id) medications.set(`Medication/${r.id}`, matches(r));
      }
      for (const r of resources) {
        const own = matches(r);
        const ref = MEDICATION_REFERRERS.has(r.resourceType)
          ? (r as { medicationReference?: { reference?: string } }).medicationReference?.reference
          : undefined;
        const viaReference = ref ? medications.get(ref.replace(/\/_history\/.*$/, '')) ?? [] : [];
        applyLabels(r, [...own, ...viaReference]);
      }
      return resources;
    },
  };
}

function matchResource(rules: CompiledRules, resource: Resource, depth = 0): LabelMatch[] {
  const found: LabelMatch[] = [];
  if (INSPECTED_ELEMENTS[resource.resourceType]) {
    for (const coding of inspectedCodings(resource)) found.push(...matchCoding(rules, coding.system, coding.code));
  }
  // Contained resources travel inside this one, so their sensitivity is this resource's. FHIR forbids
  // nested containment; the depth guard only protects against malformed input.
  const contained = (resource as { contained?: unknown }).contained;
  if (depth < 2 && Array.isArray(contained)) {
    for (const c of contained) {
      if (c && typeof c === 'object' && typeof (c as Resource).resourceType === 'string') {
        found.push(...matchResource(rules, c as Resource, depth + 1));
      }
    }
  }
  return found;
}

/** Writes the labels for `found` into resource.meta.security (see the module comment). */
export function applyLabels<T extends Resource>(resource: T, found: readonly LabelMatch[]): T {
  let level: ConfidentialityCode = DEFAULT_CONFIDENTIALITY;
  const raise = (code: ConfidentialityCode) => {
    if (confidentialityRank(code) > confidentialityRank(level)) level = code;
  };
  const extensions: Extension[] = [];
  const kept: Coding[] = [];
  const keys = new Set<string>();

  for (const coding of resource.meta?.security ?? []) {
    const system = canonicalSystem(coding.system);
    if (system === SYSTEMS.confidentiality) {
      if (isConfidentialityCode(coding.code)) {
        raise(coding.code);
        extensions.push(...(coding.extension ?? []));
      }
      continue;
    }
    const key = `${system ?? ''}|${coding.code ?? ''}`;
    if (keys.has(key)) continue;
    keys.add(key);
    kept.push(system === coding.system ? coding : { ...coding, system });
  }

  const added = new Set<string>();
  for (const m of found) {
    raise(m.confidentiality);
    for (const b of m.basis) {
      extensions.push({ url: SEC_LABEL_BASIS_URL, valueCoding: { system: b.system, code: b.code, ...(b.display ? { display: b.display } : {}) } });
    }
    for (const s of m.sensitivity) {
      if (!keys.has(`${SYSTEMS.actCode}|${s}`)) added.add(s);
    }
  }

  const confidentiality: Coding = {
    ...(extensions.length ? { extension: uniqueExtensions(extensions) } : {}),
    system: SYSTEMS.confidentiality,
    code: level,
    display: CONFIDENTIALITY_DISPLAY[level],
  };
  const sensitivity: Coding[] = [...added].sort().map((code) => ({
    system: SYSTEMS.actCode, code, display: SENSITIVITY_DISPLAY[code] ?? code,
  }));
  resource.meta = { ...resource.meta, security: [confidentiality, ...kept, ...sensitivity] };
  return resource;
}

function uniqueExtensions(list: readonly Extension[]): Extension[] {
  const seen = new Set<string>();
  const out: Extension[] = [];
  for (const e of list) {
    const key = e.url === SEC_LABEL_BASIS_URL && e.valueCoding
      ? `${e.url}|${e.valueCoding.system ?? ''}|${e.valueCoding.code ?? ''}`
      : JSON.stringify(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
