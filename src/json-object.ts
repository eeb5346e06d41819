import * as v from 'valibot';

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A JSON object with these typed fields and any others. valibot's looseObject
 * alone accepts arrays (they are objects), so they are turned away first.
 */
export function jsonObject<const E extends v.ObjectEntries>(entries: E, message: string) {
  // The object schema also reports missing keys: name the key then.
  const missingOr = (issue: v.BaseIssue<unknown>) => (issue.path?.length ? `${String(issue.path.at(-1)!.key)} is required` : message);
  return v.pipe(v.custom<Record<string, unknown>>(isJsonObject, message), v.looseObject(entries, missingOr));
}
