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

/**
 * Where the first NUL is, as a dotted path (a key holding one is its own
 * place), or undefined. A loop, not a recursion: a hostile body nests
 * thousands deep before its validation refuses it.
 */
function nulAt(value: unknown, path: string): string | undefined {
  const pending: [unknown, string][] = [[value, path]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, here] = next;
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return here;
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    // Reversed onto the stack: the first key is looked at first.
    for (const [key, inner] of Object.entries(item).reverse()) {
      const at = here ? `${here}.${key}` : key;
      if (key.includes('\u0000')) return at;
      pending.push([inner, at]);
    }
  }
  return undefined;
}
