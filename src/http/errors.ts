/**
 * Error rendering: FHIR routes answer with an OperationOutcome, OAuth routes (src/auth/routes.ts)
 * with RFC 6749 JSON. Unknown errors become a generic 500 naming the request id; causes go to the log only.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../core/logger.js';
import { OutcomeError, notFound, tooLarge, unsupportedMediaType, badRequest } from '../core/outcome.js';
import { isStoreUnavailable } from '../store/unavailable.js';

/** Maps body-parser and other framework errors onto OutcomeErrors without echoing their internals. */
export function toOutcomeError(err: unknown): OutcomeError {
  if (err instanceof OutcomeError) return err;
  const e = err as { type?: string; status?: number };
  switch (e?.type) {
    case 'entity.too.large': return tooLarge('request body exceeds the configured limit');
    case 'entity.parse.failed': return badRequest('request body is not valid JSON', 'GW_INVALID_JSON', 'structure');
    case 'charset.unsupported': return unsupportedMediaType('only UTF-8 request bodies are accepted');
    case 'encoding.unsupported': return unsupportedMediaType('unsupported content encoding');
    case 'request.aborted': return badRequest('request aborted', 'GW_ABORTED');
    case 'request.size.invalid': return badRequest('request body length does not match Content-Length', 'GW_BAD_LENGTH');
    default: break;
  }
  if (e?.status === 400) return badRequest('malformed request', 'GW_MALFORMED');
  if (isStoreUnavailable(err)) {
    return new OutcomeError(503, 'transient', 'GW_STORE_UNAVAILABLE', 'the database is unavailable; retry later', {
      cause: err, headers: { 'retry-after': '2' },
    });
  }
  return new OutcomeError(500, 'exception', 'GW_INTERNAL', 'internal error', { cause: err });
}

export function fhirErrorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const e = toOutcomeError(err);
    const requestId = String(res.locals.requestId ?? '');
    if (e.status >= 500) log.error({ requestId, code: e.code, err: String(e.cause ?? err) }, 'request.failed');
    if (res.headersSent) { res.destroy(); return; }
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    res.status(e.status).type('application/fhir+json').send(JSON.stringify(e.toOutcome(requestId)));
  };
}

/** 404 OperationOutcome for unrouted paths (never reveals what exists). */
export const unrouted: RequestHandler = (_req, _res, next) => next(notFound('the requested path'));
