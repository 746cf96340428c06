/**
 * Who and where: practitioners from XCN, organizations from XON and from the sender (MSH-3/MSH-4),
 * locations from PL. A Practitioner is produced only when the XCN has both an id and a family name
 * (US Core requires identifier and name.family); otherwise the reference names the person by
 * display (and identifier, when there is one) without inventing a resource.
 */
import type { Identifier, Location, Organization, Practitioner } from '@medplum/fhirtypes';
import { stableId } from '../../core/ids.js';
import { SYSTEMS } from '../types.js';
import type { MapContext, Ref } from './context.js';
import { hdSystem, identifierSystem } from './datatypes.js';
import type { Rep, Seg } from './message.js';
import { PROFILES } from './profiles.js';

const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';

/** NPI check digit (Luhn over the 80840 prefix), as US Core's us-core-17 checks it. */
export function isValidNpi(value: string): boolean {
  if (!/^\d{10}$/.test(value)) return false;
  const digits = `80840${value}`.split('').map(Number);
  let sum = 0;
  for (let i = digits.length - 1, alt = false; i >= 0; i--, alt = !alt) {
    let d = digits[i]!;
    if (alt) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

/** XCN/CNN person name parts at component offsets (family at `base`). */
function personName(rep: Rep, base: number) {
  const family = rep.get(base);
  const given = [rep.get(base + 1), rep.get(base + 2)].filter(Boolean);
  const suffix = rep.get(base + 3);
  const prefix = rep.get(base + 4);
  const degree = rep.get(base + 5);
  return { family, given, suffix: [suffix, degree].filter(Boolean), prefix };
}

/**
 * XCN (id^family^given^middle^suffix^prefix^degree^source^authority^type^...^id type) as a reference,
 * producing the Practitioner when possible. Undefined for an empty XCN.
 */
export function practitionerRef(ctx: MapContext, rep: Rep | undefined): Ref | undefined {
  if (!rep || rep.isEmpty) return undefined;
  const value = rep.get(1);
  const n = personName(rep, 2);
  const display = [n.prefix, ...n.given, n.family, ...n.suffix].filter(Boolean).join(' ') || value;
  if (!value) return display ? { display } : undefined;

  const typeCode = rep.get(13);
  let system = identifierSystem(ctx, rep.sub(9), typeCode);
  if (system === NPI_SYSTEM && !isValidNpi(value)) {
    ctx.issue('warning', 'INVALID_NPI', `"${value}" is not a valid NPI (10 digits with a check digit); kept as a local identifier`, rep.location);
    system = `${SYSTEMS.localPrefix}/id/${encodeURIComponent(ctx.sender.authority)}/invalid-npi`;
  }
  const identifier: Identifier = { system, value };
  if (!n.family) {
    ctx.issue('information', 'PRACTITIONER_NOT_CREATED', `practitioner "${value}" has no family name; referenced by identifier only`, rep.location);
    return { type: 'Practitioner', identifier, ...(display ? { display } : {}) };
  }
  const practitioner: Practitioner & { id: string } = {
    resourceType: 'Practitioner',
    id: stableId('hl7v2', 'Practitioner', system, value),
    identifier: [identifier],
    name: [{ family: n.family, ...(n.given.length ? { given: n.given } : {}), ...(n.prefix ? { prefix: [n.prefix] } : {}), ...(n.suffix.length ? { suffix: n.suffix } : {}) }],
  };
  return { ...ctx.add(practitioner, PROFILES.Practitioner, rep.location), display };
}

/** NDL (OBR-32/33: CNN name^start^end^...) — a CNN in component 1 (id&family&given&...). */
export function ndlPractitionerRef(ctx: MapContext, rep: Rep | undefined): Ref | undefined {
  if (!rep || rep.isEmpty) return undefined;
  const cnn = rep.sub(1);
  // A CNN is an XCN written with subcomponents and the authority split over CNN-9..11.
  if (!cnn.get(2)) {
    const text = rep.get(1, 1);
    return text ? { display: text } : undefined;
  }
  return practitionerRef(ctx, cnn);
}

/** The Organization identified by an HD (MSH-4, MSH-3, PL-4): identifier and deterministic id. */
function hdOrganization(namespace: string, universalId: string, universalType: string, kind: 'facility' | 'application'): Organization & { id: string } {
  const uid = hdSystem('', universalId, universalType);
  const identifier: Identifier = uid && universalId
    ? { system: 'urn:ietf:rfc:3986', value: uid }
    : { system: `${SYSTEMS.localPrefix}/hl7v2-${kind}`, value: namespace || universalId };
  return {
    resourceType: 'Organization',
    id: stableId('hl7v2', 'Organization', identifier.system, identifier.value),
    identifier: [identifier],
    active: true,
    name: namespace || universalId,
  };
}

/**
 * The sender as an Organization: MSH-4 (sending facility), else MSH-3 (sending application) with an
 * information issue. A message naming neither is refused: its records could not be attributed.
 */
export function senderOrganization(ctx: MapContext, msh: Seg): Ref {
  const fac = msh.rep(4);
  const app = msh.rep(3);
  if (fac && (fac.get(1) || fac.get(2))) {
    return ctx.add(hdOrganization(fac.get(1), fac.get(2), fac.get(3), 'facility'), PROFILES.Organization, 'MSH-4');
  }
  if (app && (app.get(1) || app.get(2))) {
    ctx.issue('information', 'SENDER_FROM_APPLICATION', 'MSH-4 sending facility is empty; the sending application (MSH-3) stands for the sender', 'MSH-4');
    return ctx.add(hdOrganization(app.get(1), app.get(2), app.get(3), 'application'), PROFILES.Organization, 'MSH-3');
  }
  return ctx.fail('MSH-3 sending application and MSH-4 sending facility are both empty: the records cannot be attributed to a sender', 'MSH-4', 'content', 'MISSING_FIELD');
}

/** XON (name^type^id^check^scheme^authority^id type^facility^name rep^organization identifier) as a reference. */
export function organizationRef(ctx: MapContext, rep: Rep | undefined): Ref | undefined {
  if (!rep || rep.isEmpty) return undefined;
  const name = rep.get(1);
  const idValue = rep.get(10) || rep.get(3);
  if (!name) return idValue ? { type: 'Organization', identifier: { system: identifierSystem(ctx, rep.sub(6), rep.get(7)), value: idValue } } : undefined;
  const identifier = idValue ? { system: identifierSystem(ctx, rep.sub(6), rep.get(7)), value: idValue } : undefined;
  const org: Organization & { id: string } = {
    resourceType: 'Organization',
    id: identifier ? stableId('hl7v2', 'Organization', identifier.system, identifier.value) : stableId('hl7v2', 'Organization', ctx.sender.authority, 'name', name),
    ...(identifier ? { identifier: [identifier] } : {}),
    active: true,
    name,
  };
  return { ...ctx.add(org, PROFILES.Organization, rep.location), display: name };
}

/**
 * PL (point of care^room^bed^facility^status^type^building^floor^description) as a Location reference.
 * Identity: the sender plus facility, building, floor, point of care, room and bed.
 */
export function locationRef(ctx: MapContext, rep: Rep | undefined): Ref | undefined {
  if (!rep || rep.isEmpty) return undefined;
  const poc = rep.get(1);
  const room = rep.get(2);
  const bed = rep.get(3);
  const facility = rep.get(4, 1) || rep.get(4, 2);
  const building = rep.get(7);
  const floor = rep.get(8);
  const description = rep.get(9);
  const parts = [facility, building, floor, poc, room, bed];
  if (!parts.some(Boolean)) return description ? { display: description } : undefined;
  const name = description || parts.filter(Boolean).join(' ');
  const physical = bed ? ['bd', 'Bed'] : room ? ['ro', 'Room'] : poc ? ['wa', 'Ward'] : building ? ['bu', 'Building'] : ['si', 'Site'];
  const location: Location & { id: string } = {
    resourceType: 'Location',
    id: stableId('hl7v2', 'Location', ctx.sender.authority, ...parts),
    status: 'active',
    name,
    mode: 'instance',
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: physical[0]!, display: physical[1]! }] },
  };
  return { ...ctx.add(location, PROFILES.Location, rep.location), display: name };
}
