import { isUtf8 } from 'node:buffer';

// A face record's image is ~36 KB of base64 in a payload of ~37 KB: the
// bulk of it, and nothing in it needs parsing. Decoding it as JSON made it a
// JavaScript string three times over (the payload's text, the parsed
// value, the UTF-8 bytes hashed and stored), each one garbage for the
// writer thread to collect. Here each image is found in the payload's bytes
// and lifted out; the rest, ~1 KB, is parsed (README §Performance, CPU per
// record). The image stays a view of the payload's own bytes.

/** The key whose string values are lifted: a face record's image (README §Upstream messages). */
export const IMAGE_KEY = 'liveImageBase64';

const KEY = Buffer.from(`"${IMAGE_KEY}"`);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
/** What stands in a lifted image's place: a NUL, which no string of a payload without escapes can hold, then its index. */
const SLOT_MARK = '\u0000';

export interface Lifted {
  /** The payload as text, each image replaced by the JSON string `"\u0000<index>"`. */
  text: string;
  /** The images, in the order they stand in the payload: each a view of its bytes, which are also its JSON string content. */
  images: Uint8Array[];
}

/**
 * The payload's images lifted out of its text, or undefined when the
 * payload is not one this applies to: it uses escapes (a string of it may
 * then differ from its bytes), holds no image, or an image's bytes could not
 * stand in a JSON string (a control character, invalid UTF-8: the whole
 * payload's parse must then refuse it as before). Whoever takes the text must
 * find every slot where it expects an image, or decode the payload whole.
 */
export function liftImages(payload: Uint8Array): Lifted | undefined {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (bytes.indexOf(BACKSLASH) !== -1) return undefined;
  const pieces: Uint8Array[] = [];
  const images: Uint8Array[] = [];
  let kept = 0;
  let from = 0;
  for (let at = bytes.indexOf(KEY); at !== -1; at = bytes.indexOf(KEY, from)) {
    from = at + KEY.length;
    // Without escapes every quote opens or closes a string: the key is followed by a colon, then its value.
    let i = skipSpace(bytes, from);
    if (bytes[i] !== COLON) continue; // the text as a value, not a key
    i = skipSpace(bytes, i + 1);
    if (bytes[i] !== QUOTE) continue; // a value other than a string: the parse judges it
    const end = bytes.indexOf(QUOTE, i + 1);
    if (end === -1) return undefined;
    const image = bytes.subarray(i + 1, end);
    if (hasControl(image) || !isUtf8(image)) return undefined;
    pieces.push(bytes.subarray(kept, i + 1), Buffer.from(`\\u0000${images.length}`));
    images.push(image);
    kept = end;
    from = end + 1;
  }
  if (images.length === 0) return undefined;
  pieces.push(bytes.subarray(kept));
  const rest = Buffer.concat(pieces);
  if (!isUtf8(rest)) return undefined;
  return { text: rest.toString('utf8'), images };
}

/** The index of the image a string stands for, when it is a slot of liftImages' text. */
export function slotIndex(value: string): number | undefined {
  if (!value.startsWith(SLOT_MARK)) return undefined;
  const index = Number(value.slice(SLOT_MARK.length));
  return Number.isInteger(index) ? index : undefined;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
function skipSpace(bytes: Uint8Array, i: number): number {
  while (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d) i++;
  return i;
}

/**
 * Whether a byte is below 0x20: JSON takes a control character in a string
 * only escaped. The bytes before the first 4-byte boundary and after the
 * last whole group of four words are looked at one by one, the words
 * between four at a time: a byte below 0x20 borrows into its own top bit,
 * which it did not have (a byte at 0x80 or above had it, and is masked
 * out); a borrow passed on to the bytes above comes only from such a byte.
 * 36 KB in ~6 µs; a word at a time took ~13 (README §Performance, A
 * record's CPU, function by function).
 */
function hasControl(bytes: Uint8Array): boolean {
  const n = bytes.length;
  const head = Math.min(n, (4 - (bytes.byteOffset & 3)) & 3);
  const count = ((n - head) >>> 4) << 2;
  // No word when the bytes do not reach past a group (head and the tail are then all of them).
  let low = count > 0 && (borrows(new Uint32Array(bytes.buffer, bytes.byteOffset + head, count)) & 0x80808080) !== 0;
  for (let i = 0; i < head; i++) low ||= bytes[i] < 0x20;
  for (let i = head + count * 4; i < n; i++) low ||= bytes[i] < 0x20;
  return low;
}

/**
 * The words' borrows (see hasControl), OR-ed together; `words.length` is a
 * multiple of four, taken four at a time.
 *
 * A function of its own with one loop and nothing after it: the loop over an
 * image's ~9,000 words is compiled while it runs (on-stack replacement),
 * before any code after it has run, and compiled code that reaches code
 * never run is thrown away. When the bytes past the last word were looked at
 * in the same function, an image that ended off a 4-byte boundary threw the
 * compiled loop away, and V8 entered it again at the next image's loop and
 * threw it away again, for as long as the process ran: 117 times in a
 * benchmark run, a fifth of the writer thread's time in its first second
 * (README §Performance, Compiled once, read once). So the words left over
 * after the last group of four are hasControl's too, byte by byte.
 */
function borrows(words: Uint32Array): number {
  const BORROW = 0x20202020;
  let seen = 0;
  for (let w = 0; w < words.length; w += 4) {
    const a = words[w];
    const b = words[w + 1];
    const c = words[w + 2];
    const d = words[w + 3];
    seen |= ((a - BORROW) & ~a) | ((b - BORROW) & ~b) | ((c - BORROW) & ~c) | ((d - BORROW) & ~d);
  }
  return seen;
}
