/**
 * `fxg`: serve, import, partners, keys, audit, token. Admin commands open the configured store
 * directly (same config as the server: config/*.yaml and environment).
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { createApp, createLogger } from '../app.js';
import { verifyDisclosureLog } from '../audit/verify.js';
import { loadConfig } from '../config/config.js';
import { parsePartner } from '../config/partner-files.js';
import { systemClock } from '../core/clock.js';
import { loadFhirDefinitions } from '../core/fhir-definitions.js';
import { serve } from '../main.js';
import { openStores } from '../store/open.js';
import type { Stores } from '../store/types.js';
import { importFiles, listImportFiles } from './import-files.js';
import { requestToken } from './token.js';

async function withStores<T>(fn: (s: Stores) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const stores = await openStores({
    databaseUrl: config.databaseUrl || undefined, dataDir: config.dataDir, clock: systemClock,
    defs: loadFhirDefinitions(), log: createLogger('warn'),
  });
  try { return await fn(stores); } finally { await stores.close(); }
}

const fail = (message: string, code = 1): never => {
  process.stderr.write(`fxg: ${message}\n`);
  process.exit(code);
};

const program = new Command('fxg').description('fhir-exchange-gateway').showHelpAfterError();

program.command('serve').description('run the gateway (PORT, FXG_BASE_URL, FXG_DATA_DIR, DATABASE_URL)')
  .option('--demo', 'load the demo partners and demo patients from fixtures/demo')
  .action(async (o: { demo?: boolean }) => { await serve({ demo: Boolean(o.demo) }); });

program.command('import').description('import FHIR Bundles (.json) and NDJSON files (.ndjson); directories are walked')
  .argument('<paths...>')
  .action(async (paths: string[]) => {
    const files = listImportFiles(paths);
    if (!files.length) fail('no .json or .ndjson files found');
    const config = loadConfig();
    const gw = await createApp({ config, log: createLogger('warn') });
    const bar = new SingleBar({ format: 'importing [{bar}] {value}/{total} files', stream: process.stderr, noTTYOutput: false }, Presets.shades_classic);
    const started = Date.now();
    const report = await importFiles({
      files, handle: gw.fhir, principal: gw.internalPrincipal('import'),
      progress: { start: (t) => bar.start(t, 0), tick: (n) => bar.increment(n), stop: () => bar.stop() },
    });
    await gw.close();
    const secs = (Date.now() - started) / 1000;
    process.stdout.write(`imported ${report.resources} resources from ${report.files} files in ${secs.toFixed(1)} s; ${report.failures.length} failed\n`);
    for (const f of report.failures) process.stdout.write(`  FAILED ${f.source}: ${f.message}\n`);
    if (report.failures.length) process.exitCode = 1;
  });

const partners = program.command('partners').description('partner registrations');
partners.command('add').description('register (or replace) a partner')
  .requiredOption('--id <id>').requiredOption('--name <name>')
  .addOption(new Option('--kind <kind>').choices(['ehr', 'specialist', 'therapist', 'pharmacy', 'hie', 'payer', 'internal']).makeOptionMandatory())
  .option('--jwks <file>', 'a JWKS file with the partner\'s public keys')
  .option('--jwks-url <url>', 'the partner\'s JWKS URL (https)')
  .requiredOption('--scope <scopes>', 'pre-authorized SMART scopes, space-separated')
  .option('--address <address>', 'organization address (for the accounting of disclosures)')
  .action(async (o: { id: string; name: string; kind: string; jwks?: string; jwksUrl?: string; scope: string; address?: string }) => {
    let jwks: unknown;
    if (o.jwks) {
      try { jwks = JSON.parse(readFileSync(o.jwks, 'utf8')); } catch { fail(`cannot read a JSON JWKS from ${o.jwks}`); }
    }
    let partner;
    try {
      partner = parsePartner({ id: o.id, name: o.name, kind: o.kind, scopes: o.scope, address: o.address, jwks, jwksUrl: o.jwksUrl }, 'fxg partners add');
    } catch (err) { fail((err as Error).message); }
    await withStores(async (s) => { await s.partners.upsert(partner!); });
    process.stdout.write(`partner ${o.id} registered (active)\n`);
  });
partners.command('list').description('list partners').action(async () => {
  const list = await withStores((s) => s.partners.list());
  for (const p of list) process.stdout.write(`${p.id}\t${p.kind}\t${p.status}\t${p.name}\t${p.scopes.join(' ')}\n`);
});
for (const [cmd, status, verb] of [['suspend', 'suspended', 'suspended: its tokens stop working at once'], ['activate', 'active', 'active'], ['terminate', 'terminated', 'terminated']] as const) {
  partners.command(cmd).argument('<id>').description(`mark a partner ${status}`).action(async (id: string) => {
    const p = await withStores((s) => s.partners.setStatus(id, status));
    if (!p) fail(`no partner ${id}`);
    process.stdout.write(`partner ${id} ${verb}\n`);
  });
}

program.command('keys').description('gateway signing keys').command('rotate')
  .description('create a new signing key; the old one keeps verifying until its tokens expire')
  .action(async () => {
    const gw = await createApp({ config: loadConfig(), log: createLogger('warn') });
    const r = await gw.auth.rotateKeys();
    await gw.close();
    process.stdout.write(`new signing key ${r.kid}${r.retired.length ? `; retired (still verifying until their tokens expire): ${r.retired.join(', ')}` : ''}\n`);
  });

program.command('audit').description('disclosure log').command('verify')
  .description('verify the disclosure log hash chain end to end; exits 1 naming the first broken entry')
  .action(async () => {
    const r = await withStores((s) => verifyDisclosureLog(s.disclosures));
    if (r.ok) process.stdout.write(`disclosure log intact: ${r.count} entries, head ${r.head}\n`);
    else fail(`disclosure log BROKEN at entry ${r.firstBadSeq}: ${r.reason} (${r.count} entries before it verify)`);
  });

program.command('token').description('get a SMART Backend Services access token (private_key_jwt) and print it')
  .requiredOption('--partner <id>', 'client id').requiredOption('--key <file>', 'the partner\'s private JWK (JSON)')
  .option('--scope <scopes>', 'scopes to request', 'system/*.rs')
  .option('--url <baseUrl>', 'gateway base URL (default: FXG_BASE_URL or the configured baseUrl)')
  .option('--purpose <code>', 'HL7 PurposeOfUse code asserted through the hl7-b2b extension')
  .action(async (o: { partner: string; key: string; scope: string; url?: string; purpose?: string }) => {
    const base = (o.url ?? loadConfig().baseUrl).replace(/\/+$/, '');
    try {
      const token = await requestToken({ baseUrl: base, clientId: o.partner, keyFile: o.key, scope: o.scope, purposeOfUse: o.purpose });
      process.stdout.write(`${token}\n`);
    } catch (err) { fail((err as Error).message); }
  });

await program.parseAsync(process.argv);
