/**
 * Express adapter for {base}/fhir: CORS, bearer authentication, per-client rate limit, content
 * negotiation and body limits, then the transport-independent FHIR handler. Only JSON is spoken:
 * request bodies must be application/fhir+json or application/json (415 otherwise, catalogue F-14/F-15).
 */
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../core/logger.js';
import { assertMaxDepth, dropProtoKeys } from '../core/json-limits.js';
import { badRequest, OutcomeError, unsupportedMediaType } from '../core/outcome.js';
import type { FhirHandler, FhirRequest, FhirResponse } from '../fhir/types.js';
import type { RateLimiter } from './rate-limit.js';

export interface FhirRouteDeps {
  handle: FhirHandler;
  capabilityStatement: () => unknown;
  smartConfiguration: RequestHandler;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  rateLimiter: RateLimiter;
  log: Logger;
  bodyLimit: string;
  maxJsonDepth: number;
}

const FHIR_JSON = 'application/fhir+json';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json']);
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']);

export function createFhirRouter(d: FhirRouteDeps): Router {
  const router = Router();
  const jsonBody = express.json({ type: [...JSON_TYPES], limit: d.bodyLimit, reviver: dropProtoKeys, strict: true });
  const formBody = express.urlencoded({ type: 'application/x-www-form-urlencoded', limit: '64kb', extended: false });

  router.use(cors);
  router.get('/metadata', (_req, res) => send(res, { status: 200, body: d.capabilityStatement() }));
  router.get('/.well-known/smart-configuration', d.smartConfiguration);

  router.use(async (req, res, next) => {
    try {
      if (!METHODS.has(req.method)) {
        throw new OutcomeError(405, 'not-supported', 'GW_METHOD_NOT_ALLOWED', `${req.method} is not supported`, {
          headers: { allow: 'GET, HEAD, POST, PUT, DELETE' },
        });
      }
      if (countHeader(req, 'authorization') > 1) throw badRequest('more than one Authorization header', 'GW_DUPLICATE_AUTH');
      const principal = await d.authenticate(req.headers.authorization);
      d.rateLimiter.take(principal.clientId);
      res.locals.principal = principal;
      checkAccept(req);
      checkContentType(req);
      next();
    } catch (err) {
      if (err instanceof OutcomeError && err.status === 401) d.log.info({ requestId: res.locals.requestId, code: err.code }, 'auth.denied');
      next(err);
    }
  });
  // Only requests that may carry a body are handed to the body parsers.
  router.use((req, res, next) => (req.method === 'POST' || req.method === 'PUT' ? jsonBody(req, res, (err?: unknown) => (err ? next(err) : formBody(req, res, next))) : next()));
  router.use(async (req, res, next) => {
    try {
      const fhirReq = toFhirRequest(req, d.maxJsonDepth);
      const out = await d.handle(fhirReq, { principal: res.locals.principal as Principal, requestId: res.locals.requestId as string });
      send(res, out);
    } catch (err) {
      next(err);
    }
  });
  return router;
}

const cors: RequestHandler = (req, res, next) => {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', 'Location, ETag, Last-Modified, Content-Location, Retry-After');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept, If-Match, If-None-Exist, Prefer');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
    return;
  }
  next();
};

function send(res: Response, out: FhirResponse): void {
  for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
  res.status(out.status);
  if (out.body === undefined) { res.end(); return; }
  if (out.contentType) { res.type(out.contentType).send(String(out.body)); return; }
  res.type(FHIR_JSON).send(JSON.stringify(out.body));
}

function countHeader(req: Request, name: string): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) n++;
  return n;
}

/** JSON only: `_format`/Accept asking for anything else gets 406. */
function checkAccept(req: Request): void {
  const format = new URL(req.originalUrl, 'http://x').searchParams.get('_format');
  if (format && !/^(json|application\/(fhir\+)?json)$/.test(format)) {
    throw new OutcomeError(406, 'not-supported', 'GW_NOT_ACCEPTABLE', `_format ${format} is not supported; this server speaks JSON`);
  }
  const accept = req.headers.accept;
  // The accounting of disclosures also has a page a patient can be handed.
  if (accept && /\/Patient\/[^/]+\/\$disclosures$/.test(req.path) && req.accepts(['application/fhir+json', 'application/json', 'text/html'])) return;
  if (accept && !req.accepts(['application/fhir+json', 'application/json'])) {
    throw new OutcomeError(406, 'not-supported', 'GW_NOT_ACCEPTABLE', 'only application/fhir+json and application/json responses are available');
  }
}

/** A body must be JSON (or a form, for POST _search); never a create from an empty or unparsed body. */
function checkContentType(req: Request): void {
  if (req.method !== 'POST' && req.method !== 'PUT') return;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const isSearch = req.method === 'POST' && req.path.endsWith('/_search');
  if (isSearch && (type === 'application/x-www-form-urlencoded' || (type === '' && !hasBody(req)))) return;
  const charset = /;\s*charset=("?)([^";\s]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') throw unsupportedMediaType('only UTF-8 request bodies are accepted');
  if (!JSON_TYPES.has(type)) {
    throw unsupportedMediaType(type
      ? `Content-Type ${type} is not supported; send application/fhir+json`
      : 'a request body needs Content-Type application/fhir+json');
  }
}

const hasBody = (req: Request) => Number(req.headers['content-length'] ?? 0) > 0 || Boolean(req.headers['transfer-encoding']);

function toFhirRequest(req: Request, maxDepth: number): FhirRequest {
  const rawPath = req.path.replace(/^\/+|\/+$/g, '');
  let segments: string[];
  try {
    segments = rawPath === '' ? [] : rawPath.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest('malformed percent-encoding in the path', 'GW_BAD_PATH');
  }
  const query = req.originalUrl.indexOf('?');
  const params: Array<[string, string]> = query < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(query + 1))];
  let body: unknown;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded' && req.body && typeof req.body === 'object') {
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      for (const one of Array.isArray(v) ? v : [v]) params.push([k, String(one)]);
    }
  } else if (req.body !== undefined && JSON_TYPES.has(type)) {
    assertMaxDepth(req.body, maxDepth);
    body = req.body;
  }
  if ((req.method === 'POST' || req.method === 'PUT') && JSON_TYPES.has(type) && (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))) {
    throw badRequest('the request body must be a JSON object (a FHIR resource)', 'GW_EMPTY_BODY', 'structure');
  }
  const prefer = req.headers.prefer;
  const ifMatch = req.headers['if-match'];
  const ifNoneExist = req.headers['if-none-exist'];
  return {
    method: req.method as FhirRequest['method'],
    segments,
    params,
    ...(body !== undefined ? { body } : {}),
    headers: {
      ...(typeof ifMatch === 'string' ? { ifMatch } : {}),
      ...(typeof ifNoneExist === 'string' ? { ifNoneExist } : {}),
      ...(typeof prefer === 'string' ? { prefer } : {}),
      ...(typeof req.headers.accept === 'string' ? { accept: req.headers.accept } : {}),
    },
  };
}
