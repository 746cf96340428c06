/**
 * A listening gateway driven by real clients: openid-client (client_credentials + private_key_jwt)
 * for the token and fhir-kit-client for reads and searches, as an external EHR would.
 * See spec-rules Part 2 G item 66 for openid-client's assertion defaults.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Client } from 'fhir-kit-client';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { createTestApp, pgSkip, type StoreKind, type TestApp } from '../helpers/test-app.js';
import { observation, patient } from '../helpers/resources.js';

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`real clients against a listening gateway (${kind})`, { skip: kind === 'postgres' ? pgSkip : false }, () => {
    let t: TestApp;
    let server: Server;
    let base: string;
    let config: oidc.Configuration;

    before(async () => {
      // The public base URL must be known before the app is built: reserve a port first.
      const probe = (await import('node:net')).createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const port = (probe.address() as AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      base = `http://127.0.0.1:${port}`;
      t = await createTestApp({ store: kind, config: { baseUrl: base } });
      server = t.app.listen(port, '127.0.0.1');
      await new Promise<void>((r) => server.once('listening', r));

      const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'ehr-key-1', alg: 'ES384', use: 'sig' };
      await t.addPartner({ id: 'real-ehr', scopes: ['system/Patient.rs', 'system/Observation.rs'], jwks: { keys: [jwk] } });
      await t.seed(patient('pat-1', 'Delta'), observation('obs-1', 'pat-1'), observation('obs-2', 'pat-1', 'vital-signs', '8867-4'));

      const tokenUrl = `${base}/auth/token`;
      config = new oidc.Configuration(
        { issuer: base, token_endpoint: tokenUrl },
        'real-ehr',
        { token_endpoint_auth_signing_alg: 'ES384' },
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'ehr-key-1' }, {
          [oidc.modifyAssertion]: (header: Record<string, unknown>, payload: Record<string, unknown>) => {
            header.typ = 'JWT';
            payload.aud = tokenUrl;
          },
        }),
      );
      oidc.allowInsecureRequests(config);
    });
    after(async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await t.close();
    });

    it('gets a token with openid-client and reads and searches with fhir-kit-client', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs system/Observation.rs' });
      assert.equal(tokens.token_type, 'bearer');
      assert.ok(tokens.expires_in && tokens.expires_in <= 300);
      assert.equal(tokens.refresh_token, undefined);

      const fhir = new Client({ baseUrl: `${base}/fhir`, customHeaders: { Authorization: `Bearer ${tokens.access_token}` } });
      const p = (await fhir.read({ resourceType: 'Patient', id: 'pat-1' })) as unknown as { id: string };
      assert.equal(p.id, 'pat-1');
      const labs = (await fhir.search({ resourceType: 'Observation', searchParams: { patient: 'pat-1', category: 'laboratory' } })) as {
        entry?: Array<{ resource: { id: string } }>;
      };
      assert.deepEqual(labs.entry?.map((e) => e.resource.id), ['obs-1']);
      const disclosures = await t.stores.disclosures.listByPatient('pat-1');
      assert.deepEqual(disclosures.map((d) => d.channel), ['read', 'search']);
      assert.ok(disclosures.every((d) => d.clientId === 'real-ehr'));
    });

    it('gives a replayed client assertion invalid_client (T-10) to a real client', async () => {
      let captured = '';
      const replaying = new oidc.Configuration({ issuer: base, token_endpoint: `${base}/auth/token` }, 'real-ehr', {}, (_as, _c, body) => {
        if (!captured) captured = body.get('client_assertion') ?? '';
        body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        body.set('client_assertion', captured);
      });
      oidc.allowInsecureRequests(replaying);
      // A real assertion, captured on its way out of openid-client, then sent again.
      config[oidc.customFetch] = (url, options) => {
        const b = options.body;
        if (b instanceof URLSearchParams && !captured) captured = b.get('client_assertion') ?? '';
        return fetch(url, options);
      };
      try {
        await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
      } finally {
        delete config[oidc.customFetch];
      }
      assert.ok(captured);
      await assert.rejects(oidc.clientCredentialsGrant(replaying, { scope: 'system/Patient.rs' }), (err: unknown) => {
        assert.ok(err instanceof oidc.ResponseBodyError, String(err));
        assert.equal(err.status, 401);
        assert.equal(err.error, 'invalid_client');
        return true;
      });
    });
  });
}
