/**
 * Transport-independent FHIR handlers: http/ turns an express request into a FhirRequest and a
 * FhirResponse back into bytes. Nothing here knows about express.
 */
import type { Principal } from '../auth/principal.js';
import type { Audit } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import type { Logger } from '../core/logger.js';
import type { Policy } from '../policy/types.js';
import type { ResourceStore } from '../store/types.js';

export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD';
  /** Path below {base}/fhir, split on '/', already percent-decoded: ['Patient', '123', '_history', '2']. */
  segments: string[];
  /** Query (or x-www-form-urlencoded body for POST _search) parameters in order; repeats kept. */
  params: Array<[string, string]>;
  /** Parsed JSON body (depth-checked, prototype keys dropped), when there is one. */
  body?: unknown;
  headers: {
    ifMatch?: string;
    ifNoneExist?: string;
    /** Prefer header (handling=strict|lenient, return=minimal|representation|OperationOutcome). */
    prefer?: string;
    /** Accept header (only operations with a non-JSON rendering look at it). */
    accept?: string;
  };
}

export interface FhirResponse {
  status: number;
  /** A FHIR resource (JSON), or text when contentType is set (the accounting's HTML page). */
  body?: unknown;
  /** Only for non-JSON answers (text/html of $disclosures). */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface FhirLimits {
  defaultCount: number;
  maxCount: number;
  /** Maximum entries in a transaction/batch Bundle. */
  maxBundleEntries: number;
  /** Maximum resources added by _include/_revinclude per page. */
  maxIncludes: number;
}

export interface FhirContext {
  principal: Principal;
  requestId: string;
}

export interface FhirDeps {
  store: ResourceStore;
  policy: Policy;
  audit: Audit;
  defs: FhirDefinitions;
  clock: Clock;
  log: Logger;
  /** Public FHIR base URL, e.g. https://gw.example.org/fhir (from config, never from the Host header). */
  fhirBase: string;
  limits: FhirLimits;
}

export type FhirHandler = (req: FhirRequest, ctx: FhirContext) => Promise<FhirResponse>;
