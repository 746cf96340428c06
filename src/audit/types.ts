import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { DisclosureChannel } from '../store/types.js';

export interface DisclosureRequest {
  principal: Principal;
  purposeOfUse: string;
  legalBasis: string;
  /** Per-patient legal basis when a consent made the difference (`tpo;consent=Consent/x`); else legalBasis. */
  legalBasisByPatient?: ReadonlyMap<string, string>;
  channel: DisclosureChannel;
  /** Everything that is about to leave (after policy.filter). Resources outside every patient compartment are not PHI and are not logged. */
  resources: Resource[];
  requestId: string;
}

export interface Audit {
  /**
   * Appends one disclosure entry per patient whose data is in `resources`, durably, before the
   * caller sends anything. Throws OutcomeError 503 (GW_AUDIT_UNAVAILABLE) when it cannot: the caller then sends no data.
   */
  recordDisclosure(req: DisclosureRequest): Promise<void>;
}
