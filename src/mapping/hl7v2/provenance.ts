/**
 * One US Core Provenance per message: what the message produced (target), when the sender says it
 * was sent (MSH-7, never the time of mapping, so a replay produces the same resource), who (the
 * sending Organization as author and transmitter) and from what (the message, by MSH-10).
 * Identity: the sender plus MSH-10, which HL7 requires to be unique per sender.
 */
import type { Provenance } from '@medplum/fhirtypes';
import { stableId } from '../../core/ids.js';
import type { MapContext, Ref } from './context.js';
import { PROFILES } from './profiles.js';

/** `urn:hl7v2:<MSH-3>:<MSH-4>`: the namespace of the sender's message control ids. */
export function messageSystem(application: string, facility: string): string {
  return `urn:hl7v2:${uriPart(application)}:${uriPart(facility)}`;
}

/** meta.source of everything a message produces: `urn:hl7v2:<MSH-3>:<MSH-4>#<MSH-10>`. */
export function messageSource(application: string, facility: string, controlId: string): string {
  return `${messageSystem(application, facility)}#${uriPart(controlId)}`;
}

/** Percent-encodes a URI part, including ':' so the parts of the URN stay separable. */
function uriPart(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function addProvenance(ctx: MapContext, sender: Ref): void {
  const { application, facility, controlId, messageType, recorded } = ctx.sender;
  const target = ctx.produced()
    .filter((r) => r.resourceType !== 'Provenance')
    .map((r) => ({ reference: `${r.resourceType}/${r.id}` }));
  const provenance: Provenance & { id: string } = {
    resourceType: 'Provenance',
    id: stableId('hl7v2', 'Provenance', application, facility, controlId),
    target,
    recorded: recorded.instant,
    agent: [
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }] }, who: sender },
      { type: { coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type', code: 'transmitter', display: 'Transmitter' }] }, who: sender },
    ],
    entity: [{
      role: 'source',
      what: { identifier: { system: messageSystem(application, facility), value: controlId }, display: `HL7 v2 ${messageType} message ${controlId}` },
    }],
  };
  ctx.add(provenance, PROFILES.Provenance, 'MSH');
}
