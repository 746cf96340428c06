/**
 * The transport-independent FHIR REST API: `handle` routes a FhirRequest to its interaction handler;
 * `capabilityStatement` describes exactly what `handle` serves; `processBundle` runs a transaction or
 * batch for in-process callers (`fxg import`) under a principal, through the same policy as HTTP.
 *
 * See: https://hl7.org/fhir/R4/http.html
 */
import type { Bundle, CapabilityStatement } from '@medplum/fhirtypes';
import { isoNow } from '../core/clock.js';
import type { FhirContext, FhirDeps, FhirHandler, FhirRequest, FhirResponse } from './types.js';
import { buildResourceCatalogue, type ResourceCatalogue } from './resource-catalogue.js';
import { buildCapabilityStatement } from './capabilities.js';
import { routeRequest } from './router.js';
import { parsePrefer } from './prefer.js';
import { searchType } from './search.js';
import { readResource, vreadResource } from './read.js';
import { historyInstance } from './history.js';
import { patientEverything } from './everything.js';
import { createInteraction, deleteInteraction, updateInteraction } from './write.js';
import { processBundle, type BundleOptions } from './bundle.js';
import { invalidBody } from './errors.js';

export interface FhirApi {
  handle: FhirHandler;
  capabilityStatement(): CapabilityStatement;
  /** Runs a transaction/batch Bundle as `ctx.principal` (same checks as `POST [base]`). */
  processBundle(bundle: unknown, ctx: FhirContext, opts?: BundleOptions): Promise<Bundle>;
  /** The resource types, parameters and includes served. */
  catalogue: ResourceCatalogue;
}

export function createFhirApi(deps: FhirDeps): FhirApi {
  const catalogue = buildResourceCatalogue(deps.defs);
  const capability = buildCapabilityStatement(catalogue, { fhirBase: deps.fhirBase, date: isoNow(deps.clock).slice(0, 10) });

  /** Every interaction except the Bundle itself (batch entries come back through here). */
  const handleOne = async (req: FhirRequest, ctx: FhirContext, allowBundle: boolean): Promise<FhirResponse> => {
    const route = routeRequest(req, catalogue);
    const strict = parsePrefer(req.headers.prefer).strict;
    switch (route.kind) {
      case 'metadata':
        return { status: 200, body: structuredClone(capability) };
      case 'search':
        return searchType(deps, catalogue, ctx, { type: route.type, params: req.params, strict });
      case 'read':
        return readResource(deps, ctx, route.type, route.id, req.params);
      case 'vread':
        return vreadResource(deps, ctx, route.type, route.id, route.versionId, req.params);
      case 'history':
        return historyInstance(deps, ctx, route.type, route.id, req.params, strict);
      case 'everything':
        return patientEverything(deps, catalogue, ctx, route.id, req.params, strict);
      case 'create':
        return createInteraction(deps, catalogue, ctx, route.type, req.body, req.headers);
      case 'update':
        return updateInteraction(deps, ctx, route.type, route.id, req.body, req.headers);
      case 'delete':
        return deleteInteraction(deps, ctx, route.type, route.id, req.headers);
      case 'bundle': {
        if (!allowBundle) throw invalidBody('Bundles cannot be nested');
        const body = await processBundle(deps, catalogue, ctx, req.body, dispatchEntry, { ...(req.headers.prefer ? { prefer: req.headers.prefer } : {}) });
        return { status: 200, body };
      }
    }
  };
  const dispatchEntry = (req: FhirRequest, ctx: FhirContext) => handleOne(req, ctx, false);

  return {
    handle: (req, ctx) => handleOne(req, ctx, true),
    capabilityStatement: () => structuredClone(capability),
    processBundle: (bundle, ctx, opts) => processBundle(deps, catalogue, ctx, bundle, dispatchEntry, opts),
    catalogue,
  };
}
