/**
 * HL7 v2 (2.3 to 2.8) -> FHIR R4 / US Core 6.1.0. Pure functions: text in, resources out, no I/O.
 * `splitHl7Messages` cuts a file into messages, `hl7Header` reads MSH for ACKs whatever the content,
 * `mapHl7v2` maps one message or refuses it with a MappingError saying why. docs/mapping.md lists the
 * message types, the identity rule of every resource and the field-level mapping.
 */
import { MappingError, type MappedUnit } from '../types.js';
import { senderOrganization } from './actors.js';
import { MapContext, zoneContext, type Hl7MappingDeps, type Sender } from './context.js';
import { parseHl7Time } from './datetime.js';
import { parseHl7, type Seg } from './message.js';
import { HANDLERS, refusalReason } from './messages/dispatch.js';
import { addProvenance, messageSource } from './provenance.js';

export { splitHl7Messages } from './split.js';
export { hl7Header, type Hl7Header } from './header.js';
export type { Hl7MappingDeps } from './context.js';
export { messageSource, messageSystem } from './provenance.js';

/** HL7 v2 versions this mapper reads (MSH-12.1). */
const SUPPORTED_VERSION = /^2\.[3-8](\.\d+)?$/;

/** Maps one HL7 v2 message. Throws MappingError: 'unprocessable' (AR) or 'content' (AE). */
/** Every resource type this mapper writes (creates or updates): a sender needs write permission on all of them. */
export const HL7V2_RESOURCE_TYPES = [
  'Patient', 'Encounter', 'Location', 'Practitioner', 'Organization', 'Observation', 'DiagnosticReport', 'MedicationRequest',
  'Medication', 'Immunization', 'AllergyIntolerance', 'Condition', 'Procedure', 'DocumentReference', 'Provenance',
] as const;

export function mapHl7v2(text: string, deps: Hl7MappingDeps): MappedUnit {
  const msg = parseHl7(text);
  const msh = msg.segments[0]!;
  const type = msh.get(9, 1).toUpperCase();
  const trigger = msh.get(9, 2).toUpperCase();
  if (!type || !trigger) refuse('unprocessable', 'message type (MSH-9) must name a type and a trigger event, e.g. ADT^A01', 'MSH-9', 'MISSING_FIELD');
  const version = msh.get(12, 1);
  if (version && !SUPPORTED_VERSION.test(version)) {
    refuse('unprocessable', `HL7 version "${version}" is not supported (2.3 to 2.8 are)`, 'MSH-12', 'UNSUPPORTED_VERSION');
  }
  const handler = HANDLERS[`${type}^${trigger}`];
  if (!handler) refuse('unprocessable', refusalReason(type, trigger), 'MSH-9', 'UNSUPPORTED_MESSAGE');

  const controlId = msh.get(10);
  if (!controlId) refuse('content', 'message control id (MSH-10) is empty: it identifies the message for its Provenance and for replays', 'MSH-10', 'MISSING_FIELD');
  const zone = zoneContext(msh.get(7), deps.timezone);
  const rawTime = msh.get(7);
  if (!rawTime) refuse('content', 'date/time of message (MSH-7) is empty: it is when the records were sent (Provenance.recorded)', 'MSH-7', 'MISSING_FIELD');
  const recorded = parseHl7Time(rawTime, zone);
  if (!recorded) refuse('content', `date/time of message "${rawTime}" is not a valid HL7 date/time`, 'MSH-7', 'INVALID_DATE');

  const sender = senderOf(msh, controlId, `${type}^${trigger}`, recorded!);
  const ctx = new MapContext(msg, sender, deps, messageSource(sender.application, sender.facility, controlId), zone);
  if (!version) ctx.issue('warning', 'MISSING_FIELD', 'version id (MSH-12) is empty; read as HL7 v2.5.1', 'MSH-12');
  if (recorded!.offsetFrom === 'assumed-utc') {
    ctx.issue('warning', 'TIMEZONE_ASSUMED', 'MSH-7 has no UTC offset and no site time zone is configured: times read as UTC', 'MSH-7');
  }
  const senderRef = senderOrganization(ctx, msh);
  handler!(ctx, trigger);
  addProvenance(ctx, senderRef);
  return { source: `MSH-10 ${controlId}`, resources: ctx.produced(), issues: ctx.issues };
}

function senderOf(msh: Seg, controlId: string, messageType: string, recorded: NonNullable<ReturnType<typeof parseHl7Time>>): Sender {
  const application = msh.get(3, 1) || msh.get(3, 2);
  const facility = msh.get(4, 1) || msh.get(4, 2);
  return { application, facility, authority: facility || application, controlId, messageType, recorded };
}

function refuse(kind: 'content' | 'unprocessable', message: string, location: string, code: string): never {
  throw new MappingError(kind, message, [{ severity: 'error', code, message, location }]);
}
