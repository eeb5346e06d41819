import type { Context, Hono, MiddlewareHandler } from 'hono';
import * as v from 'valibot';
import type { Role } from '../store/store.ts';
import { jsonBody } from './body.ts';
import type { Env } from './deps.ts';
import { ApiError, ErrorBody, invalid } from './errors.ts';
import { refuseNul } from './no-nul.ts';

// A route is declared once: its contract (method, path, what it takes, every
// answer it gives) beside its handler. The contract registers the handler
// with hono, validates the path, query and body before the handler runs (so
// the handler is given them typed), and is the route's entry in the OpenAPI
// document (openapi.ts): what the API does and what it says it does cannot
// drift apart.

type ObjectSchema = v.ObjectSchema<v.ObjectEntries, v.ErrorMessage<v.ObjectIssue> | undefined>;

/** One answer of a route: JSON of a schema, another content type, or no body at all (a 204, a redirect). */
export type Answer = { description: string; schema: v.GenericSchema } | { description: string; type: string } | { description: string };

export interface Contract {
  method: 'get' | 'post' | 'put' | 'delete';
  /** As OpenAPI writes it: `{sn}` is a path parameter. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  /** More than the summary: what a client must know to read the answer right. */
  description?: string;
  /** Needs no token: the probes, the API's description, the console's login. */
  open?: boolean;
  /** The least role that may call it (README §Tokens and roles); by default `viewer` to read (GET) and `admin` to change. */
  role?: Role;
  /** Path parameters. One that fails its schema names nothing: 404 with the schema's message (README §HTTP API). */
  params?: ObjectSchema;
  query?: ObjectSchema;
  /** A JSON body, read whatever its content type (README §HTTP API: `curl -d` works). */
  body?: v.GenericSchema;
  /** The body may come as a form (application/x-www-form-urlencoded) too: the console's login form. */
  form?: boolean;
  /** Every answer the handler gives; those the declaration gives itself (see declaredAnswers) are added. */
  responses: Record<number, Answer>;
}

type Out<S> = S extends v.GenericSchema ? v.InferOutput<S> : undefined;

/** What the handler is given: the request's parts, validated by the contract. */
export interface Input<C extends Contract> {
  params: Out<C['params']>;
  query: Out<C['query']>;
  body: Out<C['body']>;
}

/** hono's form of an OpenAPI path, as a type: its `c.req.param(name)` is then a string. */
type HonoPath<P extends string> = P extends `${infer A}{${infer N}}${infer B}` ? `${A}:${N}${HonoPath<B>}` : P;

export interface Route {
  contract: Contract;
  handler: (c: Context<Env>, input: Input<Contract>) => Response | Promise<Response>;
}

/** A route: its contract, and the handler given what the contract validated (E: the stream's handler also has Node's response). */
export function route<const C extends Contract, E extends Env = Env>(
  contract: C,
  handler: (c: Context<E, HonoPath<C['path']>>, input: Input<C>) => Response | Promise<Response>,
): Route {
  return { contract, handler: handler as unknown as Route['handler'] };
}

/** A JSON answer. */
export const json = (schema: v.GenericSchema, description: string): Answer => ({ schema, description });
/** An answer with a body of another type: a JPEG, a page, the live stream. */
export const content = (type: string, description: string): Answer => ({ type, description });
/** An answer without a body. */
export const empty = (description: string): Answer => ({ description });

/** An error answer: the one error shape (errors.ts). */
export const error = (description: string): Answer => json(ErrorBody, description);

/**
 * The answers a route gives before its handler runs, from its contract: the
 * token check (401; 403 for a change made with the console's session without
 * its header), the validation of the path (404), the query and the body
 * (400), and BODY_LIMIT (413). A route's own description of one wins.
 */
export function declaredAnswers(contract: Contract): Record<number, Answer> {
  const answers: Record<number, Answer> = {};
  if (contract.query) answers[400] = error('invalid query');
  if (contract.body) {
    answers[400] = error('invalid body');
    answers[413] = error('body over BODY_LIMIT');
  }
  if (!contract.open) {
    answers[401] = error('missing or wrong token (WWW-Authenticate: Bearer)');
    answers[403] = error(
      `a role below ${neededRole(contract)} (README §Tokens and roles)${contract.method !== 'get' ? ", or a change made with the console's session without the x-facegate-console header" : ''}`,
    );
  }
  if (contract.params) answers[404] = error('the path names nothing');
  return { ...answers, ...contract.responses };
}

/** hono's form of an OpenAPI path: `/api/events/{id}` is `/api/events/:id`. */
const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** The least role that may call a route. */
export const neededRole = (contract: Contract): Role => contract.role ?? (contract.method === 'get' ? 'viewer' : 'admin');

/** Registers each route: the token check (with the role the route needs) unless it is open, the contract's validation, the handler. */
export function mount(app: Hono<Env>, routes: readonly Route[], requireToken: (needed: Role) => MiddlewareHandler<Env>): void {
  for (const { contract, handler } of routes) {
    const run = async (c: Context<Env>) => handler(c, await input(c, contract));
    if (contract.open) app.on(contract.method.toUpperCase(), honoPath(contract.path), run);
    else app.on(contract.method.toUpperCase(), honoPath(contract.path), requireToken(neededRole(contract)), run);
  }
}

/** The path, then the query, then the body: the first that fails is the answer. */
async function input(c: Context<Env>, contract: Contract): Promise<Input<Contract>> {
  const path = c.req.param();
  refuseNul(path, '');
  const params = contract.params && parsed(contract.params, path, (issues) => new ApiError('not_found', issues[0].message));
  const search = c.req.query();
  refuseNul(search, '');
  const query = contract.query && parsed(contract.query, search, invalid);
  let body: unknown;
  if (contract.body) {
    const form = contract.form && (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded');
    body = form ? parsed(contract.body, formFields(await c.req.text()), invalid) : await jsonBody(c, contract.body);
  }
  return { params, query, body };
}

function formFields(text: string): Record<string, string> {
  const fields = Object.fromEntries(new URLSearchParams(text));
  refuseNul(fields, '');
  return fields;
}

function parsed<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  refuse: (issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]) => ApiError,
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw refuse(result.issues);
  return result.output;
}
