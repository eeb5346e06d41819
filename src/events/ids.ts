import { createHash, randomBytes } from 'node:crypto';

// Event ids (README §Events and their ids), and the random ids of commands and endpoints.

/**
 * The id of a face record: the same serial and the same content (every
 * field, the image included) give the same id, so a retransmitted or
 * re-uploaded record is stored once (README §Events and their ids).
 */
export function contentId(sn: string, record: Record<string, unknown>): string {
  // Key order is not content: a terminal may serialise a re-upload differently.
  // Strings (the image above all) are hashed as they are, not re-serialised;
  // the type tag keeps "1" and 1 apart.
  const parts = [sn];
  for (const key of Object.keys(record).sort()) {
    const value = record[key];
    parts.push(key, typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`);
  }
  return `evt_${digest(parts)}`;
}

function digest(parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('base64url').slice(0, 26);
}

// Each randomBytes call goes into OpenSSL (~8 µs here): 10,000 terminals
// coming online at once spent a quarter of their presence writes on it. One
// call fills the next 256 ids.
const ID_BYTES = 16;
const POOLED_IDS = 256;
let pool = Buffer.alloc(0);
let used = 0;

/** A random id with a type prefix: `cmd_…`, `evt_…` (128 random bits, 22 base64url characters). */
export function randomId(prefix: string): string {
  if (used === pool.length) {
    pool = randomBytes(ID_BYTES * POOLED_IDS);
    used = 0;
  }
  used += ID_BYTES;
  return `${prefix}_${pool.toString('base64url', used - ID_BYTES, used)}`;
}
