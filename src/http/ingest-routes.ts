/**
 * POST /ingest/hl7v2: HL7 v2 messages over HTTP for the organization's internal clients.
 *
 * - Authentication: a bearer token of an `internal` partner that policy lets create and update every
 *   resource type the HL7 v2 mapper writes (e.g. `system/*.cruds`); any other token gets 403 naming what
 *   is missing. Ingest writes patient records, so it is never open to external partners.
 * - Body: one or more HL7 v2 messages (`x-application/hl7-v2+er7`, `application/hl7-v2` or `text/plain`),
 *   separated by CR, LF or CRLF; anything else is 415.
 * - Answer: 200 with one HL7 ACK per message (AA stored, AE content error, AR not processable), in the
 *   same content type; with `Accept: application/json`, a JSON summary per message instead (control id,
 *   ack, counts, error-queue id, reason, issues). Errors of the request itself are OperationOutcomes.
 */
import express, { type Router } from 'express';
import type { Principal } from '../auth/principal.js';
import { badRequest, forbidden, unsupportedMediaType } from '../core/outcome.js';
import type { Hl7Ingest } from '../mapping/hl7v2-ingest.js';
import { HL7V2_RESOURCE_TYPES } from '../mapping/hl7v2/index.js';

const HL7_TYPES = ['x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain'];

export interface IngestRouteDeps {
  hl7: Hl7Ingest;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  /** policy.decide for a write of this type (create and update), as every FHIR write asks it. */
  mayWrite: (p: Principal, resourceType: string) => boolean;
  bodyLimit: string;
}

export function createIngestRouter(d: IngestRouteDeps): Router {
  const router = express.Router();
  const text = express.text({ type: HL7_TYPES, limit: d.bodyLimit });
  router.post('/hl7v2', async (req, res, next) => {
    try {
      const principal = await d.authenticate(req.headers.authorization);
      if (principal.partner.kind !== 'internal') {
        throw forbidden('HL7 v2 ingest is for the organization\'s internal systems', 'GW_INGEST_NOT_ALLOWED');
      }
      const refused = HL7V2_RESOURCE_TYPES.filter((t) => !d.mayWrite(principal, t));
      if (refused.length) {
        throw forbidden(`HL7 v2 ingest writes ${HL7V2_RESOURCE_TYPES.join(', ')}; this token may not create or update ${refused.join(', ')}`, 'GW_INGEST_NOT_ALLOWED');
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!HL7_TYPES.includes(type)) throw unsupportedMediaType(`send HL7 v2 as ${HL7_TYPES.join(', ')}`);
      await new Promise<void>((resolve, reject) => text(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
      const body = typeof req.body === 'string' ? req.body : '';
      if (!body.includes('MSH')) throw badRequest('the body holds no HL7 v2 message (no MSH segment)', 'GW_NO_HL7_MESSAGE');
      const outcomes = await d.hl7.messages(body, 'http');
      if (req.accepts(['x-application/hl7-v2+er7', 'application/json']) === 'application/json') {
        res.status(200).json({
          messages: outcomes.map((o) => ({
            controlId: o.controlId,
            ack: o.ack,
            ...(o.result ? summarize(o.result) : { reason: 'the gateway cannot store messages right now' }),
          })),
        });
        return;
      }
      res.status(200).type('x-application/hl7-v2+er7').send(outcomes.map((o) => o.ackMessage).join('\n'));
    } catch (err) {
      next(err);
    }
  });
  return router;
}

function summarize(r: NonNullable<Awaited<ReturnType<Hl7Ingest['message']>>['result']>) {
  if (r.status === 'failed') return { status: r.status, errorId: r.errorId, reason: r.reason, outcome: r.outcome };
  return { status: r.status, created: r.created, updated: r.updated, unchanged: r.unchanged, issues: r.issues };
}
