/**
 * A fast proof that @medplum/core's validator would report nothing about a resource.
 *
 * Ingest validates every produced resource, and medplum's validator (4.5.2) is generic: for every object
 * it visits every element of the schema, building a path string and copying a typed value for each one,
 * present or not. That walk, not the rules, is most of its cost (about 0.3 ms per US Core resource).
 *
 * This module applies the same rules in the same order over the same schema registry (so a profile
 * swapped in by validate.ts is seen here too), calling medplum's own functions for everything that
 * decides a verdict: FHIRPath invariants (evalFhirPathTyped), fixed and pattern values (deepEquals,
 * deepIncludes), slice discriminators (getNestedProperty, matchDiscriminant), the primitive formats
 * (validationRegexes, fhirTypeToJsType). What it does differently is only how values are looked up:
 * per-element lookup plans cached by element, no path strings, no copies.
 *
 * It answers one question, conservatively: `true` means "medplum would return no issue at all (no error,
 * no warning)". Anything else, including every case it does not model (primitive extensions `_x`,
 * primitives holding objects, properties without an element definition, an exception), is `false`, and the
 * caller then runs medplum's validator, whose report is the one used. So this check may only ever be
 * stricter than medplum, never more lenient; test/ingest/clean-check.test.ts asserts exactly that
 * implication over the project's resources and thousands of broken variants of them.
 */
import {
  arrayify, deepEquals, deepIncludes, evalFhirPathTyped, fhirTypeToJsType, getAllDataTypes, getNestedProperty,
  HTTP_HL7_ORG, isPrimitiveType, isReference, isResource, matchDiscriminant, parseFhirPath, toTypedValue,
  UCUM, validationRegexes,
  type InternalSchemaElement, type InternalTypeSchema, type TypedValue,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

/** Thrown for a case this check does not model: the caller's answer is then "not proven clean". */
class Unmodelled extends Error {}

/** Invariants medplum's validator never evaluates (validation.ts, skippedConstraintKeys). */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const HL7_SD = `${HTTP_HL7_ORG}/fhir/StructureDefinition/`;
const MEDPLUM_SD = 'https://medplum.com/fhir/StructureDefinition/';
const MAX_STRING = 1024 * 1024;
const NON_BLANK = /\S/;

type Value = TypedValue | TypedValue[] | undefined;
type Elements = Record<string, InternalSchemaElement>;

/** Where an element's value sits in JSON: one candidate property name per allowed type (choice types: several). */
interface Plan { candidates: Array<[jsonKey: string, typeCode: string]>; elementType: string }

const plans = new WeakMap<InternalSchemaElement, Plan>();

/** Per schema: its required top-level elements, which element each JSON property belongs to, dotted elements by parent. */
interface Layout {
  required: string[];
  requiredSet: Set<string>;
  elementOfJsonKey: Map<string, string>;
  dottedUnder: Map<string, string[]>;
}
const layouts = new WeakMap<InternalTypeSchema, Layout>();

function layoutOf(schema: InternalTypeSchema, registry: Record<string, InternalTypeSchema>): Layout {
  let layout = layouts.get(schema);
  if (layout) return layout;
  layout = { required: [], requiredSet: new Set(), elementOfJsonKey: new Map(), dottedUnder: new Map() };
  for (const [key, element] of Object.entries(schema.elements)) {
    const dot = key.indexOf('.');
    if (dot >= 0) {
      // The first step resolves like any property name (`valueQuantity.code` is under `value[x]`).
      const first = key.slice(0, dot);
      const parent = schema.elements[first] ? first : elementKeyNamed(schema.elements, first);
      if (parent === undefined) throw new Unmodelled(`no parent element for ${key}`);
      if (repeatsBase(schema, key, element, registry)) continue;
      const list = layout.dottedUnder.get(parent) ?? [];
      list.push(key);
      layout.dottedUnder.set(parent, list);
      continue;
    }
    if (element.min > 0) {
      layout.required.push(key);
      layout.requiredSet.add(key);
    }
    for (const [jsonKey] of planOf(element).candidates) {
      if (!layout.elementOfJsonKey.has(jsonKey)) layout.elementOfJsonKey.set(jsonKey, key);
    }
  }
  layouts.set(schema, layout);
  return layout;
}
/**
 * A dotted element (`name.given`) that can report nothing the walk of its parent's own schema does not
 * already report: its values are found, and typed, through the base definition of the parent's type, which
 * the walk checks the same way (JSON type, format, emptiness, array-ness). Such an element adds a check only
 * through what the profile tightened: a minimum, a maximum, a pattern or fixed value, slices, invariants, a
 * different array-ness or types, or reference targets that could draw medplum's warning. Without any of them
 * it is skipped. Only one-step paths under a data type (never under a resource type, which a profile may stand
 * in for) are considered.
 */
function repeatsBase(schema: InternalTypeSchema, key: string, element: InternalSchemaElement, registry: Record<string, InternalTypeSchema>): boolean {
  const steps = key.split('.');
  if (steps.length !== 2) return false;
  const parent = elementNamed(schema.elements, steps[0] as string);
  if (!parent || parent.type?.length !== 1) return false;
  const parentType = registry[(parent.type[0] as { code: string }).code];
  if (!parentType || parentType.kind === 'resource') return false;
  const base = elementNamed(parentType.elements, steps[1] as string);
  if (!base || base === element) return base === element;
  if (!!element.isArray !== !!base.isArray || element.min > 0 || element.pattern || element.fixed || element.slicing) return false;
  if (!(element.max === Number.POSITIVE_INFINITY || (!element.isArray && element.max >= 1))) return false;
  if ((element.constraints ?? []).some((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))) return false;
  const codes = (e: InternalSchemaElement) => (e.type ?? []).map((t) => t.code).join('|');
  if (codes(element) !== codes(base)) return false;
  const targets = element.type?.find((t) => t.code === 'Reference')?.targetProfile;
  if (targets && targets.every((p) => p.startsWith(HL7_SD) || p.startsWith(MEDPLUM_SD))) return false;
  return true;
}

const atoms = new Map<string, ReturnType<typeof parseFhirPath>>();
/** Per schema elements: which `name[x]` element (if any) a JSON key is the choice-of-type form of. */
const choiceNames = new WeakMap<Elements, Map<string, string | null>>();
const ucum = toTypedValue(UCUM);

/** True only when medplum's validateResource(resource) (against the registry as it is now) would return no issue. */
export function provablyClean(resource: Resource): boolean {
  try {
    return new CleanCheck(resource).run();
  } catch {
    return false;
  }
}

class CleanCheck {
  private readonly registry = getAllDataTypes();
  private readonly root: TypedValue;
  private readonly resources: Resource[] = [];

  constructor(private readonly resource: Resource) {
    // Typed as medplum types it (toTypedValue): an object with a numeric `value` is a Quantity before it is
    // a resource. Such a root is left to medplum (run() returns false).
    this.root = toTypedValue(resource);
    this.resources.push(resource);
  }

  run(): boolean {
    if (!this.resource.resourceType || this.root.type !== this.resource.resourceType) return false;
    const schema = this.registry[this.root.type];
    if (!schema) return false;
    if (!this.constraintsHold(this.root, schema.constraints)) return false;
    if (!nullFree(this.resource)) return false;
    return this.object(this.root, schema);
  }

  /**
   * crawlObject + onExitObject. medplum visits every element of the schema; an element none of whose JSON
   * properties is present yields nothing to check but its minimum cardinality, and a dotted element under an
   * absent parent yields no value at all. So only the required elements, the present ones and the dotted
   * elements under present ones are visited: the same checks, without the walk over absent elements.
   */
  private object(tv: TypedValue, schema: InternalTypeSchema): boolean {
    const isRes = isResource(tv.value);
    if (isRes) this.resources.push(tv.value as Resource);
    const layout = layoutOf(schema, this.registry);
    for (const key of layout.required) if (!this.visit(tv, schema, layout, key)) return false;
    const value = tv.value;
    if (value && typeof value === 'object') {
      let done: Set<string> | undefined;
      for (const jsonKey of Object.keys(value)) {
        const key = layout.elementOfJsonKey.get(jsonKey);
        if (key === undefined || layout.requiredSet.has(key) || done?.has(key)) continue;
        (done ??= new Set()).add(key);
        if (!this.visit(tv, schema, layout, key)) return false;
      }
    }
    if (!this.noAdditionalProperties(tv, schema.elements)) return false;
    if (isRes) this.resources.pop();
    return true;
  }

  /** One top-level element of the object, then the dotted elements under it. */
  private visit(tv: TypedValue, schema: InternalTypeSchema, layout: Layout, key: string): boolean {
    if (!this.property(tv, key, schema.elements[key] as InternalSchemaElement)) return false;
    for (const child of layout.dottedUnder.get(key) ?? []) {
      if (!this.property(tv, child, schema.elements[child] as InternalSchemaElement)) return false;
    }
    return true;
  }

  /** crawlProperty + visitProperty for one element key of the object (dotted keys: profile rules on nested elements). */
  private property(tv: TypedValue, key: string, element: InternalSchemaElement): boolean {
    if (key.includes('.')) {
      // A dotted key's values are also reached, with the same types and schemas, through their parent element's
      // walk; crawling them again here (as medplum does) would repeat the same checks.
      for (const value of this.nested(tv, key)) if (!this.valueHolds(value, element)) return false;
      return true;
    }
    const value = tv.value ? valueOf(tv.value as Record<string, unknown>, element) : undefined;
    if (!this.valueHolds(value, element)) return false;
    if (value === undefined) return true;
    if (Array.isArray(value)) {
      for (const v of value) if (!this.objectHolds(v)) return false;
      return true;
    }
    return this.objectHolds(value);
  }

  /** visitProperty's checks of one element's value (a value, an array of them, or nothing). */
  private valueHolds(value: Value, element: InternalSchemaElement): boolean {
    if (value === undefined) return element.min <= 0;
    // (medplum's isEmpty of the typed value: only an empty array can be, and valueOf never returns one.)
    if (Array.isArray(value) && value.length === 0) return false;
    if (!!element.isArray !== Array.isArray(value)) return false;
    const count = Array.isArray(value) ? value.length : 1;
    if (count < element.min || count > element.max) return false;
    if (element.pattern || element.fixed) {
      const typeAndValue = Array.isArray(value) ? value.map((v) => ({ type: v.type, value: v.value })) : { type: value.type, value: value.value };
      if (element.pattern && !deepIncludes(typeAndValue, element.pattern)) return false;
      if (element.fixed && !deepEquals(typeAndValue, element.fixed)) return false;
    }
    if (element.slicing && !this.slicesHold(Array.isArray(value) ? value : [value], element)) return false;
    if (Array.isArray(value)) {
      for (const v of value) if (!this.itemHolds(v, element)) return false;
      return true;
    }
    return this.itemHolds(value, element);
  }

  private itemHolds(v: TypedValue, element: InternalSchemaElement): boolean {
    if (!this.constraintsHold(v, element.constraints)) return false;
    if (!referenceTypeHolds(v, element)) return false;
    return isPrimitiveType(v.type) ? primitiveHolds(v) : !emptyJson(v.value);
  }

  /** A complex value's own object walk (primitives have none). */
  private objectHolds(v: TypedValue): boolean {
    if (isPrimitiveType(v.type)) return true;
    const schema = this.registry[v.type];
    if (!schema) throw new Unmodelled(`no schema for ${v.type}`);
    return this.object(v, schema);
  }

  /** getNestedProperty (crawler.ts) without paths: each step applies to every value the previous one found. */
  private nested(tv: TypedValue, key: string): Value[] {
    const [first, ...rest] = key.split('.');
    let level: Value[] = [this.get(tv, first as string)];
    for (const segment of rest) {
      const next: Value[] = [];
      for (const u of level) {
        if (Array.isArray(u)) for (const p of u) next.push(this.get(p, segment));
        else if (u !== undefined) next.push(this.get(u, segment));
      }
      level = next;
    }
    return level;
  }

  /** getTypedPropertyValue(tv, name) for properties that have an element definition. */
  private get(tv: TypedValue, name: string): Value {
    if (!tv.value) return undefined;
    const schema = this.registry[tv.type];
    const element = schema && elementNamed(schema.elements, name);
    if (!element) throw new Unmodelled(`no element ${tv.type}.${name}`);
    return valueOf(tv.value as Record<string, unknown>, element);
  }

  /** Slice membership counted per slice (checkSliceElement / validateSlices), with medplum's discriminator matching. */
  private slicesHold(values: TypedValue[], element: InternalSchemaElement): boolean {
    const slicing = element.slicing;
    if (!slicing) return true;
    const counts = new Map<string, number>(slicing.slices.map((s) => [s.name, 0]));
    for (const v of values) {
      for (const slice of slicing.slices) {
        const matches = slicing.discriminator.every((d) =>
          arrayify(getNestedProperty(v, d.path))?.some((x) => matchDiscriminant(x, d, slice)));
        if (matches) {
          counts.set(slice.name, (counts.get(slice.name) ?? 0) + 1);
          break;
        }
      }
    }
    return slicing.slices.every((s) => {
      const n = counts.get(s.name) ?? 0;
      return n >= s.min && n <= s.max;
    });
  }

  private constraintsHold(value: TypedValue, constraints: InternalSchemaElement['constraints']): boolean {
    if (!constraints) return true;
    let variables: Record<string, TypedValue> | undefined;
    for (const c of checkedConstraints(constraints)) {
      const plain = c.plain?.(value, this.registry);
      if (plain === true) continue;
      if (plain === false) return false;
      const atom = c.atom();
      if (!variables) {
        variables = { '%context': value, '%ucum': ucum };
        const current = this.resources[this.resources.length - 1];
        if (current) variables['%resource'] = toTypedValue(current);
        if (isResource(this.root.value)) variables['%rootResource'] = this.root;
      }
      // A fresh variables object per evaluation, as medplum passes one: an expression cannot leak into the next.
      const result = evalFhirPathTyped(atom, [value], { ...variables });
      if (result.length !== 1 || result[0]?.value !== true) return false;
    }
    return true;
  }

  /** checkAdditionalProperties: every key is an element, or the one choice-of-type form of an element. */
  private noAdditionalProperties(tv: TypedValue, elements: Elements): boolean {
    const object = tv.value as Record<string, unknown> | undefined;
    if (!object) return true;
    let seen: Set<string> | undefined;
    for (const key of Object.keys(object)) {
      if (key === 'resourceType') continue;
      const choice = choiceElementOf(elements, key);
      if (choice && this.get(tv, choice.slice(0, -3)) !== undefined) {
        // A second property for the same choice element is a warning in medplum.
        if (seen?.has(choice)) return false;
        (seen ??= new Set()).add(choice);
        continue;
      }
      if (!(key in elements)) return false;
    }
    return true;
  }
}

/** The key of the element getElementDefinitionFromElements finds for a property name. */
function elementKeyNamed(elements: Elements, name: string): string | undefined {
  const element = elementNamed(elements, name);
  return element && Object.keys(elements).find((k) => elements[k] === element);
}

/**
 * Invariants that are evaluated on nearly every value and whose answer is plain in the common case, decided
 * without FHIRPath then (undefined: evaluate the expression). Matched on the exact expression text of R4.
 * - dom-2, dom-4, dom-5 (every DomainResource) only look into `contained`: with no `contained` property the
 *   navigation is empty, `empty()` is true, and so is the conjunction.
 * - ext-1 (every Extension): `extension.exists() != value.exists()`, where `value` is the value[x] choice
 *   resolved as medplum's FHIRPath resolves it (getTypedPropertyValue over the registered Extension schema).
 * - The invariants the US Core profiles add or the base types carry that ingest meets on every message
 *   (provenance-1, us-core-6 on names, us-core-1/2 and obs-3/6/7 on Observations, pat-1, imm-1, tim-*,
 *   con-4/5, ait-1/2, us-core-7/8/9/21): only the case where a present (or absent) property settles the answer is decided
 *   here; an `implies` whose consequent plainly holds, an `or` one of whose terms plainly holds. Every other
 *   case (a term that would need evaluating, an object with an unexpected `resourceType`) is evaluated.
 */
const noContained = (tv: TypedValue): boolean | undefined => {
  const object = tv.value as Record<string, unknown> | undefined;
  if (!object || typeof object !== 'object') return undefined;
  // medplum's FHIRPath resolves a name to the object itself when the object's resourceType is that name.
  if (object.resourceType === 'contained') return undefined;
  return object.contained === undefined ? true : undefined;
};

/** A value whose FHIRPath exists() is certainly true: a non-blank string, a number or boolean, a non-empty array of such, an object with content. */
function plainlyPresent(v: unknown): boolean {
  if (typeof v === 'string') return NON_BLANK.test(v);
  if (typeof v === 'number' || typeof v === 'boolean') return true;
  if (Array.isArray(v)) return v.length > 0 && v.every(plainlyPresent);
  return !!v && typeof v === 'object' && Object.keys(v).length > 0;
}

/**
 * The object an invariant of `type` is evaluated on, when navigating it is plain: a datatype or backbone
 * element without `resourceType`, or a resource whose `resourceType` is the type.
 */
function plainObject(tv: TypedValue, type: string): Record<string, unknown> | undefined {
  const object = tv.value as Record<string, unknown> | undefined;
  if (tv.type !== type || !object || typeof object !== 'object' || Array.isArray(object)) return undefined;
  if ('resourceType' in object && object.resourceType !== type) return undefined;
  return object;
}

/** Whether a choice element (`value[x]`, `effective[x]`, ...) of a type is plainly present, as medplum's FHIRPath finds it. */
function choicePresent(object: Record<string, unknown>, type: string, key: string, registry: Record<string, InternalTypeSchema>): boolean | undefined {
  const element = registry[type]?.elements[key];
  if (!element) return undefined;
  const { candidates } = planOf(element);
  for (const [jsonKey] of candidates) if (object[jsonKey] !== undefined) return plainlyPresent(object[jsonKey]) ? true : undefined;
  return false;
}

type PlainRule = (tv: TypedValue, registry: Record<string, InternalTypeSchema>) => boolean | undefined;

/** `A.empty() or ...` (and `A.exists() implies ...`): true when the object has no property A. */
const absent = (type: string, name: string): PlainRule => (tv) => {
  const object = plainObject(tv, type);
  return object && object[name] === undefined ? true : undefined;
};

/** `... or A.exists() or ...` (and `X implies A.exists()`): true when one of the named properties plainly holds a value. */
const anyPresent = (type: string, ...names: string[]): PlainRule => (tv) => {
  const object = plainObject(tv, type);
  return object && names.some((n) => plainlyPresent(object[n])) ? true : undefined;
};

/** `A or B`: true when either rule answers true. */
const either = (a: PlainRule, b: PlainRule): PlainRule => (tv, registry) => a(tv, registry) ?? b(tv, registry);

/** `X implies C.exists()` for a choice element C: true when C is plainly present. */
const choiceHolds = (type: string, key: string): PlainRule => (tv, registry) => {
  const object = plainObject(tv, type);
  return object && choicePresent(object, type, key, registry) === true ? true : undefined;
};

const US_CORE_PLAIN: Array<[string, PlainRule]> = [
  // provenance-1: an agent whose `who` resolves (medplum's resolve(): the type before '/') to neither Practitioner
  // nor Device makes the antecedent false.
  ['who.exists((resolve() is Practitioner) or (resolve() is Device)) implies onBehalfOf.exists()', (tv) => {
    const object = plainObject(tv, 'ProvenanceAgent');
    if (!object || object.onBehalfOf !== undefined) return undefined;
    const who = object.who as Record<string, unknown> | undefined;
    if (who === undefined) return true;
    if (!who || typeof who !== 'object' || 'resourceType' in who || who.resource !== undefined) return undefined;
    const ref = who.reference;
    if (typeof ref !== 'string' || ref.includes('?') || !ref.includes('/')) return undefined;
    const type = ref.split('/')[0]!;
    return /^[A-Z][A-Za-z]+$/.test(type) && type !== 'Practitioner' && type !== 'Device' ? true : undefined;
  }],
  // us-core-6: a name with a family or given name and no extension: `true xor false`.
  ["(family.exists() or given.exists()) xor extension.where(url='http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists()", (tv) => {
    const object = plainObject(tv, 'HumanName');
    if (!object || object.extension !== undefined) return undefined;
    return plainlyPresent(object.family) || plainlyPresent(object.given) ? true : undefined;
  }],
  ['$this is DateTime implies $this.toString().length() >= 10', (tv) =>
    tv.type === 'dateTime' && typeof tv.value === 'string' && tv.value.length >= 10 ? true : undefined],
  ['dataAbsentReason.empty() or value.empty()', absent('Observation', 'dataAbsentReason')],
  ['value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()', (tv, registry) => {
    const object = plainObject(tv, 'Observation');
    if (!object) return undefined;
    return object.component === undefined || choicePresent(object, 'Observation', 'value[x]', registry) === false ? true : undefined;
  }],
  ['(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())', (tv, registry) => {
    const object = plainObject(tv, 'Observation');
    if (!object) return undefined;
    if (plainlyPresent(object.component) || plainlyPresent(object.hasMember) || plainlyPresent(object.dataAbsentReason)) return true;
    return choicePresent(object, 'Observation', 'value[x]', registry) === true ? true : undefined;
  }],
  ['low.exists() or high.exists() or text.exists()', anyPresent('ObservationReferenceRange', 'low', 'high', 'text')],
  ['name.exists() or telecom.exists() or address.exists() or organization.exists()', anyPresent('PatientContact', 'name', 'telecom', 'address', 'organization')],
  ['documentType.exists() or reference.exists()', anyPresent('ImmunizationEducation', 'documentType', 'reference')],
  ['duration.empty() or durationUnit.exists()', absent('TimingRepeat', 'duration')],
  ['period.empty() or periodUnit.exists()', absent('TimingRepeat', 'period')],
  ['duration.exists() implies duration >= 0', absent('TimingRepeat', 'duration')],
  ['period.exists() implies period >= 0', absent('TimingRepeat', 'period')],
  ['periodMax.empty() or period.exists()', absent('TimingRepeat', 'periodMax')],
  ['durationMax.empty() or duration.exists()', absent('TimingRepeat', 'durationMax')],
  ['countMax.empty() or count.exists()', absent('TimingRepeat', 'countMax')],
  ["offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())", absent('TimingRepeat', 'offset')],
  ['timeOfDay.empty() or when.empty()', absent('TimingRepeat', 'timeOfDay')],
  ["verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').exists() or clinicalStatus.exists()",
    anyPresent('AllergyIntolerance', 'clinicalStatus')],
  ["verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').empty() or clinicalStatus.empty()",
    either(absent('AllergyIntolerance', 'verificationStatus'), absent('AllergyIntolerance', 'clinicalStatus'))],
  ["abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()",
    (tv, registry) => {
      const object = plainObject(tv, 'Condition');
      return object && choicePresent(object, 'Condition', 'abatement[x]', registry) === false ? true : undefined;
    }],
  ["verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
    either(absent('Condition', 'verificationStatus'), absent('Condition', 'clinicalStatus'))],
  ["(intent='order' or intent='original-order' or intent='reflex-order'or intent='filler-order' or intent='instance-order') implies requester.exists()",
    anyPresent('MedicationRequest', 'requester')],
  ["(status='completed' or status='in-progress') implies performed.exists()", choiceHolds('Procedure', 'performed[x]')],
  ["(status='partial' or status='preliminary' or status='final' or status='amended' or status='corrected' or status='appended' ) implies effective.exists()",
    choiceHolds('DiagnosticReport', 'effective[x]')],
  ["(status='partial' or status='preliminary' or status='final' or status='amended' or status='corrected' or status='appended' ) implies issued.exists()",
    anyPresent('DiagnosticReport', 'issued')],
];

const PLAIN_INVARIANTS = new Map<string, PlainRule>([
  ...US_CORE_PLAIN,
  ['contained.contained.empty()', noContained],
  ['contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()', noContained],
  ['contained.meta.security.empty()', noContained],
  ['extension.exists() != value.exists()', (tv, registry) => {
    const object = tv.value as Record<string, unknown>;
    const element = registry.Extension?.elements['value[x]'];
    if (tv.type !== 'Extension' || !object || typeof object !== 'object' || !element) return undefined;
    // A `resourceType` key changes what medplum's FHIRPath finds for `extension` or `value`: evaluate.
    if ('resourceType' in object) return undefined;
    const ext = object.extension;
    if (ext !== undefined && !(Array.isArray(ext) && ext.length > 0)) return undefined;
    return (ext !== undefined) !== (valueOf(object, element) !== undefined);
  }],
]);

/** An invariant medplum evaluates: its plain answer when there is one, its parsed expression (parsed on first use). */
interface CheckedConstraint { plain: PlainRule | undefined; atom: () => ReturnType<typeof parseFhirPath> }

const checked = new WeakMap<NonNullable<InternalSchemaElement['constraints']>, CheckedConstraint[]>();

/** The constraints medplum evaluates (errors, not skipped), in order, looked up once per constraint list. */
function checkedConstraints(constraints: NonNullable<InternalSchemaElement['constraints']>): CheckedConstraint[] {
  let list = checked.get(constraints);
  if (list) return list;
  list = constraints
    .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
    .map((c) => ({
      plain: PLAIN_INVARIANTS.get(c.expression),
      atom: () => {
        let atom = atoms.get(c.expression);
        if (!atom) atoms.set(c.expression, (atom = parseFhirPath(c.expression)));
        return atom;
      },
    }));
  checked.set(constraints, list);
  return list;
}

const named = new WeakMap<Elements, Map<string, InternalSchemaElement | null>>();

/** getElementDefinitionFromElements, cached per schema and name. */
function elementNamed(elements: Elements, name: string): InternalSchemaElement | undefined {
  let byName = named.get(elements);
  if (!byName) named.set(elements, (byName = new Map()));
  let element = byName.get(name);
  if (element === undefined) byName.set(name, (element = findElement(elements, name) ?? null));
  return element ?? undefined;
}

function findElement(elements: Elements, name: string): InternalSchemaElement | undefined {
  const simple = elements[name] ?? elements[`${name}[x]`];
  if (simple) return simple;
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c >= 'A' && c <= 'Z') {
      const element = elements[`${name.slice(0, i)}[x]`];
      if (element) return element;
    }
  }
  return undefined;
}

/** isChoiceOfType's element lookup (the value test is the caller's), cached per schema and key. */
function choiceElementOf(elements: Elements, key: string): string | undefined {
  let byKey = choiceNames.get(elements);
  if (!byKey) choiceNames.set(elements, (byKey = new Map()));
  let name = byKey.get(key);
  if (name === undefined) {
    name = null;
    let test = '';
    for (const part of key.split(/(?=[A-Z])/g)) {
      test += part;
      if (elements[`${test}[x]`]) {
        name = `${test}[x]`;
        break;
      }
    }
    byKey.set(key, name);
  }
  return name ?? undefined;
}

function planOf(element: InternalSchemaElement): Plan {
  let plan = plans.get(element);
  if (!plan) {
    const last = element.path.slice(element.path.lastIndexOf('.') + 1);
    const types = element.type ?? [];
    plan = {
      candidates: types.map((t) => [last.replace('[x]', capitalize(t.code)), t.code]),
      elementType: types[0]?.code ?? 'undefined',
    };
    plans.set(element, plan);
  }
  return plan;
}

/** medplum's isEmpty, without allocating: null, '', an empty array, an object without keys. */
function emptyJson(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === 'string') return v === '';
  if (typeof v !== 'object') return false;
  if ('length' in v && (v as { length: number }).length > 0) return false;
  for (const k in v) if (Object.hasOwn(v, k)) return false;
  return true;
}

/** getTypedPropertyValueWithSchema, for values without primitive extensions (those are left to medplum). */
function valueOf(object: Record<string, unknown>, element: InternalSchemaElement): Value {
  const { candidates, elementType } = planOf(element);
  for (const [jsonKey, code] of candidates) {
    // (No `_jsonKey` primitive extension can be present: nullFree refused the resource before the walk.)
    const value = object[jsonKey];
    if (value === undefined) continue;
    if (emptyJson(value)) return undefined;
    const type = code === 'Element' || code === 'BackboneElement' ? elementType : code;
    return Array.isArray(value) ? value.map((v) => typed(v, type)) : typed(value, type);
  }
  return undefined;
}

function typed(value: unknown, type: string): TypedValue {
  if (type === 'Resource' && isResource(value)) return { type: value.resourceType, value };
  return { type, value };
}

/** validatePrimitiveType / validateString / validateNumber. */
function primitiveHolds(tv: TypedValue): boolean {
  const { type, value } = tv;
  if (typeof value === 'object') throw new Unmodelled('primitive holding an object');
  const expected = (fhirTypeToJsType as Record<string, string>)[type];
  if (!expected || typeof value !== expected) return false;
  if (expected === 'string') {
    const s = value as string;
    // Blank (medplum: `!s.trim()`); \S is exactly what trim() does not remove.
    if (s.length > MAX_STRING || !NON_BLANK.test(s)) return false;
    const regex = validationRegexes[type];
    return !regex || regex.exec(s) !== null;
  }
  if (expected === 'number') {
    const n = value as number;
    if (Number.isNaN(n) || !Number.isFinite(n)) return false;
    if ((type === 'integer' || type === 'positiveInt' || type === 'unsignedInt') && !Number.isInteger(n)) return false;
    if (type === 'positiveInt' && n <= 0) return false;
    if (type === 'unsignedInt' && n < 0) return false;
  }
  return true;
}

/** referenceTypeCheck: true when medplum would not warn about the reference's target type. */
function referenceTypeHolds(tv: TypedValue, element: InternalSchemaElement): boolean {
  if (tv.type !== 'Reference') return true;
  const reference = tv.value;
  if (!isReference(reference) || reference.reference.startsWith('#')) return true;
  const target = reference.reference.includes('?') ? reference.reference.split('?')[0] : reference.reference.split('/')[0];
  if (!target) return true;
  const targetProfiles = element.type.find((t) => t.code === 'Reference')?.targetProfile;
  if (!targetProfiles) return true;
  for (const p of targetProfiles) {
    if (p === `${HL7_SD}Resource` || p === `${HL7_SD}${target}` || p === `${MEDPLUM_SD}${target}`) return true;
    if (!p.startsWith(HL7_SD) && !p.startsWith(MEDPLUM_SD)) return true;
  }
  return false;
}

/**
 * checkObjectForNull, plus this module's own refusals: no null anywhere, no undefined array member, and no
 * primitive extension (`_x`: left to medplum).
 */
function nullFree(value: unknown): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === null || v === undefined) return false;
      if (typeof v === 'object' && !nullFree(v)) return false;
    }
    return true;
  }
  if (value && typeof value === 'object') {
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (key.charCodeAt(0) === 95 /* _ */) throw new Unmodelled('primitive extension');
      const v = (value as Record<string, unknown>)[key];
      if (v === null) return false;
      if (typeof v === 'object' && !nullFree(v)) return false;
    }
  }
  return true;
}

function capitalize(s: string): string {
  return s ? s.charAt(0).toUpperCase() + s.substring(1) : '';
}
