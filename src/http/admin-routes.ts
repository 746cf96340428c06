/**
 * Express adapter for /admin (admin/admin-api.ts): bearer authentication, JSON bodies, errors as
 * OperationOutcome. Responses are never cached.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { AdminApi } from '../admin/admin-api.js';
import type { Principal } from '../auth/principal.js';
import { dropProtoKeys } from '../core/json-limits.js';
import type { Logger } from '../core/logger.js';
import { unsupportedMediaType } from '../core/outcome.js';

export function createAdminRouter(d: {
  api: AdminApi;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  log: Logger;
}): Router {
  const router = express.Router();
  const json = express.json({ limit: '256kb', reviver: dropProtoKeys, strict: true, type: ['application/json', 'application/fhir+json'] });
  router.use((req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    if (req.method === 'POST' || req.method === 'PUT') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (type !== 'application/json' && type !== 'application/fhir+json') { next(unsupportedMediaType('send application/json')); return; }
      json(req, res, next);
      return;
    }
    next();
  });
  const route = (fn: (p: Principal, req: Request) => Promise<unknown>, status = 200) => async (req: Request, res: Response, next: (e?: unknown) => void) => {
    let p: Principal | undefined;
    try {
      p = await d.authenticate(req.headers.authorization);
      res.status(status).json(await fn(p, req));
    } catch (err) {
      // Refused administration attempts are logged with who and what (catalogue M-01), never with bodies.
      const e = err as { status?: number; code?: string };
      if (e.status === 401 || e.status === 403) {
        d.log.warn({ requestId: res.locals.requestId, clientId: p?.clientId, method: req.method, path: req.route?.path, code: e.code }, 'admin.denied');
      }
      next(err);
    }
  };
  const q = (req: Request) => Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]));
  const int = (v: unknown) => (typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : undefined);
  const param = (req: Request, name: string) => String(req.params[name] ?? '');

  router.get('/partners', route((p) => d.api.listPartners(p)));
  router.get('/partners/:id', route((p, req) => d.api.getPartner(p, param(req, 'id'))));
  router.put('/partners/:id/agreement', route((p, req) => d.api.putAgreement(p, param(req, 'id'), req.body)));
  router.delete('/partners/:id/agreement', route((p, req) => d.api.deleteAgreement(p, param(req, 'id'))));
  router.put('/partners/:id/status', route((p, req) => d.api.setStatus(p, param(req, 'id'), req.body)));
  router.get('/trail', route((p, req) => {
    const target = typeof req.query.target === 'string' ? req.query.target : undefined;
    const count = int(req.query._count);
    const offset = int(req.query._offset);
    return d.api.trail(p, { ...(target ? { target } : {}), ...(count !== undefined ? { count } : {}), ...(offset !== undefined ? { offset } : {}) });
  }));
  router.get('/suspensions', route((p) => d.api.listSuspensions(p)));
  router.post('/suspensions', route((p, req) => d.api.addSuspension(p, req.body), 201));
  router.get('/accounting/:patient', route((p, req) => d.api.accounting(p, param(req, 'patient'), q(req))));
  router.get('/explain', route((p, req) => d.api.explain(p, q(req))));
  return router;
}
