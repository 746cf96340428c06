/**
 * The fast path of validation (src/mapping/clean-check.ts) may only skip medplum's validator when medplum
 * would report nothing. Checked here over the project's own resources (HL7 v2 fixtures mapped, the demo
 * and seed bundles) and, when `../shared` is present, Synthea resources; each against the base R4 schema and
 * every US Core profile of its type; and over tens of broken variants of each (deleted, emptied,
 * retyped, reformatted, duplicated and added properties, changed codes and references). For every pair:
 * proven clean => medplum's validateResource returns no issue and does not throw.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { loadFhirDefinitions, PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { provablyClean } from '../../src/mapping/clean-check.js';
import { mapHl7v2, splitHl7Messages } from '../../src/mapping/hl7v2/index.js';
import { withSchemaFor } from '../../src/mapping/validate.js';
import { memoryTerminology } from '../mapping/hl7v2-helpers.js';

const defs = loadFhirDefinitions();
const SYNTHEA = join(PROJECT_ROOT, '..', 'shared', 'data', 'synthea');

function projectResources(): Resource[] {
  const out: Resource[] = [];
  const hl7 = join(PROJECT_ROOT, 'fixtures', 'hl7v2');
  for (const f of readdirSync(hl7).filter((n) => n.endsWith('.hl7')).sort()) {
    for (const m of splitHl7Messages(readFileSync(join(hl7, f), 'utf8'))) {
      try {
        out.push(...mapHl7v2(m, { terminology: memoryTerminology(), timezone: 'UTC' }).resources);
      } catch {
        // Messages the mapper refuses have nothing to validate.
      }
    }
  }
  for (const f of ['demo/demo-patients.json', 'fhir/clinical-seed.json']) {
    const b = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', f), 'utf8')) as Bundle;
    out.push(...(b.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
  }
  // Ingest repeats the same Organization, Practitioner and Location message after message: vary each once.
  const seen = new Set<string>();
  return out.filter((r) => {
    const key = JSON.stringify({ ...r, meta: { ...r.meta, source: undefined } });
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every US Core profile of the type, plus undefined for the base schema. */
function targets(type: string): Array<StructureDefinition | undefined> {
  const profiles = defs.profileUrls().map((u) => defs.profile(u)).filter((sd): sd is StructureDefinition => sd?.type === type);
  return [undefined, ...profiles];
}

/** medplum's verdict: no issue at all. */
function medplumClean(resource: Resource, profile: StructureDefinition | undefined): boolean {
  return withSchemaFor(resource, profile, () => {
    try {
      return validateResource(resource).length === 0;
    } catch (err) {
      if (err instanceof OperationOutcomeError) return false;
      throw err;
    }
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  if (at.length) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) if (k !== 'resourceType') paths(v[k] as Json, [...at, k], out);
  return out;
}

function withAt(root: Json, path: Path, change: (parent: Json[] | { [k: string]: Json }, key: string | number) => void): Json {
  const copy = structuredClone(root);
  let node = copy as Json;
  for (const step of path.slice(0, -1)) node = (node as Record<string | number, Json>)[step] as Json;
  change(node as Json[] | { [k: string]: Json }, path.at(-1) as string | number);
  return copy;
}

/** Broken (and a few harmless) variants of a resource, deterministic. */
function variants(resource: Resource, perResource: number): Resource[] {
  const root = resource as unknown as Json;
  const all = paths(root);
  const step = Math.max(1, Math.floor(all.length / perResource));
  const out: Json[] = [];
  for (let i = 0; i < all.length; i += step) {
    const path = all[i] as Path;
    const set = (v: Json) => withAt(root, path, (p, k) => { (p as Record<string | number, Json>)[k] = v; });
    const value = path.reduce<Json>((n, k) => (n as Record<string | number, Json>)[k] as Json, root);
    out.push(withAt(root, path, (p, k) => { if (Array.isArray(p)) p.splice(k as number, 1); else delete p[k as string]; }));
    out.push(set(null), set(''), set(' '), set([]), set({}));
    if (typeof value === 'string') {
      out.push(set(7), set(true), set(`${value} x`), set(`x${value}`), set(value.replace(/\d/g, '9').replace(/-/, '/')),
        set(value.replace(/^[A-Za-z]+\//, 'Group/')), set(`#${value}`), set([value]));
    } else if (typeof value === 'number') {
      out.push(set(-1), set(0), set(1.5), set(String(value)), set(Number.NaN));
    } else if (typeof value === 'boolean') {
      out.push(set('true'), set(1));
    } else if (Array.isArray(value)) {
      out.push(set([...value, ...value]), set(Array<Json[]>(5).fill(value).flat()), set(value[0] as Json), set([null] as Json));
    } else if (value && typeof value === 'object') {
      out.push(set([value]), set({ ...value, unknownProperty: 'x' }), set({ ...value, _value: { extension: [] } }));
      const keys = Object.keys(value);
      if (keys[0]) out.push(set({ ...value, [`${keys[0]}String`]: 'x' }));
    }
    if (typeof path.at(-1) === 'string') {
      out.push(withAt(root, path, (p, k) => { (p as Record<string, Json>)[`${String(k)}Quantity`] = { value: 1 }; }));
    }
  }
  return out as unknown as Resource[];
}

interface Tally { pairs: number; provenClean: number; medplumClean: number; wrong: string[] }

function check(resources: Resource[], perResource: number): Tally {
  const tally: Tally = { pairs: 0, provenClean: 0, medplumClean: 0, wrong: [] };
  for (const original of resources) {
    for (const profile of targets(original.resourceType)) {
      for (const r of [original, ...variants(original, perResource)]) {
        tally.pairs++;
        const fast = withSchemaFor(r, profile, () => provablyClean(r));
        const slow = medplumClean(r, profile);
        if (fast) tally.provenClean++;
        if (slow) tally.medplumClean++;
        if (fast && !slow && tally.wrong.length < 5) {
          tally.wrong.push(`${profile?.url ?? 'base'}: ${JSON.stringify(r).slice(0, 400)}`);
        }
      }
    }
  }
  return tally;
}

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const lab = (category: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/p1' }, effectiveDateTime: '2024-01-01',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] }, valueQuantity: { value: 5, unit: 'mg/dL' }, ...extra,
});
const patient = () => ({
  resourceType: 'Patient', identifier: [{ system: 'urn:example:mrn', value: '1' }], name: [{ family: 'Doe', given: ['Jo'] }], gender: 'female',
});
const bp = (components: number) => ({
  ...lab('vital-signs'), code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] }, valueQuantity: undefined,
  component: [['8480-6', 120], ['8462-4', 80]].slice(0, components).map(([code, value]) => ({
    code: { coding: [{ system: 'http://loinc.org', code }] },
    valueQuantity: { value, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  })),
});

const medicationRequest = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' },
  medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }] },
  requester: { reference: 'Practitioner/d1' }, authoredOn: '2024-01-01', ...extra,
});
const provenance = (who: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Provenance', target: [{ reference: 'Patient/p1' }], recorded: '2024-01-01T00:00:00Z',
  agent: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
    who: { reference: who }, ...extra }],
});
const condition = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: { text: 'x' },
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, ...extra,
});
const allergy = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p1' }, code: { text: 'x' },
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, ...extra,
});
const report = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'DiagnosticReport', status: 'final', subject: { reference: 'Patient/p1' }, code: { text: 'x' },
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
  effectiveDateTime: '2024-01-01', issued: '2024-01-01T00:00:00Z', ...extra,
});
const immunization = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Immunization', status: 'completed', patient: { reference: 'Patient/p1' }, occurrenceDateTime: '2024-01-01',
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, primarySource: true, ...extra,
});

/** One rule broken per case (and the clean original first): each must fail the fast check, as it fails medplum. */
const RULES: Array<[string, string | undefined, Record<string, unknown>]> = [
  ['clean lab result', 'us-core-observation-lab', lab('laboratory')],
  ['clean blood pressure', 'us-core-blood-pressure', bp(2)],
  ['slice count (one component of two)', 'us-core-blood-pressure', bp(1)],
  ['pattern (the code of a blood pressure panel)', 'us-core-blood-pressure', { ...bp(2), code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }],
  ['slice discriminator (category of a lab result)', 'us-core-observation-lab', lab('exam')],
  ['cardinality (five address lines, at most four)', 'us-core-organization', {
    resourceType: 'Organization', active: true, name: 'Clinic', address: [{ line: ['1', '2', '3', '4', '5'] }] }],
  ['clean patient', 'us-core-patient', patient()],
  ['required element nested in a data type (Patient.identifier.system)', 'us-core-patient', { ...patient(), identifier: [{ value: '1' }] }],
  ['required element', 'us-core-observation-lab', { ...lab('laboratory'), status: undefined }],
  ['invariant on the resource (obs-6: a value and a reason for its absence)', undefined, { ...lab('laboratory'), dataAbsentReason: { text: 'x' } }],
  ['invariant on an element (obs-3: a reference range with neither bound nor text)', undefined, { ...lab('laboratory'), referenceRange: [{ type: { text: 'normal' } }] }],
  ['primitive format', undefined, { ...lab('laboratory'), effectiveDateTime: '2024-13-01' }],
  ['primitive JSON type', undefined, { ...lab('laboratory'), status: 1 }],
  ['blank string', undefined, { ...lab('laboratory'), status: ' ' }],
  ['additional property', undefined, { ...lab('laboratory'), colour: 'red' }],
  ['two values for one choice element', undefined, { ...lab('laboratory'), valueString: 'x' }],
  ['choice type the profile does not allow', 'us-core-observation-lab', { ...lab('laboratory'), valueQuantity: undefined, valueAttachment: { contentType: 'text/plain' } }],
  ['reference to a type the element does not allow (a medplum warning)', undefined, { ...lab('laboratory'), subject: { reference: 'Medication/m1' } }],
  ['single value where an array belongs', undefined, { ...lab('laboratory'), category: { text: 'x' } }],
  ['empty object', undefined, { ...lab('laboratory'), code: {} }],
  ['null', undefined, { ...lab('laboratory'), issued: null }],
  ['clean patient with extensions', 'us-core-patient', { ...patient(), extension: [
    { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
    { url: 'http://example.org/nested', extension: [{ url: 'part', valueString: 'x' }] }] }],
  ['ext-1 (an extension with neither a value nor extensions)', undefined, { ...patient(), extension: [{ url: 'http://example.org/x' }] }],
  ['ext-1 (an extension with both a value and extensions)', undefined, { ...patient(), extension: [
    { url: 'http://example.org/x', valueString: 'a', extension: [{ url: 'part', valueString: 'b' }] }] }],
  ['ext-1 where a resourceType key changes what FHIRPath finds', undefined, { resourceType: 'Basic', code: { text: 'x' },
    extension: [{ url: 'http://e', valueString: 'a', resourceType: 'extension' }] }],
  ['a root medplum types as a Quantity (numeric value)', undefined, { resourceType: 'Money', value: 5, currency: 'USD' }],
  ['dom-4 (a contained resource with a version)', undefined, { ...lab('laboratory'), subject: { reference: '#c1' },
    contained: [{ resourceType: 'Patient', id: 'c1', meta: { versionId: '1' } }] }],
  // Invariants decided without FHIRPath when their answer is plain: a clean case on that path, and the rule broken.
  ['clean provenance by an organization (provenance-1 decided plainly)', 'us-core-provenance', provenance('Organization/o1')],
  ['clean provenance by a practitioner on behalf of an organization', 'us-core-provenance', provenance('Practitioner/d1', { onBehalfOf: { reference: 'Organization/o1' } })],
  ['provenance-1 (a practitioner agent without onBehalfOf)', 'us-core-provenance', provenance('Practitioner/d1')],
  ['provenance-1 (a device agent without onBehalfOf)', 'us-core-provenance', provenance('Device/x1')],
  ['us-core-6 (a name with neither family nor given nor data-absent-reason)', 'us-core-patient', { ...patient(), name: [{ text: 'Jo Doe' }] }],
  ['us-core-6 (a name with both a family name and data-absent-reason)', 'us-core-patient', { ...patient(), name: [{ family: 'Doe',
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] }] }],
  ['us-core-1 (an effective dateTime of less than a day)', 'us-core-observation-lab', { ...lab('laboratory'), effectiveDateTime: '2024-01' }],
  ['us-core-2 (neither a value, components, members nor a reason for their absence)', 'us-core-observation-lab', { ...lab('laboratory'), valueQuantity: undefined }],
  ['pat-1 (a contact with neither name, telecom, address nor organization)', undefined, { ...patient(), contact: [{ gender: 'male' }] }],
  ['clean medication request with a timed dosage (tim-* decided plainly)', 'us-core-medicationrequest', medicationRequest({
    dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } } }] })],
  ['tim-1 (a duration without a unit)', undefined, medicationRequest({ dosageInstruction: [{ timing: { repeat: { duration: 5 } } }] })],
  ['tim-4 (a negative duration)', undefined, medicationRequest({ dosageInstruction: [{ timing: { repeat: { duration: -5, durationUnit: 'min' } } }] })],
  ['tim-10 (a time of day and a named event)', undefined, medicationRequest({ dosageInstruction: [{ timing: { repeat: { timeOfDay: ['08:00:00'], when: ['MORN'] } } }] })],
  ['us-core-21 (an order without a requester)', 'us-core-medicationrequest', medicationRequest({ requester: undefined })],
  ['clean condition (con-4/con-5 decided plainly)', undefined, condition()],
  ['con-4 (abated but clinically active)', undefined, condition({ abatementDateTime: '2024-02-01' })],
  ['con-5 (entered in error with a clinical status)', undefined, condition({ verificationStatus: { coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }] } })],
  ['clean allergy (ait-1/ait-2 decided plainly)', undefined, allergy()],
  ['ait-1 (no clinical status and not entered in error)', undefined, allergy({ clinicalStatus: undefined })],
  ['ait-2 (entered in error with a clinical status)', undefined, allergy({ verificationStatus: { coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'entered-in-error' }] } })],
  ['clean lab report (us-core-8/9 decided plainly)', 'us-core-diagnosticreport-lab', report()],
  ['us-core-8 (a final report without an effective time)', 'us-core-diagnosticreport-lab', report({ effectiveDateTime: undefined })],
  ['us-core-9 (a final report without an issued time)', 'us-core-diagnosticreport-lab', report({ issued: undefined })],
  ['us-core-7 (a completed procedure without a performed time)', 'us-core-procedure', { resourceType: 'Procedure', status: 'completed',
    subject: { reference: 'Patient/p1' }, code: { text: 'x' } }],
  ['clean immunization with education (imm-1 decided plainly)', undefined, immunization({ education: [{ documentType: 'x' }] })],
  ['imm-1 (education with neither a document type nor a reference)', undefined, immunization({ education: [{ publicationDate: '2024-01-01' }] })],
  ['dom-2 (a contained resource containing another)', undefined, { ...lab('laboratory'), subject: { reference: '#c1' },
    contained: [{ resourceType: 'Patient', id: 'c1', contained: [{ resourceType: 'Patient', id: 'c2' }] }] }],
];

describe('clean-check: each rule', () => {
  for (const [name, profileName, raw] of RULES) {
    it(name, () => {
      const r = JSON.parse(JSON.stringify(raw)) as Resource;
      const profile = profileName ? defs.profile(`${US_CORE}${profileName}`) : undefined;
      assert.ok(!profileName || profile, `profile ${profileName}`);
      const expected = name.startsWith('clean ');
      assert.equal(medplumClean(r, profile), expected, 'medplum');
      assert.equal(withSchemaFor(r, profile, () => provablyClean(r)), expected, 'fast check');
    });
  }
});

describe('clean-check: the fast path never accepts what medplum would report', () => {
  it('holds over the project resources and their broken variants, against base R4 and every US Core profile', (ctx) => {
    const resources = projectResources();
    assert.ok(resources.length > 100, `corpus of ${resources.length} resources`);
    const t = check(resources, 6);
    ctx.diagnostic(`${t.pairs} pairs; medplum clean ${t.medplumClean}; proven clean ${t.provenClean}`);
    assert.deepEqual(t.wrong, []);
    // The check has teeth: most variants are invalid for medplum, and none of those was proven clean.
    assert.ok(t.pairs - t.medplumClean > t.pairs / 2, `${t.pairs - t.medplumClean} of ${t.pairs} pairs invalid`);
    // And the fast path is taken: nearly every pair medplum finds clean is proven clean (measured: all of them).
    assert.ok(t.provenClean >= t.medplumClean * 0.95, `${t.provenClean} proven clean of ${t.medplumClean} clean`);
  });

  it('holds over Synthea resources and their broken variants', { skip: existsSync(SYNTHEA) ? false : `${SYNTHEA} is absent` }, (ctx) => {
    const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort();
    const resources = files.flatMap((f) => ((JSON.parse(readFileSync(join(SYNTHEA, f), 'utf8')) as Bundle).entry ?? [])
      .flatMap((e) => (e.resource ? [e.resource] : [])));
    // One resource of each type and shape is enough to vary: Synthea repeats itself.
    const seen = new Set<string>();
    const sample = resources.filter((r) => {
      const key = `${r.resourceType}:${Object.keys(r).sort().join(',')}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const t = check(sample, 6);
    ctx.diagnostic(`${t.pairs} pairs; medplum clean ${t.medplumClean}; proven clean ${t.provenClean}`);
    assert.deepEqual(t.wrong, []);
    assert.ok(t.pairs - t.medplumClean > t.pairs / 2, `${t.pairs - t.medplumClean} of ${t.pairs} pairs invalid`);
    assert.ok(t.provenClean >= t.medplumClean * 0.9, `${t.provenClean} proven clean of ${t.medplumClean} clean`);
  });
});
