import { readFileSync, readdirSync } from 'node:fs';
import { createHarness, SYSTEM } from '../test/fhir/harness.js';
const h = await createHarness({ limits: { maxBundleEntries: 5000 } });
const dir = '/work/shared/data/synthea';
let n = 0; let ms = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).slice(0, 20)) {
  const b = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  const t0 = performance.now();
  try {
    const res = await h.api.processBundle(b, { principal: SYSTEM, requestId: 'imp' });
    n += res.entry!.length;
  } catch (e: any) { console.log(f, e.status, JSON.stringify(e.toOutcome?.() ?? String(e)).slice(0, 800)); }
  ms += performance.now() - t0;
}
console.log({ n, ms: Math.round(ms), perSec: Math.round(n / ms * 1000) });
