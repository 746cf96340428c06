/**
 * The ingest pipeline every internal channel shares (MLLP, POST /ingest/hl7v2, fxg import of .hl7
 * files and of mapped exports): map -> label -> validate -> store whole, or queue the input with why.
 *
 * - Nothing is stored half: every resource of a unit is labelled and validated first, then all are
 *   written in one store transaction. One invalid resource refuses the whole unit.
 * - Replaying an input changes nothing: a resource whose content (without meta.versionId,
 *   meta.lastUpdated and meta.source) equals what is stored is not written again, so no new version
 *   appears. meta.source names the message (MSH-10) that wrote it, so several messages of one file
 *   sharing a resource (the sender Organization) would otherwise rewrite it on every replay.
 * - A failed input goes to the error queue verbatim, with the OperationOutcome and the time, for
 *   `fxg ingest errors` and `fxg ingest retry` after a mapping fix. A store outage is not a content
 *   error: it is thrown (the sender retries), not queued.
 */
import type { Coding, OperationOutcome, Provenance, Resource } from '@medplum/fhirtypes';
import { applyLabels } from './labels.js';
import { canonicalJson } from '../core/hash-chain.js';
import type { FhirDefinitions } from '../core/fhir-definitions.js';
import { stableId } from '../core/ids.js';
import type { Clock } from '../core/clock.js';
import { GW_CODE_SYSTEM, OutcomeError, type OutcomeIssue } from '../core/outcome.js';
import type { IngestError, IngestErrorQueue, ResourceStore } from '../store/types.js';
import { MappingError, SYSTEMS, type Labeler, type MappedUnit, type MappingIssue } from './types.js';
import { validateForIngest, combinedError } from './validate.js';

export interface IngestInput {
  /** How it arrived: mllp, http, import, retry. */
  channel: string;
  /** `hl7v2`, `mapping:<name>`. */
  format: string;
  /** The original input, verbatim (queued on failure). */
  input: string;
  /** Human-readable origin when mapping fails before one is known (file name and line). */
  source: string;
}

export type IngestResult =
  | {
      status: 'stored' | 'unchanged';
      source: string;
      created: number;
      updated: number;
      unchanged: number;
      /** Non-fatal findings (unmapped codes kept as local codings, ignored segments). */
      issues: MappingIssue[];
      resources: Array<{ resourceType: string; id: string }>;
    }
  | {
      status: 'failed';
      source: string;
      /** 'content': the input is wrong (HL7 AE); 'unprocessable': not something this gateway processes (AR). */
      kind: 'content' | 'unprocessable';
      outcome: OperationOutcome;
      /** Id in the error queue. */
      errorId: string;
      reason: string;
    };

export interface IngestPipeline {
  /** Maps (with `map`), then labels, validates and stores the unit whole; a failure is queued and reported. */
  ingest(input: IngestInput, map: () => MappedUnit): Promise<IngestResult>;
  /**
   * Replays a queued input with `map` (after a mapping fix): resolved in the queue when stored, otherwise
   * left open with the new OperationOutcome. Never queues a second copy.
   */
  retry(error: IngestError, map: () => MappedUnit): Promise<IngestResult>;
  /** Labels, validates and stores a unit whole; throws MappingError('content') listing every invalid resource. */
  store(unit: MappedUnit): Promise<Extract<IngestResult, { status: 'stored' | 'unchanged' }>>;
}

export interface IngestDeps {
  store: ResourceStore;
  errors: IngestErrorQueue;
  defs: FhirDefinitions;
  labeler: Labeler;
  clock: Clock;
}

export function createIngestPipeline(d: IngestDeps): IngestPipeline {
  async function store(unit: MappedUnit): Promise<Extract<IngestResult, { status: 'stored' | 'unchanged' }>> {
    const resources = propagateLabels(d.labeler.labelAll(unit.resources.map((r) => structuredClone(r))));
    for (const r of resources) {
      if (!r.id) throw new MappingError('content', `${r.resourceType} without an id (mappers assign deterministic ids)`);
    }
    const invalid = combinedError(resources.map((r, i) => validateForIngest(d.defs, r, { location: `${r.resourceType}[${i}]` })));
    if (invalid) {
      throw new MappingError('content', `${unit.source}: a mapped resource is not valid: ${firstText(invalid)}`, issuesOf(invalid));
    }
    const counts = { created: 0, updated: 0, unchanged: 0 };
    await d.store.transaction(async (tx) => {
      const current = new Map((await tx.readMany(resources.map((r) => ({ resourceType: r.resourceType, id: r.id as string }))))
        .map((r) => [`${r.resourceType}/${r.id}`, r]));
      // Labels are never lowered by a replay: what the stored version carries (a rule since removed, a label an
      // administrator added) is kept, with the highest confidentiality of the two.
      for (const [i, r] of resources.entries()) {
        const before = current.get(`${r.resourceType}/${r.id}`);
        if (before?.meta?.security?.length) resources[i] = withSecurity(r, before.meta.security);
      }
      const changed = resources.filter((r) => {
        const before = current.get(`${r.resourceType}/${r.id}`);
        return !before || contentKey(before) !== contentKey(r);
      });
      // The Provenance of an input that changed nothing would only restate what is stored.
      const meaningful = changed.filter((r) => r.resourceType !== 'Provenance');
      if (!meaningful.length) {
        counts.unchanged = resources.length;
        return;
      }
      for (const r of changed) {
        const { created } = await tx.update(r);
        if (created) counts.created++;
        else counts.updated++;
      }
      counts.unchanged = resources.length - changed.length;
    });
    return {
      status: counts.created + counts.updated ? 'stored' : 'unchanged',
      source: unit.source,
      ...counts,
      issues: unit.issues,
      resources: resources.map((r) => ({ resourceType: r.resourceType, id: r.id as string })),
    };
  }

  return {
    store,
    async retry(error, map) {
      try {
        const stored = await store(map());
        await d.errors.recordAttempt(error.id, { resolved: true });
        return stored;
      } catch (err) {
        if (!(err instanceof MappingError)) throw err;
        const outcome = mappingOutcome(err);
        await d.errors.recordAttempt(error.id, { resolved: false, outcome: outcome as unknown as Record<string, unknown> });
        return { status: 'failed', source: error.source, kind: err.kind, outcome, errorId: error.id, reason: err.message };
      }
    },
    async ingest(input, map) {
      let source = input.source;
      try {
        const unit = map();
        source = unit.source;
        return await store(unit);
      } catch (err) {
        if (!(err instanceof MappingError)) throw err;
        const outcome = mappingOutcome(err);
        const queued = await d.errors.add({
          channel: input.channel, format: input.format, source, input: input.input, outcome: outcome as unknown as Record<string, unknown>,
        });
        return { status: 'failed', source, kind: err.kind, outcome, errorId: queued.id, reason: err.message };
      }
    },
  };
}

/** Adds a Provenance naming every resource of the unit, when the mapper made none (record mappings). */
export function withProvenance(unit: MappedUnit, o: { agent: string; recorded: string; policy?: string }): MappedUnit {
  if (unit.resources.some((r) => r.resourceType === 'Provenance')) return unit;
  const targets = unit.resources.map((r) => ({ reference: `${r.resourceType}/${r.id}` }));
  const provenance: Provenance = {
    resourceType: 'Provenance',
    id: stableId('provenance', unit.source, ...targets.map((t) => t.reference)),
    meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance'], ...(unit.resources[0]?.meta?.source ? { source: unit.resources[0].meta.source } : {}) },
    target: targets,
    recorded: o.recorded,
    agent: [{
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
      who: { display: o.agent },
    }],
    entity: [{ role: 'source', what: { display: unit.source } }],
  };
  return { ...unit, resources: [...unit.resources, provenance] };
}

/** `r` with `extra` labels merged in: one confidentiality code (the highest), sensitivity codes united. */
function withSecurity<T extends Resource>(r: T, extra: readonly Coding[]): T {
  if (!extra.length) return r;
  return applyLabels({ ...r, meta: { ...r.meta, security: [...(r.meta?.security ?? []), ...extra] } } as T, []);
}

/**
 * A resource that points at labelled data in the same unit tells of that data: a Provenance naming a
 * Part 2 Condition, an Encounter whose diagnosis it is, a DiagnosticReport whose result it is. Each such
 * resource gets the sensitivity codes and the (higher) confidentiality of what it references, so that
 * withholding the data also withholds what would reveal it. One hop, within the unit.
 */
function propagateLabels(resources: Resource[]): Resource[] {
  const byKey = new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const sensitive = (r: Resource) => (r.meta?.security ?? []).filter((c) => c.system === SYSTEMS.actCode
    || (c.system === SYSTEMS.confidentiality && (c.code === 'R' || c.code === 'V')));
  return resources.map((r) => {
    const self = `${r.resourceType}/${r.id}`;
    const extra: Coding[] = [];
    for (const ref of referencesIn(r)) {
      const target = ref !== self ? byKey.get(ref) : undefined;
      if (target) extra.push(...sensitive(target));
    }
    return withSecurity(r, extra);
  });
}

/** `Type/id` of every literal reference in a resource. */
function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') {
        const m = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(v);
        if (m) out.push(m[1]!);
      } else if (k !== 'meta') referencesIn(v, out);
    }
  }
  return out;
}

/** What a resource says, without the bookkeeping the store adds to each version and the input that carried it. */
function contentKey(r: Resource): string {
  const { versionId: _v, lastUpdated: _l, source: _s, ...meta } = r.meta ?? {};
  return canonicalJson({ ...r, meta });
}

function issuesOf(err: OutcomeError): MappingIssue[] {
  return (err.toOutcome().issue as OutcomeIssue[]).map((i) => ({
    severity: i.severity === 'warning' || i.severity === 'information' ? i.severity : 'error',
    code: i.details?.coding?.[0]?.code ?? 'INVALID',
    message: i.details?.text ?? i.diagnostics ?? 'invalid',
    ...(i.expression?.[0] ? { location: i.expression[0] } : {}),
  }));
}

function firstText(err: OutcomeError): string {
  const [i] = err.toOutcome().issue as OutcomeIssue[];
  return `${i?.details?.text ?? err.message}${i?.expression?.[0] ? ` (at ${i.expression[0]})` : ''}`;
}

/** The OperationOutcome of a mapping failure: one issue per finding, located in the input. */
export function mappingOutcome(err: MappingError): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: err.issues.map((i) => ({
      severity: i.severity === 'error' ? 'error' : i.severity,
      code: err.kind === 'unprocessable' ? 'not-supported' : 'invalid',
      details: { coding: [{ system: GW_CODE_SYSTEM, code: i.code }], text: i.message },
      ...(i.location ? { expression: [i.location] } : {}),
    })),
  };
}
