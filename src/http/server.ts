/**
 * The express application: security headers, request ids, health, /auth (OAuth routes, RFC 6749
 * errors) and /fhir (FHIR routes, OperationOutcome errors). Only http/ and routes.ts import express.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import type { Logger } from '../core/logger.js';
import { fhirErrorHandler, unrouted } from './errors.js';

export interface HttpAppParts {
  log: Logger;
  authRouter: Router;
  fhirRouter: Router;
  /** /ingest routes (HL7 v2 over HTTP for internal systems); absent in gateways built without ingest. */
  ingestRouter?: Router;
  ready: () => Promise<void>;
}

export function createHttpApp(p: HttpAppParts): Express {
  const app = baseApp();
  app.get('/health/live', (_req, res) => { res.json({ status: 'ok' }); });
  app.get('/health/ready', async (_req, res) => {
    try { await p.ready(); res.json({ status: 'ready' }); } catch { res.status(503).json({ status: 'unavailable' }); }
  });
  app.use('/auth', p.authRouter);
  app.use('/fhir', p.fhirRouter);
  if (p.ingestRouter) app.use('/ingest', p.ingestRouter);
  app.use(unrouted);
  app.use(fhirErrorHandler(p.log));
  return app;
}

/**
 * The administration listener: /admin only, on its own port bound to loopback by default (catalogue M-08:
 * admin routes are not reachable on the public listener, and have no CORS).
 */
export function createAdminHttpApp(p: { log: Logger; adminRouter: Router }): Express {
  const app = baseApp();
  app.use('/admin', p.adminRouter);
  app.use(unrouted);
  app.use(fhirErrorHandler(p.log));
  return app;
}

/** What every listener has: no framework banner, no ETags, simple query parsing, security headers, request ids. */
function baseApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } }));
  app.use(requestId);
  return app;
}

const requestId: RequestHandler = (_req, res, next) => {
  const id = randomUUID();
  res.locals.requestId = id;
  res.setHeader('X-Request-Id', id);
  next();
};
