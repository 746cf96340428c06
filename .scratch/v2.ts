import { validateResource, tryGetDataType } from '@medplum/core';
import { readFileSync, readdirSync } from 'node:fs';
import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
loadFhirDefinitions();
const dir = '/work/shared/data/synthea';
let n = 0, errs = 0; const t0 = performance.now();
const msgs = new Map<string, number>();
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const b = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  for (const e of b.entry) {
    n++;
    try { validateResource(e.resource); } catch (err: any) {
      errs++;
      for (const i of err.outcome?.issue ?? []) { const k = `${e.resource.resourceType}: ${i.details?.text} @ ${i.expression?.[0]}`; msgs.set(k, (msgs.get(k) ?? 0) + 1); }
    }
  }
}
const ms = performance.now() - t0;
console.log({ n, errs, ms, perSec: Math.round(n / ms * 1000) });
console.log([...msgs].slice(0, 30));
const s = tryGetDataType('Observation')!;
console.log([...(s.summaryProperties ?? [])], [...(s.mandatoryProperties ?? [])]);
