import type { Consent, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { SearchFilter } from '../store/types.js';

export type Interaction =
  | 'read' | 'vread' | 'history' | 'search' | 'everything' | 'create' | 'update' | 'delete';

/** What the request wants to do; decided before the store is touched. */
export interface FhirOperation {
  interaction: Interaction;
  resourceType: string;
  id?: string;
  /** Patient ids the request names explicitly (search `patient=`/`subject=`, `$everything`). */
  patients?: string[];
}

export type Decision =
  | { effect: 'deny'; status: 401 | 403 | 404; code: string; reason: string }
  | {
      effect: 'permit';
      purposeOfUse: string;
      /** Legal basis the disclosure log records: TPO, consent:Consent/x, required-by-law. */
      legalBasis: string;
      /** WHERE-clause narrowing for searches (store SearchQuery.narrow). */
      narrow: { compartmentPatient?: string; anyOf?: SearchFilter[][] };
    };

export interface Policy {
  decide(principal: Principal, op: FhirOperation): Decision;
  /**
   * What may actually leave: drops every resource the principal may not see (type not in scope,
   * outside the patient compartment, not matching a granular scope constraint). Applied to the
   * final response set, after _include/_revinclude, so nothing rides along. `use` names the permission
   * that lets a resource leave: 'read' (default: read, vread, history, $everything) needs `r`;
   * 'search' (a searchset, its matches and includes) accepts `s` or `r`. A compartment resource whose
   * patient cannot be named (identifier-only subject) never leaves.
   */
  filter(principal: Principal, resources: Resource[], use?: 'read' | 'search'): Resource[];
  /**
   * What may actually leave, for a disclosure: filter(), then the patients' consents (a deny hides the
   * patient's data from this recipient; 42 CFR Part 2 data needs a consent naming the recipient; an
   * agreement requiring consent needs an applicable permit), per patient. Returns the obligations the
   * response must honour and the legal basis per patient (with the consent that allowed it).
   * A labelled resource that names no patient (a sensitivity label other than a plain confidentiality level,
   * e.g. a Medication written with a Part 2 record) answers to the consents of the patients of
   * `opts.context`, the resources it is disclosed alongside (the released matches that referenced it);
   * without context it does not leave.
   */
  release(principal: Principal, resources: Resource[], use?: 'read' | 'search', opts?: { context?: readonly Resource[] }): Promise<Release>;
  /** Whether a write of `resource` (its post-image; for updates also the pre-image) is allowed. */
  mayWrite(principal: Principal, interaction: 'create' | 'update' | 'delete', resource: Resource): boolean;
}

export interface Release {
  resources: Resource[];
  /** Deduplicated obligations (policy/consent.ts Obligation): redisclosure notices, consent scope. */
  obligations: Array<{ kind: string; authority?: string; text?: string; consentRef?: string }>;
  /** Legal basis per patient id when a consent allowed the disclosure (`<basis>;consent=Consent/x`). */
  legalBasisByPatient: Map<string, string>;
  /**
   * What each released resource (the candidate object) added to `obligations` and `legalBasisByPatient`, in
   * order, so a caller that sends only some of them can tell what those carry. Absent: nothing was added.
   */
  contributions?: ReadonlyMap<Resource, { obligations: Release['obligations']; bases: ReadonlyArray<readonly [string, string]> }>;
}

/** Active patient-privacy consents of these patients (one query for a page of results). */
export type ConsentSource = (patients: readonly string[]) => Promise<ReadonlyMap<string, Consent[]>>;
