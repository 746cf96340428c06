import { readFileSync, writeFileSync } from 'node:fs';
const cs = JSON.parse(readFileSync('/work/shared/data/us-core-6.1.0/package/CapabilityStatement-us-core-server.json', 'utf8'));
const TYPES = ['Patient','Observation','Condition','MedicationRequest','AllergyIntolerance','Encounter','Immunization','Procedure','DiagnosticReport','DocumentReference','CarePlan','Goal','Practitioner','Organization','Location','Medication','Provenance'];
const arr = (xs, ind) => xs.length === 0 ? '[]' : JSON.stringify(xs).length < 70 ? JSON.stringify(xs) : '[\n' + xs.map((x) => `${ind}  ${JSON.stringify(x)},`).join('\n') + `\n${ind}]`;
const exp = (x) => x.extension?.find((e) => e.url.endsWith('capabilitystatement-expectation'))?.valueCode;
let out = `/**
 * US Core 6.1.0 server requirements for the resource types this gateway serves, extracted from
 * CapabilityStatement-us-core-server.json (hl7.fhir.us.core#6.1.0). Static so the gateway never reads the
 * IG package at run time; test/fhir/us-core-search.test.ts re-derives it from the package when present.
 * See: https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html
 *
 * Generated; edit by regenerating, not by hand.
 */

export type UsCoreParamType = 'token' | 'reference' | 'date' | 'string' | 'quantity' | 'number' | 'uri';
export type Expectation = 'SHALL' | 'SHOULD' | 'MAY';

export interface UsCoreSearchParam {
  name: string;
  type: UsCoreParamType;
  /** Canonical URL of the US Core SearchParameter. */
  definition: string;
  expectation: Expectation;
}

export interface UsCoreResource {
  type: string;
  supportedProfile: readonly string[];
  searchParam: readonly UsCoreSearchParam[];
  /** Search parameter combinations the IG names (each entry: the required parameter names). */
  combinations: ReadonlyArray<{ expectation: Expectation; required: readonly string[] }>;
  searchInclude: readonly string[];
  searchRevInclude: readonly string[];
}

export const US_CORE_SERVER_CAPABILITY = '${cs.url}|${cs.version}';

export const US_CORE_RESOURCES: readonly UsCoreResource[] = [\n`;
for (const t of TYPES) {
  const r = cs.rest[0].resource.find((x) => x.type === t);
  if (!r) throw new Error(t);
  const combos = (r.extension ?? []).filter((e) => e.url.endsWith('search-parameter-combination')).map((e) => ({
    expectation: exp(e), required: e.extension.filter((x) => x.url === 'required').map((x) => x.valueString),
  }));
  out += `  {\n    type: '${t}',\n    supportedProfile: ${arr(r.supportedProfile ?? [], '    ')},\n    searchParam: [\n`;
  for (const p of r.searchParam ?? []) out += `      { name: '${p.name}', type: '${p.type}', definition: '${p.definition}', expectation: '${exp(p)}' },\n`;
  out += `    ],\n    combinations: ${combos.length ? '[\n' + combos.map((c) => `      { expectation: '${c.expectation}', required: ${JSON.stringify(c.required).replaceAll(",", ", ")} },`).join('\n') + '\n    ]' : '[]'},\n`;
  out += `    searchInclude: ${arr(r.searchInclude ?? [], '    ')},\n    searchRevInclude: ${arr(r.searchRevInclude ?? [], '    ')},\n  },\n`;
}
out += '];\n';
writeFileSync('src/fhir/us-core-search.ts', out.replaceAll('"', "'"));
