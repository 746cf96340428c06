/**
 * Express adapter for the SMART authorization server, mounted at `/auth`:
 *   POST /auth/token       client_credentials + private_key_jwt (application/x-www-form-urlencoded only)
 *   POST /auth/introspect  RFC 7662, caller authenticated with its bearer token
 *   GET  /auth/jwks        the gateway's public signing keys
 * plus smartConfigurationHandler for `/fhir/.well-known/smart-configuration`.
 *
 * Errors on these routes are RFC 6749 §5.2 JSON `{ error, error_description }` with
 * `Cache-Control: no-store` (catalogue "OAuth error"), never an OperationOutcome, never parser internals.
 * See: https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, Router } from 'express';
import type { Logger } from '../core/logger.js';
import { OutcomeError } from '../core/outcome.js';
import { invalidRequest } from './errors.js';
import type { AuthService, FormParams, OAuthResponse } from './service.js';
import { NO_STORE_HEADERS } from './token-endpoint.js';

export interface AuthRouterDeps {
  auth: AuthService;
  log: Logger;
  /** Largest form body accepted (default 64 kB: an assertion is capped at 16 kB). */
  formLimit?: string;
}

const FORM = 'application/x-www-form-urlencoded';

export function createAuthRouter(deps: AuthRouterDeps): Router {
  const router = Router();
  const log = deps.log.child({ component: 'auth-http' });
  const readForm = express.text({ type: FORM, limit: deps.formLimit ?? '64kb', defaultCharset: 'utf-8' });

  router.route('/token')
    .post(requireForm, readForm, async (req, res, next) => {
      try {
        send(res, await deps.auth.tokenEndpoint(formParams(req)));
      } catch (err) {
        next(err);
      }
    })
    .all(methodNotAllowed('POST'));

  router.route('/introspect')
    .post(requireForm, readForm, async (req, res, next) => {
      try {
        send(res, await deps.auth.introspect(req.headers.authorization, formParams(req)));
      } catch (err) {
        next(err);
      }
    })
    .all(methodNotAllowed('POST'));

  router.route('/jwks')
    .get(async (_req, res, next) => {
      try {
        const jwks = await deps.auth.publicJwks();
        // short, so resource servers see a rotation soon; retired keys stay listed meanwhile
        res.set({ 'cache-control': 'public, max-age=60', 'access-control-allow-origin': '*' });
        res.status(200).json(jwks);
      } catch (err) {
        next(err);
      }
    })
    .all(methodNotAllowed('GET, HEAD'));

  router.use(oauthErrors(log));
  return router;
}

/**
 * GET `{base}/fhir/.well-known/smart-configuration`: `application/json` whatever the Accept header
 * (SMART; Inferno items 1-2), readable cross-origin (Inferno item 9).
 */
export function smartConfigurationHandler(deps: { auth: AuthService }): RequestHandler {
  return (_req, res) => {
    res.set({ 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' });
    res.status(200).json(deps.auth.smartConfiguration());
  };
}

/** Catalogue T-21: a token request that is JSON, text/plain or has no body is refused before parsing. */
const requireForm: RequestHandler = (req, _res, next) => {
  next(req.is(FORM) ? undefined : invalidRequest(`the request body must be ${FORM}`));
};

function methodNotAllowed(allow: string): RequestHandler {
  return (req, _res, next) => {
    next(new OutcomeError(405, 'not-supported', 'GW_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow}`, {
      oauthError: 'invalid_request',
      headers: { allow },
    }));
  };
}

/** The decoded form, in order, repeats kept (URLSearchParams: `+` is a space, percent-decoding). */
function formParams(req: Request): FormParams {
  return typeof req.body === 'string' ? [...new URLSearchParams(req.body)] : [];
}

function send(res: Response, r: OAuthResponse): void {
  res.status(r.status).set(r.headers).json(r.body);
}

/** body-parser failures, by its error `type`, as OAuth errors without its messages. */
function bodyParserError(err: { type?: unknown; status?: unknown }): OutcomeError | undefined {
  switch (err.type) {
    case 'entity.too.large': return new OutcomeError(413, 'too-long', 'GW_OAUTH_INVALID_REQUEST', 'request body is too large', { oauthError: 'invalid_request' });
    case 'charset.unsupported':
    case 'encoding.unsupported': return invalidRequest('unsupported request body charset or encoding');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable': return invalidRequest('request body could not be read');
    default: return undefined;
  }
}

function oauthErrors(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    let e = err instanceof OutcomeError ? err : bodyParserError(err as { type?: unknown });
    if (!e || !e.expose) {
      log.error({ err }, 'auth request failed');
      e = undefined;
    }
    res.set(NO_STORE_HEADERS);
    if (!e) {
      res.status(500).json({ error: 'server_error', error_description: 'internal error' });
      return;
    }
    const error = e.oauthError ?? (e.status === 401 ? 'invalid_token' : e.status === 503 ? 'temporarily_unavailable' : 'invalid_request');
    res.status(e.status).set(e.headers).json({ error, error_description: e.message });
  };
}
