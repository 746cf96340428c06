/**
 * Issue #3: POST /ingest/hl7v2 as the organization's internal systems (and everyone else) meet it:
 * HL7 ACKs or JSON summaries for an internal partner with create scopes; 401, 403, 415 and 400
 * OperationOutcomes otherwise, with nothing stored and nothing queued.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'superagent';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { badDateAdt, hl7Fixture, parseAck, patientByMrn, schedulingMessage, smallAdt } from './helpers.js';

const HL7 = 'x-application/hl7-v2+er7';

/** Reads any response body as text (superagent leaves unknown media types unparsed). */
function asText(res: Response, done: (err: Error | null, body: string) => void) {
  const stream = res as unknown as NodeJS.ReadableStream; // at run time, the incoming message
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => { body += c; });
  stream.on('end', () => done(null, body));
}

/** The ACKs of a response body: one per message, each ending with CR, joined by LF. */
const acksOf = (body: string) => body.split(/\r?\n(?=MSH)/).filter((s) => s.trim()).map(parseAck);

describe('POST /ingest/hl7v2', { timeout: 20_000 }, () => {
  let t: TestApp;
  let internal: string;
  let internalReadOnly: string;
  let ehr: string;
  let ehrWithCruds: string;

  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'lab-system', kind: 'internal', scopes: ['system/*.cruds'] });
    await t.addPartner({ id: 'reporting', kind: 'internal', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'outside-ehr', kind: 'ehr', scopes: ['system/*.rs'] });
    await t.addPartner({ id: 'pushy-ehr', kind: 'ehr', scopes: ['system/*.cruds'] });
    internal = await t.token({ partner: 'lab-system' });
    internalReadOnly = await t.token({ partner: 'reporting' });
    ehr = await t.token({ partner: 'outside-ehr' });
    ehrWithCruds = await t.token({ partner: 'pushy-ehr' });
  });
  after(() => t.close());

  const queueSize = async () => (await t.stores.ingestErrors.list({})).length;

  it('stores a batch file from an internal system and answers one HL7 ACK per message, in order', async () => {
    const res = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' })
      .set('Content-Type', HL7).send(hl7Fixture('batch-lf-three-messages.hl7')).buffer(true).parse(asText);
    assert.equal(res.status, 200, String(res.body));
    assert.match(String(res.headers['content-type']), /^x-application\/hl7-v2\+er7/);
    const acks = acksOf(res.body as string);
    assert.deepEqual(acks.map((a) => [a.field('MSA', 1), a.field('MSA', 2)]),
      [['AA', 'RGH-BATCH-001'], ['AA', 'RGH-BATCH-002'], ['AA', 'RGH-BATCH-003']]);
    assert.ok(acks.every((a) => a.field('MSH', 9) === 'ACK^A04^ACK'));
    for (const [mrn, family] of [['MRN-810001', 'Thibodeaux'], ['MRN-810002', 'Abernathy-Quill'], ['MRN-810003', 'Nakashima']]) {
      const p = await patientByMrn(t.stores, mrn!);
      assert.equal(p?.name?.[0]?.family, family, `${mrn} stored`);
      assert.equal(p?.meta?.versionId, '1');
    }

    // Sent again (the sender did not see the ACKs): acknowledged again, nothing new stored.
    const again = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' })
      .set('Content-Type', HL7).set('Accept', 'application/json').send(hl7Fixture('batch-lf-three-messages.hl7'));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.messages.map((m: { ack: string; status: string; created: number; updated: number }) => [m.ack, m.status, m.created, m.updated]),
      [['AA', 'unchanged', 0, 0], ['AA', 'unchanged', 0, 0], ['AA', 'unchanged', 0, 0]]);
    assert.equal((await patientByMrn(t.stores, 'MRN-810001'))?.meta?.versionId, '1');
  });

  it('answers JSON summaries with Accept: application/json: counts for AA, error-queue ids and reasons for AE and AR', async () => {
    const before = await queueSize();
    const body = [smallAdt('HTTP-JSON-1', 'MRN-HTTP-JSON'), badDateAdt('HTTP-JSON-2', 'MRN-HTTP-AE'), schedulingMessage('HTTP-JSON-3')].join('\r\n');
    const res = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' })
      .set('Content-Type', 'text/plain; charset=utf-8').set('Accept', 'application/json').send(body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const [aa, ae, ar] = res.body.messages;
    assert.equal(res.body.messages.length, 3);
    assert.deepEqual({ controlId: aa.controlId, ack: aa.ack, status: aa.status }, { controlId: 'HTTP-JSON-1', ack: 'AA', status: 'stored' });
    assert.ok(aa.created >= 2, 'Patient, sending Organization and Provenance are created');
    assert.deepEqual({ controlId: ae.controlId, ack: ae.ack, status: ae.status }, { controlId: 'HTTP-JSON-2', ack: 'AE', status: 'failed' });
    assert.match(ae.reason, /^PID-7: "19861345" is not a valid HL7 date\/time/);
    assert.equal(ae.outcome.resourceType, 'OperationOutcome');
    assert.deepEqual({ controlId: ar.controlId, ack: ar.ack, status: ar.status }, { controlId: 'HTTP-JSON-3', ack: 'AR', status: 'failed' });
    assert.match(ar.reason, /SIU\^S12/);

    assert.ok(await patientByMrn(t.stores, 'MRN-HTTP-JSON'));
    assert.equal(await patientByMrn(t.stores, 'MRN-HTTP-AE'), undefined);
    assert.equal(await queueSize(), before + 2);
    for (const m of [ae, ar]) {
      const queued = await t.stores.ingestErrors.get(m.errorId);
      assert.equal(queued?.channel, 'http');
      assert.equal(queued?.status, 'open');
      assert.equal(queued?.source, `MSH-10 ${m.controlId}`);
      assert.match(queued?.input ?? '', new RegExp(`^MSH\\|.*\\|${m.controlId}\\|`), 'the message itself is queued');
    }
  });

  it('accepts application/hl7-v2 too', async () => {
    const res = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' })
      .set('Content-Type', 'application/hl7-v2').send(smallAdt('HTTP-ALT-1', 'MRN-HTTP-ALT')).buffer(true).parse(asText);
    assert.equal(res.status, 200);
    assert.deepEqual(acksOf(res.body as string).map((a) => a.field('MSA', 1)), ['AA']);
    assert.ok(await patientByMrn(t.stores, 'MRN-HTTP-ALT'));
  });

  describe('refused requests store nothing and queue nothing', () => {
    const message = (n: number) => smallAdt(`HTTP-REFUSED-${n}`, `MRN-REFUSED-${n}`);
    let queued: number;
    before(async () => { queued = await queueSize(); });

    it('401 without a token, and with a garbage one', async () => {
      const res = await request(t.app).post('/ingest/hl7v2').set('Content-Type', HL7).send(message(1));
      assert.equal(res.status, 401);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      const garbage = await request(t.app).post('/ingest/hl7v2').auth('not-a-token', { type: 'bearer' }).set('Content-Type', HL7).send(message(2));
      assert.equal(garbage.status, 401);
    });

    it('403 for an external EHR, even one with create scopes, and for an internal system without create scopes', async () => {
      for (const [token, n] of [[ehr, 3], [ehrWithCruds, 4], [internalReadOnly, 5]] as const) {
        const res = await request(t.app).post('/ingest/hl7v2').auth(token, { type: 'bearer' }).set('Content-Type', HL7).send(message(n));
        assert.equal(res.status, 403, `message ${n}`);
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].code, 'forbidden');
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_INGEST_NOT_ALLOWED');
      }
    });

    it('403 for an internal system that may write only some of the types a message maps to', async () => {
      await t.addPartner({ id: 'obs-writer', kind: 'internal', scopes: ['system/Observation.cru', 'system/Provenance.cru'] });
      const narrow = await t.token({ partner: 'obs-writer' });
      const res = await request(t.app).post('/ingest/hl7v2').auth(narrow, { type: 'bearer' }).set('Content-Type', HL7).send(message(8));
      assert.equal(res.status, 403);
      assert.equal(res.body.issue[0].details.coding[0].code, 'GW_INGEST_NOT_ALLOWED');
      assert.match(res.body.issue[0].details.text, /may not create or update Patient,/);
      assert.equal(await patientByMrn(t.stores, 'MRN-REFUSED-8'), undefined);
    });

    it('415 for a body that is not sent as HL7 v2', async () => {
      for (const [type, n] of [['application/json', 6], ['application/fhir+json', 7]] as const) {
        const res = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' }).set('Content-Type', type)
          .send(type === 'application/json' ? JSON.stringify({ hl7: message(n) }) : message(n));
        assert.equal(res.status, 415, type);
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('400 for an empty body and for text without an HL7 message', async () => {
      for (const body of ['', 'PID|1||MRN-X^^^F^MR||Doe^Jane\r', 'hello']) {
        const res = await request(t.app).post('/ingest/hl7v2').auth(internal, { type: 'bearer' }).set('Content-Type', HL7).send(body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_NO_HL7_MESSAGE');
      }
    });

    it('none of the refused messages was stored or queued', async () => {
      for (let n = 1; n <= 7; n++) assert.equal(await patientByMrn(t.stores, `MRN-REFUSED-${n}`), undefined, `MRN-REFUSED-${n}`);
      assert.equal(await queueSize(), queued);
    });
  });
});
