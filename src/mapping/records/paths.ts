/**
 * Element paths of the mapping language: a restricted FHIRPath (`name[0].family`, `identifier[+]`,
 * `valueQuantity.value`). A numeric index names an element; `[+]` (as in FHIR Shorthand) appends a
 * new one and is allowed only on the last step, so two fields can never disagree about which new
 * element they meant: build a multi-part element with a group (`fields:`).
 */

export interface PathStep {
  name: string;
  /** Element index, 'append' for `[+]`, undefined for a single-valued element. */
  index?: number | 'append';
}

const STEP = /^([A-Za-z][A-Za-z0-9_]*)(?:\[(\d{1,4}|\+)\])?$/;

/** Parses a path; returns the steps or a message saying what is wrong. */
export function parsePath(text: string): PathStep[] | string {
  if (!text) return 'path is empty';
  const steps: PathStep[] = [];
  const parts = text.split('.');
  for (const [i, part] of parts.entries()) {
    const m = STEP.exec(part);
    if (!m) return `'${text}' is not an element path (steps like name, name[0] or name[+], joined by dots)`;
    const index = m[2] === undefined ? undefined : m[2] === '+' ? 'append' : Number(m[2]);
    if (index === 'append' && i < parts.length - 1) {
      return `'${text}': [+] is allowed only on the last step; build the element with a group (fields:) instead`;
    }
    steps.push({ name: m[1]!, ...(index !== undefined ? { index } : {}) });
  }
  return steps;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Thrown when two rules of one mapping disagree about an element's shape (a mapping bug). */
export class PathConflictError extends Error {}

/**
 * Writes `value` at `steps` under `target`, creating objects and arrays on the way. An object written
 * where an object already is merges into it; anything else replaces what was there. Appending an array
 * appends each of its items.
 */
export function setPath(target: Obj, steps: readonly PathStep[], value: unknown, text: string): void {
  let cur: Obj = target;
  for (const [i, step] of steps.entries()) {
    const last = i === steps.length - 1;
    if (step.index === undefined) {
      if (last) { cur[step.name] = merge(cur[step.name], value); return; }
      const next = cur[step.name];
      if (next === undefined) cur = (cur[step.name] = {}) as Obj;
      else if (isObj(next)) cur = next;
      else throw new PathConflictError(`${text}: ${step.name} already holds a value that is not an object`);
      continue;
    }
    let arr = cur[step.name];
    if (arr === undefined) arr = cur[step.name] = [];
    if (!Array.isArray(arr)) throw new PathConflictError(`${text}: ${step.name} already holds a value that is not a list`);
    if (step.index === 'append') {
      if (Array.isArray(value)) arr.push(...value); else arr.push(value);
      return;
    }
    if (last) { arr[step.index] = merge(arr[step.index], value); return; }
    const next = arr[step.index];
    if (next === undefined) cur = (arr[step.index] = {}) as Obj;
    else if (isObj(next)) cur = next;
    else throw new PathConflictError(`${text}: ${step.name}[${step.index}] already holds a value that is not an object`);
  }
}

function merge(existing: unknown, value: unknown): unknown {
  if (isObj(existing) && isObj(value)) {
    const out: Obj = { ...existing };
    for (const [k, v] of Object.entries(value)) out[k] = merge(out[k], v);
    return out;
  }
  return value;
}

/**
 * Removes what would make the resource invalid FHIR without carrying data: holes left in lists by
 * skipped indexed fields, empty objects and empty lists. Returns undefined when nothing is left.
 */
export function compact(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(compact).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      const c = compact(x);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v === null || v === '' ? undefined : v;
}
