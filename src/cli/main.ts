/**
 * `fxg`: serve, import, partners, keys, audit, token. Admin commands open the configured store
 * directly (same config as the server: config/*.yaml and environment).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { newId } from '../core/ids.js';
import { parseAgreement, type Agreement } from '../policy/agreements.js';
import { agreementFor } from '../policy/policy.js';
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
import { searchIndexSelection } from '../fhir/resource-catalogue.js';
import type { Partner, Stores } from '../store/types.js';
import { importFiles, listImportFiles } from './import-files.js';
import { importHl7File, importMappedFile, newTally, retryIngestError } from '../mapping/ingest-sources.js';
import { loadMapping, type RecordMapping } from '../mapping/records/index.js';
import { requestToken } from './token.js';

async function withStores<T>(fn: (s: Stores) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const defs = loadFhirDefinitions();
  const stores = await openStores({
    databaseUrl: config.databaseUrl || undefined, dataDir: config.dataDir, clock: systemClock,
    defs, log: createLogger('warn'), searchIndex: searchIndexSelection(defs),
  });
  try { return await fn(stores); } finally { await stores.close(); }
}

/** A registration as the admin trail keeps it: keys by kid only. */
const registrationView = (p: Partner) => {
  const { jwks, createdAt: _c, updatedAt: _u, ...rest } = p;
  return { ...rest, ...(jwks ? { keys: jwks.keys.map((k) => k.kid) } : {}) };
};

const fail = (message: string, code = 1): never => {
  process.stderr.write(`fxg: ${message}\n`);
  process.exit(code);
};

const program = new Command('fxg').description('fhir-exchange-gateway').showHelpAfterError();

program.command('serve').description('run the gateway (PORT, FXG_BASE_URL, FXG_DATA_DIR, DATABASE_URL)')
  .option('--demo', 'load the demo partners and demo patients from fixtures/demo')
  .action(async (o: { demo?: boolean }) => { await serve({ demo: Boolean(o.demo) }); });

program.command('import')
  .description('import FHIR Bundles (.json), NDJSON (.ndjson) and HL7 v2 files (.hl7); with --mapping, the organization\'s own exports (.csv, .json, .ndjson) through config/mappings/NAME.yaml. Directories are walked.')
  .argument('<paths...>')
  .option('--mapping <name>', 'map the files with config/mappings/<name>.yaml (the organization\'s own records)')
  .action(async (paths: string[], o: { mapping?: string }) => {
    const config = loadConfig();
    let mapping: RecordMapping | undefined;
    if (o.mapping) {
      try { mapping = loadMapping(config.ingest.mappingsDir, o.mapping); } catch (err) { fail((err as Error).message); }
    }
    const files = listImportFiles(paths, mapping ? ['.csv', '.json', '.ndjson'] : ['.json', '.ndjson', '.hl7']);
    if (!files.length) fail(mapping ? 'no .csv, .json or .ndjson files found' : 'no .json, .ndjson or .hl7 files found');
    const gw = await createApp({ config, log: createLogger('warn') });
    const bar = new SingleBar({ format: 'importing [{bar}] {value}/{total} files', stream: process.stderr, noTTYOutput: false }, Presets.shades_classic);
    const started = Date.now();
    const tally = newTally();
    const fhirFiles = mapping ? [] : files.filter((f) => !f.toLowerCase().endsWith('.hl7'));
    bar.start(files.length, 0);
    try {
      for (const f of mapping ? files : files.filter((x) => x.toLowerCase().endsWith('.hl7'))) {
        if (mapping) await importMappedFile(f, mapping, { pipeline: gw.ingest.pipeline, terminology: gw.ingest.terminology, clock: systemClock }, tally);
        else await importHl7File(f, gw.ingest.hl7, tally);
        bar.increment(1);
      }
      const report = fhirFiles.length
        ? await importFiles({ files: fhirFiles, handle: gw.fhir, principal: gw.internalPrincipal('import'), progress: { start: () => {}, tick: (n) => bar.increment(n), stop: () => {} } })
        : undefined;
      bar.stop();
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (report) {
        process.stdout.write(`imported ${report.resources} resources from ${report.files} files in ${secs} s; ${report.failures.length} failed\n`);
        for (const f of report.failures) process.stdout.write(`  FAILED ${f.source}: ${f.message}\n`);
      }
      if (tally.units || tally.failed.length) {
        const what = mapping ? `records (mapping ${mapping.name})` : 'HL7 v2 messages';
        process.stdout.write(`${tally.units} ${what}: ${tally.stored} stored, ${tally.unchanged} unchanged, ${tally.failed.length} failed (in the error queue: fxg ingest errors)\n`);
        for (const f of tally.failed) process.stdout.write(`  FAILED ${f.source}: ${f.reason}${f.errorId ? ` [${f.errorId}]` : ''}\n`);
        for (const [code, n] of tally.warnings) process.stdout.write(`  warning ${code}: ${n}\n`);
      }
      process.stdout.write(`done in ${secs} s\n`);
      if ((report?.failures.length ?? 0) + tally.failed.length) process.exitCode = 1;
    } finally {
      bar.stop();
      await gw.close();
    }
  });

const ingest = program.command('ingest').description('the ingest error queue');
ingest.command('errors').description('list inputs that could not be stored (open ones; --all for resolved too)')
  .option('--all', 'include resolved entries').option('--json', 'print JSON (with the original input and the OperationOutcome)')
  .action(async (o: { all?: boolean; json?: boolean }) => {
    const list = await withStores((s) => s.ingestErrors.list(o.all ? {} : { status: 'open' }));
    if (o.json) { process.stdout.write(`${JSON.stringify(list, null, 2)}\n`); return; }
    for (const e of list) {
      const why = ((e.outcome as { issue?: Array<{ details?: { text?: string } }> }).issue ?? []).map((i) => i.details?.text).filter(Boolean).join('; ');
      process.stdout.write(`${e.id}\t${e.status}\t${e.received}\t${e.channel}\t${e.format}\t${e.source}\tattempts=${e.attempts}\t${why}\n`);
    }
    if (!list.length) process.stdout.write('the error queue is empty\n');
  });
ingest.command('retry').description('replay queued inputs with the current mappings (after a fix); resolved ones leave the queue')
  .argument('[ids...]').option('--all', 'replay every open entry')
  .action(async (ids: string[], o: { all?: boolean }) => {
    if (!ids.length && !o.all) fail('name the entries to replay, or --all');
    const config = loadConfig();
    const gw = await createApp({ config, log: createLogger('warn') });
    try {
      const entries = o.all ? await gw.stores.ingestErrors.list({ status: 'open' }) : await Promise.all(ids.map((id) => gw.stores.ingestErrors.get(id)));
      let resolved = 0;
      const loaded = new Map<string, RecordMapping>();
      for (const [i, e] of entries.entries()) {
        if (!e) { process.stdout.write(`  ${ids[i]}: no such entry\n`); process.exitCode = 1; continue; }
        if (e.status === 'resolved') { process.stdout.write(`  ${e.id}: already resolved\n`); continue; }
        const r = await retryIngestError(e, {
          pipeline: gw.ingest.pipeline, terminology: gw.ingest.terminology, clock: systemClock, mappingsDir: config.ingest.mappingsDir, timezone: config.ingest.timezone, loaded,
        });
        if (r.status === 'failed') { process.stdout.write(`  ${e.id} ${e.source}: still failing: ${r.reason}\n`); process.exitCode = 1; }
        else { resolved++; process.stdout.write(`  ${e.id} ${e.source}: ${r.status}\n`); }
      }
      process.stdout.write(`${resolved} of ${entries.length} replayed successfully\n`);
    } finally {
      await gw.close();
    }
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
    await withStores((s) => s.atomically(async () => {
      const before = await s.partners.get(o.id);
      const saved = await s.partners.upsert({ ...partner!, status: partner!.status ?? 'active' });
      await s.adminTrail.record({
        actor: `cli:${userInfo().username}`, action: 'partner.upsert', target: `partner/${o.id}`,
        ...(before ? { before: registrationView(before) } : {}), after: registrationView(saved),
      });
    }, { lock: 'partners' }));
    process.stdout.write(`partner ${o.id} registered (active)\n`);
  });
partners.command('list').description('list partners').action(async () => {
  const list = await withStores((s) => s.partners.list());
  for (const p of list) process.stdout.write(`${p.id}\t${p.kind}\t${p.status}\t${p.name}\t${p.scopes.join(' ')}\n`);
});
for (const [cmd, status, verb] of [['suspend', 'suspended', 'suspended: its tokens stop working at once'], ['activate', 'active', 'active'], ['terminate', 'terminated', 'terminated']] as const) {
  partners.command(cmd).argument('<id>').description(`mark a partner ${status}`).action(async (id: string) => {
    const p = await withStores((s) => s.atomically(async () => {
      const before = await s.partners.get(id);
      const after = await s.partners.setStatus(id, status);
      if (before && after) {
        await s.adminTrail.record({ actor: `cli:${userInfo().username}`, action: 'partner.status', target: `partner/${id}`, before: { status: before.status }, after: { status } });
      }
      return after;
    }, { lock: 'partners' }));
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

program.command('accounting').description('a patient\'s accounting of disclosures (45 CFR 164.528), recorded as provided')
  .argument('<patient>', 'Patient id')
  .addOption(new Option('--kind <kind>', 'hipaa (default), access-report (everything) or part2 (42 CFR 2.24/2.25)').choices(['hipaa', 'access-report', 'part2']).default('hipaa'))
  .option('--start <date>', 'start of a shorter period').option('--end <date>', 'end of the period')
  .option('--html <file>', 'write the page a patient can be handed to this file')
  .option('--json', 'print the FHIR Bundle of BALP AuditEvents')
  .option('--requested-by <who>', 'who asked (the patient, a representative)', 'the patient')
  .action(async (patient: string, o: { kind: 'hipaa' | 'access-report' | 'part2'; start?: string; end?: string; html?: string; json?: boolean; requestedBy: string }) => {
    const gw = await createApp({ config: loadConfig(), log: createLogger('warn') });
    try {
      await gw.stores.resources.read('Patient', patient);
      const operator = userInfo().username;
      const out = await gw.accounting.provide({
        patient, kind: o.kind, format: o.html ? 'html' : 'fhir', requestedBy: o.requestedBy,
        ...(o.start || o.end ? { period: { ...(o.start ? { start: o.start } : {}), ...(o.end ? { end: o.end } : {}) } } : {}),
        recipient: { partnerId: 'fxg:cli', name: `fxg accounting (${operator})`, kind: 'internal' },
        clientId: 'fxg:cli', tokenId: 'local:accounting', user: operator, requestId: newId(),
      });
      if (o.html) { writeFileSync(o.html, out.html ?? ''); process.stdout.write(`wrote ${o.html}\n`); return; }
      if (o.json) { process.stdout.write(`${JSON.stringify(out.bundle, null, 2)}\n`); return; }
      const r = out.report;
      process.stdout.write(`${r.kind} accounting for Patient/${patient}, ${r.period.start ?? 'the beginning'} to ${r.period.end}: ${r.entries.length} disclosures listed, ${r.summaries.length} summarized\n`);
      for (const l of r.entries) process.stdout.write(`  ${l.date}\t${l.recipient.name}${l.recipient.address ? ` (${l.recipient.address})` : ''}\t${l.description}\t${l.purpose}\n`);
      for (const sm of r.summaries) process.stdout.write(`  ${sm.first.date}\t${sm.first.recipient.name}\t${sm.first.purpose}\t${sm.count} disclosures, the last on ${sm.lastDate}\n`);
    } catch (err) {
      fail((err as Error).message);
    } finally {
      await gw.close();
    }
  });

partners.command('agreement').description('show a partner\'s agreement, set it from a YAML/JSON file, or reset it to the defaults of its kind')
  .argument('<id>').option('--file <file>', 'the agreement (docs/agreements.md)').option('--reset', 'back to the defaults of the partner\'s kind')
  .action(async (id: string, o: { file?: string; reset?: boolean }) => {
    let agreement: Omit<Agreement, 'partnerId'> | undefined;
    if (o.file) {
      try {
        const { partnerId: _p, ...parsed } = parseAgreement({ ...(parseYaml(readFileSync(o.file, 'utf8')) as Record<string, unknown>), partnerId: id }, o.file);
        agreement = parsed;
      } catch (err) { fail((err as Error).message); }
    }
    await withStores(async (s) => {
      const actor = `cli:${userInfo().username}`;
      if (o.reset || agreement) {
        // Read and write in one transaction under the partners lock (as the admin API does): the registration
        // written back is the current one, so a suspension made meanwhile by another process is not undone.
        const kind = await s.atomically(async () => {
          const current = await s.partners.get(id);
          if (!current) return undefined;
          const { createdAt: _c, updatedAt: _u, agreement: before, ...registration } = current;
          if (agreement) {
            await s.partners.upsert({ ...registration, agreement });
            await s.adminTrail.record({ actor, action: 'agreement.update', target: `partner/${id}`, before: before ?? { default: current.kind }, after: agreement });
          } else {
            await s.partners.upsert(registration);
            await s.adminTrail.record({ actor, action: 'agreement.reset', target: `partner/${id}`, ...(before ? { before } : {}), after: { default: current.kind } });
          }
          return current.kind;
        }, { lock: 'partners' });
        if (!kind) fail(`no partner ${id}`);
        process.stdout.write(agreement ? `partner ${id}: agreement updated\n` : `partner ${id}: agreement reset to the defaults for ${kind}\n`);
        return;
      }
      const p = await s.partners.get(id);
      if (!p) fail(`no partner ${id}`);
      process.stdout.write(`${JSON.stringify({ source: p!.agreement ? 'stored' : `default for ${p!.kind}`, agreement: agreementFor(p!) }, null, 2)}\n`);
    });
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
