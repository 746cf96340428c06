/**
 * The state of mapping one message: the parsed message, the sender, the resources produced so far
 * (by deterministic id, in production order) and the issues. Segment mappers receive it instead of
 * module-level state so that mapping stays a pure function of the message text and the dependencies.
 */
import { deepEquals } from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';
import { isFhirId } from '../../core/ids.js';
import { MappingError, type MappingIssue, type Terminology } from '../types.js';
import { isKnownZone } from '../../core/time-zones.js';
import { parseHl7Time, fhirOffset, type Hl7Time, type ZoneContext } from './datetime.js';
import type { ParsedMessage, Rep, Seg } from './message.js';

/**
 * A reference built by this mapper. Its target type is right by construction (each builder makes one
 * kind), so the generic parameter of Reference<T> is not tracked through the mappers.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Ref = Reference<any>;

export interface Hl7MappingDeps {
  terminology: Terminology;
  /**
   * IANA time zone of the sending site (e.g. `America/Chicago`), applied to times written without an
   * offset when MSH-7 has none either. Without it such times are read as UTC with a warning.
   */
  timezone?: string;
}

export interface Sender {
  /** MSH-3.1 (or MSH-3.2 when only a universal id is sent). */
  application: string;
  /** MSH-4.1 (or MSH-4.2). */
  facility: string;
  /** The authority that implicitly assigns identifiers sent without one: the facility, else the application. */
  authority: string;
  controlId: string;
  /** MSH-9, e.g. `ADT^A01`. */
  messageType: string;
  recorded: Hl7Time;
}

export class MapContext {
  readonly issues: MappingIssue[] = [];
  private readonly resources = new Map<string, { resource: Resource; origin: string }>();
  private readonly zone: ZoneContext;
  private warnedUtc = false;

  constructor(
    readonly msg: ParsedMessage,
    readonly sender: Sender,
    readonly deps: Hl7MappingDeps,
    /** meta.source of every produced resource. */
    readonly source: string,
    zone: ZoneContext,
  ) {
    this.zone = zone;
    this.issues.push(...msg.issues);
  }

  get terminology(): Terminology {
    return this.deps.terminology;
  }

  issue(severity: MappingIssue['severity'], code: string, message: string, location?: string): void {
    this.issues.push({ severity, code, message, ...(location ? { location } : {}) });
  }

  /** Refuses the message: the input is wrong ('content', ACK AE) or cannot be processed ('unprocessable', AR). */
  fail(message: string, location?: string, kind: 'content' | 'unprocessable' = 'content', code = 'INVALID_CONTENT'): never {
    throw new MappingError(kind, location ? `${location}: ${message}` : message, [
      { severity: 'error', code, message, ...(location ? { location } : {}) },
    ]);
  }

  /** A required value: refuses the message naming the field when it is empty. */
  require(value: string, location: string, what: string): string {
    if (!value) this.fail(`${what} is empty`, location, 'content', 'MISSING_FIELD');
    return value;
  }

  /** Parses a TS/DTM field (first repetition, component 1); refuses the message when it is malformed. */
  time(seg: Seg, field: number, component = 1): Hl7Time | undefined {
    return this.timeOf(seg.get(field, component), seg.loc(field, component > 1 ? component : undefined));
  }

  timeOf(raw: string, location: string): Hl7Time | undefined {
    if (!raw) return undefined;
    const t = parseHl7Time(raw, this.zone);
    if (!t) this.fail(`"${raw}" is not a valid HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])`, location, 'content', 'INVALID_DATE');
    if (t.offsetFrom === 'assumed-utc' && !this.warnedUtc) {
      this.warnedUtc = true;
      this.issue('warning', 'TIMEZONE_ASSUMED', `"${raw}" has no UTC offset, MSH-7 has none and no site time zone is configured: times read as UTC`, location);
    }
    return t;
  }

  /** TS value of a Rep component (e.g. a period inside a composite). */
  repTime(rep: Rep, component: number): Hl7Time | undefined {
    return this.timeOf(rep.get(component), `${rep.location}.${component}`);
  }

  /**
   * Adds a produced resource (its id already deterministic) with meta.profile and meta.source.
   * The same resource produced twice by one message is kept once; two different contents for one id
   * mean the message uses one business identifier for two things, which is refused.
   */
  add<T extends Resource & { id: string }>(resource: T, profile: string | undefined, origin: string): Ref {
    if (!isFhirId(resource.id)) this.fail(`produced an invalid FHIR id "${resource.id}"`, origin, 'content');
    const withMeta = { ...resource, meta: { ...(profile ? { profile: [profile] } : {}), source: this.source } } as T;
    const key = `${resource.resourceType}/${resource.id}`;
    const known = this.resources.get(key);
    if (known) {
      if (!deepEquals(known.resource, withMeta)) {
        this.fail(`identifies the same ${resource.resourceType} as ${known.origin} but with different content`, origin, 'content', 'DUPLICATE_IDENTIFIER');
      }
    } else {
      this.resources.set(key, { resource: withMeta, origin });
    }
    return { reference: key };
  }

  has(type: string, id: string): boolean {
    return this.resources.has(`${type}/${id}`);
  }

  produced(): Resource[] {
    return [...this.resources.values()].map((r) => r.resource);
  }
}

/** The zone context of a message: MSH-7's offset, and the configured zone when it is valid. */
export function zoneContext(msh7: string, zone: string | undefined): ZoneContext {
  const off = /([+-]\d{4})$/.exec(msh7.trim())?.[1];
  if (zone && !isKnownZone(zone)) throw new Error(`hl7v2 time zone "${zone}" is not an IANA time zone`);
  return { ...(off ? { messageOffset: fhirOffset(off) } : {}), ...(zone ? { zone } : {}) };
}

