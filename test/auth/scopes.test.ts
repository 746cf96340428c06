import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allows, constraintsFor, formatScope, grantScopes, parseScope, parseScopes } from '../../src/auth/scopes.js';
import type { ScopeGrant } from '../../src/auth/principal.js';
import { OutcomeError } from '../../src/core/outcome.js';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
const VITALS = 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs';

function grant(raw: string): ScopeGrant {
  const p = parseScope(raw);
  assert.equal(p.kind, 'resource');
  return (p as { grant: ScopeGrant }).grant;
}

const perms = (g: ScopeGrant) => [...g.permissions].join('');

function rejectsScope(fn: () => unknown, error: string, description: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OutcomeError);
    assert.equal(e.status, 400);
    assert.equal(e.oauthError, error);
    assert.match(e.message, description);
    return true;
  });
}

describe('parseScope', () => {
  it('maps v1 suffixes to v2 permissions (read -> rs, write -> cud, * -> cruds) and keeps the text', () => {
    assert.deepEqual([grant('system/Observation.read'), grant('system/Observation.write'), grant('system/*.*')].map(perms), ['rs', 'cud', 'cruds']);
    const g = grant('patient/*.read');
    assert.equal(g.context, 'patient');
    assert.equal(g.resourceType, '*');
    assert.equal(g.raw, 'patient/*.read');
  });

  it('parses v2 permission subsets in cruds order', () => {
    assert.equal(perms(grant('system/Observation.rs')), 'rs');
    assert.equal(perms(grant('user/Patient.cruds')), 'cruds');
    assert.equal(perms(grant('system/Condition.cu')), 'cu');
    assert.equal(perms(grant('system/Condition.d')), 'd');
  });

  it('parses granular constraints, several joined by &, percent-decoding values', () => {
    const g = grant(`patient/Observation.rs?category=${LAB}`);
    assert.deepEqual(g.query, [{ code: 'category', value: LAB }]);
    const two = grant(`system/Observation.rs?category=${LAB}&code=http://loinc.org|2345-7`);
    assert.deepEqual(two.query, [{ code: 'category', value: LAB }, { code: 'code', value: 'http://loinc.org|2345-7' }]);
    assert.deepEqual(grant('system/Observation.rs?code=a%7Cb').query, [{ code: 'code', value: 'a|b' }]);
  });

  it('recognises non-resource scopes without granting anything', () => {
    for (const s of ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access', 'profile']) {
      assert.deepEqual(parseScope(s), { kind: 'non-resource', raw: s });
    }
    assert.deepEqual(parseScopes('openid fhirUser system/Patient.rs').map((g) => g.raw), ['system/Patient.rs']);
  });

  it('rejects malformed scopes', () => {
    for (const bad of [
      'system/Observation.dus', // out of order
      'system/Observation.rr', // repeated
      'system/Observation.x',
      'system/Observation.', // no permissions
      'system/Observation', // no suffix
      'system/observation.rs', // not a resource type
      'admin/Observation.rs', // unknown context
      'system/Observation.read?category=x', // v1 with a query
      'system/Observation.rs?', // empty query
      'system/Observation.rs?category', // no value
      'system/Observation.rs?category=', // empty value
      'system/Observation.rs?code:in=http://vs', // modifier (experimental in SMART): refused
      'system/Observation.rs?category=%E0%A4%A', // bad percent-encoding
      'foo',
      `system/Observation.rs?category=${'x'.repeat(2000)}`,
    ]) {
      assert.throws(() => parseScope(bad), { name: 'ScopeSyntaxError' }, bad);
    }
  });

  it('writes grants in v2 syntax', () => {
    assert.equal(formatScope(grant('system/Observation.read')), 'system/Observation.rs');
    assert.equal(formatScope(grant(`system/Observation.rs?category=${LAB}`)), `system/Observation.rs?category=${LAB}`);
  });
});

describe('grantScopes', () => {
  it('grants a covered request in its original text, v1 included', () => {
    const g = grantScopes('system/Observation.read system/Patient.rs', ['system/*.rs']);
    assert.equal(g.scope, 'system/Observation.read system/Patient.rs');
    assert.equal(g.grants.length, 2);
  });

  it('T-15: down-scopes system/*.* to the registration and never grants wider', () => {
    const g = grantScopes('system/*.*', ['system/Observation.rs']);
    assert.equal(g.scope, 'system/Observation.rs');
    assert.deepEqual(g.grants.map(perms), ['rs']);
  });

  it('T-15: refuses user/*.* for a system registration with invalid_scope', () => {
    rejectsScope(() => grantScopes('user/*.*', ['system/Observation.rs']), 'invalid_scope', /none of the requested scopes/);
  });

  it('intersects permissions: cruds requested, rs registered -> rs', () => {
    assert.equal(grantScopes('system/Observation.cruds', ['system/Observation.rs']).scope, 'system/Observation.rs');
    assert.equal(grantScopes('system/Patient.write', ['system/Observation.rs', 'system/Patient.cud']).scope, 'system/Patient.write');
    assert.equal(grantScopes('system/Patient.*', ['system/Patient.cu']).scope, 'system/Patient.cu');
    rejectsScope(() => grantScopes('system/Observation.write', ['system/Observation.rs']), 'invalid_scope', /none/);
  });

  it('keeps the registration constraints when the request has none', () => {
    const g = grantScopes('system/Observation.rs', [`system/Observation.rs?category=${LAB}`]);
    assert.equal(g.scope, `system/Observation.rs?category=${LAB}`);
    assert.deepEqual(g.grants[0]!.query, [{ code: 'category', value: LAB }]);
  });

  it('keeps the request constraints (original text) when the registration has none', () => {
    assert.equal(grantScopes(`system/Observation.rs?category=${VITALS}`, ['system/Observation.cruds']).scope, `system/Observation.rs?category=${VITALS}`);
  });

  it('keeps the constraints of both sides when they differ', () => {
    const g = grantScopes(`system/Observation.rs?category=${VITALS}`, [`system/Observation.rs?code=http://loinc.org|8867-4`]);
    assert.deepEqual(g.grants[0]!.query, [{ code: 'category', value: VITALS }, { code: 'code', value: 'http://loinc.org|8867-4' }]);
  });

  it('splits a wildcard request over several registered types and drops pieces already covered', () => {
    const g = grantScopes('system/*.rs', ['system/Observation.rs', 'system/Patient.read', 'system/Observation.r']);
    assert.equal(g.scope, 'system/Observation.rs system/Patient.rs');
  });

  it('does not grant non-resource scopes to backend clients, nor patient/user scopes when limited to system', () => {
    const g = grantScopes('openid fhirUser offline_access launch/patient system/Patient.rs patient/*.rs', ['system/*.rs', 'patient/*.rs'], {
      contexts: ['system'],
    });
    assert.equal(g.scope, 'system/Patient.rs');
    rejectsScope(() => grantScopes('openid offline_access', ['system/*.rs']), 'invalid_scope', /none/);
  });

  it('rejects a malformed requested scope with invalid_scope, naming its position', () => {
    rejectsScope(() => grantScopes('system/Patient.rs system/Observation.dus', ['system/*.rs']), 'invalid_scope', /scope 2 is not a valid SMART scope/);
  });

  it('treats an empty scope as a missing parameter', () => {
    rejectsScope(() => grantScopes('   ', ['system/*.rs']), 'invalid_request', /scope is required/);
  });

  it('ignores malformed registration entries instead of failing every request', () => {
    assert.equal(grantScopes('system/Patient.rs', ['garbage', 'system/Patient.rs']).scope, 'system/Patient.rs');
  });
});

describe('allows / constraintsFor', () => {
  const grants = parseScopes(`system/Patient.rs system/Observation.rs?category=${LAB} system/Observation.r?category=${VITALS} system/Condition.c`);

  it('answers per context, type and permission', () => {
    assert.equal(allows(grants, 'system', 'Patient', 'r'), true);
    assert.equal(allows(grants, undefined, 'Patient', 's'), true);
    assert.equal(allows(grants, 'patient', 'Patient', 'r'), false);
    assert.equal(allows(grants, 'system', 'Patient', 'u'), false);
    assert.equal(allows(grants, 'system', 'Observation', 's'), true, 'a granular grant still allows, narrowed');
    assert.equal(allows(grants, 'system', 'MedicationRequest', 'r'), false);
    assert.equal(allows(parseScopes('system/*.cruds'), 'system', 'MedicationRequest', 'd'), true);
  });

  it('returns all, none, or the constraint groups (one per grant)', () => {
    assert.deepEqual(constraintsFor(grants, 'Patient', 'r'), { kind: 'all' });
    assert.deepEqual(constraintsFor(grants, 'Encounter', 'r'), { kind: 'none' });
    assert.deepEqual(constraintsFor(grants, 'Observation', 'r'), {
      kind: 'anyOf',
      groups: [[{ code: 'category', value: LAB }], [{ code: 'category', value: VITALS }]],
    });
    assert.deepEqual(constraintsFor(grants, 'Observation', 's'), { kind: 'anyOf', groups: [[{ code: 'category', value: LAB }]] });
    assert.deepEqual(constraintsFor([...grants, ...parseScopes('system/Observation.rs')], 'Observation', 'r'), { kind: 'all' });
    assert.deepEqual(constraintsFor(grants, 'Patient', 'r', 'patient'), { kind: 'none' });
  });
});
