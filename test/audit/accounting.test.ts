/**
 * The accounting of disclosures against the rule text, entry by entry: 45 CFR 164.528 (HIPAA), 42 CFR 2.25 (Part 2),
 * the access report, and the renderings (BALP Bundle, HTML). Catalogue A-05; spec-rules §3.3 and §3.4.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { validateResource } from '@medplum/core';
import type { AuditEvent, AuditEventAgent } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../src/core/fhir-definitions.js';
import { OutcomeError } from '../../src/core/outcome.js';
import type { DisclosureEntry } from '../../src/store/types.js';
import {
  accountingProvided, buildAccounting, suspensionInEffect, suspensionProblems, type AccountingReport,
  type RecipientInfo, type Suspension,
} from '../../src/audit/accounting.js';
import { minusYears, parseTime, purposeStatement } from '../../src/audit/accounting-rules.js';
import {
  accountingBundle, PART2_ROUTE_EXTENSION, RECURRING_EXTENSION, SUMMARIZED_IN_EXTENSION,
} from '../../src/audit/accounting-bundle.js';
import { accountingHtml, escapeHtml } from '../../src/audit/accounting-html.js';
import type { BalpSource } from '../../src/audit/balp.js';

// ---------------------------------------------------------------- a year of Alice's disclosures

const NOW = '2026-03-15T12:00:00.000Z';
const SRC: BalpSource = { observer: 'https://gw.example.org', network: 'https://gw.example.org', partnerSystem: 'https://gw.example.org/partners' };
const FHIR_BASE = 'https://gw.example.org/fhir';

interface Spec {
  tag: string;
  at: string;
  to: readonly [partnerId: string, name: string, address?: string];
  pou: string;
  basis: string;
  patient?: string;
  labels?: string[];
  description?: string;
  requestId?: string;
}

const RECIPIENTS = {
  ehr: ['ehr-mercy', 'Mercy Hospital EHR', '1 Mercy Way, Springfield'],
  payer: ['payer-acme', 'Acme Health Plan'],
  alice: ['alice-app', 'Alice (patient portal)'],
  insurer: ['life-ins', 'Lifelong Insurance Co.'],
  state: ['state-doh', 'State Department of Health', '100 Capitol Ave, Springfield'],
  university: ['univ', 'State University Research Office'],
  police: ['city-pd', 'City Police Department', '5 Main St, Springfield'],
  mfcu: ['mfcu', 'Medicaid Fraud Control Unit'],
  sheriff: ['sheriff', 'County Sheriff'],
  survey: ['state-survey', 'State Survey Agency'],
  ba: ['registrylink', 'RegistryLink Inc.'],
  registry: ['cancer-registry', 'State Cancer Registry', '7 Registry Rd, Springfield'],
  therapist: ['therapist-1', 'Dr. Rivera Counseling'],
} as const satisfies Record<string, readonly [string, string, string?]>;

const at = (d: string) => `${d}T10:00:00.000Z`;
const monthly = Array.from({ length: 12 }, (_, i) => {
  const month = new Date(Date.UTC(2025, 2 + i, 25)).toISOString().slice(0, 10); // 2025-03-25 .. 2026-02-25
  return { tag: `registry-${i + 1}`, at: at(month), to: RECIPIENTS.registry, pou: 'PUBHLTH', basis: 'public-health', description: '1 Condition disclosed by export' } satisfies Spec;
});

const SPECS: Spec[] = [
  // The 6-year boundary: now - 6 years = 2020-03-15T12:00:00.000Z.
  { tag: 'six-years-one-day', at: '2020-03-14T12:00:00.000Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
  { tag: 'one-ms-too-old', at: '2020-03-15T11:59:59.999Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
  { tag: 'at-boundary', at: '2020-03-15T12:00:00.000Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
  // Part 2 consent disclosure four years ago: outside the 3-year Part 2 window.
  { tag: 'part2-old', at: '2022-01-10T09:00:00.000Z', to: RECIPIENTS.therapist, pou: 'TREAT', basis: 'tpo;consent=Consent/p2-old', labels: ['ETH', 'R'] },
  // The year.
  ...monthly,
  { tag: 'treatment', at: at('2025-04-02'), to: RECIPIENTS.ehr, pou: 'TREAT', basis: 'tpo' },
  { tag: 'payment', at: at('2025-04-10'), to: RECIPIENTS.payer, pou: 'HPAYMT', basis: 'tpo' },
  { tag: 'operations-legacy', at: at('2025-04-20'), to: RECIPIENTS.ehr, pou: 'HOPERAT', basis: 'TPO' },
  { tag: 'to-patient', at: at('2025-05-01'), to: RECIPIENTS.alice, pou: 'PATRQT', basis: 'individual' },
  { tag: 'authorized', at: at('2025-05-15'), to: RECIPIENTS.insurer, pou: 'COVERAGE', basis: 'authorization;consent=Consent/auth-1' },
  { tag: 'public-health', at: at('2025-06-03'), to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health', requestId: 'req-multi', description: '2 Immunization disclosed by search' },
  { tag: 'bob-same-request', at: at('2025-06-03'), to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health', requestId: 'req-multi', patient: 'bob' },
  { tag: 'research-legacy', at: at('2025-06-20'), to: RECIPIENTS.university, pou: 'HRESCH', basis: 'purpose:HRESCH' },
  { tag: 'law-enforcement', at: at('2025-07-08'), to: RECIPIENTS.police, pou: 'HLEGAL', basis: 'law-enforcement', description: '1 Encounter disclosed by read' },
  { tag: 'oversight-suspended', at: at('2025-08-12'), to: RECIPIENTS.mfcu, pou: 'GOV', basis: 'health-oversight' },
  { tag: 'sheriff-oral-lapsed', at: at('2025-09-05'), to: RECIPIENTS.sheriff, pou: 'HLEGAL', basis: 'law-enforcement' },
  { tag: 'oversight-other-agency', at: at('2025-10-01'), to: RECIPIENTS.survey, pou: 'GOV', basis: 'health-oversight' },
  { tag: 'business-associate', at: at('2025-10-15'), to: RECIPIENTS.ba, pou: 'PUBHLTH', basis: 'public-health' },
  { tag: 'business-associate-tpo', at: at('2025-10-16'), to: RECIPIENTS.ba, pou: 'HOPERAT', basis: 'tpo' },
  { tag: 'part2-consent-tpo', at: at('2025-11-03'), to: RECIPIENTS.therapist, pou: 'TREAT', basis: 'tpo;consent=Consent/p2-1', labels: ['ETH', 'R'] },
  { tag: 'part2-tpo-ehr', at: at('2025-11-20'), to: RECIPIENTS.payer, pou: 'HPAYMT', basis: 'tpo', labels: ['http://terminology.hl7.org/CodeSystem/v3-ActCode|ETH'] },
  { tag: 'part2-research-no-consent', at: at('2025-12-05'), to: RECIPIENTS.university, pou: 'HRESCH', basis: 'research', labels: ['ETH'] },
  { tag: 'restricted-not-part2', at: at('2026-01-05'), to: RECIPIENTS.insurer, pou: 'COVERAGE', basis: 'authorization;consent=Consent/auth-2', labels: ['R', 'HIV'] },
  { tag: 'bob-public-health', at: at('2026-02-01'), to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health', patient: 'bob' },
];

function buildLog(specs: Spec[]): { entries: DisclosureEntry[]; seq: (tag: string) => number } {
  const sorted = [...specs].sort((a, b) => a.at.localeCompare(b.at));
  const seqs = new Map<string, number>();
  const entries = sorted.map((s, i): DisclosureEntry => {
    seqs.set(s.tag, i + 1);
    return {
      seq: i + 1,
      recorded: s.at,
      prevHash: `h${i}`,
      hash: `h${i + 1}`,
      patient: s.patient ?? 'alice',
      recipient: { partnerId: s.to[0], name: s.to[1], kind: 'ehr', ...(s.to[2] ? { address: s.to[2] } : {}) },
      clientId: `client-${s.to[0]}`,
      tokenId: `jti-${i + 1}`,
      purposeOfUse: s.pou,
      legalBasis: s.basis,
      channel: 'read',
      resources: [{ resourceType: 'Observation', id: `obs-${i + 1}`, versionId: '1' }],
      description: s.description ?? '1 Observation disclosed by read',
      requestId: s.requestId ?? `req-${i + 1}`,
      ...(s.labels ? { labels: s.labels } : {}),
    };
  });
  return {
    entries,
    seq(tag) {
      const n = seqs.get(tag);
      if (n === undefined) throw new Error(`no entry tagged ${tag}`);
      return n;
    },
  };
}

const SUSPENSIONS: Suspension[] = [
  // (a)(2)(i): written statement from the MFCU, in effect at NOW.
  { id: 'susp-mfcu', patient: 'alice', recipientPartnerId: 'mfcu', agency: 'Medicaid Fraud Control Unit', form: 'written', requestedBy: 'Investigator K. Lee', start: '2026-01-10', end: '2026-07-10', reason: 'open investigation', recordedAt: '2026-01-10T15:00:00Z' },
  // (a)(2)(ii): oral statement 54 days before NOW, asking for more than 30 days: it lapsed on 2026-02-19.
  { id: 'susp-sheriff-oral', patient: 'alice', recipientPartnerId: 'sheriff', agency: 'County Sheriff', form: 'oral', requestedBy: 'Detective J. Smith', start: '2026-01-20T09:00:00Z', end: '2026-06-01', recordedAt: '2026-01-20T09:30:00Z' },
  // Another patient's suspension of every oversight and law-enforcement disclosure: none of Alice's business.
  { id: 'susp-bob', patient: 'bob', agency: 'FBI', form: 'written', requestedBy: 'Agent M. Cruz', start: '2026-01-01', end: '2026-12-31', recordedAt: '2026-01-01T10:00:00Z' },
  // Starts after NOW: not in effect yet.
  { id: 'susp-future', patient: 'alice', recipientPartnerId: 'city-pd', agency: 'City Police Department', form: 'written', requestedBy: 'Sgt. P. Young', start: '2026-04-01', end: '2026-10-01', recordedAt: '2026-03-14T10:00:00Z' },
];

const DIRECTORY = new Map<string, RecipientInfo>([
  ['registrylink', { name: 'RegistryLink Inc.', address: '42 Vendor Park, Shelbyville', businessAssociate: true }],
  ['univ', { name: 'State University', address: '1 College Green, Springfield' }],
]);

const log = buildLog(SPECS);
const seq = log.seq;
const seqsOf = (lines: Array<{ seq: number }>) => lines.map((l) => l.seq);

// ---------------------------------------------------------------- HIPAA accounting

describe('HIPAA accounting of disclosures (45 CFR 164.528) over a year of mixed disclosures', () => {
  let r: AccountingReport;
  before(() => {
    r = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY });
  });

  it('covers the 6 years before the request, the boundary instant included', () => {
    assert.deepEqual(r.period, { start: '2020-03-15T12:00:00.000Z', end: NOW }, '164.528(a)(1): six years prior to the date of the request');
    assert.ok(seqsOf(r.entries).includes(seq('at-boundary')), '164.528(a)(1): a disclosure exactly 6 years before the request is within the 6 years');
    assert.ok(!r.disclosures.some((e) => e.seq === seq('one-ms-too-old')), '164.528(a)(1): 6 years and 1 ms before is outside');
    assert.ok(!r.disclosures.some((e) => e.seq === seq('six-years-one-day')), '164.528(a)(1): 6 years and 1 day before is outside');
  });

  it('lists exactly the accountable disclosures, oldest first, each once', () => {
    assert.deepEqual(seqsOf(r.entries), [
      seq('at-boundary'),
      seq('public-health'),
      seq('research-legacy'),
      seq('law-enforcement'),
      seq('sheriff-oral-lapsed'),
      seq('oversight-other-agency'),
      seq('business-associate'),
      seq('part2-research-no-consent'),
    ], '164.528(b)(1): 164.512 disclosures in the period, excluding (a)(1) and suspended ones; recurring ones summarized');
    assert.equal(r.summaries.length, 1);
  });

  it('excludes treatment, payment and operations, including the legacy TPO form', () => {
    const listed = new Set(r.disclosures.map((e) => e.seq));
    for (const tag of ['treatment', 'payment', 'operations-legacy', 'business-associate-tpo', 'part2-old', 'part2-consent-tpo', 'part2-tpo-ehr']) {
      assert.ok(!listed.has(seq(tag)), `164.528(a)(1)(i): ${tag} is for treatment, payment or health care operations`);
    }
    assert.equal(r.excludedCounts.tpo, 7, '164.528(a)(1)(i)');
  });

  it('excludes disclosures to the individual and under an authorization', () => {
    const listed = new Set(r.disclosures.map((e) => e.seq));
    assert.ok(!listed.has(seq('to-patient')), '164.528(a)(1)(ii): to the individual');
    assert.ok(!listed.has(seq('authorized')), '164.528(a)(1)(iv): pursuant to an authorization (164.508)');
    assert.ok(!listed.has(seq('restricted-not-part2')), '164.528(a)(1)(iv): pursuant to an authorization');
    assert.equal(r.excludedCounts.individual, 1, '164.528(a)(1)(ii)');
    assert.equal(r.excludedCounts.authorization, 2, '164.528(a)(1)(iv)');
  });

  it('gives each disclosure the four (b)(2) fields', () => {
    const ph = r.entries.find((l) => l.seq === seq('public-health'));
    assert.deepEqual(ph, {
      seq: seq('public-health'),
      date: at('2025-06-03'),
      recipient: { partnerId: 'state-doh', name: 'State Department of Health', address: '100 Capitol Ave, Springfield', businessAssociate: false },
      description: '2 Immunization disclosed by search',
      purpose: 'Public health activity, such as reporting a disease, injury or vaccination to a public health authority (45 CFR 164.512(b))',
      basis: 'public-health',
      purposeOfUse: 'PUBHLTH',
    }, '164.528(b)(2)(i)-(iv): date, recipient name and address, brief description, brief statement of purpose');
    const research = r.entries.find((l) => l.seq === seq('research-legacy'));
    assert.equal(research?.purpose, 'Research, as permitted without your authorization (45 CFR 164.512(i))', '164.528(b)(2)(iv): the legacy purpose:HRESCH form reads as research');
    assert.equal(research?.recipient.address, '1 College Green, Springfield', '164.528(b)(2)(ii): address, if known (from the partner directory)');
    assert.equal(research?.recipient.name, 'State University Research Office', '164.528(b)(2)(ii): the name recorded when it was disclosed');
    const le = r.entries.find((l) => l.seq === seq('law-enforcement'));
    assert.equal(le?.purpose, 'Law enforcement purpose, for a law enforcement official (45 CFR 164.512(f))', '164.528(b)(2)(iv)');
    assert.equal(le?.description, '1 Encounter disclosed by read', '164.528(b)(2)(iii)');
  });

  it('includes disclosures to or by business associates', () => {
    const ba = r.entries.find((l) => l.seq === seq('business-associate'));
    assert.ok(ba, '164.528(b)(1): including disclosures to or by business associates');
    assert.equal(ba.recipient.businessAssociate, true);
    assert.equal(ba.recipient.address, '42 Vendor Park, Shelbyville', '164.528(b)(2)(ii): address from the directory when the log has none');
  });

  it('withholds the disclosure to the agency whose written suspension is in effect, and says so only to administrators', () => {
    assert.ok(!r.disclosures.some((e) => e.seq === seq('oversight-suspended')), '164.528(a)(2)(i): suspended for the time the agency specified');
    assert.equal(r.withheldBySuspension, 1);
    assert.deepEqual(r.suspensionsApplied, ['susp-mfcu']);
    assert.ok(seqsOf(r.entries).includes(seq('oversight-other-agency')), '164.528(a)(2)(i): only disclosures to the agency that made the statement');
  });

  it('lists the disclosure to the sheriff once the oral suspension is more than 30 days old', () => {
    assert.ok(seqsOf(r.entries).includes(seq('sheriff-oral-lapsed')), '164.528(a)(2)(ii)(C): no longer than 30 days from the oral statement');
    assert.ok(!r.suspensionsApplied.includes('susp-sheriff-oral'));
  });

  it('summarizes the 12 monthly disclosures to the registry: first in full, number, date of the last', () => {
    const [s] = r.summaries;
    assert.ok(s);
    assert.equal(s.first.seq, seq('registry-1'), '164.528(b)(3)(i): the (b)(2) information for the first disclosure in the period');
    assert.equal(s.first.date, at('2025-03-25'));
    assert.equal(s.first.recipient.name, 'State Cancer Registry');
    assert.equal(s.first.recipient.address, '7 Registry Rd, Springfield');
    assert.equal(s.first.description, '1 Condition disclosed by export');
    assert.match(s.first.purpose, /164\.512\(b\)/);
    assert.equal(s.count, 12, '164.528(b)(3)(ii): the number of disclosures in the period');
    assert.equal(s.lastDate, at('2026-02-25'), '164.528(b)(3)(iii): the date of the last such disclosure');
    assert.deepEqual(s.seqs, Array.from({ length: 12 }, (_, i) => seq(`registry-${i + 1}`)));
    assert.ok(!r.entries.some((l) => l.recipient.partnerId === 'cancer-registry'), 'summarized disclosures are not listed again');
  });

  it('reports nothing about another patient, and one line for a multi-patient disclosure', () => {
    assert.ok(r.disclosures.every((e) => e.patient === 'alice'), 'catalogue A-05: nothing about other patients');
    assert.equal(r.entries.filter((l) => l.seq === seq('public-health')).length, 1);
    assert.ok(!r.disclosures.some((e) => e.seq === seq('bob-same-request')));
    assert.equal(r.excludedCounts['other-patient'], 2);
    assert.equal(r.excludedCounts['outside-period'], 2);
  });

  it('accounts for every entry of the input exactly once', () => {
    const counted = r.disclosures.length + r.withheldBySuspension + Object.values(r.excludedCounts).reduce((a, b) => a + (b ?? 0), 0);
    assert.equal(counted, log.entries.length);
  });

  it('gives the same report whatever the order of the input', () => {
    const shuffled = [...log.entries].reverse();
    const again = buildAccounting(shuffled, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY });
    assert.deepEqual(again, r);
  });
});

describe('suspensions (164.528(a)(2))', () => {
  const oral: Suspension = { id: 'o', agency: 'County Sheriff', form: 'oral', requestedBy: 'Detective J. Smith', start: '2026-01-20T09:00:00Z', end: '2026-06-01', recordedAt: '2026-01-20T09:30:00Z' };

  it('keeps an oral suspension no longer than 30 days from the statement, whatever was asked', () => {
    const start = Date.parse('2026-01-20T09:00:00Z');
    assert.equal(suspensionInEffect(oral, start), true, '(a)(2)(ii)(B): suspend from the statement');
    assert.equal(suspensionInEffect(oral, start + 30 * 86_400_000 - 1), true, '(a)(2)(ii)(C): within 30 days');
    assert.equal(suspensionInEffect(oral, start + 30 * 86_400_000), false, '(a)(2)(ii)(C): no longer than 30 days');
    assert.equal(suspensionInEffect({ ...oral, end: '2026-01-25' }, Date.parse('2026-01-26T00:00:00Z')), false, 'an oral suspension may also be shorter');
    assert.equal(suspensionInEffect(oral, start - 1), false, 'not before the statement');
  });

  it('withholds the sheriff disclosure within the 30 days, and a written statement that follows extends it', () => {
    const within = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: '2026-02-10T12:00:00.000Z' }, { suspensions: SUSPENSIONS });
    assert.ok(!within.disclosures.some((e) => e.seq === seq('sheriff-oral-lapsed')), '(a)(2)(ii)(B)');
    assert.ok(within.suspensionsApplied.includes('susp-sheriff-oral'));
    const written: Suspension = { id: 'susp-sheriff-written', patient: 'alice', recipientPartnerId: 'sheriff', agency: 'County Sheriff', form: 'written', requestedBy: 'Sheriff R. Diaz', start: '2026-02-15', end: '2026-08-15', recordedAt: '2026-02-15T08:00:00Z' };
    const later = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [...SUSPENSIONS, written] });
    assert.ok(!later.disclosures.some((e) => e.seq === seq('sheriff-oral-lapsed')), '(a)(2)(ii)(C): unless a written statement is submitted during that time');
    assert.deepEqual(later.suspensionsApplied.sort(), ['susp-mfcu', 'susp-sheriff-written']);
  });

  it('without a named recipient, hides every oversight and law-enforcement disclosure of the patient, and only those', () => {
    const all: Suspension = { id: 'all', patient: 'alice', agency: 'US Attorney', form: 'written', requestedBy: 'AUSA T. Park', start: '2026-01-01', end: '2026-12-31', recordedAt: '2026-01-01T00:00:00Z' };
    const rep = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [all] });
    const hidden = ['law-enforcement', 'oversight-suspended', 'sheriff-oral-lapsed', 'oversight-other-agency'].map(seq);
    assert.ok(hidden.every((s) => !rep.disclosures.some((e) => e.seq === s)), '(a)(2)(i): disclosures to oversight agencies (512(d)) and law enforcement (512(f))');
    assert.equal(rep.withheldBySuspension, 4);
    assert.ok(rep.disclosures.some((e) => e.seq === seq('public-health')), 'other 164.512 disclosures are not suspended');
  });

  it('ends a written suspension at the time the agency specified', () => {
    const rep = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: '2026-07-10T00:00:00.000Z' }, { suspensions: SUSPENSIONS });
    assert.ok(rep.disclosures.some((e) => e.seq === seq('oversight-suspended')), '(a)(2)(i): for the time specified');
  });

  it('does not honour an oral suspension that does not say who made it, and reports it to administrators', () => {
    const undocumented = { ...oral, id: 'undoc', requestedBy: ' ' };
    assert.deepEqual(suspensionProblems(undocumented), ['requestedBy (who made the statement) is required'], '(a)(2)(ii)(A): document the identity');
    const rep = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: '2026-02-10T12:00:00.000Z' }, { suspensions: [{ ...undocumented, recipientPartnerId: 'sheriff' }] });
    assert.ok(rep.disclosures.some((e) => e.seq === seq('sheriff-oral-lapsed')));
    assert.deepEqual(rep.suspensionsIgnored, ['undoc']);
  });

  it('flags a written statement without an end, but honours it until one is recorded', () => {
    const open: Suspension = { id: 'w', agency: 'OIG', form: 'written', requestedBy: 'Agent', start: '2026-01-01', recordedAt: '2026-01-01T00:00:00Z' };
    assert.deepEqual(suspensionProblems(open), ['a written statement specifies the time for which the suspension is required (end)']);
    assert.equal(suspensionInEffect(open, Date.parse('2030-01-01T00:00:00Z')), true);
  });
});

describe('the period of a HIPAA accounting', () => {
  const tiny = buildLog([
    { tag: 'a', at: '2025-12-31T00:00:00.000Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
    { tag: 'b', at: '2025-12-31T23:59:59.999Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
    { tag: 'c', at: '2026-01-01T00:00:00.000Z', to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
  ]);
  const run = (period: { start?: string; end?: string }) =>
    buildAccounting(tiny.entries, { patient: 'alice', kind: 'hipaa', now: NOW, period }, { suspensions: [], summarizeFrom: Infinity });

  it('honours a shorter period; a date-only end covers the whole day', () => {
    const rep = run({ start: '2025-12-31', end: '2025-12-31' });
    assert.deepEqual(seqsOf(rep.entries), [tiny.seq('a'), tiny.seq('b')], '164.528(a)(3): a period shorter than six years');
    assert.deepEqual(rep.period, { start: '2025-12-31T00:00:00.000Z', end: '2025-12-31T23:59:59.999Z' });
  });

  it('limits an earlier start to 6 years and a later end to the date of the request', () => {
    const rep = run({ start: '2001-01-01', end: '2030-01-01' });
    assert.deepEqual(rep.period, { start: '2020-03-15T12:00:00.000Z', end: NOW }, '164.528(a)(1)');
  });

  it('refuses unreadable dates and an empty period with 400', () => {
    for (const period of [{ start: '2025-02-30' }, { start: 'yesterday' }, { start: '2026-01-02', end: '2026-01-01' }, { start: '2027-01-01' }]) {
      assert.throws(() => run(period), (e: unknown) => e instanceof OutcomeError && e.status === 400 && e.code === 'GW_INVALID_PERIOD', JSON.stringify(period));
    }
    assert.throws(() => buildAccounting([], { patient: 'alice', kind: 'hipaa', now: 'now' }, { suspensions: [] }), OutcomeError);
    assert.throws(() => buildAccounting([], { patient: 'alice', kind: 'everything' as never, now: NOW }, { suspensions: [] }), OutcomeError);
  });

  it('counts an entry with an unreadable date for administrators instead of guessing where it belongs', () => {
    const broken = [{ ...tiny.entries[0]!, recorded: 'not a date' }, ...tiny.entries.slice(1)];
    const rep = buildAccounting(broken, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [], summarizeFrom: Infinity });
    assert.equal(rep.excludedCounts['invalid-date'], 1);
    assert.deepEqual(seqsOf(rep.entries), [tiny.seq('b'), tiny.seq('c')]);
  });

  it('counts 6 years back on the calendar, from 29 February to 28 February', () => {
    assert.equal(new Date(minusYears(Date.parse('2028-02-29T08:30:00.000Z'), 6)).toISOString(), '2022-02-28T08:30:00.000Z');
    assert.equal(new Date(minusYears(Date.parse(NOW), 6)).toISOString(), '2020-03-15T12:00:00.000Z');
    assert.equal(parseTime('2026-03-15T07:00:00-05:00'), Date.parse(NOW));
  });

  it('lists two disclosures to one recipient one by one, and summarizes from three', () => {
    const twice = buildAccounting(tiny.entries.slice(0, 2), { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [] });
    assert.equal(twice.entries.length, 2);
    assert.equal(twice.summaries.length, 0);
    const thrice = buildAccounting(tiny.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [] });
    assert.equal(thrice.entries.length, 0);
    assert.deepEqual(thrice.summaries.map((s) => [s.count, s.lastDate]), [[3, '2026-01-01T00:00:00.000Z']], '164.528(b)(3)');
  });

  it('does not summarize disclosures for different purposes or bases to the same recipient', () => {
    const mixed = buildLog([
      { tag: 'a', at: at('2025-01-01'), to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'public-health' },
      { tag: 'b', at: at('2025-02-01'), to: RECIPIENTS.state, pou: 'PUBHLTH', basis: 'required-by-law' },
      { tag: 'c', at: at('2025-03-01'), to: RECIPIENTS.state, pou: 'POPHLTH', basis: 'public-health' },
    ]);
    const rep = buildAccounting(mixed.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [], summarizeFrom: 2 });
    assert.equal(rep.summaries.length, 0, '164.528(b)(3): for a single purpose');
    assert.equal(rep.entries.length, 3);
  });
});

// ---------------------------------------------------------------- Part 2 and the access report

describe('42 CFR Part 2 list (2.25)', () => {
  let r: AccountingReport;
  before(() => {
    r = buildAccounting(log.entries, { patient: 'alice', kind: 'part2', now: NOW }, { suspensions: SUSPENSIONS });
  });

  it('covers the 3 years before the request', () => {
    assert.deepEqual(r.period, { start: '2023-03-15T12:00:00.000Z', end: NOW }, '2.25(a), (b)(2): 3 years prior to the date of the request');
    assert.ok(!r.disclosures.some((e) => e.seq === seq('part2-old')), '2.25(a): a consented disclosure 4 years ago is outside');
  });

  it('lists Part 2 disclosures made with consent and TPO ones through the EHR, nothing else', () => {
    assert.deepEqual(r.entries.map((l) => [l.seq, l.part2]), [
      [seq('part2-consent-tpo'), 'consent'],
      [seq('part2-tpo-ehr'), 'tpo-ehr'],
    ], '2.25(a): all disclosures made with consent; (b)(1): TPO disclosures made through an electronic health record');
    assert.equal(r.excludedCounts['part2-without-consent'], 1, '2.25(a): the research disclosure without consent (2.52) is not on the list');
    assert.ok(r.excludedCounts['not-part2']! > 0, 'R without ETH is not Part 2 information');
    assert.equal(r.summaries.length, 0);
  });

  it('gives recipient, date, description and purpose for each', () => {
    const [first] = r.entries;
    assert.equal(first?.recipient.name, 'Dr. Rivera Counseling', '2.24(b)(2): the name of the entity to which the disclosure was made');
    assert.equal(first?.date, at('2025-11-03'), '2.24(b)(2): the date of the disclosure');
    assert.equal(first?.description, '1 Observation disclosed by read', '2.24(b)(2): a brief description of the information disclosed');
    assert.equal(first?.purpose, 'Your treatment (45 CFR 164.506); made with your written consent', '2.25(a) through 164.528(b)(2)(iv)');
  });
});

describe('access report', () => {
  it('lists every disclosure of the patient, nothing excluded, with who asked and how', () => {
    const r = buildAccounting(log.entries, { patient: 'alice', kind: 'access-report', now: NOW }, { suspensions: SUSPENSIONS, includeSuspended: true });
    const alice = log.entries.filter((e) => e.patient === 'alice');
    assert.deepEqual(seqsOf(r.entries), alice.map((e) => e.seq));
    assert.equal(r.period.start, undefined);
    assert.equal(r.summaries.length, 0);
    const tr = r.entries.find((l) => l.seq === seq('treatment'));
    assert.deepEqual(tr?.access, { clientId: 'client-ehr-mercy', channel: 'read' });
    assert.equal(tr?.purpose, 'Your treatment (45 CFR 164.506)');
    assert.equal(r.entries.find((l) => l.seq === seq('operations-legacy'))?.purpose, 'Health care operations, such as quality review and administration (45 CFR 164.506)');
    assert.deepEqual(r.excludedCounts, { 'other-patient': 2 });
  });

  it('still honours suspensions when it is for the patient', () => {
    const r = buildAccounting(log.entries, { patient: 'alice', kind: 'access-report', now: NOW }, { suspensions: SUSPENSIONS });
    assert.ok(!r.disclosures.some((e) => e.seq === seq('oversight-suspended')), '164.528(a)(2) would be defeated otherwise');
    assert.equal(r.withheldBySuspension, 1);
  });
});

// ---------------------------------------------------------------- renderings

describe('the accounting as a FHIR Bundle of BALP PrivacyDisclosure AuditEvents', () => {
  let r: AccountingReport;
  before(() => {
    loadFhirDefinitions();
    r = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY });
  });
  const code = (a: AuditEventAgent) => a.type?.coding?.[0]?.code;

  it('is a valid R4 searchset with one PrivacyDisclosure.Source event per accounted disclosure', () => {
    const b = accountingBundle(r, SRC, { fhirBase: FHIR_BASE, selfUrl: `${FHIR_BASE}/Patient/alice/$disclosures` });
    validateResource(b); // throws on an invalid resource
    assert.equal(b.type, 'searchset');
    assert.equal(b.total, r.entries.length + 12);
    assert.equal(b.timestamp, NOW);
    assert.deepEqual(b.link, [{ relation: 'self', url: `${FHIR_BASE}/Patient/alice/$disclosures` }]);
    assert.ok(!b.entry?.some((e) => e.resource?.id === String(seq('oversight-suspended'))), 'the suspended disclosure is not in it');
    assert.equal(b.entry?.length, r.entries.length + 12);
    for (const e of b.entry ?? []) {
      const ev = e.resource as AuditEvent;
      assert.equal(e.fullUrl, `${FHIR_BASE}/AuditEvent/${ev.id}`);
      assert.equal(ev.type.code, '110106', 'BALP: type DCM 110106 Export');
      assert.equal(ev.action, 'R');
      assert.ok(ev.subtype?.some((c) => c.system === 'urn:iso:std:iso:21089' && c.code === 'disclose'), 'BALP: subtype disclose');
      const [patientEntity] = ev.entity ?? [];
      assert.equal(patientEntity?.what?.reference, 'Patient/alice', 'BALP: entity[patient], one patient per AuditEvent');
      assert.equal(patientEntity?.type?.code, '1');
      assert.equal(patientEntity?.role?.code, '1');
      const source = ev.agent.find((a) => code(a) === '110153');
      assert.ok(source?.who && source.network, 'BALP: agent[source] who and network');
      const recipient = ev.agent.find((a) => code(a) === '110152');
      assert.ok(recipient?.who?.identifier?.value && recipient.network, 'BALP: agent[recipient] who and network');
      assert.ok(ev.purposeOfEvent?.[0]?.text, 'the purpose statement is in purposeOfEvent.text');
    }
  });

  it('maps each line: date, recipient name and address, description, purpose', () => {
    const b = accountingBundle(r, SRC, { fhirBase: FHIR_BASE });
    const ev = b.entry?.find((e) => e.resource?.id === String(seq('business-associate')))?.resource;
    assert.ok(ev);
    assert.equal(ev.recorded, at('2025-10-15'), '§3.4: date -> AuditEvent.recorded');
    const recipient = ev.agent.find((a) => code(a) === '110152');
    assert.equal(recipient?.who?.display, 'RegistryLink Inc., 42 Vendor Park, Shelbyville', '§3.4: recipient name/address -> agent[recipient].who');
    assert.equal(ev.entity?.at(-1)?.description, '1 Observation disclosed by read', '§3.4: description -> entity[data] description');
    assert.deepEqual(ev.purposeOfEvent, [{
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PUBHLTH' }],
      text: 'Public health activity, such as reporting a disease, injury or vaccination to a public health authority (45 CFR 164.512(b))',
    }], '§3.4: purpose -> purposeOfEvent');
  });

  it('marks the summary on its first event and links the others to it', () => {
    const b = accountingBundle(r, SRC, { fhirBase: FHIR_BASE });
    const first = b.entry?.find((e) => e.resource?.id === String(seq('registry-1')))?.resource;
    assert.deepEqual(first?.extension, [{
      url: RECURRING_EXTENSION,
      extension: [{ url: 'count', valueUnsignedInt: 12 }, { url: 'lastDate', valueDateTime: at('2026-02-25') }],
    }], '164.528(b)(3)(ii), (iii)');
    const later = b.entry?.find((e) => e.resource?.id === String(seq('registry-7')))?.resource;
    assert.deepEqual(later?.extension, [{ url: SUMMARIZED_IN_EXTENSION, valueReference: { reference: `AuditEvent/${seq('registry-1')}` } }]);
    const plain = b.entry?.find((e) => e.resource?.id === String(seq('public-health')))?.resource;
    assert.equal(plain?.extension, undefined);
  });

  it('says why each Part 2 disclosure is on the list', () => {
    const p2 = buildAccounting(log.entries, { patient: 'alice', kind: 'part2', now: NOW }, { suspensions: [] });
    const b = accountingBundle(p2, SRC, { fhirBase: FHIR_BASE });
    validateResource(b);
    assert.deepEqual(b.entry?.map((e) => e.resource?.extension?.[0]), [
      { url: PART2_ROUTE_EXTENSION, valueCode: 'consent' },
      { url: PART2_ROUTE_EXTENSION, valueCode: 'tpo-ehr' },
    ]);
  });
});

describe('the accounting as an HTML page', () => {
  const hostile = buildLog([
    { tag: 'x', at: at('2025-09-09'), to: ['evil', '<script>alert("x")</script> & Co', '1 "Quote" St <b>'], pou: 'PUBHLTH', basis: 'public-health', description: '<img src=x onerror=alert(1)>' },
  ]);

  it('escapes every value: a recipient named <script> stays text', () => {
    const r = buildAccounting(hostile.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [] });
    const html = accountingHtml(r, { organization: 'Mercy <Health>', patientName: 'Alice "Al" O\'Neil', contact: { office: 'Privacy Office', phone: '555-0100', email: 'privacy@mercy.example' } });
    assert.ok(!/<script/i.test(html), 'no script element');
    assert.ok(!/<img/i.test(html), 'no injected element');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co'));
    assert.ok(html.includes('1 &quot;Quote&quot; St &lt;b&gt;'));
    assert.ok(html.includes('Mercy &lt;Health&gt;'));
    assert.ok(html.includes('Alice &quot;Al&quot; O&#39;Neil'));
    assert.equal(escapeHtml(`<>&"'`), '&lt;&gt;&amp;&quot;&#39;');
  });

  it('is a complete, self-contained, accessible page with the four required columns', () => {
    const r = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY });
    const html = accountingHtml(r, { organization: 'Mercy Health', contact: { office: 'Privacy Office', address: '1 Mercy Way, Springfield' } });
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<meta charset="utf-8">/);
    assert.match(html, /<title>Accounting of disclosures of your health information<\/title>/);
    assert.match(html, /<h1>Accounting of disclosures of your health information<\/h1>/);
    assert.doesNotMatch(html, /<script|<link|src=|href=|@import|url\(/i, 'no script, no external asset');
    assert.match(html, /@media print/);
    for (const col of ['Date', 'Who received the information (name and address)', 'What information was disclosed', 'Purpose of the disclosure']) {
      assert.ok(html.includes(`<th scope="col">${col}</th>`), `164.528(b)(2): column ${col}`);
    }
    assert.match(html, /Period covered: from <time datetime="2020-03-15T12:00:00.000Z">2020-03-15<\/time> to <time datetime="2026-03-15T12:00:00.000Z">2026-03-15<\/time>/);
    assert.match(html, /<h2>Repeated disclosures<\/h2>/);
    assert.match(html, /<td>12<\/td><td><time datetime="2026-02-25T10:00:00.000Z">2026-02-25<\/time><\/td>/, '164.528(b)(3): number and date of the last');
    assert.match(html, /What this accounting does not include/);
    assert.match(html, /treatment, to get paid for your care, and for our health care operations/);
    assert.match(html, /a business associate acting on our behalf/);
    assert.match(html, /contact Privacy Office: 1 Mercy Way, Springfield\./);
    assert.doesNotMatch(html, /Medicaid Fraud|suspen/i, 'nothing reveals the suspended disclosure or that one exists');
    const rows = html.match(/<tr><td>/g) ?? [];
    assert.equal(rows.length, r.entries.length + r.summaries.length, 'one row per line and per summary');
  });

  it('shows who asked and how in the access report, with times in the chosen zone', () => {
    const r = buildAccounting(log.entries, { patient: 'alice', kind: 'access-report', now: NOW }, { suspensions: SUSPENSIONS });
    const html = accountingHtml(r, { timeZone: 'America/New_York' });
    assert.ok(html.includes('<th scope="col">Requested by</th>') && html.includes('<th scope="col">How</th>'));
    assert.ok(html.includes('<time datetime="2025-04-02T10:00:00.000Z">2025-04-02 06:00</time>'));
    assert.match(html, /Period covered: up to/);
    assert.throws(() => accountingHtml(r, { timeZone: 'Mars/Olympus' }), RangeError);
  });

  it('says when there is nothing to list', () => {
    const r = buildAccounting([], { patient: 'alice', kind: 'part2', now: NOW }, { suspensions: [] });
    assert.match(accountingHtml(r), /There are no disclosures to list for this period\./);
    assert.match(accountingHtml(r), /<h1>List of disclosures of your substance use disorder records \(42 CFR Part 2\)<\/h1>/);
  });
});

describe('recording the accounting provided (164.530(j))', () => {
  it('keeps who asked, when, for whom, which period and what it contained', () => {
    const r = buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY });
    const rec = accountingProvided(r, { requestedBy: 'Patient/alice', clientId: 'portal', requestId: 'req-acct', format: 'html' });
    assert.equal(rec.event, 'accounting.provided');
    assert.equal(rec.patient, 'alice');
    assert.equal(rec.kind, 'hipaa');
    assert.deepEqual(rec.period, r.period);
    assert.equal(rec.generated, NOW);
    assert.equal(rec.lines, r.entries.length + 1);
    assert.equal(rec.disclosures, r.entries.length + 12);
    assert.deepEqual(rec.seqs, r.disclosures.map((e) => e.seq));
    assert.deepEqual(rec.suspensionsApplied, ['susp-mfcu']);
    assert.match(rec.digest, /^[0-9a-f]{64}$/);
    const again = accountingProvided(buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS, recipients: DIRECTORY }), { requestedBy: 'x', format: 'fhir' });
    assert.equal(again.digest, rec.digest, 'the same accounting has the same digest');
    const other = accountingProvided(buildAccounting(log.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [] }), { requestedBy: 'x', format: 'fhir' });
    assert.notEqual(other.digest, rec.digest, 'a different accounting has a different digest');
  });
});

describe('purpose statements', () => {
  it('says what an unknown basis was recorded as instead of guessing', () => {
    assert.equal(purposeStatement('state-registry', 'XYZ'), 'Purpose recorded as XYZ (legal basis: state-registry)');
    assert.equal(purposeStatement('constructor', 'XYZ'), 'Purpose recorded as XYZ (legal basis: constructor)', 'no prototype lookups');
  });

  it('reads the historical consent:Consent/<id> form as the purpose\'s basis under that consent', () => {
    const legacy = buildLog([{ tag: 'a', at: at('2025-05-05'), to: RECIPIENTS.university, pou: 'HRESCH', basis: 'consent:Consent/77' }]);
    const r = buildAccounting(legacy.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: [] });
    assert.equal(r.entries[0]?.basis, 'research');
    assert.equal(r.entries[0]?.consentRef, 'Consent/77');
  });
});

describe('scale', () => {
  it('builds a report from 5,000 entries in one pass and keeps every one accounted for', () => {
    const specs: Spec[] = Array.from({ length: 5000 }, (_, i) => ({
      tag: `e${i}`, at: new Date(Date.parse('2021-01-01T00:00:00Z') + i * 3_600_000 * 9).toISOString(),
      to: i % 3 === 0 ? RECIPIENTS.registry : RECIPIENTS.ehr, pou: i % 3 === 0 ? 'PUBHLTH' : 'TREAT', basis: i % 3 === 0 ? 'public-health' : 'tpo',
    }));
    const big = buildLog(specs);
    const r = buildAccounting(big.entries, { patient: 'alice', kind: 'hipaa', now: NOW }, { suspensions: SUSPENSIONS });
    assert.equal(r.summaries.length, 1);
    assert.equal(r.summaries[0]?.count, 1667);
    assert.equal(r.excludedCounts.tpo, 3333);
  });
});
