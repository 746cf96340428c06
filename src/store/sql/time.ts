import { badRequest } from '../../core/outcome.js';

/**
 * Normalizes an instant to `toISOString()` form. Stored instants all have that fixed-width form,
 * so comparing them as text is comparing them in time.
 */
export function isoInstant(s: string): string {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw badRequest(`not an instant: ${JSON.stringify(s.slice(0, 40))}`);
  return new Date(ms).toISOString();
}
