/**
 * Maps a FhirRequest (method + path segments below the FHIR base) to one interaction of the RESTful
 * API, after checking the resource type is one the gateway serves and the ids are FHIR ids.
 * Anything else is 404 (unknown path or type), 400 (malformed id) or 405 (known path, wrong method).
 *
 * See: https://hl7.org/fhir/R4/http.html (interactions and their URLs)
 */
import { isFhirId } from '../core/ids.js';
import type { FhirRequest } from './types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { invalidId, methodNotAllowed, unknownPath, unsupportedType } from './errors.js';

export type Route =
  | { kind: 'metadata' }
  | { kind: 'bundle' }
  | { kind: 'search'; type: string }
  | { kind: 'create'; type: string }
  | { kind: 'read'; type: string; id: string }
  | { kind: 'update'; type: string; id: string }
  | { kind: 'delete'; type: string; id: string }
  | { kind: 'history'; type: string; id: string }
  | { kind: 'vread'; type: string; id: string; versionId: string }
  | { kind: 'everything'; id: string };

type Method = FhirRequest['method'];

/** HEAD is answered as GET (the transport drops the body). */
const normalize = (m: Method): Method => (m === 'HEAD' ? 'GET' : m);

function allow(method: Method, allowed: readonly Method[]): void {
  if (!allowed.includes(method)) throw methodNotAllowed(allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed);
}

/** Resolves the route or throws the OperationOutcome error the client should get. */
export function routeRequest(req: Pick<FhirRequest, 'method' | 'segments'>, catalogue: ResourceCatalogue): Route {
  const method = normalize(req.method);
  const segs = req.segments.length && req.segments[req.segments.length - 1] === '' ? req.segments.slice(0, -1) : req.segments;
  const [first, second, third, fourth, ...rest] = segs;

  if (first === undefined) {
    allow(method, ['POST']);
    return { kind: 'bundle' };
  }
  if (first === 'metadata' && segs.length === 1) {
    allow(method, ['GET']);
    return { kind: 'metadata' };
  }
  // A type segment must look like a resource type before anything else is said about it.
  if (!/^[A-Z][A-Za-z]{0,63}$/.test(first)) throw unknownPath();
  if (!catalogue.has(first)) throw unsupportedType(first);
  const type = first;
  if (rest.length) throw unknownPath();

  if (second === undefined) {
    allow(method, ['GET', 'POST']);
    return method === 'GET' ? { kind: 'search', type } : { kind: 'create', type };
  }
  if (second === '_search' && third === undefined) {
    allow(method, ['POST']);
    return { kind: 'search', type };
  }
  if (second.startsWith('_') || second.startsWith('$')) throw unknownPath();
  if (!isFhirId(second)) throw invalidId();
  const id = second;

  if (third === undefined) {
    allow(method, ['GET', 'PUT', 'DELETE']);
    if (method === 'GET') return { kind: 'read', type, id };
    return method === 'PUT' ? { kind: 'update', type, id } : { kind: 'delete', type, id };
  }
  if (third === '_history') {
    allow(method, ['GET']);
    if (fourth === undefined) return { kind: 'history', type, id };
    if (!isFhirId(fourth)) throw invalidId('version id');
    return { kind: 'vread', type, id, versionId: fourth };
  }
  if (third === '$everything' && fourth === undefined && type === 'Patient') {
    allow(method, ['GET']);
    return { kind: 'everything', id };
  }
  throw unknownPath();
}
