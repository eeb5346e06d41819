import { createHash, randomBytes } from 'node:crypto';
import { IMAGE_KEY } from '../protocol/lifted-images.ts';

// Event ids (README §Events and their ids), and the random ids of commands and endpoints.

/**
 * The id of a face record: the same serial and the same content (every
 * field, the image included) give the same id, so a retransmitted or
 * re-uploaded record is stored once (README §Events and their ids).
 * `image`: the record's liveImageBase64 as UTF-8, kept apart from it
 * (protocol/uplink.ts RecordImage); hashed as that string would be.
 */
export function contentId(sn: string, record: Record<string, unknown>, image?: Uint8Array): string {
  // Key order is not content: a terminal may serialise a re-upload differently.
  // Strings (the image above all) are hashed as they are, not re-serialised;
  // the type tag keeps "1" and 1 apart. Each part ends with a NUL. What lies
  // before and after the image goes in as one string each, the same bytes
  // as in pieces: one call into OpenSSL, not two dozen (~2 µs a record).
  const hash = createHash('sha256');
  let text = sn + END;
  const keys = Object.keys(record);
  if (image) keys.push(IMAGE_KEY);
  for (const key of keys.sort()) {
    text += key + END;
    if (image && key === IMAGE_KEY) {
      hash.update(`${text}s`).update(image);
      text = '';
    } else {
      const value = record[key];
      text += typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`;
    }
    text += END;
  }
  hash.update(text);
  return `evt_${hash.digest('base64url').slice(0, 26)}`;
}

const END = '\0';

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
