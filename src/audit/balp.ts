/**
 * Disclosure-log entries as IHE BALP PrivacyDisclosure.Source AuditEvents, one patient per event.
 * See: https://profiles.ihe.net/ITI/BALP/StructureDefinition-IHE.BasicAudit.PrivacyDisclosure.Source.html
 * and spec-rules §3.3 (OAuth context: policy = urn:ietf:params:oauth:jti:<jti>, client_id in who.identifier).
 */
import type { Coding, AuditEvent } from '@medplum/fhirtypes';
import type { DisclosureEntry } from '../store/types.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PURPOSE = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const BALP_PROFILE = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source';

export interface BalpSource {
  /** The gateway's identity as the audit source and the disclosing agent. */
  observer: string;
  /** Network address of the gateway (its public base URL). */
  network: string;
  /** System for partner ids (who.identifier.system). */
  partnerSystem: string;
}

export function toAuditEvent(e: DisclosureEntry, src: BalpSource): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    id: String(e.seq),
    meta: { profile: [BALP_PROFILE], versionId: '1', lastUpdated: e.recorded, ...securityOf(e.labels) },
    type: { system: DCM, code: '110106', display: 'Export' },
    subtype: [
      { system: 'urn:iso:std:iso:21089', code: 'disclose', display: 'Disclose Record Lifecycle Event' },
      { system: 'http://hl7.org/fhir/restful-interaction', code: restInteraction(e.channel) },
    ],
    action: 'R',
    recorded: e.recorded,
    outcome: '0',
    purposeOfEvent: [{ coding: [{ system: PURPOSE, code: e.purposeOfUse }] }],
    agent: [
      {
        type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
        who: { display: src.observer },
        requestor: false,
        network: { address: src.network, type: '5' },
      },
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: {
          identifier: { system: src.partnerSystem, value: e.recipient.partnerId },
          display: e.recipient.address ? `${e.recipient.name}, ${e.recipient.address}` : e.recipient.name,
        },
        requestor: false,
        network: { address: e.recipient.partnerId, type: '5' },
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser' }] },
        who: e.user ? { reference: e.user } : { identifier: { system: src.partnerSystem, value: e.clientId }, display: `client ${e.clientId}` },
        requestor: true,
        policy: [`urn:ietf:params:oauth:jti:${e.tokenId}`],
        purposeOfUse: [{ coding: [{ system: PURPOSE, code: e.purposeOfUse }] }],
      },
    ],
    source: { observer: { display: src.observer }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] },
    entity: [
      {
        what: { reference: `Patient/${e.patient}` },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      },
      ...e.resources.map((r) => ({
        what: { reference: `${r.resourceType}/${r.id}${r.versionId ? `/_history/${r.versionId}` : ''}` },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      })),
      {
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
        description: e.description,
        detail: [
          { type: 'legalBasis', valueString: e.legalBasis },
          { type: 'requestId', valueString: e.requestId },
          { type: 'hash', valueString: e.hash },
        ],
      },
    ],
  };
}

function restInteraction(channel: string): string {
  switch (channel) {
    case 'read': return 'read';
    case 'vread': return 'vread';
    case 'history': return 'history-instance';
    case 'search': case 'audit': return 'search-type';
    default: return 'operation';
  }
}

/**
 * An event about the disclosure of labelled data carries those labels: it says that such data exists and
 * where it went, so policy treats it like the data (a Part 2 disclosure event needs the consent the data needs).
 */
function securityOf(labels: readonly string[] | undefined): { security?: Coding[] } {
  if (!labels?.length) return {};
  return {
    security: labels.map((code) => (code === 'R' || code === 'V'
      ? { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code }
      : { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code })),
  };
}
