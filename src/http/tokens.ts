import * as v from 'valibot';
import { type ApiToken, ROLES } from '../store/store.ts';
import { TOKEN_LIMIT } from './callers.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { empty, error, json, type Route, route } from './route.ts';

// README §Tokens and roles: named API tokens, made and revoked by an admin.

export const NewToken = v.object({
  name: v.pipe(
    v.string('name must be a string'),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'name must be 1 to 64 letters, digits, _ . @ or -, starting with a letter or a digit'),
  ),
  role: v.picklist(ROLES, `role must be one of ${ROLES.join(', ')}`),
});

export const TokenSchema = v.object({ id: v.string(), name: v.string(), role: v.picklist(ROLES), created_at: v.string() });
export const CreatedTokenSchema = v.object({ ...TokenSchema.entries, token: v.string() });

const view = (token: ApiToken): v.InferOutput<typeof TokenSchema> => ({
  id: token.id,
  name: token.name,
  role: token.role,
  created_at: new Date(token.createdAt).toISOString(),
});

export function tokenRoutes({ callers }: AppDeps): Route[] {
  const create = route(
    {
      method: 'post',
      path: '/api/tokens',
      operationId: 'createToken',
      tag: 'tokens',
      summary: 'A named token with a role: its secret is in this answer and nowhere else (stored as its SHA-256)',
      description: `Roles: viewer (reads), operator (reads, commands and people changes), admin (everything). At most ${TOKEN_LIMIT} tokens; a name is one token's, and \`admin\` is ADMIN_TOKEN's.`,
      body: NewToken,
      responses: { 201: json(CreatedTokenSchema, 'made: the secret, shown once'), 409: error('the name is taken, or there are as many tokens as may be') },
    },
    async (c, { body: { name, role } }) => {
      const made = await callers.add(name, role);
      if (made === 'taken') throw new ApiError('conflict', `a token named ${name} exists already`);
      if (made === 'full') throw new ApiError('conflict', `at most ${TOKEN_LIMIT} tokens: revoke one first`);
      c.get('log').info({ token: made.token.id, name, role, actor: c.get('caller').name }, 'token made');
      return c.json({ ...view(made.token), token: made.secret }, 201);
    },
  );

  const list = route(
    {
      method: 'get',
      path: '/api/tokens',
      operationId: 'listTokens',
      tag: 'tokens',
      role: 'admin',
      summary: 'The named tokens, without their secrets',
      responses: { 200: json(v.object({ items: v.array(TokenSchema) }), 'every token') },
    },
    (c) => c.json({ items: callers.list().map(view) }),
  );

  const revoke = route(
    {
      method: 'delete',
      path: '/api/tokens/{id}',
      operationId: 'revokeToken',
      tag: 'tokens',
      summary: 'Revoke a token: its requests and console sessions are refused from now on',
      params: v.object({ id: v.pipe(v.string(), v.regex(/^tok_[A-Za-z0-9_-]{1,64}$/, 'no such token')) }),
      responses: { 204: empty('revoked'), 404: error('no such token') },
    },
    async (c, { params: { id } }) => {
      if (!(await callers.remove(id))) throw new ApiError('not_found', `no token ${id}`);
      c.get('log').info({ token: id, actor: c.get('caller').name }, 'token revoked');
      return c.body(null, 204);
    },
  );

  return [create, list, revoke];
}
