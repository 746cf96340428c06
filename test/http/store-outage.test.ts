/**
 * The database goes away under a running gateway (catalogue FI-2/FI-3): requests fail fast with
 * 503 `transient` + Retry-After, never 500 and never data; readiness says so; service resumes by
 * itself when the database is back. The outage is a TCP proxy on 127.0.0.1 that the test cuts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import request from 'supertest';
import { createApp, type Gateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/core/clock.js';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { silentLogger } from '../../src/core/logger.js';
import { openPostgresStores } from '../../src/store/postgres/index.js';
import type { Stores } from '../../src/store/types.js';
import { PG_URL, pgSkip } from '../helpers/test-app.js';
import { patient } from '../helpers/resources.js';

/** A cuttable TCP proxy to PostgreSQL. */
class Proxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}
  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); s.on('error', () => s.destroy()); }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async cut(): Promise<void> {
    const closed = new Promise<void>((r) => this.server?.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

describe('database outage (postgres)', { skip: pgSkip }, () => {
  let proxy: Proxy;
  let stores: Stores;
  let gw: Gateway;
  let token: string;
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;

  before(async () => {
    const target = new URL(PG_URL!);
    proxy = new Proxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.open();
    const viaProxy = new URL(PG_URL!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    stores = await openPostgresStores({ url: viaProxy.toString(), clock: systemClock, defs: loadFhirDefinitions(), schema, connectTimeoutMs: 1000 });
    const config = loadConfig({ env: {}, overrides: { baseUrl: 'https://gw.test', partnersDir: '/nonexistent', rateLimit: { perClientPerMinute: 0 }, logLevel: 'silent' } });
    gw = await createApp({ config, log: silentLogger, stores });
    const partner = await stores.partners.upsert({ id: 'ehr-1', name: 'EHR', kind: 'ehr', status: 'active', scopes: ['system/*.rs'], jwks: { keys: [{ kty: 'EC', kid: 'k' }] } });
    await stores.resources.update(patient('olga', 'Oscar'));
    token = (await gw.auth.issueAccessToken({ partner, scope: 'system/*.rs' })).access_token;
  });
  after(async () => {
    await stores.close().catch(() => undefined);
    await proxy.cut();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try { await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } finally { await c.end(); }
  });

  it('answers 503 transient fast while the database is gone, and recovers by itself', async () => {
    assert.equal((await request(gw.app).get('/fhir/Patient/olga').auth(token, { type: 'bearer' })).status, 200);
    await proxy.cut();

    const started = Date.now();
    const res = await request(gw.app).get('/fhir/Patient/olga').auth(token, { type: 'bearer' });
    const elapsed = Date.now() - started;
    assert.equal(res.status, 503);
    assert.equal(res.body.issue[0].code, 'transient');
    assert.ok(['GW_STORE_UNAVAILABLE', 'GW_AUDIT_UNAVAILABLE'].includes(res.body.issue[0].details.coding[0].code), res.text);
    assert.ok(res.headers['retry-after']);
    assert.doesNotMatch(res.text, /Oscar|olga/);
    assert.ok(elapsed < 5000, `failed in ${elapsed} ms, not fast`);
    assert.equal((await request(gw.app).get('/health/ready')).status, 503);
    assert.equal((await request(gw.app).get('/fhir/metadata')).status, 200, 'what needs no database keeps working');

    await proxy.open();
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await request(gw.app).get('/fhir/Patient/olga').auth(token, { type: 'bearer' })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 200, 'service resumes once the database is back');
    assert.equal((await request(gw.app).get('/health/ready')).status, 200);
  });
});
