/**
 * Partner registrations declared as files (config/partners/*.yaml), validated and upserted at start-up.
 * The same schema validates `fxg partners add`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseAgreement } from '../policy/agreements.js';
import type { Partner } from '../store/types.js';

const PRIVATE_JWK_PARAMS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

const jwk = z.record(z.string(), z.unknown()).superRefine((k, ctx) => {
  if (typeof k.kty !== 'string' || typeof k.kid !== 'string') ctx.addIssue({ code: 'custom', message: 'every key needs kty and kid' });
  const priv = PRIVATE_JWK_PARAMS.filter((p) => p in k);
  if (priv.length) ctx.addIssue({ code: 'custom', message: `a registered key must be public; it carries private parameters (${priv.join(', ')})` });
});

export const partnerSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (at most 64)'),
  name: z.string().min(1).max(200),
  kind: z.enum(['ehr', 'specialist', 'therapist', 'pharmacy', 'hie', 'payer', 'internal']),
  address: z.string().max(500).optional(),
  /** Absent: a new partner starts active, an existing one keeps the status an administrator gave it. */
  status: z.enum(['active', 'suspended', 'terminated']).optional(),
  jwks: z.object({ keys: z.array(jwk).min(1) }).optional(),
  jwksUrl: z.string().url().optional(),
  scopes: z.union([z.string().transform((s) => s.split(/\s+/).filter(Boolean)), z.array(z.string())])
    .pipe(z.array(z.string().min(1)).min(1, 'at least one scope')),
  /** The partner agreement (policy/agreements.ts); absent: the defaults of the partner's kind. */
  agreement: z.record(z.string(), z.unknown()).optional(),
}).refine((p) => Boolean(p.jwks) !== Boolean(p.jwksUrl), 'give exactly one of jwks and jwksUrl');

export type PartnerInput = Omit<Partner, 'createdAt' | 'updatedAt' | 'status'> & { status?: Partner['status'] };

export function parsePartner(raw: unknown, source: string): PartnerInput {
  const r = partnerSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`${source}: invalid partner: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { jwks, jwksUrl, address, agreement, ...rest } = r.data;
  // Validated here, so a bad agreement stops start-up with its file named instead of denying at request time.
  const parsed = agreement ? parseAgreement({ ...agreement, partnerId: r.data.id }, source) : undefined;
  return {
    ...rest,
    ...(parsed ? { agreement: withoutPartnerId(parsed) } : {}),
    ...(address ? { address } : {}),
    ...(jwks ? { jwks: jwks as Partner['jwks'] } : {}),
    ...(jwksUrl ? { jwksUrl } : {}),
  };
}

/** Reads every *.yaml / *.yml / *.json partner file in dir (sorted); a missing dir is empty. */
export function readPartnerFiles(dir: string): PartnerInput[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => parsePartner(parseYaml(readFileSync(join(dir, f), 'utf8')), join(dir, f)));
}

function withoutPartnerId(a: ReturnType<typeof parseAgreement>): Record<string, unknown> {
  const { partnerId: _p, ...rest } = a;
  return rest;
}
