import * as v from 'valibot';

/**
 * How deep JSON may nest objects and arrays. JSON.parse takes any depth, but
 * JSON.stringify recurses, and a few thousand levels (a 16 KB payload)
 * overflow the stack wherever such a value is written out again.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays at most `levels` deep; it looks no deeper than that. */
export function nestsWithin(value: unknown, levels = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (levels === 0) return false;
  for (const child of Array.isArray(value) ? value : Object.values(value)) if (!nestsWithin(child, levels - 1)) return false;
  return true;
}

export const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A JSON object with these typed fields and any others. valibot's looseObject
 * alone accepts arrays (they are objects), so they are turned away first.
 */
export function jsonObject<const E extends v.ObjectEntries>(entries: E, message: string) {
  // The object schema also reports missing keys: name the key then.
  const missingOr = (issue: v.BaseIssue<unknown>) => (issue.path?.length ? `${String(issue.path.at(-1)!.key)} is required` : message);
  return v.pipe(v.custom<Record<string, unknown>>(isJsonObject, message), v.looseObject(entries, missingOr));
}
