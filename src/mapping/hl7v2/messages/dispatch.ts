/**
 * Which message types are mapped, and the reason given for each one that is refused. The reasons are
 * what a sender's interface analyst reads in the ACK (MSA-3/ERR), so each says why, not just "unsupported".
 */
import type { MapContext } from '../context.js';
import { mapAdt } from './adt.js';
import { mapMdm } from './mdm.js';
import { mapMerge } from './merge.js';
import { mapOru } from './oru.js';
import { mapPharmacy } from './pharmacy.js';
import { mapVxu } from './vxu.js';

type Handler = (ctx: MapContext, trigger: string) => void;

const ADT_SNAPSHOT = ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A13', 'A28', 'A31'];

export const HANDLERS: Readonly<Record<string, Handler>> = {
  ...Object.fromEntries(ADT_SNAPSHOT.map((t) => [`ADT^${t}`, mapAdt])),
  'ADT^A34': mapMerge,
  'ADT^A40': mapMerge,
  'ORU^R01': mapOru,
  'RDE^O11': (ctx, t) => mapPharmacy(ctx, t, 'RXE'),
  'OMP^O09': (ctx, t) => mapPharmacy(ctx, t, 'RXO'),
  'ORM^O01': (ctx, t) => mapPharmacy(ctx, t, 'RXO'),
  'VXU^V04': mapVxu,
  'MDM^T02': mapMdm,
  'MDM^T04': mapMdm,
  'MDM^T08': mapMdm,
};

/** Refusal reasons by message type (any trigger), then by type^trigger. */
const REFUSED_TYPES: Readonly<Record<string, string>> = {
  OML: 'laboratory orders map to ServiceRequest, which this gateway does not store; results are accepted as ORU^R01',
  OMG: 'service orders map to ServiceRequest, which this gateway does not store',
  OMI: 'imaging orders map to ServiceRequest, which this gateway does not store',
  DFT: 'financial transactions (charges) have no US Core resource this gateway stores',
  BAR: 'billing account messages have no US Core resource this gateway stores',
  PPR: 'problem messages (PPR) are not supported: problem-list Conditions come from FHIR or record imports',
  PGL: 'goal messages (PGL) are not supported: Goals come from FHIR or record imports',
  SIU: 'scheduling messages: Appointment is not stored by this gateway',
  ACK: 'an acknowledgement carries no clinical content',
  QBP: 'queries are not answered on the ingest interface', QRY: 'queries are not answered on the ingest interface', RSP: 'query responses are not accepted on the ingest interface',
  MFN: 'master file notifications are not processed',
  RAS: 'administration messages (RAS) are not supported; immunizations are accepted as VXU^V04',
  RDS: 'dispense messages (RDS) are not supported: MedicationDispense is not stored by this gateway',
};
const REFUSED_EVENTS: Readonly<Record<string, string>> = {
  'ADT^A11': 'cancellations (A11 cancel admit) are not applied automatically; correct the visit with an ADT^A08 update',
  'ADT^A12': 'cancellations (A12 cancel transfer) are not applied automatically; correct the visit with an ADT^A08 update',
  'ADT^A23': 'visit deletions (A23) are not applied automatically; correct the visit with an ADT^A08 update',
  'ADT^A29': 'person deletions (A29) are not applied automatically',
  'ADT^A27': 'cancellations (A27 cancel pending admit) are not applied automatically',
  'MDM^T11': 'document cancellations (T11) are not applied automatically',
};

/** The refusal reason for a type^trigger that has no handler. */
export function refusalReason(type: string, trigger: string): string {
  const key = `${type}^${trigger}`;
  const specific = REFUSED_EVENTS[key] ?? REFUSED_TYPES[type];
  if (specific) return `${key}: ${specific}`;
  const sameType = Object.keys(HANDLERS).filter((k) => k.startsWith(`${type}^`));
  if (sameType.length) return `${key} is not a supported trigger (this gateway maps ${sameType.join(', ')})`;
  return `${key} is not a supported message type (this gateway maps ADT, ORU^R01, RDE^O11, OMP^O09, ORM^O01 pharmacy orders, VXU^V04 and MDM^T02/T04/T08)`;
}
