/**
 * Storage interfaces. Two implementations (sqlite/, postgres/) pass one contract suite
 * (test/store/contract.ts). Only app.ts picks which one runs.
 */
import type { Resource } from '@medplum/fhirtypes';

// ---------------------------------------------------------------- resources

export interface HistoryEntry {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'DELETE';
  /** Absent for a DELETE entry. */
  resource?: Resource;
}

export type SearchPrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface SearchValue {
  prefix?: SearchPrefix;
  /** The raw value as the client sent it, unescaped (for tokens: `system|code`, `|code`, `code`, `system|`). */
  value: string;
}

/** One search parameter occurrence: its values are OR-ed; several filters are AND-ed. */
export interface SearchFilter {
  /** Search parameter code (`patient`, `category`, `_id`, `_lastUpdated`, ...). */
  code: string;
  /** `exact`, `contains`, `missing`, `not`, `text`, `identifier`, `above`, `below`, or a resource type for references. */
  modifier?: string;
  values: SearchValue[];
}

export interface SearchQuery {
  resourceType: string;
  /** AND of filters. Codes must be known search parameters of resourceType (the fhir/ layer checks). */
  filters: SearchFilter[];
  /**
   * Policy narrowing, applied as WHERE clauses:
   * - compartmentPatient: only resources in this Patient's compartment (or the Patient itself);
   * - anyOf: at least one of these AND-groups of filters must hold (granular scopes `?category=`).
   */
  narrow?: { compartmentPatient?: string; anyOf?: SearchFilter[][] };
  sort?: Array<{ code: string; descending: boolean }>;
  /** Page size (already clamped) and offset. count 0 = no resources, just the total. */
  count: number;
  offset: number;
  /** Compute the total number of matches. */
  total?: boolean;
}

export interface SearchResult {
  resources: Resource[];
  /** Present when SearchQuery.total was true. */
  total?: number;
  /** True when another page exists after this one. */
  hasMore: boolean;
  /** The first match after this page (when hasMore and count > 0): what the next page would start with. */
  next?: Resource;
}

export interface ResourceStore {
  /** Assigns id (unless opts.id), meta.versionId and meta.lastUpdated; indexes; stores version 1. */
  create<T extends Resource>(resource: T, opts?: { id?: string }): Promise<T>;
  /**
   * New version of resource.id. ifMatch: the expected current versionId (412 otherwise).
   * Creates the resource when it does not exist (update-as-create, FHIR allows it) and returns created=true.
   */
  update<T extends Resource>(resource: T, opts?: { ifMatch?: string }): Promise<{ resource: T; created: boolean }>;
  /** Records a DELETE version; reads then answer 410. Deleting a missing or deleted resource is a no-op. */
  delete(resourceType: string, id: string, opts?: { ifMatch?: string }): Promise<void>;
  /** Current version, or throws OutcomeError 404 (never existed) / 410 (deleted). */
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T>;
  /** Current versions of many references at once (for _include, $everything); missing/deleted are skipped. */
  readMany(refs: ReadonlyArray<{ resourceType: string; id: string }>): Promise<Resource[]>;
  /** One version, or 404 (unknown id or version) / 410 (that version is a delete). */
  vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T>;
  /** Newest first. 404 when the resource never existed. */
  history(resourceType: string, id: string, opts: { count: number; offset: number; since?: string }): Promise<{
    entries: HistoryEntry[];
    total: number;
  }>;
  search(query: SearchQuery): Promise<SearchResult>;
  /**
   * Resources that reference any of `targets` through search parameter `code` of `resourceType`
   * (for _revinclude), at most `limit`.
   */
  searchReferencing(
    resourceType: string,
    code: string,
    targets: ReadonlyArray<string>, // "Type/id"
    limit: number,
  ): Promise<Resource[]>;
  /** Every current resource in Patient/{id}'s compartment (plus the Patient), for $everything. */
  compartment(patientId: string, opts: { types?: string[]; since?: string; count: number; offset: number }): Promise<{
    resources: Resource[];
    hasMore: boolean;
    /** The first resource after this page (when hasMore and count > 0). */
    next?: Resource;
  }>;
  /**
   * Current resources of one type in these patients' compartments, by patient (one indexed read: the
   * policy reads every patient's consents on each disclosure this way).
   */
  ofTypeInCompartments(resourceType: string, patientIds: readonly string[]): Promise<Map<string, Resource[]>>;
    /** Runs fn atomically: every write inside commits together or not at all. */
  transaction<T>(fn: (tx: ResourceStore) => Promise<T>): Promise<T>;
}

// ---------------------------------------------------------------- disclosure log

export type DisclosureChannel =
  | 'read' | 'vread' | 'history' | 'search' | 'everything' | 'export' | 'hie-response' | 'prescription' | 'audit';

/** One disclosure of one patient's data to one recipient (design.md §6). */
export interface DisclosureInput {
  /** Patient id (the `Patient/` part omitted). */
  patient: string;
  recipient: { partnerId: string; name: string; kind: string; address?: string };
  user?: string;
  clientId: string;
  /** The access token's jti. */
  tokenId: string;
  /** HL7 v3 PurposeOfUse code (TREAT, HPAYMT, HOPERAT, PUBHLTH, ...). */
  purposeOfUse: string;
  /** Why it was allowed: `TPO`, `consent:Consent/123`, `required-by-law`, ... */
  legalBasis: string;
  channel: DisclosureChannel;
  resources: Array<{ resourceType: string; id: string; versionId?: string }>;
  /** Human-readable: what was disclosed (no free-text PHI beyond resource types and counts). */
  description: string;
  requestId: string;
  /**
   * Sensitivity and confidentiality codes (v3 ActCode / Confidentiality, e.g. ETH, PSY, R) of what was disclosed,
   * when any. ETH (42 CFR Part 2) puts the entry on the Part 2 list.
   */
  labels?: string[];
}

export interface DisclosureEntry extends DisclosureInput {
  seq: number;
  /** ISO instant, never decreasing along the chain. */
  recorded: string;
  prevHash: string;
  hash: string;
}

export interface DisclosureLog {
  /**
   * Appends entries in order, in one transaction, chaining each to the previous
   * (core/hash-chain.ts: hash = chainHash(prevHash, hashedFields(entry))). Resolves only
   * after the commit is durable. Rejects (and writes nothing) when it cannot.
   */
  append(entries: DisclosureInput[]): Promise<DisclosureEntry[]>;
  /** One patient's entries, oldest first, optionally within [since, until). */
  listByPatient(patient: string, opts?: { since?: string; until?: string; count?: number; offset?: number }): Promise<
    DisclosureEntry[]
  >;
  /** Entries with seq > afterSeq in seq order, at most limit (for verification and export). */
  scan(afterSeq: number, limit: number): Promise<DisclosureEntry[]>;
  count(): Promise<number>;
}

// ---------------------------------------------------------------- replay cache

export interface ReplayCache {
  /**
   * Atomically remembers key until expiresAtMs. Returns false when the key was already
   * present and unexpired (a replay). Must be a single INSERT with a UNIQUE key, never read-then-write.
   */
  remember(key: string, expiresAtMs: number): Promise<boolean>;
  /** Deletes expired keys. */
  purge(nowMs: number): Promise<number>;
}

// ---------------------------------------------------------------- partners

export type PartnerKind = 'ehr' | 'specialist' | 'therapist' | 'pharmacy' | 'hie' | 'payer' | 'internal';
export type PartnerStatus = 'active' | 'suspended' | 'terminated';

export interface JsonWebKeySet { keys: Array<Record<string, unknown>> }

export interface Partner {
  id: string;
  name: string;
  kind: PartnerKind;
  /** Organization postal address, one line (for the accounting of disclosures). */
  address?: string;
  status: PartnerStatus;
  /** Registered public keys, or a JWKS URL (exactly one of the two). */
  jwks?: JsonWebKeySet;
  jwksUrl?: string;
  /** Pre-authorized scopes (space-separated SMART scopes, split). */
  scopes: string[];
  /**
   * The partner agreement (policy/agreements.ts validates and interprets it; the store keeps it as JSON).
   * Absent: the defaults of the partner's kind apply.
   */
  agreement?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface PartnerStore {
  get(id: string): Promise<Partner | undefined>;
  list(): Promise<Partner[]>;
  /** Insert or replace; sets createdAt/updatedAt. */
  upsert(partner: Omit<Partner, 'createdAt' | 'updatedAt'>): Promise<Partner>;
  setStatus(id: string, status: PartnerStatus): Promise<Partner | undefined>;
}

// ---------------------------------------------------------------- gateway signing keys

export interface SigningKey {
  kid: string;
  alg: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: string;
  /** Set when rotated out: no longer signs, still verifies until tokens it signed have expired. */
  retiredAt?: string;
}

export interface SigningKeyStore {
  list(): Promise<SigningKey[]>;
  add(key: SigningKey): Promise<void>;
  retire(kid: string, at: string): Promise<void>;
  /** Deletes keys retired before `before`. */
  prune(before: string): Promise<number>;
}

// ---------------------------------------------------------------- ingest error queue

export type IngestErrorStatus = 'open' | 'resolved';

/** An input that could not be stored, kept whole (with why) until a retry stores it. */
export interface IngestError {
  id: string;
  received: string;
  /** How it arrived: mllp, http, import. */
  channel: string;
  /** What it is: `hl7v2`, `mapping:<name>`, `fhir`. */
  format: string;
  /** Human-readable origin (MSH-10, file:line). */
  source: string;
  /** The original input, verbatim. */
  input: string;
  /** OperationOutcome explaining the failure. */
  outcome: Record<string, unknown>;
  status: IngestErrorStatus;
  attempts: number;
  updatedAt: string;
}

export interface IngestErrorQueue {
  add(e: Omit<IngestError, 'id' | 'received' | 'status' | 'attempts' | 'updatedAt'>): Promise<IngestError>;
  get(id: string): Promise<IngestError | undefined>;
  list(opts?: { status?: IngestErrorStatus; count?: number; offset?: number }): Promise<IngestError[]>;
  /** Records a retry attempt: resolved when it was stored, otherwise still open with the new outcome. */
  recordAttempt(id: string, result: { resolved: true } | { resolved: false; outcome: Record<string, unknown> }): Promise<IngestError | undefined>;
}

// ---------------------------------------------------------------- admin trail

export interface AdminTrailEntry {
  seq: number;
  at: string;
  /** Who made the change: `partner:<id>` (admin API client), `cli:<user>`, `config:<file>`. */
  actor: string;
  /** e.g. `partner.upsert`, `partner.status`, `agreement.update`, `suspension.add`. */
  action: string;
  /** What was changed: `partner/<id>`, `suspension/<id>`. */
  target: string;
  before?: unknown;
  after?: unknown;
}

export interface AdminTrail {
  record(e: Omit<AdminTrailEntry, 'seq' | 'at'>): Promise<AdminTrailEntry>;
  list(opts?: { target?: string; count?: number; offset?: number }): Promise<AdminTrailEntry[]>;
}

// ---------------------------------------------------------------- accounting records

export interface StoredSuspension {
  id: string;
  /** Absent: applies to every patient. */
  patient?: string;
  /** The suspension as audit/accounting.ts defines it (agency, form, start, end, requestedBy, ...). */
  body: Record<string, unknown>;
  recordedAt: string;
}

export interface AccountingRecords {
  addSuspension(s: Omit<StoredSuspension, 'recordedAt'>): Promise<StoredSuspension>;
  /** Suspensions that name this patient or every patient. */
  suspensionsFor(patient: string): Promise<StoredSuspension[]>;
  listSuspensions(): Promise<StoredSuspension[]>;
  /** Documents an accounting provided to a patient (45 CFR 164.530(j)). */
  recordProvided(r: { id: string; patient: string; body: Record<string, unknown> }): Promise<void>;
  listProvided(patient: string): Promise<Array<{ id: string; patient: string; at: string; body: Record<string, unknown> }>>;
}

// ---------------------------------------------------------------- the bundle

/**
 * Which search parameters the resource store indexes, per resource type. Parameters outside it get no index
 * rows and a search on them is refused (never answered from missing rows). The composition root passes the
 * parameters the gateway serves (fhir/resource-catalogue.ts searchIndexSelection); stores opened without one
 * index every parameter of the FHIR definitions.
 */
export interface SearchIndexSelection {
  params(resourceType: string): ReadonlySet<string>;
  /**
   * Identifies the selection. The store records the one its index rows were written under and, when it opens
   * with a different one, rebuilds every current resource's rows before it serves anything.
   */
  readonly fingerprint: string;
}

export interface Stores {
  kind: 'sqlite' | 'postgres';
  resources: ResourceStore;
  disclosures: DisclosureLog;
  replay: ReplayCache;
  partners: PartnerStore;
  keys: SigningKeyStore;
  ingestErrors: IngestErrorQueue;
  adminTrail: AdminTrail;
  accounting: AccountingRecords;
  /**
   * Runs fn in one transaction: every store call made from fn's async context joins it, so a change and
   * its admin-trail entry are committed together or not at all. `lock` names a lock held for the transaction
   * (PostgreSQL advisory lock; SQLite writers are serialized anyway), so read-then-write stays consistent
   * across processes.
   */
  atomically<T>(fn: () => Promise<T>, opts?: { lock?: string }): Promise<T>;
  /** Whether a store call made now (from this async context) would run inside an open transaction. */
  inTransaction(): boolean;
  /** Throws when the database cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
