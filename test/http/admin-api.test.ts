/**
 * The /admin API as an administrator uses it (issue #4): accounting suspensions (45 CFR 164.528(a)(2)) that hide
 * an oversight agency's disclosures from the patient's accounting but not from the administrator's review,
 * refused suspensions with readable reasons, partner status changes that stop tokens at once, the partner
 * directory with the effective agreement, and who may call it at all. Every change leaves a trail entry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';

const bearer = { type: 'bearer' as const };
const ALL_ADMIN = 'admin/partners.read admin/partners.write admin/accounting.read admin/accounting.write admin/policy.read';

type TrailEntry = { seq: number; actor: string; action: string; target: string; before?: Record<string, unknown>; after?: Record<string, unknown> };
type Line = { seq: number; recipient: { partnerId: string; name: string } };

const recipientIds = (b: Bundle<AuditEvent>) => (b.entry ?? []).map((e) =>
  (e.resource as AuditEvent).agent.find((a) => a.type?.coding?.[0]?.code === '110152')?.who?.identifier?.value);

describe('/admin API', () => {
  let t: TestApp;
  let admin: string;
  let auditor: string;

  const adminGet = (path: string, tok = admin) => request(t.gw.adminApp).get(path).auth(tok, bearer);
  const adminSend = (method: 'post' | 'put', path: string, body: unknown, tok = admin) =>
    request(t.gw.adminApp)[method](path).auth(tok, bearer).send(body as object);
  const trail = async (target?: string): Promise<TrailEntry[]> =>
    (await adminGet(`/admin/trail${target ? `?target=${encodeURIComponent(target)}` : ''}`)).body;

  before(async () => {
    t = await createTestApp();
    await t.addPartner({ id: 'admin-console', name: 'Admin Console', kind: 'internal', scopes: ALL_ADMIN.split(' ') });
    await t.addPartner({ id: 'privacy-office', name: 'Privacy Office', kind: 'internal', scopes: ['system/AuditEvent.rs', 'admin/accounting.read'] });
    await t.addPartner({ id: 'clinic-ehr', name: 'Clinic EHR', kind: 'ehr', scopes: ['system/*.rs'] });
    // A health oversight agency (45 CFR 164.512(d)): purpose GOV is recorded with the health-oversight basis.
    await t.addPartner({
      id: 'state-oversight', name: 'State Medicaid Fraud Control Unit', kind: 'payer', scopes: ['system/*.rs'],
      agreement: { purposes: ['GOV'], resourceTypes: ['Patient', 'Observation'], consentRequired: false, legalReference: 'Oversight MOU 2026-01' },
    });
    await t.addPartner({ id: 'county-health', name: 'County Health Department', kind: 'payer', scopes: ['system/*.rs'],
      agreement: { purposes: ['PUBHLTH'], resourceTypes: ['Patient', 'Observation'], consentRequired: false } });
    // A partner that registered admin scopes but is not one of the organization's own systems.
    await t.addPartner({ id: 'rogue-ehr', kind: 'ehr', scopes: [...ALL_ADMIN.split(' '), 'system/*.rs'] });
    await t.seed(patient('dana', 'Delta'), observation('dana-glucose', 'dana'));

    const oversight = await t.token({ partner: 'state-oversight', purposeOfUse: 'GOV' });
    assert.equal((await request(t.app).get('/fhir/Observation/dana-glucose').auth(oversight, bearer)).status, 200);
    const county = await t.token({ partner: 'county-health', purposeOfUse: 'PUBHLTH' });
    assert.equal((await request(t.app).get('/fhir/Patient/dana').auth(county, bearer)).status, 200);
    const bases = (await t.stores.disclosures.listByPatient('dana')).map((e) => [e.recipient.partnerId, e.legalBasis]);
    assert.deepEqual(bases, [['state-oversight', 'health-oversight'], ['county-health', 'public-health']]);

    admin = await t.token({ partner: 'admin-console', scope: ALL_ADMIN });
    auditor = await t.token({ partner: 'privacy-office' });
  });
  after(() => t.close());

  describe('accounting suspensions', () => {
    it('a written suspension for the oversight agency hides its disclosure from the patient, not from the administrator', async () => {
      const hipaa = () => request(t.app).get('/fhir/Patient/dana/$disclosures').auth(auditor, bearer);
      assert.deepEqual(recipientIds((await hipaa()).body), ['state-oversight', 'county-health'], 'before: both 164.512 disclosures are listed');

      const posted = await adminSend('post', '/admin/suspensions', {
        patient: 'dana', recipientPartnerId: 'state-oversight', agency: 'State Medicaid Fraud Control Unit', form: 'written',
        requestedBy: 'Special Agent R. Roe', start: '2020-01-01', end: '2099-12-31', reason: 'ongoing investigation',
      });
      assert.equal(posted.status, 201, JSON.stringify(posted.body));
      assert.equal(posted.headers['cache-control'], 'no-store');
      const id = posted.body.id as string;
      assert.ok(id);
      assert.equal(posted.body.patient, 'dana');
      assert.equal(posted.body.body.recipientPartnerId, 'state-oversight');

      // The patient's accounting no longer shows it, and nothing on it betrays that something is withheld.
      const after = await hipaa();
      assert.deepEqual(recipientIds(after.body), ['county-health']);
      const page = await request(t.app).get('/fhir/Patient/dana/$disclosures').set('Accept', 'text/html').auth(auditor, bearer);
      assert.equal(page.status, 200);
      assert.ok(!/Fraud Control|suspen|Special Agent/i.test(page.text), 'the page says nothing about the suspension');

      // The administrator's review: hidden by default, shown with includeSuspended=true.
      const review = await adminGet('/admin/accounting/dana?kind=access-report', auditor);
      assert.equal(review.status, 200, JSON.stringify(review.body));
      assert.ok(!review.body.entries.some((l: Line) => l.recipient.partnerId === 'state-oversight'));
      assert.equal(review.body.withheldBySuspension, 1);
      assert.deepEqual(review.body.suspensionsApplied, [id]);
      const full = await adminGet('/admin/accounting/dana?kind=access-report&includeSuspended=true', auditor);
      assert.equal(full.status, 200);
      const shown = full.body.entries.filter((l: Line) => l.recipient.partnerId === 'state-oversight');
      assert.equal(shown.length, 1);
      assert.equal(shown[0].recipient.name, 'State Medicaid Fraud Control Unit');
      assert.equal(full.body.withheldBySuspension, 0);

      const listed = await adminGet('/admin/suspensions', auditor);
      assert.deepEqual(listed.body.map((s: { id: string }) => s.id), [id]);
      const entries = await trail(`suspension/${id}`);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.action, 'suspension.add');
      assert.equal(entries[0]!.actor, 'partner:admin-console');
      assert.equal((entries[0]!.after as { body: { agency: string } }).body.agency, 'State Medicaid Fraud Control Unit');
      // Reviews are administrative acts too.
      const reviews = await trail('patient/dana');
      assert.deepEqual(reviews.slice(-2).map((e) => [e.action, e.actor]), [['accounting.review', 'partner:privacy-office'], ['accounting.review', 'partner:privacy-office']]);
    });

    it('refuses an invalid suspension with a readable reason and stores nothing', async () => {
      const before = (await adminGet('/admin/suspensions')).body.length;
      const trailBefore = (await trail()).length;
      const base = { patient: 'dana', agency: 'County Sheriff', form: 'oral', requestedBy: 'Deputy Q. Public', start: '2026-01-10' };
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ ...base, requestedBy: undefined }, /requestedBy \(who made the statement\) is required/],
        [{ ...base, start: '10/01/2026' }, /start must be an ISO date or instant/],
        [{ ...base, start: '2026-02-30' }, /start must be an ISO date or instant/],
        [{ ...base, end: '2026-01-01' }, /end is before start/],
        [{ ...base, form: 'written' }, /a written statement specifies the time .* \(end\)/],
        [{ ...base, form: 'phone' }, /form must be written or oral/],
        [{ ...base, agency: '' }, /agency is required/],
        [{ ...base, id: 'chosen-by-client' }, /unknown field id/],
        [{ ...base, start: 20260110 }, /start must be a string/],
        [base, /recipientPartnerId/],
      ];
      for (const [body, why] of cases) {
        const res = await adminSend('post', '/admin/suspensions', JSON.parse(JSON.stringify(body)));
        assert.equal(res.status, 400, `${JSON.stringify(body)} -> ${res.status}`);
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_INVALID_SUSPENSION');
        assert.match(res.body.issue[0].details.text, why);
      }
      const notJson = await request(t.gw.adminApp).post('/admin/suspensions').auth(admin, bearer).type('text/plain').send('suspend it');
      assert.equal(notJson.status, 415);
      const array = await adminSend('post', '/admin/suspensions', [base]);
      assert.equal(array.status, 400);
      assert.equal((await adminGet('/admin/suspensions')).body.length, before);
      assert.equal((await trail()).length, trailBefore);
    });

    it('needs admin/accounting.write to add one', async () => {
      const res = await adminSend('post', '/admin/suspensions', {
        agency: 'County Sheriff', form: 'oral', requestedBy: 'Deputy Q. Public', start: '2026-01-10',
      }, auditor);
      assert.equal(res.status, 403);
      assert.equal(res.body.issue[0].details.coding[0].code, 'GW_ADMIN_SCOPE_REQUIRED');
      assert.match(res.body.issue[0].details.text, /admin\/accounting\.write/);
    });
  });

  describe('who may call it', () => {
    it('answers 401 without a token and with a bad one', async () => {
      const none = await request(t.gw.adminApp).get('/admin/partners');
      assert.equal(none.status, 401);
      assert.equal(none.body.resourceType, 'OperationOutcome');
      assert.equal((await request(t.gw.adminApp).get('/admin/partners').set('Authorization', 'Bearer not-a-token')).status, 401);
      assert.equal((await request(t.gw.adminApp).post('/admin/suspensions').send({ agency: 'x' })).status, 401);
    });

    it('answers 403 to a partner that is not an internal system, whatever admin scopes it registered', async () => {
      const rogue = await t.token({ partner: 'rogue-ehr', scope: ALL_ADMIN });
      const before = (await t.stores.adminTrail.list({ count: 1000 })).length;
      for (const [method, path, body] of [
        ['get', '/admin/partners', undefined], ['get', '/admin/trail', undefined], ['get', '/admin/accounting/dana', undefined],
        ['put', '/admin/partners/rogue-ehr/agreement', { purposes: ['TREAT', 'HPAYMT'], resourceTypes: ['*'], consentRequired: false }],
        ['put', '/admin/partners/clinic-ehr/status', { status: 'suspended' }],
        ['post', '/admin/suspensions', { agency: 'x', form: 'oral', requestedBy: 'y', start: '2026-01-01' }],
      ] as const) {
        const req = request(t.gw.adminApp)[method](path).auth(rogue, bearer);
        const res = body ? await req.send(body) : await req;
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.body.issue[0].details.coding[0].code, 'GW_ADMIN_SCOPE_REQUIRED');
      }
      assert.equal((await t.stores.partners.get('rogue-ehr'))!.agreement, undefined, 'it could not widen its own agreement');
      assert.equal((await t.stores.partners.get('clinic-ehr'))!.status, 'active');
      assert.equal((await t.stores.adminTrail.list({ count: 1000 })).length, before);
      // An internal system's clinical token is no admin token either.
      const clinical = await t.token({ partner: 'privacy-office', scope: 'system/AuditEvent.rs' });
      assert.equal((await adminGet('/admin/partners', clinical)).status, 403);
    });
  });

  describe('partners', () => {
    it('PUT agreement for an unknown partner is 404, and a mismatched partnerId 400', async () => {
      const agreement = { purposes: ['TREAT'], resourceTypes: ['Patient'], consentRequired: false };
      const missing = await adminSend('put', '/admin/partners/nobody/agreement', agreement);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.resourceType, 'OperationOutcome');
      assert.equal(await t.stores.partners.get('nobody'), undefined, 'no partner is created by an agreement');
      const mismatch = await adminSend('put', '/admin/partners/clinic-ehr/agreement', { ...agreement, partnerId: 'rogue-ehr' });
      assert.equal(mismatch.status, 400);
      assert.match(mismatch.body.issue[0].details.text, /partnerId rogue-ehr does not match the path \(clinic-ehr\)/);
      assert.equal((await adminSend('put', '/admin/partners/nobody/status', { status: 'suspended' })).status, 404);
      assert.equal((await adminGet('/admin/partners/nobody')).status, 404);
    });

    it('lists partners with the effective agreement and where it comes from, without key material', async () => {
      const res = await adminGet('/admin/partners');
      assert.equal(res.status, 200);
      const byId = new Map<string, Record<string, unknown>>(res.body.map((p: { id: string }) => [p.id, p]));
      const ehr = byId.get('clinic-ehr')!;
      assert.equal(ehr.agreementSource, 'default for kind');
      assert.deepEqual((ehr.agreement as { purposes: string[] }).purposes, ['TREAT']);
      assert.deepEqual((ehr.agreement as { excludedLabels: string[] }).excludedLabels, ['PSYTHPN']);
      const oversight = byId.get('state-oversight')!;
      assert.equal(oversight.agreementSource, 'stored');
      assert.deepEqual((oversight.agreement as { purposes: string[] }).purposes, ['GOV']);
      assert.equal((oversight.agreement as { legalReference: string }).legalReference, 'Oversight MOU 2026-01');
      assert.equal((oversight.agreement as { status: string }).status, 'active', 'defaults are filled in');
      for (const p of byId.values()) {
        assert.equal(p.jwks, undefined, 'keys are listed by kid only');
        assert.ok(Array.isArray(p.keys));
      }
      assert.deepEqual(ehr.keys, ['clinic-ehr-k1']);
      const one = await adminGet('/admin/partners/state-oversight');
      assert.equal(one.body.agreementSource, 'stored');
    });

    it('suspending a partner stops its tokens at once, and the trail keeps before and after', async () => {
      await t.addPartner({ id: 'lab-ehr', name: 'Lab EHR', kind: 'ehr', scopes: ['system/*.rs'] });
      const tok = await t.token({ partner: 'lab-ehr' });
      assert.equal((await request(t.app).get('/fhir/Patient/dana').auth(tok, bearer)).status, 200);

      const bad = await adminSend('put', '/admin/partners/lab-ehr/status', { status: 'paused' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.issue[0].details.text, /status must be one of active, suspended, terminated/);

      const res = await adminSend('put', '/admin/partners/lab-ehr/status', { status: 'suspended' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'suspended');
      const logged = (await t.stores.disclosures.listByPatient('dana')).length;
      const refused = await request(t.app).get('/fhir/Patient/dana').auth(tok, bearer);
      assert.equal(refused.status, 401, 'the very next call with the same token is refused');
      assert.match(refused.headers['www-authenticate'] ?? '', /invalid_token/);
      assert.ok(!JSON.stringify(refused.body).includes('Delta'), 'no patient data');
      assert.equal((await t.stores.disclosures.listByPatient('dana')).length, logged);

      const reactivated = await adminSend('put', '/admin/partners/lab-ehr/status', { status: 'active' });
      assert.equal(reactivated.status, 200);
      assert.equal((await request(t.app).get('/fhir/Patient/dana').auth(tok, bearer)).status, 200);

      const entries = await trail('partner/lab-ehr');
      assert.deepEqual(entries.map((e) => [e.action, e.before, e.after]), [
        ['partner.status', { status: 'active' }, { status: 'suspended' }],
        ['partner.status', { status: 'suspended' }, { status: 'active' }],
      ]);
      assert.ok(entries.every((e) => e.actor === 'partner:admin-console'));
    });
  });
});
