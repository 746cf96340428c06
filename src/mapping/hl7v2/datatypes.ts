/**
 * HL7 v2 composite data types as FHIR data types: HD/CX/EI -> Identifier (with the system rule),
 * XPN -> HumanName, XAD -> Address, XTN -> ContactPoint. Pure readers of a Rep; nothing here decides
 * identity or creates resources.
 */
import type { Address, ContactPoint, HumanName, Identifier } from '@medplum/fhirtypes';
import { SYSTEMS } from '../types.js';
import { V2_TABLE } from './codes.js';
import type { MapContext } from './context.js';
import type { Rep } from './message.js';

/** Well-known assigning authorities sent by name. */
const KNOWN_AUTHORITIES: Readonly<Record<string, string>> = {
  NPI: 'http://hl7.org/fhir/sid/us-npi',
  SSA: 'http://hl7.org/fhir/sid/us-ssn',
  USSSA: 'http://hl7.org/fhir/sid/us-ssn',
};

/** Identifier type codes (table 0203) with a fixed FHIR system regardless of the authority. */
const TYPE_SYSTEMS: Readonly<Record<string, string>> = {
  SS: 'http://hl7.org/fhir/sid/us-ssn',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
};

/**
 * The URI naming an HD (hierarchic designator): its universal id when typed ISO (urn:oid:), UUID
 * (urn:uuid:) or URI; else a well-known namespace; else `${localPrefix}/id/<namespace>`.
 */
export function hdSystem(namespace: string, universalId: string, universalType: string): string | undefined {
  const t = universalType.toUpperCase();
  if (universalId) {
    if (t === 'ISO' && /^[0-2](\.\d+)+$/.test(universalId)) return `urn:oid:${universalId}`;
    if (t === 'UUID' && /^[0-9a-fA-F-]{36}$/.test(universalId)) return `urn:uuid:${universalId.toLowerCase()}`;
    if ((t === 'URI' || t === 'URL') && /^[a-z][a-z0-9+.-]*:\S+$/i.test(universalId)) return universalId;
  }
  const ns = namespace || universalId;
  if (!ns) return undefined;
  return KNOWN_AUTHORITIES[ns.toUpperCase()] ?? `${SYSTEMS.localPrefix}/id/${encodeURIComponent(ns)}`;
}

/**
 * Identifier.system for a value from `authority` (an HD read from a Rep component) with type `typeCode`.
 * Without an authority the sending facility is the implicit one (`${localPrefix}/id/<facility>/<type>`),
 * so the same sender's same value always gives the same system; an SSN is always us-ssn.
 */
export function identifierSystem(ctx: MapContext, authority: Rep | undefined, typeCode: string): string {
  const fixed = TYPE_SYSTEMS[typeCode.toUpperCase()];
  if (fixed) return fixed;
  const explicit = authority ? hdSystem(authority.get(1), authority.get(2), authority.get(3)) : undefined;
  if (explicit) return explicit;
  return `${SYSTEMS.localPrefix}/id/${encodeURIComponent(ctx.sender.authority)}/${encodeURIComponent(typeCode || 'id')}`;
}

/** CX (extended composite id) as an Identifier; undefined when CX-1 is empty. */
export function cxIdentifier(ctx: MapContext, rep: Rep): Identifier | undefined {
  const value = rep.get(1);
  if (!value) return undefined;
  const type = rep.get(5);
  const id: Identifier = { system: identifierSystem(ctx, rep.sub(4), type), value };
  if (type) id.type = { coding: [{ system: V2_TABLE('0203'), code: type }] };
  if (type === 'MR') id.use = 'usual';
  const start = rep.get(7);
  const end = rep.get(8);
  if (start || end) {
    const s = start ? ctx.repTime(rep, 7) : undefined;
    const e = end ? ctx.repTime(rep, 8) : undefined;
    id.period = { ...(s ? { start: s.dateTime } : {}), ...(e ? { end: e.dateTime } : {}) };
  }
  return id;
}

/** EI (entity identifier: id^namespace^universal id^type) as an Identifier; undefined when EI-1 is empty. */
export function eiIdentifier(ctx: MapContext, rep: Rep | undefined, typeWhenImplicit: string): Identifier | undefined {
  const value = rep?.get(1);
  if (!rep || !value) return undefined;
  const system = hdSystem(rep.get(2), rep.get(3), rep.get(4))
    ?? `${SYSTEMS.localPrefix}/id/${encodeURIComponent(ctx.sender.authority)}/${encodeURIComponent(typeWhenImplicit)}`;
  return { system, value };
}

/** XPN-7 name type (table 0200) -> HumanName.use. */
const NAME_USE: Readonly<Record<string, HumanName['use']>> = {
  L: 'official', D: 'usual', M: 'maiden', N: 'nickname', S: 'anonymous', A: 'usual', B: 'old', BAD: 'old', TEMP: 'temp', T: 'temp',
};

/**
 * XPN (family^given^second given^suffix^prefix^degree^type) as a HumanName; undefined without family or
 * given. Also reads the 2.3 PN layout, which is the same for the first six components.
 */
export function xpnName(rep: Rep): HumanName | undefined {
  const family = rep.get(1);
  const given = [rep.get(2), ...rep.get(3).split(/\s+/)].filter(Boolean);
  if (!family && !given.length) return undefined;
  const suffix = [rep.get(4), rep.get(6)].filter(Boolean);
  const prefix = rep.get(5);
  const use = NAME_USE[rep.get(7).toUpperCase()];
  return {
    ...(use ? { use } : {}),
    ...(family ? { family } : {}),
    ...(given.length ? { given } : {}),
    ...(prefix ? { prefix: [prefix] } : {}),
    ...(suffix.length ? { suffix } : {}),
  };
}

/** XAD-7 address type (table 0190) -> use/type. */
const ADDRESS_USE: Readonly<Record<string, Pick<Address, 'use' | 'type'>>> = {
  H: { use: 'home' }, P: { use: 'home' }, B: { use: 'work' }, O: { use: 'work' }, C: { use: 'temp' },
  M: { type: 'postal' }, SH: { type: 'postal' }, BA: { use: 'billing' }, BI: { use: 'billing' }, BDL: { use: 'old' }, BR: { use: 'home' },
  V: { use: 'temp' }, F: { use: 'home' }, L: { use: 'home' }, N: { use: 'home' },
};

/** XAD (street^other^city^state^zip^country^type^other geo^county) as an Address; undefined when empty. */
export function xadAddress(rep: Rep): Address | undefined {
  const line = [rep.get(1, 1), rep.get(2)].filter(Boolean);
  const city = rep.get(3);
  const state = rep.get(4);
  const postalCode = rep.get(5);
  const country = rep.get(6);
  const district = rep.get(9);
  if (!line.length && !city && !state && !postalCode && !country) return undefined;
  return {
    ...(ADDRESS_USE[rep.get(7).toUpperCase()] ?? {}),
    ...(line.length ? { line } : {}),
    ...(city ? { city } : {}),
    ...(district ? { district } : {}),
    ...(state ? { state } : {}),
    ...(postalCode ? { postalCode } : {}),
    ...(country ? { country } : {}),
  };
}

/** XTN-2 telecommunication use (table 0201). */
const TELECOM_USE: Readonly<Record<string, ContactPoint['use']>> = {
  PRN: 'home', ORN: 'home', VHN: 'home', WPN: 'work', PRS: 'mobile', EMR: undefined, ASN: undefined, BPN: undefined, NET: undefined,
};

/** XTN-3 equipment type (table 0202). */
const TELECOM_SYSTEM: Readonly<Record<string, ContactPoint['system']>> = {
  PH: 'phone', CP: 'phone', FX: 'fax', BP: 'pager', INTERNET: 'email', 'X.400': 'email', MD: 'other', TDD: 'other', TTY: 'other', SAT: 'phone',
};

/**
 * XTN as a ContactPoint; undefined when it carries no number or address. The number is built from the
 * 2.3+ components (country, area, local, extension) when present, else XTN-12 (unformatted) or XTN-1
 * (the deprecated free-text number).
 */
export function xtnContact(rep: Rep, defaultUse: ContactPoint['use']): ContactPoint | undefined {
  const useCode = rep.get(2).toUpperCase();
  const equip = rep.get(3).toUpperCase();
  const email = rep.get(4);
  let system: ContactPoint['system'] = TELECOM_SYSTEM[equip] ?? (useCode === 'NET' ? 'email' : useCode === 'BPN' ? 'pager' : 'phone');
  let value: string;
  if (email || system === 'email') {
    value = email || rep.get(1);
    system = 'email';
  } else if (rep.get(7)) {
    const cc = rep.get(5);
    const area = rep.get(6);
    const ext = rep.get(8);
    value = `${cc ? `+${cc.replace(/^\+/, '')} ` : ''}${area ? `(${area}) ` : ''}${rep.get(7)}${ext ? ` x${ext}` : ''}`;
  } else {
    value = rep.get(12) || rep.get(1);
  }
  if (!value) return undefined;
  const use = equip === 'CP' ? 'mobile' : useCode in TELECOM_USE ? TELECOM_USE[useCode] : defaultUse;
  return { system, value, ...(use ? { use } : {}) };
}
