import { createHash, randomBytes } from 'node:crypto';
import { randomId } from '../events/ids.ts';
import { sameSecret } from '../lib/secrets.ts';
import type { ApiToken, Role, Store } from '../store/store.ts';

// README §Tokens and roles: who calls the API. ADMIN_TOKEN is the `admin`
// caller; named tokens are made by an admin, shown once, kept as the
// SHA-256 of their secret, and revoked by deleting them. The tokens are held
// here, in memory, so a request costs a hash and a map lookup, never a read.

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether a caller of `role` may do what needs `needed`. */
export const may = (role: Role, needed: Role): boolean => RANK[role] >= RANK[needed];

/** Who made a request: its name is the `actor` recorded on what it changes; `key` signs its console sessions. */
export interface Caller {
  id: string;
  name: string;
  role: Role;
  key: string;
}

/** The ADMIN_TOKEN caller's id and name. */
export const ADMIN = 'admin';
/** Named tokens at most: each is a row and a map entry. */
export const TOKEN_LIMIT = 256;

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

export function createCallers(store: Pick<Store, 'tokens' | 'write'>, adminToken: () => string) {
  let byHash = new Map<string, ApiToken>();
  let byId = new Map<string, ApiToken>();
  const caller = (token: ApiToken): Caller => ({ id: token.id, name: token.name, role: token.role, key: token.hash });
  const admin = (): Caller => ({ id: ADMIN, name: ADMIN, role: 'admin', key: adminToken() });

  async function load(): Promise<void> {
    const rows = await store.tokens();
    byHash = new Map(rows.map((row) => [row.hash, row]));
    byId = new Map(rows.map((row) => [row.id, row]));
  }

  return {
    load,
    /** The caller a bearer secret is, if any. */
    identify(secret: string): Caller | undefined {
      if (sameSecret(secret, adminToken())) return admin();
      const token = byHash.get(hashOf(secret));
      return token && caller(token);
    },
    /** The caller of an id (a console session names its caller by id). */
    byId(id: string): Caller | undefined {
      if (id === ADMIN) return admin();
      const token = byId.get(id);
      return token && caller(token);
    },
    list: (): ApiToken[] => [...byId.values()].sort((a, b) => a.createdAt - b.createdAt),
    /** A new token: its row, and the secret, which exists nowhere else once answered; undefined when the name is taken. */
    async add(name: string, role: Role): Promise<{ token: ApiToken; secret: string } | 'taken' | 'full'> {
      if (name === ADMIN) return 'taken';
      if (byId.size >= TOKEN_LIMIT) return 'full';
      const secret = `fgt_${randomBytes(24).toString('base64url')}`;
      const token: ApiToken = { id: randomId('tok'), name, role, hash: hashOf(secret), createdAt: Date.now() };
      const { added } = await store.write({ kind: 'token-add', token });
      if (!added) return 'taken';
      await load();
      return { token, secret };
    },
    async remove(id: string): Promise<boolean> {
      const { removed } = await store.write({ kind: 'token-delete', id });
      await load();
      return removed;
    },
  };
}

export type Callers = ReturnType<typeof createCallers>;
