/**
 * Typed configuration: config/default.yaml, then config/${NODE_ENV}.yaml, then environment
 * variables, validated with zod at start-up. Every key is documented in config/default.yaml.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROJECT_ROOT } from '../core/fhir-definitions.js';
import { isKnownZone } from '../core/time-zones.js';

const schema = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  baseUrl: z.string().url().transform((s) => s.replace(/\/+$/, '')),
  dataDir: z.string().min(1),
  databaseUrl: z.string().refine((s) => s === '' || /^postgres(ql)?:\/\//.test(s), 'must be a postgres:// URL or empty'),
  partnersDir: z.string().min(1),
  fhir: z.object({
    defaultCount: z.coerce.number().int().min(1),
    maxCount: z.coerce.number().int().min(1).max(1000),
    maxBundleEntries: z.coerce.number().int().min(1).max(100000),
    maxIncludes: z.coerce.number().int().min(0),
  }).refine((f) => f.defaultCount <= f.maxCount, 'fhir.defaultCount must not exceed fhir.maxCount'),
  http: z.object({
    bodyLimit: z.string().regex(/^\d+(b|kb|mb)$/i, 'like 10mb'),
    maxJsonDepth: z.coerce.number().int().min(8).max(1000),
    headersTimeoutMs: z.coerce.number().int().min(1000),
    requestTimeoutMs: z.coerce.number().int().min(1000),
    keepAliveTimeoutMs: z.coerce.number().int().min(0),
  }),
  auth: z.object({
    accessTokenTtlSeconds: z.coerce.number().int().min(30).max(300, 'SMART Backend Services tokens live at most 300 s'),
    allowInsecureJwksUrls: z.coerce.boolean(),
  }),
  rateLimit: z.object({ perClientPerMinute: z.coerce.number().int().min(0) }),
  organization: z.object({
    name: z.string().min(1),
    privacyContact: z.object({
      office: z.string().min(1),
      address: z.string().optional(),
      phone: z.string().optional(),
      email: z.string().optional(),
    }),
  }),
  ingest: z.object({
    mappingsDir: z.string().min(1),
    terminologyDir: z.string().min(1),
    labelsDir: z.string().min(1),
    timezone: z.string().refine((tz) => tz === '' || isKnownZone(tz), 'an IANA time zone name such as America/Chicago, or empty for this machine\'s zone'),
  }),
  admin: z.object({
    enabled: z.coerce.boolean(),
    host: z.string().min(1),
    port: z.coerce.number().int().min(0).max(65535),
  }),
  mllp: z.object({
    enabled: z.coerce.boolean(),
    host: z.string().min(1),
    port: z.coerce.number().int().min(0).max(65535),
    maxMessageBytes: z.coerce.number().int().min(1024),
    idleTimeoutMs: z.coerce.number().int().min(1000),
  }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type GatewayConfig = z.infer<typeof schema>;

type Env = Record<string, string | undefined>;

/** Environment variables and the config keys they set. */
const ENV_KEYS: Array<[string, string[]]> = [
  ['PORT', ['port']], ['HOST', ['host']], ['FXG_BASE_URL', ['baseUrl']], ['FXG_DATA_DIR', ['dataDir']],
  ['DATABASE_URL', ['databaseUrl']], ['FXG_PARTNERS_DIR', ['partnersDir']], ['FXG_BODY_LIMIT', ['http', 'bodyLimit']],
  ['LOG_LEVEL', ['logLevel']], ['FXG_MLLP_PORT', ['mllp', 'port']], ['FXG_ADMIN_PORT', ['admin', 'port']], ['FXG_ADMIN_HOST', ['admin', 'host']], ['FXG_TIMEZONE', ['ingest', 'timezone']], ['FXG_MLLP_HOST', ['mllp', 'host']], ['FXG_RATE_LIMIT_PER_MINUTE', ['rateLimit', 'perClientPerMinute']],
];

export function loadConfig(opts: { env?: Env; configDir?: string; overrides?: DeepPartial<GatewayConfig> } = {}): GatewayConfig {
  const env = opts.env ?? process.env;
  const dir = opts.configDir ?? join(PROJECT_ROOT, 'config');
  let raw: Record<string, unknown> = readYaml(join(dir, 'default.yaml'));
  if (env.NODE_ENV) raw = merge(raw, readYaml(join(dir, `${env.NODE_ENV}.yaml`)));
  for (const [name, path] of ENV_KEYS) {
    const v = env[name];
    if (v !== undefined && v !== '') raw = merge(raw, nest(path, v));
  }
  // Without FXG_BASE_URL the public URL follows the port.
  if (!env.FXG_BASE_URL && env.PORT && !opts.overrides?.baseUrl) raw = merge(raw, { baseUrl: `http://localhost:${env.PORT}` });
  if (opts.overrides) raw = merge(raw, opts.overrides as Record<string, unknown>);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const fromRoot = (p: string) => resolve(dir, '..', p);
  return {
    ...c,
    dataDir: resolve(c.dataDir),
    partnersDir: fromRoot(c.partnersDir),
    ingest: {
      mappingsDir: fromRoot(c.ingest.mappingsDir), terminologyDir: fromRoot(c.ingest.terminologyDir), labelsDir: fromRoot(c.ingest.labelsDir),
      timezone: c.ingest.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone,
    },
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function readYaml(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  return (parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
}

function nest(path: string[], value: unknown): Record<string, unknown> {
  return path.reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Record<string, unknown>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k === '__proto__' || k === 'constructor') continue;
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
      ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}
