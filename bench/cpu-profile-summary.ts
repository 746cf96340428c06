/**
 * Summarises a V8 .cpuprofile (from BENCH_CPU_PROF=dir npm run bench, or node --cpu-prof): the
 * functions with the most self time, and total (inclusive) time per source file of this project and
 * per dependency.
 *
 *   node --import tsx bench/cpu-profile-summary.ts /tmp/prof/gateway-sqlite-*.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: bench/cpu-profile-summary.ts file.cpuprofile [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Where a frame's code lives: a project file, a package, node internals, or V8. */
function place(url: string): string {
  if (!url) return '(native/V8)';
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return `dep: ${nm[1]}`;
  const own = url.match(/\/(src\/.*|bench\/.*)$/);
  if (own) return own[1]!;
  if (url.startsWith('node:')) return url;
  return url;
}

const self = new Map<string, number>();
const inclusiveByPlace = new Map<string, number>();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  total += dt;
  const leaf = byId.get(prof.samples[i]!)!;
  const f = leaf.callFrame;
  const key = `${f.functionName || '(anonymous)'}  ${place(f.url)}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  // Inclusive per place: count each place once per sample along the stack.
  const seen = new Set<string>();
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const p = place(byId.get(id)!.callFrame.url);
    if (!seen.has(p)) { seen.add(p); inclusiveByPlace.set(p, (inclusiveByPlace.get(p) ?? 0) + dt); }
  }
}

const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)}%`;
const out: string[] = [`${file}: ${(total / 1e6).toFixed(1)} s sampled`, '', 'self time, top functions:'];
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(v)}  ${k}`);
out.push('', 'inclusive time per file / dependency:');
for (const [k, v] of [...inclusiveByPlace].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(v)}  ${k}`);
process.stdout.write(`${out.join('\n')}\n`);
