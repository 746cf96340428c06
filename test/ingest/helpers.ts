/**
 * Shared pieces of the ingest tests (issue #3): fixture messages, an HL7 ACK reader that does not
 * depend on the code under test, and store look-ups by business identifier.
 */
export { fxg, FXG } from '../helpers/fxg.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { PROJECT_ROOT } from '../../src/core/fhir-definitions.js';
import { createApp, type Gateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Partner, Stores } from '../../src/store/types.js';

export const HL7_DIR = join(PROJECT_ROOT, 'fixtures', 'hl7v2');
export const CLINIC_DIR = join(PROJECT_ROOT, 'fixtures', 'clinic');

export const hl7Fixture = (name: string): string => readFileSync(join(HL7_DIR, name), 'utf8');

/** MSH-3..MSH-6 of the Riverside fixtures (the sender and the gateway). */
export const RIVERSIDE = {
  sendingApplication: 'RIVERSIDE_EHR',
  sendingFacility: 'RIVERSIDE_GH^2.16.840.1.113883.3.9999.1^ISO',
  receivingApplication: 'FXG',
  receivingFacility: 'FXG_GATEWAY',
};

/** A small ADT^A28 (one Patient) that fits in a few hundred bytes. */
export function smallAdt(controlId: string, mrn: string, family = 'Doe'): string {
  return `MSH|^~\\&|RAW_EHR|RAW_FAC|FXG|FXG_GATEWAY|20240101120000-0500||ADT^A28^ADT_A05|${controlId}|P|2.5.1\r`
    + `PID|1||${mrn}^^^RAW_FAC^MR||${family}^Jane||19800101|F`;
}

/** An A01 whose content the mapper refuses (PID-7 month 13): ACK AE. */
export function badDateAdt(controlId: string, mrn: string): string {
  return hl7Fixture('adt-a01-admit.hl7').replace('RGH-ADT-1001', controlId).replace('MRN-448812', mrn).replace('19860214', '19861345');
}

/** A scheduling message: a type the gateway refuses on purpose (ACK AR). */
export function schedulingMessage(controlId: string): string {
  return `MSH|^~\\&|RIVERSIDE_SCHED|RIVERSIDE_GH|FXG|FXG_GATEWAY|20240311083015-0500||SIU^S12^SIU_S12|${controlId}|P|2.5.1\r`
    + 'SCH|1\rPID|1||MRN-SIU-1^^^RIVERSIDE_GH^MR||Doe^John||19700101|M';
}

/** An HL7 ACK read by plain splitting: `field('MSA', 2)` is MSA-2, `field('MSH', 9)` is MSH-9. */
export interface ParsedAck {
  text: string;
  segments: string[];
  field(segment: string, n: number): string | undefined;
}

export function parseAck(text: string): ParsedAck {
  const segments = text.split(/\r\n|\r|\n/).filter(Boolean);
  const sep = segments[0]?.[3] ?? '|';
  return {
    text,
    segments,
    field(segment, n) {
      const line = segments.find((s) => s.startsWith(`${segment}${sep}`));
      if (!line) return undefined;
      const parts = line.split(sep);
      // MSH-1 is the separator itself, so MSH-n is parts[n - 1]; for other segments it is parts[n].
      return segment === 'MSH' ? parts[n - 1] : parts[n];
    },
  };
}

/**
 * Current resources of a type with an identifier value (straight from the store, no policy). Read by type and
 * matched here: the gateway indexes only the parameters it serves, and `identifier` is not one for every type.
 */
export async function byIdentifier<T extends Resource = Resource>(stores: Stores, resourceType: string, value: string): Promise<T[]> {
  const r = await stores.resources.search({ resourceType, filters: [], count: 1000, offset: 0 });
  if (r.hasMore) throw new Error(`more than 1000 ${resourceType} resources: byIdentifier reads one page`);
  return (r.resources as Array<T & { identifier?: Array<{ value?: string }> }>).filter((x) => x.identifier?.some((i) => i.value === value));
}

export async function patientByMrn(stores: Stores, mrn: string): Promise<Patient | undefined> {
  const [p, more] = await byIdentifier<Patient>(stores, 'Patient', mrn);
  if (more) throw new Error(`more than one Patient with identifier ${mrn}`);
  return p;
}



/**
 * The gateway an administrator would start on the same FXG_DATA_DIR as `fxg`, with one registered
 * partner and a bearer token for it.
 */
export async function gatewayOn(dataDir: string, o: { mappingsDir?: string } = {}): Promise<Gateway> {
  const config = loadConfig({
    env: {},
    overrides: {
      baseUrl: 'https://gw.test', dataDir, partnersDir: join(dataDir, 'partners'), logLevel: 'silent',
      rateLimit: { perClientPerMinute: 0 }, ...(o.mappingsDir ? { ingest: { mappingsDir: o.mappingsDir } } : {}),
    },
  });
  return createApp({ config, log: silentLogger });
}

export async function tokenFor(gw: Gateway, p: { id: string; kind: Partner['kind']; scopes: string[] }): Promise<string> {
  const partner = await gw.stores.partners.upsert({
    id: p.id, name: `${p.id} organization`, kind: p.kind, status: 'active', scopes: p.scopes,
    jwks: { keys: [{ kty: 'EC', crv: 'P-384', kid: `${p.id}-k1`, x: 'x', y: 'y' }] },
  });
  return (await gw.auth.issueAccessToken({ partner, scope: p.scopes.join(' ') })).access_token;
}
