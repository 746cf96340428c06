/**
 * The server's CapabilityStatement (`GET [base]/metadata`), built from the same resource catalogue the
 * router and search parser use, so it states exactly what is implemented: the interactions each
 * handler serves, the search parameters parseSearch accepts, the _include/_revinclude pairs it resolves,
 * `$everything` on Patient, transaction and batch. SMART on FHIR security with the oauth-uris extension.
 *
 * See: https://hl7.org/fhir/R4/capabilitystatement.html,
 * https://hl7.org/fhir/smart-app-launch/STU2.2/conformance.html#declaring-support-for-oauth2-endpoints,
 * https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { US_CORE_SERVER_CAPABILITY } from './us-core-search.js';
import { trimBase } from './response.js';

/** Interactions every served type supports (what router.ts routes). */
export const TYPE_INTERACTIONS = ['read', 'vread', 'history-instance', 'search-type', 'create', 'update', 'delete'] as const;

export interface CapabilityOptions {
  fhirBase: string;
  /** Release date of this build (CapabilityStatement.date). */
  date: string;
  software?: { name: string; version: string };
}

/** Builds the CapabilityStatement once; callers hand out copies. */
export function buildCapabilityStatement(catalogue: ResourceCatalogue, opts: CapabilityOptions): CapabilityStatement {
  const base = trimBase(opts.fhirBase);
  const origin = base.replace(/\/fhir$/, '');
  const resources: CapabilityStatementRestResource[] = catalogue.types.map((type) => {
    const r = catalogue.get(type);
    if (!r) throw new Error(`catalogue lost ${type}`);
    return {
      type,
      ...(r.profiles.length ? { supportedProfile: [...r.profiles] } : {}),
      interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      referencePolicy: ['literal', 'local'],
      ...(r.includes.length ? { searchInclude: [...r.includes] } : {}),
      ...(r.revIncludes.length ? { searchRevInclude: [...r.revIncludes] } : {}),
      searchParam: [...r.params.values()].map((p) => ({ name: p.code, definition: p.definition, type: p.type })),
      ...(type === 'Patient'
        ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] }
        : {}),
    } as CapabilityStatementRestResource;
  });

  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: opts.date,
    kind: 'instance',
    ...(opts.software ? { software: opts.software } : {}),
    implementation: { description: 'FHIR exchange gateway', url: base },
    instantiates: [US_CORE_SERVER_CAPABILITY],
    fhirVersion: '4.0.1',
    format: ['json', 'application/fhir+json', 'application/json'],
    rest: [{
      mode: 'server',
      security: {
        cors: true,
        service: [{
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
          text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
        }],
        extension: [{
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [
            { url: 'token', valueUri: `${origin}/auth/token` },
            { url: 'introspect', valueUri: `${origin}/auth/introspect` },
          ],
        }],
      },
      resource: resources,
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
    }],
  } as CapabilityStatement;
}
