/**
 * Validation on ingest: every resource written through the gateway is checked against base FHIR R4
 * (structure, cardinality, primitive formats, invariants) and then against each profile it claims in
 * `meta.profile` that ships in /profiles (US Core 6.1.0). The report lists every issue with its
 * FHIRPath location.
 *
 * Status codes, as FHIR assigns them (https://hl7.org/fhir/R4/http.html#create):
 * - not valid R4 -> 400 (`GW_INVALID_RESOURCE`): "the resource could not be parsed or failed basic FHIR validation rules";
 * - valid R4 but violates a claimed profile -> 422 (`GW_PROFILE_VIOLATION`): "violated applicable FHIR profiles".
 * A `meta.profile` we do not have is accepted with a warning (`GW_UNKNOWN_PROFILE`): a profile claim is
 * the sender's assertion, and refusing unknown ones would block partners' local profiles; it is never
 * reported as validated. A claimed profile for another resource type is an error.
 *
 * Terminology bindings are not checked (no terminology server); medplum's validator checks structure,
 * cardinality, fixed/pattern values, slicing and FHIRPath invariants. Two gaps of medplum 4.5.2 are
 * closed here: property names that shadow Object.prototype (`constructor`, `__proto__`, ...) pass its
 * check and are refused here; profiles it cannot parse (US Core Provenance) are rebuilt without the
 * unparseable part (see withoutSlicedContentReferences).
 * Speed: each profile is parsed once (see withSchemaFor), and a resource that clean-check.ts proves clean
 * (medplum would report nothing) skips medplum's element walk; every other resource gets medplum's report.
 * See: https://hl7.org/fhir/R4/validation.html
 */
import { getAllDataTypes, OperationOutcomeError, parseStructureDefinition, toTypedValue, validateResource, type InternalTypeSchema } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import { provablyClean } from './clean-check.js';
import { GW_CODE_SYSTEM, OutcomeError, type IssueType, type OutcomeIssue } from '../core/outcome.js';

/** Most issues reported for one request; the rest are summarised in one closing issue. */
export const MAX_REPORTED_ISSUES = 500;

export interface ValidationReport {
  /** Base R4 problems: the resource is not valid FHIR. */
  invalid: OutcomeIssue[];
  /** Problems against claimed profiles (only computed when `invalid` is empty). */
  profile: OutcomeIssue[];
  /** Advisory issues (unknown profiles, validator warnings). */
  warnings: OutcomeIssue[];
}

export interface ValidateOptions {
  /** FHIRPath prefix for issue locations, e.g. `Bundle.entry[3].resource` (default: the resource type). */
  location?: string;
}

/**
 * When a resource claims profiles of its own type that this server has, and is valid against every one of
 * them, it is valid R4 too: a profile's snapshot carries every base element, type, cardinality and
 * invariant, only tightened. The separate base run (half the cost of validating a US Core resource) is then
 * skipped. Any profile error, unknown or mismatched profile falls back to the full path (base first), so the
 * 400/422 classification is unchanged. Checked on the project's US Core resources and broken variants:
 * no resource passed a profile and failed the base.
 */
function validAgainstClaimedProfiles(
  defs: FhirDefinitions, resource: Resource, opts: ValidateOptions, relocate: (i: OperationOutcomeIssue, gwCode: string) => OutcomeIssue,
): ValidationReport | undefined {
  const claimed = resource.meta?.profile ?? [];
  if (!claimed.length) return undefined;
  const sds = claimed.map((url) => defs.profile(url));
  if (sds.some((sd) => !sd || sd.type !== resource.resourceType)) return undefined;
  const warnings: OutcomeIssue[] = [];
  for (const sd of sds) {
    const result = runValidator(resource, sd);
    if (result.errors.length) return undefined;
    warnings.push(...result.warnings.map((i) => relocate(i, 'GW_VALIDATION_WARNING')));
  }
  return { invalid: [], profile: gatewayRules(resource, opts.location ?? resource.resourceType), warnings };
}

/**
 * Validates one resource; never throws for invalid input (see assertValid). Most resources take the fast
 * path (clean-check.ts: proven clean, no issue to report); the rest get medplum's full report.
 */
export function validateForIngest(defs: FhirDefinitions, resource: Resource, opts: ValidateOptions = {}): ValidationReport {
  const report: ValidationReport = { invalid: [], profile: [], warnings: [] };
  const relocate = (i: OperationOutcomeIssue, gwCode: string) => toIssue(i, gwCode, resource.resourceType, opts.location);

  report.invalid.push(...reservedKeyIssues(resource, opts.location ?? resource.resourceType));
  report.invalid.push(...misreadRootIssues(resource, opts.location ?? resource.resourceType));
  if (!report.invalid.length) {
    const fast = validAgainstClaimedProfiles(defs, resource, opts, relocate);
    if (fast) return fast;
  }
  const base = runValidator(resource);
  report.invalid.push(...base.errors.map((i) => relocate(i, 'GW_INVALID_RESOURCE')));
  report.warnings.push(...base.warnings.map((i) => relocate(i, 'GW_VALIDATION_WARNING')));
  if (report.invalid.length) return report;

  report.profile.push(...gatewayRules(resource, opts.location ?? resource.resourceType));
  const where = `${opts.location ?? resource.resourceType}.meta.profile`;
  for (const [index, url] of (resource.meta?.profile ?? []).entries()) {
    const sd = defs.profile(url);
    if (!sd) {
      report.warnings.push(coded('warning', 'not-supported', 'GW_UNKNOWN_PROFILE',
        `profile ${url} is not known to this server; the resource was not validated against it`, `${where}[${index}]`));
      continue;
    }
    if (sd.type !== resource.resourceType) {
      report.profile.push(coded('error', 'invalid', 'GW_PROFILE_VIOLATION',
        `profile ${url} constrains ${sd.type}, not ${resource.resourceType}`, `${where}[${index}]`));
      continue;
    }
    const result = runValidator(resource, sd);
    report.profile.push(...result.errors.map((i) => {
      const issue = relocate(i, 'GW_PROFILE_VIOLATION');
      return { ...issue, details: { ...issue.details, text: `${issue.details?.text ?? ''} (profile ${url})` } };
    }));
    report.warnings.push(...result.warnings.map((i) => relocate(i, 'GW_VALIDATION_WARNING')));
  }
  return report;
}

/**
 * Rules of this gateway beyond FHIR and the profiles, for resources the policy reads itself. A privacy
 * Consent is found by its patient (policy reads `Consent?patient=Patient/<id>&status=active` on every
 * disclosure): one that names its patient any other way would be stored and silently never apply.
 */
function gatewayRules(resource: Resource, where: string): OutcomeIssue[] {
  if (resource.resourceType !== 'Consent') return [];
  const privacy = (resource.scope?.coding ?? []).some((c) => c.code === 'patient-privacy');
  if (!privacy) return [];
  const ref = resource.patient?.reference ?? '';
  if (/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) return [];
  return [coded('error', 'business-rule', 'GW_CONSENT_PATIENT',
    'a patient-privacy Consent must name its patient as a literal reference Patient/<id>, or it could never apply', `${where}.patient`)];
}

/** Validates and throws the 400/422 OutcomeError listing every issue; returns the warnings otherwise. */
export function assertValid(defs: FhirDefinitions, resource: Resource, opts: ValidateOptions = {}): OutcomeIssue[] {
  const report = validateForIngest(defs, resource, opts);
  const err = reportError(report);
  if (err) throw err;
  return report.warnings;
}

/** The error for a report with problems (400 when any base R4 issue, else 422), or undefined when valid. */
export function reportError(report: ValidationReport): OutcomeError | undefined {
  if (report.invalid.length) {
    return new OutcomeError(400, 'invalid', 'GW_INVALID_RESOURCE', 'the resource is not valid FHIR R4', { issues: cap(report.invalid) });
  }
  if (report.profile.length) {
    return new OutcomeError(422, 'processing', 'GW_PROFILE_VIOLATION', 'the resource does not conform to a profile it claims', {
      issues: cap(report.profile),
    });
  }
  return undefined;
}

/** Joins several reports (a transaction's entries) into one error listing all their issues. */
export function combinedError(reports: readonly ValidationReport[]): OutcomeError | undefined {
  const invalid = reports.flatMap((r) => r.invalid);
  const profile = reports.flatMap((r) => r.profile);
  if (!invalid.length && !profile.length) return undefined;
  const all = [...invalid, ...profile];
  return invalid.length
    ? new OutcomeError(400, 'invalid', 'GW_INVALID_RESOURCE', 'a resource is not valid FHIR R4', { issues: cap(all) })
    : new OutcomeError(422, 'processing', 'GW_PROFILE_VIOLATION', 'a resource does not conform to a profile it claims', { issues: cap(all) });
}

function cap(issues: OutcomeIssue[]): OutcomeIssue[] {
  if (issues.length <= MAX_REPORTED_ISSUES) return issues;
  return [
    ...issues.slice(0, MAX_REPORTED_ISSUES),
    coded('information', 'too-costly', 'GW_ISSUES_TRUNCATED', `${issues.length - MAX_REPORTED_ISSUES} more issues not listed`),
  ];
}

function runValidator(
  resource: Resource,
  profile?: StructureDefinition,
): { errors: OperationOutcomeIssue[]; warnings: OperationOutcomeIssue[] } {
  try {
    const returned = validateWith(resource, profile);
    return { errors: returned.filter(isError), warnings: returned.filter((i) => !isError(i)) };
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      const issues = err.outcome.issue ?? [];
      return { errors: issues.filter(isError), warnings: issues.filter((i) => !isError(i)) };
    }
    // The validator itself failed (e.g. an invariant it cannot evaluate): report, do not accept silently.
    return {
      errors: [{ severity: 'error', code: 'processing', details: { text: 'the resource could not be validated' } }],
      warnings: [],
    };
  }
}

/** Profiles parsed once for medplum's validator (see validateWith), by original StructureDefinition. */
const parsed = new WeakMap<StructureDefinition, InternalTypeSchema>();

/**
 * Validates against a profile with its parsed form cached. `validateResource(r, { profile })` in
 * @medplum/core 4.5.2 re-parses the whole snapshot on every call (most of the cost of validating on
 * ingest); without a profile it validates against the registered schema of the resource type. So the
 * profile's parsed schema stands in for the type's registered schema for the duration of this one
 * synchronous call, and the base schema is put back before anything else can run. The validator sees
 * the schema it would have parsed from `profile` itself. Checked against `validateResource(r, { profile })`
 * over 67,744 validations (Synthea resources and broken variants against every US Core profile of their type):
 * the same valid/invalid verdict every time; for three profiles that slice value[x] by type the wording of the
 * error differs ("missing required property" instead of a slice count).
 */
function validateWith(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  // A resource proven clean (clean-check.ts) gets the report medplum would give it, empty, without its walk.
  return withSchemaFor(resource, profile, () => (provablyClean(resource) ? [] : validateResource(resource)));
}

/**
 * Runs fn (synchronously) with the profile's parsed schema, parsed once, registered as the schema of the
 * resource's type, and the base schema put back before anything else can run. Without a profile, fn runs
 * against the registry as it is.
 */
export function withSchemaFor<T>(resource: Resource, profile: StructureDefinition | undefined, fn: () => T): T {
  if (!profile) return fn();
  let schema = parsed.get(profile);
  if (!schema) {
    schema = parseProfile(profile);
    parsed.set(profile, schema);
  }
  const registry = getAllDataTypes();
  const type = resource.resourceType;
  const base = registry[type];
  registry[type] = schema;
  try {
    return fn();
  } finally {
    if (base) registry[type] = base;
    else delete registry[type];
  }
}

function parseProfile(profile: StructureDefinition): InternalTypeSchema {
  try {
    return parseStructureDefinition(profile);
  } catch (err) {
    if (!(err instanceof Error) || !/slice start before discriminator/.test(err.message)) throw err;
    return parseStructureDefinition(withoutSlicedContentReferences(profile));
  }
}

/**
 * @medplum/core 4.5.2 cannot parse a profile whose snapshot has a contentReference to a sliced element
 * (US Core Provenance: `Provenance.entity.agent` -> `#Provenance.agent`, which is sliced into
 * ProvenanceAuthor and ProvenanceTransmitter); it throws "Invalid slice start before discriminator".
 * Such profiles are validated without those contentReference elements: the rest of the profile
 * (including the agent slices themselves) is still enforced; only the nested `entity.agent` is not.
 */
function withoutSlicedContentReferences(sd: StructureDefinition): StructureDefinition {
  const elements = sd.snapshot?.element ?? [];
  const sliced = new Set(elements.filter((e) => e.slicing).map((e) => e.path));
  const dropped = elements
    .filter((e) => e.contentReference && sliced.has(e.contentReference.replace(/^.*#/, '')))
    .map((e) => e.path as string);
  return {
    ...sd,
    snapshot: { ...sd.snapshot, element: elements.filter((e) => !dropped.some((p) => e.path === p || e.path?.startsWith(`${p}.`))) },
  };
}

/**
 * Property names that shadow Object.prototype members (`__proto__`, `constructor`, `toString`, ...).
 * No FHIR element has such a name, but medplum's validator looks element names up in plain objects and
 * lets them through; they are refused here so they never reach storage or a naive merge (catalogue F-16).
 */
function reservedKeyIssues(value: unknown, path: string): OutcomeIssue[] {
  return hasReservedKey(value) ? reservedKeyIssuesAt(value, path) : [];
}

/** The same walk without building locations: nearly every resource has no such key. */
function hasReservedKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasReservedKey);
  if (!value || typeof value !== 'object') return false;
  for (const key of Object.keys(value)) {
    if (key === '__proto__' || Object.prototype.hasOwnProperty.call(Object.prototype, key)) return true;
    if (hasReservedKey((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function reservedKeyIssuesAt(value: unknown, path: string, out: OutcomeIssue[] = []): OutcomeIssue[] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => reservedKeyIssuesAt(v, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === '__proto__' || Object.prototype.hasOwnProperty.call(Object.prototype, key)) {
        out.push(coded('error', 'structure', 'GW_INVALID_RESOURCE', `Invalid additional property "${key.slice(0, 32)}"`, `${path}.${key}`));
        continue;
      }
      reservedKeyIssuesAt((value as Record<string, unknown>)[key], `${path}.${key}`, out);
    }
  }
  return out;
}

/**
 * @medplum/core 4.5.2 types the object it validates with toTypedValue, which reads any object with a numeric
 * `value` as a Quantity before it looks at `resourceType`: `{"resourceType":"Observation","value":1}` would be
 * validated as a Quantity, and pass. No R4 resource has a top-level `value` element; such a resource is refused.
 */
function misreadRootIssues(resource: Resource, path: string): OutcomeIssue[] {
  const typed = toTypedValue(resource);
  if (typed.type === resource.resourceType) return [];
  return [coded('error', 'structure', 'GW_INVALID_RESOURCE', `Invalid additional property "value" (${resource.resourceType} has no element "value")`, `${path}.value`)];
}

const isError = (i: OperationOutcomeIssue) => i.severity === 'error' || i.severity === 'fatal';

/** Medplum locations start with the resource type (`Patient.name[0]`); move them under `location`. */
function toIssue(i: OperationOutcomeIssue, gwCode: string, resourceType: string, location?: string): OutcomeIssue {
  const expressions = (i.expression ?? []).map((e) =>
    location ? (e === resourceType ? location : e.startsWith(`${resourceType}.`) ? `${location}${e.slice(resourceType.length)}` : `${location}.${e}`) : e);
  const severity = i.severity === 'fatal' || i.severity === 'error' || i.severity === 'warning' ? i.severity : 'information';
  return {
    severity,
    code: (i.code ?? 'invalid') as IssueType,
    details: { coding: [{ system: GW_CODE_SYSTEM, code: gwCode }], text: i.details?.text ?? i.diagnostics ?? 'invalid' },
    ...(expressions.length ? { expression: expressions } : {}),
  };
}

function coded(severity: OutcomeIssue['severity'], code: IssueType, gwCode: string, text: string, expression?: string): OutcomeIssue {
  return {
    severity, code,
    details: { coding: [{ system: GW_CODE_SYSTEM, code: gwCode }], text },
    ...(expression ? { expression: [expression] } : {}),
  };
}
