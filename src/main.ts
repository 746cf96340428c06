/**
 * Starts the server: config -> createApp -> listen (with slow-client timeouts) -> graceful shutdown.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { createApp, createLogger, loadPartnerFiles, type Gateway } from './app.js';
import { loadConfig } from './config/config.js';
import { PROJECT_ROOT } from './core/fhir-definitions.js';
import { newId } from './core/ids.js';
import { startMllpListener, type MllpListener } from './mllp/listener.js';

export const DEMO_DIR = join(PROJECT_ROOT, 'fixtures', 'demo');

/**
 * Loads the demo partners and, once, the demo patients (fixtures/demo). Whether they are already there is
 * asked of the store, not through the FHIR API: nothing leaves the gateway, so no disclosure is recorded.
 */
export async function seedDemo(gw: Gateway): Promise<void> {
  await loadPartnerFiles(gw.stores, join(DEMO_DIR, 'partners'));
  const found = await gw.stores.resources.search({
    resourceType: 'Patient', count: 1, offset: 0,
    filters: [{ code: 'identifier', values: [{ value: 'https://demo.fhir-exchange-gateway.dev/mrn|DEMO-1001' }] }],
  });
  if (found.resources.length > 0) return;
  const principal = gw.internalPrincipal('demo-seed');
  const { readFileSync } = await import('node:fs');
  const bundle = JSON.parse(readFileSync(join(DEMO_DIR, 'demo-patients.json'), 'utf8')) as Bundle;
  await gw.fhir({ method: 'POST', segments: [], params: [], body: bundle, headers: { prefer: 'return=minimal' } }, { principal, requestId: newId() });
}

export async function serve(opts: { demo: boolean }): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const gw = await createApp({ config, log });
  if (opts.demo) await seedDemo(gw);

  const server: Server = gw.app.listen(config.port, config.host);
  server.headersTimeout = config.http.headersTimeoutMs;
  server.requestTimeout = config.http.requestTimeoutMs;
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve); server.once('error', reject); });
  log.info({ port: config.port, store: gw.stores.kind, baseUrl: config.baseUrl }, 'gateway.listening');
  let adminServer: Server | undefined;
  if (config.admin.enabled) {
    adminServer = gw.adminApp.listen(config.admin.port, config.admin.host);
    await new Promise<void>((resolve, reject) => { adminServer!.once('listening', resolve); adminServer!.once('error', reject); });
    log.info({ host: config.admin.host, port: config.admin.port }, 'admin.listening');
  }
  let mllp: MllpListener | undefined;
  if (config.mllp.enabled) {
    mllp = await startMllpListener({
      host: config.mllp.host, port: config.mllp.port, log,
      maxFrameBytes: config.mllp.maxMessageBytes, idleTimeoutMs: config.mllp.idleTimeoutMs,
      handle: async (text) => (await gw.ingest.hl7.message(text, 'mllp')).ackMessage,
    });
    log.info({ host: config.mllp.host, port: mllp.port }, 'mllp.listening');
  }
  if (opts.demo) printDemoHelp(config.baseUrl, gw.stores.kind);
  if (opts.demo) {
    const also = [
      ...(adminServer ? [`Administration API: http://${config.admin.host}:${config.admin.port}/admin (its own listener)`] : []),
      ...(mllp ? [`HL7 v2 over MLLP: ${config.mllp.host}:${mllp.port}   over HTTP: POST ${config.baseUrl}/ingest/hl7v2`] : []),
    ];
    if (also.length) process.stdout.write(`${also.join('\n')}\n\n`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'gateway.stopping');
    adminServer?.close();
    const closing = mllp?.close() ?? Promise.resolve();
    server.close(() => { void closing.then(() => gw.close()).then(() => process.exit(0)); });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function printDemoHelp(base: string, store: string): void {
  const lines = [
    '',
    `fhir-exchange-gateway is running at ${base} (store: ${store}) with demo data.`,
    '',
    'Get a SMART Backend Services token as the demo EHR partner, then read a record:',
    `  TOKEN=$(npx fxg token --partner demo-ehr --key fixtures/demo/keys/demo-ehr.private.jwk.json --url ${base})`,
    `  curl -s -H "Authorization: Bearer $TOKEN" "${base}/fhir/Patient?identifier=DEMO-1001"`,
    `  curl -s -H "Authorization: Bearer $TOKEN" "${base}/fhir/Observation?patient=<id>&category=laboratory"`,
    '',
    `Discovery: ${base}/fhir/.well-known/smart-configuration   Capabilities: ${base}/fhir/metadata`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
