import * as v from 'valibot';
import { isJsonObject, jsonObject, MAX_JSON_DEPTH, nestsWithin } from '../lib/json-object.ts';
import { type Lifted, liftImages, slotIndex } from './lifted-images.ts';

// The terminals' upstream messages (README §Upstream messages). Schemas check types without
// transforming anything: the bridge keeps and forwards what a terminal sent,
// exactly as it sent it (README §What the backend receives: no type coercion).

export const FaceRecordSchema = jsonObject(
  {
    num: v.optional(v.union([v.string(), v.number()], 'num must be a string or a number')),
    name: v.optional(v.string('name must be a string')),
    liveImageBase64: v.optional(v.string('liveImageBase64 must be a string')),
    verifiedCode: v.optional(v.number('verifiedCode must be a number')),
    time: v.optional(v.string('time must be a string')),
    personType: v.optional(v.union([v.string(), v.number()], 'personType must be a string or a number')),
  },
  'each record must be an object',
);
export type FaceRecord = v.InferOutput<typeof FaceRecordSchema>;

// Each record is checked apart: one malformed record must not take the
// others of a backlog batch with it.
const RecordsMessage = v.looseObject({
  cmd: v.string(),
  data: v.pipe(v.array(v.unknown(), 'data must be an array of records'), v.minLength(1, 'data must hold at least one record')),
});

const Envelope = jsonObject({ cmd: v.pipe(v.string('cmd must be a string'), v.minLength(1, 'cmd must not be empty')) }, 'payload must be an object');

export type Uplink =
  | { cmd: 'heartU' }
  | {
      cmd: 'verifiedRecordU' | 'strangerRecordU';
      /** The well-formed records, each without its liveImageBase64: that is in `images`. */
      records: FaceRecord[];
      /** Each record's liveImageBase64, when it has one. */
      images: (RecordImage | undefined)[];
      /**
       * Each of `records` as JSON text: what is measured against
       * MAX_RECORD_FIELDS_BYTES, and stored as it is with IMAGES=inline.
       * Written once here rather than again for the event.
       */
      fields: string[];
      /** Records of the message that are malformed (the others are in `records`), each with what is wrong with it. */
      malformed: { record: unknown; detail: string }[];
    }
  | { cmd: string; body: Record<string, unknown> };

/** A record's liveImageBase64, apart from its other fields. */
export interface RecordImage {
  /** The string as UTF-8: what the record's id hashes (events/ids.ts contentId). */
  text: Uint8Array;
  /**
   * As it stands between the quotes of a JSON string (NewEvent.image): the
   * same bytes as `text`, unless the payload used escapes, in which case a
   * character that JSON must escape is escaped again.
   */
  content: Uint8Array;
}

export const REJECT_REASONS = [
  'too_large',
  'not_utf8',
  'not_json',
  'too_deep',
  'not_object',
  'no_cmd',
  'too_many_records',
  'invalid_fields',
  'unknown_device',
  'terminal_limit',
  // Applying it ended the writer thread, on its own (README §What survives what).
  'unprocessable',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type Decoded = { ok: true; msg: Uplink } | { ok: false; reason: RejectReason; detail: string };

/**
 * README §Upstream messages: a face record's fields other than its image,
 * as JSON, take at most this many bytes. They are stored with the event and
 * read by every list of events; the image is stored apart.
 */
export const MAX_RECORD_FIELDS_BYTES = 64 * 1024;

/** MAX_RECORDS unless configured: far more than any backlog batch of images fits in MAX_PAYLOAD. */
export const DEFAULT_MAX_RECORDS = 1000;

export interface DecodeLimits {
  /** Records a verifiedRecordU or strangerRecordU may hold (MAX_RECORDS). */
  maxRecords: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const isRecordsCmd = (cmd: unknown): cmd is 'verifiedRecordU' | 'strangerRecordU' => cmd === 'verifiedRecordU' || cmd === 'strangerRecordU';

/** Bytes of an upLink message → a typed message, or the reason it is malformed. Never throws. */
export function decodeUplink(payload: Uint8Array, limits: DecodeLimits = { maxRecords: DEFAULT_MAX_RECORDS }): Decoded {
  // A record message with images, as terminals send them: the images lifted
  // out of the bytes, the rest parsed (lifted-images.ts). Anything else that
  // path meets (a malformed record, an image where no record holds it) is
  // decided by the whole payload's parse below, as every other message is.
  const lifted = liftImages(payload);
  const decoded = lifted && decodeLifted(lifted, limits);
  if (decoded) return decoded;
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, reason: 'not_utf8', detail: 'payload is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message.slice(0, 200) };
  }
  return decodeValue(value, limits, { escaped: text.includes('\\') });
}

/** A record message, all its records well-formed, from its lifted text; undefined for anything else. */
function decodeLifted({ text, images }: Lifted, limits: DecodeLimits): Decoded | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const decoded = decodeValue(value, limits, { lifted: images });
  return decoded?.ok && 'records' in decoded.msg && decoded.msg.malformed.length === 0 ? decoded : undefined;
}

/**
 * Where the records' images are: `lifted` out of the payload, each record's
 * liveImageBase64 a slot of them (lifted-images.ts); or strings parsed with
 * the rest, from a payload that did or did not use `escaped` characters.
 */
type Images = { lifted: Uint8Array[] } | { escaped: boolean };

/**
 * A parsed payload → a typed message. With lifted images, undefined when a
 * slot is not where a record's image is: the payload is then decoded whole.
 */
function decodeValue(value: unknown, limits: DecodeLimits, images: { escaped: boolean }): Decoded;
function decodeValue(value: unknown, limits: DecodeLimits, images: Images): Decoded | undefined;
function decodeValue(value: unknown, { maxRecords }: DecodeLimits, images: Images): Decoded | undefined {
  // Counted before any record is looked at (README §Malformed messages): 600,000
  // tiny records in one payload are one reject, not 600,000 events or rows.
  if (isJsonObject(value) && isRecordsCmd(value.cmd) && Array.isArray(value.data) && value.data.length > maxRecords) {
    return { ok: false, reason: 'too_many_records', detail: `data holds ${value.data.length} records, over MAX_RECORDS (${maxRecords})` };
  }
  if (!nestsWithin(value)) return { ok: false, reason: 'too_deep', detail: `the JSON nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep` };
  if (!isJsonObject(value)) {
    return { ok: false, reason: 'not_object', detail: `payload is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}` };
  }
  const envelope = v.safeParse(Envelope, value);
  if (!envelope.success) return { ok: false, reason: 'no_cmd', detail: describe(envelope.issues[0]) };

  const body = value as Record<string, unknown>;
  const cmd = body.cmd as string;
  if (cmd === 'heartU') return { ok: true, msg: { cmd } };
  if (isRecordsCmd(cmd)) {
    const parsed = v.safeParse(RecordsMessage, value);
    if (!parsed.success) return { ok: false, reason: 'invalid_fields', detail: describe(parsed.issues[0]) };
    // The input, not the parser's copy: it is exactly what the terminal sent.
    const records: FaceRecord[] = [];
    const recordImages: (RecordImage | undefined)[] = [];
    const fields: string[] = [];
    const malformed: { record: unknown; detail: string }[] = [];
    let lifted = 0;
    for (const [i, record] of (body.data as unknown[]).entries()) {
      const checked = v.safeParse(FaceRecordSchema, record);
      if (!checked.success) {
        malformed.push({ record, detail: describe(checked.issues[0], `data.${i}`) });
        continue;
      }
      const { liveImageBase64: image, ...rest } = record as FaceRecord;
      const json = JSON.stringify(rest);
      // A UTF-16 unit takes at most 3 bytes of UTF-8: short text needs no count.
      const bytes = json.length * 3 <= MAX_RECORD_FIELDS_BYTES ? 0 : Buffer.byteLength(json);
      if (bytes > MAX_RECORD_FIELDS_BYTES) {
        const detail = `data.${i}: the fields other than liveImageBase64 take ${bytes} bytes as JSON, over the limit of ${MAX_RECORD_FIELDS_BYTES}`;
        malformed.push({ record, detail });
        continue;
      }
      let recordImage: RecordImage | undefined;
      if (image !== undefined) {
        if ('escaped' in images) recordImage = stringImage(image, images.escaped);
        else {
          const slot = images.lifted[slotIndex(image) ?? -1];
          if (slot === undefined) return undefined;
          recordImage = { text: slot, content: slot };
          lifted += 1;
        }
      }
      records.push(rest);
      recordImages.push(recordImage);
      fields.push(json);
    }
    // Every lifted image must be a record's: one anywhere else would stand in the message as its slot.
    if ('lifted' in images && lifted !== images.lifted.length) return undefined;
    if (records.length === 0) return { ok: false, reason: 'invalid_fields', detail: malformed[0].detail };
    return { ok: true, msg: { cmd, records, images: recordImages, fields, malformed } };
  }
  return { ok: true, msg: { cmd, body } };
}

/** An image parsed as a string: its bytes, and as JSON string content, escaped again only when the payload used escapes (~60 µs for 36 KB). */
function stringImage(image: string, escaped: boolean): RecordImage {
  const text = Buffer.from(image);
  return { text, content: escaped ? Buffer.from(JSON.stringify(image).slice(1, -1)) : text };
}

function describe(issue: v.BaseIssue<unknown>, within?: string): string {
  const path = [within, v.getDotPath(issue)].filter(Boolean).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

const HEARTU = Buffer.from('heartU');
/**
 * A terminal's heartbeat is `{"cmd":"heartU"}` and perhaps a few fields; a
 * face record is ~37 KB. Up to this size a payload is looked at for the fast
 * path: at 64 KB every record's bytes were searched for `heartU` on the main
 * thread, 1.4 % of its time in a burst (README §Performance, Compiled once,
 * read once).
 */
const HEARTBEAT_MAX = 4 * 1024;

/**
 * The check for the heartbeat fast path on the main thread. Only payloads
 * that mention heartU are parsed, so a record with an image is never parsed
 * here and again by the writer. A larger heartbeat is answered too, once it
 * has passed through the writer (README §Upstream messages).
 */
export function isHeartbeat(payload: Uint8Array): boolean {
  if (sameBytes(payload, lastHeartbeat)) return true;
  if (payload.length > HEARTBEAT_MAX || !Buffer.from(payload.buffer, payload.byteOffset, payload.length).includes(HEARTU)) return false;
  const decoded = decodeUplink(payload);
  const heartbeat = decoded.ok && decoded.msg.cmd === 'heartU';
  // A copy: the payload's buffer may be reused or hold a whole read.
  if (heartbeat && payload.length <= REMEMBERED_MAX) lastHeartbeat = Uint8Array.prototype.slice.call(payload);
  return heartbeat;
}

/**
 * The last payload found to be a heartbeat. The terminals of a site send
 * the same bytes at every beat, and the same bytes decode the same: a
 * heartbeat like it is known by a comparison, not parsed and validated
 * again (10,000 times a second at a large site, README §Performance).
 */
let lastHeartbeat: Uint8Array = new Uint8Array(0);
/** Longer payloads are not remembered: the comparison stays a few dozen bytes. */
const REMEMBERED_MAX = 256;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The cmd as a metrics label: the known ones, everything else as `other`, so a terminal cannot grow the label set. */
export function cmdLabel(cmd: string): string {
  return cmd === 'heartU' || cmd === 'verifiedRecordU' || cmd === 'strangerRecordU' ? cmd : 'other';
}
