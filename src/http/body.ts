import type { Context } from 'hono';
import * as v from 'valibot';
import { ApiError, invalid } from './errors.ts';
import { refuseNul } from './no-nul.ts';

/**
 * Reads a JSON body and validates it; a bad one becomes a 400 with the reason,
 * never a 5xx. The content type is not insisted on: `curl -d '{…}'` sends a
 * form type, and the JSON is what matters.
 */
export async function jsonBody<T extends v.GenericSchema>(c: Context, schema: T): Promise<v.InferOutput<T>> {
  let value: unknown;
  const text = await c.req.text();
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError('invalid_request', `body is not valid JSON: ${(err as Error).message}`);
  }
  // JSON text holds a NUL only as its escape: a body without one is not walked.
  if (text.includes('\\u0000')) refuseNul(value, '');
  const result = v.safeParse(schema, value);
  if (!result.success) throw invalid(result.issues);
  return result.output;
}
