import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import * as v from 'valibot';

// One error vocabulary for the whole API; every error body is
// {"error":{"code","message"}} (README §HTTP API).
const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  broker_unavailable: 503,
  device_offline: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof STATUS;

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { issues?: unknown[]; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }
  get status(): ContentfulStatusCode {
    return STATUS[this.code];
  }
}

/** The body of every error answer, as the API's document gives it. */
export const ErrorBody = v.object({
  error: v.object({
    code: v.picklist(Object.keys(STATUS) as ErrorCode[]),
    message: v.string(),
    issues: v.optional(v.array(v.object({ path: v.nullable(v.string()), message: v.string() }))),
  }),
});

export function invalid(issues: v.BaseIssue<unknown>[]): ApiError {
  const first = issues[0];
  const path = v.getDotPath(first);
  return new ApiError('invalid_request', path ? `${path}: ${first.message}` : first.message, {
    issues: issues.map((issue) => ({ path: v.getDotPath(issue), message: issue.message })),
  });
}

/** The app's onError: known errors keep their status; anything else is a bare 500 that leaks nothing. */
export function errorResponse(err: Error, c: Context): Response {
  const error = err instanceof ApiError ? err : new ApiError('internal', 'internal error');
  if (!(err instanceof ApiError)) c.get('log')?.error({ err: err.message, stack: err.stack }, 'unhandled error in request');
  if (error.extra.retryAfterSeconds !== undefined) c.header('retry-after', String(error.extra.retryAfterSeconds));
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.extra.issues) body.issues = error.extra.issues;
  return c.json({ error: body }, error.status);
}
