/**
 * The FHIR API over HTTP, as a partner meets it: authentication, enforcement, content negotiation,
 * limits and the disclosure log. Catalogue ids in test names (../shared/test-catalogue.md).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp, pgSkip, type StoreKind, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`FHIR over HTTP (${kind})`, { skip: kind === 'postgres' ? pgSkip : false }, () => {
    let t: TestApp;
    let ehr: string;
    let aliceOnly: string;
    let labsOnly: string;

    before(async () => {
      t = await createTestApp({ store: kind });
      await t.addPartner({ id: 'ehr-1', scopes: ['system/*.rs'] });
      await t.addPartner({ id: 'app-1', scopes: ['patient/*.rs'] });
      await t.addPartner({ id: 'lab-1', scopes: ['system/Observation.rs'] });
      await t.seed(patient('alice', 'Alpha'), patient('bob', 'Bravo'),
        observation('obs-a1', 'alice'), observation('obs-a2', 'alice', 'vital-signs', '8867-4'), observation('obs-b1', 'bob'));
      ehr = await t.token({ partner: 'ehr-1' });
      aliceOnly = await t.token({ partner: 'app-1', patient: 'alice' });
      labsOnly = await t.token({ partner: 'lab-1' });
    });
    after(() => t.close());

    const disclosuresFor = async (p: string) => t.stores.disclosures.listByPatient(p);

    it('serves the CapabilityStatement without a token, with CORS', async () => {
      const res = await request(t.app).get('/fhir/metadata').set('Origin', 'https://app.example');
      assert.equal(res.status, 200);
      assert.equal(res.body.resourceType, 'CapabilityStatement');
      assert.equal(res.body.fhirVersion, '4.0.1');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });

    it('F-01: refuses a request without a token with 401, WWW-Authenticate and a login outcome', async () => {
      for (const auth of [undefined, 'Bearer ', 'Basic dXNlcjpwYXNz']) {
        const req = request(t.app).get('/fhir/Patient/alice');
        const res = auth ? await req.set('Authorization', auth) : await req;
        assert.equal(res.status, 401, String(auth));
        assert.match(String(res.headers['www-authenticate']), /^Bearer/);
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].code, 'login');
      }
      assert.equal((await disclosuresFor('alice')).length, 0);
    });

    it('F-02: refuses a garbage or alg:none bearer token with invalid_token', async () => {
      const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{"sub":"ehr-1"}').toString('base64url')}.`;
      for (const tok of ['garbage', none]) {
        const res = await request(t.app).get('/fhir/Patient/alice').auth(tok, { type: 'bearer' });
        assert.equal(res.status, 401);
        assert.match(String(res.headers['www-authenticate']), /invalid_token/);
        assert.equal(res.body.issue[0].code, 'login');
      }
    });

    it('reads a patient and records exactly one disclosure before answering', async () => {
      const before = (await disclosuresFor('alice')).length;
      const res = await request(t.app).get('/fhir/Patient/alice').auth(ehr, { type: 'bearer' });
      assert.equal(res.status, 200);
      assert.equal(res.body.id, 'alice');
      assert.match(String(res.headers['content-type']), /application\/fhir\+json/);
      const log = await disclosuresFor('alice');
      assert.equal(log.length, before + 1);
      const last = log.at(-1)!;
      assert.equal(last.channel, 'read');
      assert.equal(last.recipient.partnerId, 'ehr-1');
      assert.deepEqual(last.resources.map((r) => `${r.resourceType}/${r.id}`), ['Patient/alice']);
    });

    it('F-04: hides another patient from a patient-context token exactly like a missing id, and discloses nothing', async () => {
      const before = (await disclosuresFor('bob')).length;
      const foreign = await request(t.app).get('/fhir/Patient/bob').auth(aliceOnly, { type: 'bearer' });
      const missing = await request(t.app).get('/fhir/Patient/nobody').auth(aliceOnly, { type: 'bearer' });
      assert.equal(foreign.status, 404);
      assert.equal(missing.status, 404);
      assert.equal(foreign.body.issue[0].code, 'not-found');
      assert.equal(foreign.body.issue[0].details.coding[0].code, missing.body.issue[0].details.coding[0].code);
      const obs = await request(t.app).get('/fhir/Observation/obs-b1').auth(aliceOnly, { type: 'bearer' });
      assert.equal(obs.status, 404);
      const hist = await request(t.app).get('/fhir/Observation/obs-b1/_history').auth(aliceOnly, { type: 'bearer' });
      assert.equal(hist.status, 404);
      assert.equal((await disclosuresFor('bob')).length, before);
    });

    it('F-05: forbids an explicit foreign patient in a search and narrows an open search to the token\'s patient', async () => {
      const foreign = await request(t.app).get('/fhir/Observation?patient=bob').auth(aliceOnly, { type: 'bearer' });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.body.issue[0].code, 'forbidden');
      const both = await request(t.app).get('/fhir/Observation?patient=alice,bob').auth(aliceOnly, { type: 'bearer' });
      assert.equal(both.status, 403);
      const open = await request(t.app).get('/fhir/Observation').auth(aliceOnly, { type: 'bearer' });
      assert.equal(open.status, 200);
      const subjects = (open.body.entry ?? []).map((e: { resource: { subject?: { reference: string } } }) => e.resource.subject?.reference);
      assert.ok(subjects.length >= 2);
      assert.ok(subjects.every((s: string) => s === 'Patient/alice'), JSON.stringify(subjects));
      assert.equal(open.body.total, undefined, 'a narrowed search omits Bundle.total');
    });

    it('F-07: refuses a resource type outside the token\'s scopes with 403', async () => {
      const res = await request(t.app).get('/fhir/Patient?family=Alpha').auth(labsOnly, { type: 'bearer' });
      assert.equal(res.status, 403);
      assert.equal(res.body.issue[0].code, 'forbidden');
      const write = await request(t.app).post('/fhir/Observation').auth(labsOnly, { type: 'bearer' })
        .set('Content-Type', 'application/fhir+json').send(observation('x', 'alice'));
      assert.equal(write.status, 403);
      const del = await request(t.app).delete('/fhir/Observation/obs-a1').auth(ehr, { type: 'bearer' });
      assert.equal(del.status, 403);
    });

    it('F-14: accepts only JSON request bodies and never creates from an empty body', async () => {
      const internal = await t.addPartner({ id: 'internal-1', kind: 'internal', scopes: ['system/*.cruds'] });
      const tok = await t.token({ partner: internal.id });
      for (const type of ['text/plain', 'application/xml', 'application/fhir+xml']) {
        const res = await request(t.app).post('/fhir/Patient').auth(tok, { type: 'bearer' }).set('Content-Type', type).send('<Patient/>');
        assert.equal(res.status, 415, type);
        assert.equal(res.body.issue[0].code, 'not-supported');
      }
      const none = await request(t.app).post('/fhir/Patient').auth(tok, { type: 'bearer' });
      assert.equal(none.status, 415);
      const utf16 = await request(t.app).post('/fhir/Patient').auth(tok, { type: 'bearer' })
        .set('Content-Type', 'application/fhir+json; charset=utf-16').send(Buffer.from('{}', 'utf16le'));
      assert.equal(utf16.status, 415);
      const fhirJson = await request(t.app).post('/fhir/Patient').auth(tok, { type: 'bearer' })
        .set('Content-Type', 'application/fhir+json').send(JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Charlie' }] }));
      assert.equal(fhirJson.status, 201);
      assert.match(String(fhirJson.headers.location), /^https:\/\/gw\.test\/fhir\/Patient\/[^/]+\/_history\/1$/);
    });

    it('F-12: refuses deeply nested JSON with 400 structure and keeps serving', async () => {
      const internal = await t.token({ partner: 'internal-1' });
      const deep = `{"resourceType":"Patient","extension":${'['.repeat(50000)}${']'.repeat(50000)}}`;
      const res = await request(t.app).post('/fhir/Patient').auth(internal, { type: 'bearer' })
        .set('Content-Type', 'application/fhir+json').send(deep);
      assert.equal(res.status, 400);
      assert.equal(res.body.issue[0].code, 'structure');
      const ok = await request(t.app).get('/fhir/metadata');
      assert.equal(ok.status, 200);
    });

    it('F-11: refuses a body over the limit with 413 too-long', async () => {
      const internal = await t.token({ partner: 'internal-1' });
      const big = JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: `<div>${'x'.repeat(11 * 1024 * 1024)}</div>` } });
      const res = await request(t.app).post('/fhir/Patient').auth(internal, { type: 'bearer' }).set('Content-Type', 'application/fhir+json').send(big);
      assert.equal(res.status, 413);
      assert.equal(res.body.issue[0].code, 'too-long');
    });

    it('F-16: drops __proto__ keys so the prototype is untouched', async () => {
      const internal = await t.token({ partner: 'internal-1' });
      const res = await request(t.app).post('/fhir/Patient').auth(internal, { type: 'bearer' }).set('Content-Type', 'application/fhir+json')
        .send('{"resourceType":"Patient","__proto__":{"admin":true},"meta":{"versionId":"99","lastUpdated":"2001-01-01T00:00:00Z"}}');
      assert.equal(res.status, 201);
      assert.equal(({} as Record<string, unknown>).admin, undefined);
      assert.equal(res.body.meta.versionId, '1');
      assert.notEqual(res.body.meta.lastUpdated, '2001-01-01T00:00:00Z');
    });

    it('F-15: answers XML requests with 406/415 and never parses them', async () => {
      const res = await request(t.app).get('/fhir/Patient/alice').auth(ehr, { type: 'bearer' }).set('Accept', 'application/fhir+xml');
      assert.equal(res.status, 406);
      const fmt = await request(t.app).get('/fhir/Patient/alice?_format=xml').auth(ehr, { type: 'bearer' });
      assert.equal(fmt.status, 406);
    });

    it('F-20: unknown paths and methods get 404/405 outcomes; nothing else is routed', async () => {
      for (const path of ['/debug', '/.env', '/admin', '/fhir/STU3/Patient', '/v0/x']) {
        const res = await request(t.app).get(path).auth(ehr, { type: 'bearer' });
        assert.ok([400, 404].includes(res.status), `${path}: ${res.status}`);
      }
      const put = await request(t.app).put('/fhir/metadata').auth(ehr, { type: 'bearer' }).set('Content-Type', 'application/fhir+json').send('{}');
      assert.ok([404, 405].includes(put.status), String(put.status));
      const trace = await request(t.app).trace('/fhir/Patient').auth(ehr, { type: 'bearer' });
      assert.ok([404, 405].includes(trace.status), String(trace.status));
    });

    it('F-21: refuses duplicate Authorization headers', async () => {
      const server = t.app.listen(0, '127.0.0.1');
      await new Promise<void>((r) => server.once('listening', () => r()));
      const { port } = server.address() as import('node:net').AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/fhir/Patient/alice', headers: [['Authorization', `Bearer ${ehr}`], ['Authorization', `Bearer ${ehr}`]] as unknown as http.OutgoingHttpHeaders }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.on('error', reject);
        req.end();
      });
      server.close();
      assert.equal(status, 400);
    });

    it('F-22: rejects path abuse with 400/404 and no routing escape', async () => {
      for (const path of ['/fhir/Patient/..%2FPractitioner%2F1', `/fhir/Patient/${'a'.repeat(65)}`, '/fhir/Patient/%00', '/fhir/Patient/a%20b']) {
        const res = await request(t.app).get(path).auth(ehr, { type: 'bearer' });
        assert.ok([400, 404].includes(res.status), `${path}: ${res.status}`);
        assert.equal(res.body.resourceType, 'OperationOutcome');
      }
    });

    it('F-23: error bodies carry security headers and never reflect raw input unescaped', async () => {
      const res = await request(t.app).get('/fhir/Patient?name=<script>alert(1)</script>&foo=<b>').auth(ehr, { type: 'bearer' }).set('Prefer', 'handling=strict');
      assert.equal(res.status, 400);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.match(String(res.headers['content-type']), /json/);
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      assert.doesNotMatch(res.text, /<script>|<b>/, 'no raw markup reflected in the body');
    });
  });
}
