import { createHash } from 'node:crypto';

// The people a terminal holds, as the built-in default enrolment commands of
// SPEC §"People on the terminals" change them (README §Simulator: people on
// a terminal): `addPersonD` adds or replaces a person, `deletePersonD`
// removes one, `queryPersonD` lists them ("query person list" of the vendor
// manual). Every field of a command comes from the downLink and is treated
// as hostile: a bad one gets a failure code naming it, never an exception.
// The photo itself is never kept (a simulated terminal may hold thousands of
// people), only its size and a short hash of it.

/** The answers' codes: 0 is success (SPEC: `code` 0), any other a refusal with its `msg`. */
export const PERSON_CODES = {
  ok: 0,
  /** A field of the command is missing, of the wrong type or too long: its `msg` names it. */
  invalid: 1000,
  /** The share of enrolments refused on purpose (`personFailures`), as a terminal refuses a photo it finds no face in. */
  badPhoto: 1001,
  /** The photo is empty, not base64, or does not decode to a JPEG (FF D8 FF). */
  notJpeg: 1002,
  /** The photo decodes to more than MAX_PHOTO_BYTES. */
  photoTooLarge: 1003,
  /** The roster holds its `capacity` already and the person is not one of them. */
  full: 1004,
} as const;

/** Most people a roster holds unless told (a real terminal's order of magnitude). */
export const ROSTER_CAPACITY = 100_000;
/** Longest `num`, in characters. */
export const MAX_NUM_CHARS = 64;
/** Longest `name`, in characters. */
export const MAX_NAME_CHARS = 128;
/** Most bytes of a photo, decoded: more than a command within the bridge's default BODY_LIMIT (1mb) can carry. */
export const MAX_PHOTO_BYTES = 2 * 1024 * 1024;
/** Most bytes of a person's other fields, as JSON: they are kept, so they are bounded. */
export const MAX_FIELDS_BYTES = 4096;
/** Most nums in a `queryPersonU` (its `total` says how many there are in all). */
export const QUERY_NUMS = 1000;

/** The commands a roster answers (their replies are named as any: `addPersonU`…). */
export const ROSTER_COMMANDS = ['addPersonD', 'deletePersonD', 'queryPersonD'] as const;
export type RosterCommand = (typeof ROSTER_COMMANDS)[number];

export function isRosterCommand(cmd: string): cmd is RosterCommand {
  return (ROSTER_COMMANDS as readonly string[]).includes(cmd);
}

/** A person held: never the photo itself. */
export interface RosterPerson {
  num: string;
  name: string;
  /** Bytes of the decoded photo; 0 when the enrolment carried no `photo` field. */
  photoBytes: number;
  /** The first 12 hex digits of the photo's SHA-256; undefined without a photo. */
  photoHash: string | undefined;
  /** Every other field of the command but `cmd` and the reply field (validity dates, card number…), as given. */
  fields: Record<string, unknown>;
}

/** What a roster answers to a command: the fields of its reply besides `cmd` (and the echo and `sn` the terminal adds). */
export type PersonAnswer = { code: number; msg: string } & Record<string, unknown>;

export interface RosterOptions {
  /** Share of enrolments refused with PERSON_CODES.badPhoto (0 to 1, 0 by default), chosen by a hash of the num: the same people each run. */
  personFailures?: number;
  /** Most people held (ROSTER_CAPACITY by default). */
  capacity?: number;
  /** A field of the command that is the bridge's REPLY_FIELD, not the person's: not kept. */
  replyField?: string;
}

export class Roster {
  readonly #people = new Map<string, RosterPerson>();
  readonly #failures: number;
  readonly #capacity: number;
  readonly #replyField: string | undefined;

  constructor({ personFailures = 0, capacity = ROSTER_CAPACITY, replyField }: RosterOptions = {}) {
    if (!(personFailures >= 0 && personFailures <= 1)) throw new RangeError(`personFailures ${personFailures}: expected a share from 0 to 1`);
    if (!(Number.isInteger(capacity) && capacity >= 0)) throw new RangeError(`capacity ${capacity}: expected a whole number`);
    this.#failures = personFailures;
    this.#capacity = capacity;
    this.#replyField = replyField;
  }

  /** The people held, by num, in the order they were first added. */
  get people(): ReadonlyMap<string, RosterPerson> {
    return this.#people;
  }

  /** Applies `command` (whose cmd isRosterCommand) and says what to answer. */
  answer(command: { cmd: RosterCommand } & Record<string, unknown>): PersonAnswer {
    switch (command.cmd) {
      case 'addPersonD':
        return this.#add(command);
      case 'deletePersonD':
        return this.#delete(command);
      case 'queryPersonD':
        return this.#query();
    }
  }

  #add(command: Record<string, unknown>): PersonAnswer {
    const num = validNum(command.num);
    if (num === undefined) return invalid(`num: expected a string of 1 to ${MAX_NUM_CHARS} characters`);
    const refuse = (code: number, msg: string): PersonAnswer => ({ num, code, msg });
    const { name = '' } = command;
    if (typeof name !== 'string' || name.length > MAX_NAME_CHARS)
      return refuse(PERSON_CODES.invalid, `name: expected a string of at most ${MAX_NAME_CHARS} characters`);
    const fields = Object.fromEntries(Object.entries(command).filter(([key]) => !['cmd', 'num', 'name', 'photo', this.#replyField].includes(key)));
    if (jsonBytes(fields) > MAX_FIELDS_BYTES) return refuse(PERSON_CODES.invalid, `other fields: more than ${MAX_FIELDS_BYTES} bytes of JSON`);
    let photoBytes = 0;
    let photoHash: string | undefined;
    // A person may come without a photo (a card alone); a photo field that is there must be a JPEG.
    if (Object.hasOwn(command, 'photo')) {
      const photo = decodePhoto(command.photo);
      if (photo === 'too large') return refuse(PERSON_CODES.photoTooLarge, `photo is larger than ${MAX_PHOTO_BYTES} bytes`);
      if (photo === undefined) return refuse(PERSON_CODES.notJpeg, 'photo is not a JPEG');
      photoBytes = photo.length;
      photoHash = createHash('sha256').update(photo).digest('hex').slice(0, 12);
    }
    if (refusedOnPurpose(num, this.#failures)) return refuse(PERSON_CODES.badPhoto, 'bad photo');
    if (!this.#people.has(num) && this.#people.size >= this.#capacity) return refuse(PERSON_CODES.full, `full: ${this.#capacity} people held`);
    this.#people.set(num, { num, name, photoBytes, photoHash, fields });
    return { num, code: PERSON_CODES.ok, msg: 'ok' };
  }

  #delete(command: Record<string, unknown>): PersonAnswer {
    const num = validNum(command.num);
    if (num === undefined) return invalid(`num: expected a string of 1 to ${MAX_NUM_CHARS} characters`);
    // Done also when the person was not held: what was asked, no such person here, is true.
    this.#people.delete(num);
    return { num, code: PERSON_CODES.ok, msg: 'ok' };
  }

  #query(): PersonAnswer {
    const nums: string[] = [];
    for (const num of this.#people.keys()) {
      if (nums.length === QUERY_NUMS) break;
      nums.push(num);
    }
    return { code: PERSON_CODES.ok, msg: 'ok', nums, total: this.#people.size };
  }
}

/**
 * Whether the person `num` is one of the `share` refused on purpose: the
 * first four bytes of the num's SHA-256 as a fraction of 2^32, below the
 * share. The same num is refused on every run and every terminal.
 */
export function refusedOnPurpose(num: string, share: number): boolean {
  if (share <= 0) return false;
  return createHash('sha256').update(num).digest().readUInt32BE(0) / 2 ** 32 < share;
}

function validNum(num: unknown): string | undefined {
  return typeof num === 'string' && num.length >= 1 && num.length <= MAX_NUM_CHARS ? num : undefined;
}

/** Bytes of `value` as JSON; Infinity when it cannot be written back (nested deeper than the stack: JSON.parse takes what JSON.stringify cannot). */
function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function invalid(msg: string): PersonAnswer {
  return { code: PERSON_CODES.invalid, msg };
}

/** Characters of base64 that MAX_PHOTO_BYTES take. */
const MAX_PHOTO_CHARS = Math.ceil(MAX_PHOTO_BYTES / 3) * 4;

/** The photo's bytes when it is base64 of a JPEG; 'too large' past MAX_PHOTO_BYTES; otherwise undefined. */
function decodePhoto(photo: unknown): Buffer | 'too large' | undefined {
  if (typeof photo !== 'string' || photo.length === 0) return undefined;
  // Measured before decoding, so a giant string is not decoded to be refused.
  if (photo.length > MAX_PHOTO_CHARS) return 'too large';
  // Node's decoder skips what is not base64; the photo is base64 when encoding its bytes again gives it
  // back (padding optional). Ten times faster than a character-class regex over a photo of 50 KB.
  const bytes = Buffer.from(photo, 'base64');
  const again = bytes.toString('base64');
  let end = again.length;
  while (end > 0 && again.charCodeAt(end - 1) === 0x3d) end--;
  if (again !== photo && (photo.length !== end || !again.startsWith(photo))) return undefined;
  if (bytes.length > MAX_PHOTO_BYTES) return 'too large';
  // A JPEG starts with its SOI marker (FF D8) and the next marker's FF.
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff ? bytes : undefined;
}
