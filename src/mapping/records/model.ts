/**
 * The compiled form of a record mapping (config/mappings/<name>.yaml): what the loader produces and
 * the reader and mapper consume. Everything that can be checked without data (paths, transforms,
 * conditions, references between sets) is checked when this is built, so mapping a record never meets
 * a configuration mistake it could have been told about at load time.
 */
import type { Condition } from './conditions.js';
import type { PathStep } from './paths.js';
import type { Transform, Value } from './transforms.js';

export interface RecordMapping {
  /** File name without extension; `fxg import --mapping <name>`. */
  readonly name: string;
  /** Where it was loaded from (error messages). */
  readonly file: string;
  readonly description?: string;
  /** First part of every stableId; defaults to the name, so renaming the file can keep ids stable. */
  readonly namespace: string;
  /** meta.source of every produced resource (`urn:fxg:mapping:<name>` unless set). */
  readonly source: string;
  readonly sets: ReadonlyMap<string, RecordSet>;
}

export type Encoding = 'utf8' | 'latin1';

export type InputFormat =
  | { readonly type: 'csv'; readonly delimiter: string; readonly quote: string; readonly header: boolean; readonly columns?: readonly string[]; readonly encoding: Encoding }
  | { readonly type: 'ndjson'; readonly encoding: Encoding }
  | { readonly type: 'json'; readonly recordPath: readonly string[]; readonly encoding: Encoding };

export interface RecordSet {
  readonly name: string;
  /** File name patterns as written (`patients*.csv`). */
  readonly files: readonly string[];
  readonly filePatterns: readonly RegExp[];
  readonly format: InputFormat;
  /** Columns identifying a record: its resources' ids derive from them. */
  readonly key: readonly string[];
  readonly resources: readonly ResourceRule[];
  /** Every column the rules read (a CSV header lacking one is refused before any row is mapped). */
  readonly columns: ReadonlySet<string>;
}

export interface ResourceRule {
  /** Unique within the set; `ref: { resource: ... }` names it. Defaults to the resource type. */
  readonly name: string;
  readonly type: string;
  readonly key: readonly string[];
  readonly profiles: readonly string[];
  readonly when?: Condition;
  readonly fields: readonly FieldRule[];
}

export interface FieldRule {
  readonly path: readonly PathStep[];
  readonly pathText: string;
  /** The whole element path from the resource, for messages: `Patient.name[+].family`. */
  readonly element: string;
  readonly when?: Condition;
  readonly required: boolean;
  readonly source: FieldSource;
}

export type TemplatePart = { readonly text: string } | { readonly column: string };

export type FieldSource =
  | { readonly kind: 'column'; readonly column: string; readonly transforms: readonly Transform[]; readonly default?: Value }
  | { readonly kind: 'constant'; readonly value: unknown }
  | { readonly kind: 'template'; readonly parts: readonly TemplatePart[]; readonly transforms: readonly Transform[]; readonly default?: Value }
  | { readonly kind: 'code'; readonly column: string; readonly system: string; readonly display?: string; readonly transforms: readonly Transform[] }
  | { readonly kind: 'ref'; readonly resourceType: string; readonly target: { readonly set: string; readonly resource: string }; readonly key: readonly string[]; readonly display?: readonly TemplatePart[] }
  | { readonly kind: 'group'; readonly fields: readonly FieldRule[] };

/** A configuration file that cannot be used: every problem, each naming where in the file it is. */
export class MappingConfigError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}: invalid mapping:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'MappingConfigError';
  }
}
