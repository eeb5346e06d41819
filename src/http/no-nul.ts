import { ApiError } from './errors.ts';

/**
 * README §HTTP API, errors: no input may hold U+0000. PostgreSQL's text
 * cannot store it (the write fails, a 500), SQLite's can; no terminal, name
 * or URL has a use for it. Refused here, at the edge, the API answers the
 * same on both engines, whatever the route does with the text.
 */
export function refuseNul(value: unknown, where: string): void {
  const at = nulAt(value, where);
  if (at !== undefined) throw new ApiError('invalid_request', `${JSON.stringify(at)} holds U+0000 (NUL), which no input may hold`);
}

/** Where the first NUL is, as a dotted path (a key holding one is its own place), or undefined. */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const here = path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return here;
    const found = nulAt(item, here);
    if (found !== undefined) return found;
  }
  return undefined;
}
