import { badRequest } from './outcome.js';

/**
 * Rejects JSON deeper than `maxDepth` before any recursive walker sees it (a 50,000-level array
 * fits in 100 kB and crashes JSON.stringify). Iterative, so it cannot itself overflow the stack.
 */
export function assertMaxDepth(value: unknown, maxDepth: number): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > maxDepth) throw badRequest(`JSON nesting deeper than ${maxDepth} levels`, 'GW_TOO_DEEP', 'structure');
    const children = Array.isArray(v) ? v : Object.values(v as object);
    for (const c of children) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
}

/** JSON.parse reviver that drops `__proto__` keys (prototype-pollution defence, catalogue F-16). */
export const dropProtoKeys = (key: string, value: unknown): unknown => (key === '__proto__' ? undefined : value);

/** JSON.parse with dropProtoKeys. */
export function safeJsonParse(text: string): unknown {
  return JSON.parse(text, dropProtoKeys);
}
