/**
 * A parsed HL7 v2 message: @medplum/core's Hl7Message (the registry parser the project uses) wrapped
 * with the reads a mapper needs: 1-based field/component/subcomponent access that never throws,
 * repetitions, unescaped values, `""` (HL7 "delete this value") read as empty, and the location of
 * every value (`OBX[2]-5.1`) for issues and refusals.
 */
import { Hl7Message, type Hl7Field, type Hl7Segment } from '@medplum/core';
import { segmentLines } from './split.js';
import { unescapeHl7, type Delimiters } from './escape.js';
import { MappingError, type MappingIssue } from '../types.js';

/** One repetition of a field: its components, each a list of subcomponents (escaped). */
export class Rep {
  private where: string | (() => string);

  /** location: the value's place (`OBX[2]-5(2)`), or a function computing it when first asked (most never are). */
  constructor(private readonly comps: readonly string[], private readonly d: Delimiters, location: string | (() => string)) {
    this.where = location;
  }

  get location(): string {
    if (typeof this.where !== 'string') this.where = this.where();
    return this.where;
  }

  /** Component `c`, subcomponent `s` (both 1-based), unescaped and trimmed; '' when absent. */
  get(c = 1, s = 1): string {
    const comp = this.comps[c - 1];
    if (comp === undefined) return '';
    const sub = s === 1 && !comp.includes(this.d.subcomponent) ? comp : comp.split(this.d.subcomponent)[s - 1] ?? '';
    return clean(unescapeHl7(sub, this.d)).trim();
  }

  /** Component `c` with its subcomponents as one Rep-like reader (for composite components, e.g. XCN-9 HD). */
  sub(c: number): Rep {
    const comp = this.comps[c - 1] ?? '';
    return new Rep(comp.split(this.d.subcomponent), { ...this.d, subcomponent: '\u0000' }, () => `${this.location}.${c}`);
  }

  /** Whole component unescaped, not trimmed (formatted text keeps its layout). */
  text(c = 1): string {
    return clean(unescapeHl7(this.comps[c - 1] ?? '', this.d));
  }

  get isEmpty(): boolean {
    return this.comps.every((c) => clean(c).trim() === '' || c.split(this.d.subcomponent).every((s) => s.trim() === ''));
  }
}

/** `""` is HL7's explicit null: for a snapshot mapping it means "no value". */
const clean = (v: string) => (v === '""' ? '' : v);

export class Seg {
  /** reps(field) by field number. */
  private readonly memo: Array<readonly Rep[] | undefined> = [];

  constructor(
    private readonly seg: Hl7Segment,
    private readonly d: Delimiters,
    /** 1-based occurrence of this segment name in the message. */
    readonly occurrence: number,
    /** 0-based position in the message. */
    readonly position: number,
  ) {}

  get name(): string {
    return this.seg.name;
  }

  /** `PID`, or `OBX[2]` for a segment that is not the first of its name. */
  get label(): string {
    return this.occurrence === 1 ? this.name : `${this.name}[${this.occurrence}]`;
  }

  loc(field: number, component?: number): string {
    return `${this.label}-${field}${component ? `.${component}` : ''}`;
  }

  private raw(field: number): Hl7Field | undefined {
    if (field < 1) return undefined;
    return this.seg.getField(field);
  }

  /** The repetitions of a field, empty repetitions removed (built once per field: mappers read a field many times). */
  reps(field: number): readonly Rep[] {
    let reps = this.memo[field];
    if (reps) return reps;
    const f = this.raw(field);
    reps = f
      ? f.components
        .map((comps, i) => new Rep(comps, this.d, () => `${this.loc(field)}${f.components.length > 1 ? `(${i + 1})` : ''}`))
        .filter((r) => !r.isEmpty)
      : [];
    if (field >= 0) this.memo[field] = reps;
    return reps;
  }

  /** The first non-empty repetition, or undefined. */
  rep(field: number): Rep | undefined {
    return this.reps(field)[0];
  }

  /** First repetition's component value (unescaped, trimmed), '' when absent. */
  get(field: number, component = 1, subcomponent = 1): string {
    return this.rep(field)?.get(component, subcomponent) ?? '';
  }

  /** Formatted text of a field: all repetitions joined by line breaks, layout kept. */
  text(field: number): string {
    const f = this.raw(field);
    if (!f) return '';
    return f.components.map((comps) => comps.map((c) => clean(unescapeHl7(c, this.d))).join(this.d.component)).join('\n').replace(/\s+$/, '');
  }

  has(field: number): boolean {
    return this.reps(field).length > 0;
  }

  /** Number of fields present (trailing empties included as the sender wrote them). */
  get fieldCount(): number {
    return this.seg.fields.length - 1;
  }
}

export interface ParsedMessage {
  segments: Seg[];
  delimiters: Delimiters;
  /** Non-fatal findings from parsing (repaired encoding characters). */
  issues: MappingIssue[];
  first(name: string): Seg | undefined;
  all(name: string): Seg[];
}

/**
 * Parses one message. Refuses ('unprocessable') text that is not an HL7 v2 message: no MSH first,
 * unusable encoding characters. One repair is made, with a warning: MSH-2 written with a doubled
 * escape character (`^~\\&`, a common artefact of copying from source code) is read as `^~\&`.
 */
export function parseHl7(text: string): ParsedMessage {
  const lines = segmentLines(text);
  const issues: MappingIssue[] = [];
  const msh = lines[0];
  if (!msh || !msh.startsWith('MSH') || msh.length < 8) {
    throw new MappingError('unprocessable', 'not an HL7 v2 message: it does not start with an MSH segment', [
      { severity: 'error', code: 'NOT_HL7V2', message: 'not an HL7 v2 message: it does not start with an MSH segment', location: 'MSH' },
    ]);
  }
  const extra = lines.filter((l, i) => i > 0 && l.startsWith('MSH')).length;
  if (extra) {
    const message = `the text holds ${extra + 1} messages; map them one at a time (splitHl7Messages)`;
    throw new MappingError('unprocessable', message, [{ severity: 'error', code: 'SEVERAL_MESSAGES', message, location: 'MSH' }]);
  }
  const fieldSep = msh[3]!;
  let encoding = msh.slice(4).split(fieldSep)[0] ?? '';
  if (encoding === '^~\\\\&') {
    issues.push({ severity: 'warning', code: 'ENCODING_REPAIRED', message: 'MSH-2 "^~\\\\&" repeats the escape character; read as "^~\\&"', location: 'MSH-2' });
    encoding = '^~\\&';
    lines[0] = `MSH${fieldSep}${encoding}${msh.slice(4 + '^~\\\\&'.length)}`;
  }
  const chars = encoding.slice(0, 4);
  if (/[A-Za-z0-9\s]/.test(fieldSep) || chars.length < 4 || new Set([fieldSep, ...chars]).size !== 5) {
    const message = `MSH-1/MSH-2 encoding characters "${fieldSep}${encoding.slice(0, 8)}" are not five distinct delimiters`;
    throw new MappingError('unprocessable', message, [{ severity: 'error', code: 'BAD_ENCODING_CHARACTERS', message, location: 'MSH-2' }]);
  }
  const parsed = Hl7Message.parse(lines.join('\r'));
  const d: Delimiters = {
    field: fieldSep, component: chars[0]!, repetition: chars[1]!, escape: chars[2]!, subcomponent: chars[3]!,
  };
  const counts = new Map<string, number>();
  const segments = parsed.segments.map((s, position) => {
    const n = (counts.get(s.name) ?? 0) + 1;
    counts.set(s.name, n);
    return new Seg(s, d, n, position);
  });
  return {
    segments,
    delimiters: d,
    issues,
    first: (name) => segments.find((s) => s.name === name),
    all: (name) => segments.filter((s) => s.name === name),
  };
}
