import { localTimestamp } from '../lib/units.ts';
import { stampJpeg } from './jpeg.ts';

// Payloads a terminal sends on its upLink (README §Upstream messages), built without any
// clock or randomness of their own: whoever calls gives the time, the image
// and the label, so the simulator, the benchmark and the tests get exactly
// what they ask for, the same bytes for the same inputs.

export interface Person {
  readonly num: string;
  readonly name: string;
}

/** Enrolled people the simulated terminals recognise. */
export const PEOPLE: readonly Person[] = [
  { num: '1001', name: 'Zhang San' },
  { num: '1002', name: 'Li Si' },
  { num: '1003', name: 'Wang Wu' },
  { num: '1004', name: 'Zhao Liu' },
  { num: '1005', name: 'Chen Jing' },
  { num: '1006', name: 'Liu Yang' },
];

/** The start of a JPEG (its SOI marker and JFIF header), base64: the image of a record whose image does not matter. */
export const SAMPLE_IMAGE = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDA==';
/** The terminal's clock of a record whose time does not matter. */
export const SAMPLE_TIME = '2026-11-22 09:59:58';

export interface VerifiedRecord {
  num: string;
  name: string;
  liveImageBase64: string;
  verifiedCode: number;
  time: string;
  personType: string;
}

export interface StrangerRecord {
  liveImageBase64: string;
  time: string;
}

export interface RecordsMessage<R> {
  cmd: 'verifiedRecordU' | 'strangerRecordU';
  data: R[];
}

export interface Reply {
  cmd: string;
  code: number;
  msg: string;
  sn: string;
}

export function heartU(): { cmd: 'heartU' } {
  return { cmd: 'heartU' };
}

/**
 * One recognition as a terminal sends it: Zhang San passes (`verifiedCode` 0;
 * anything else is a refusal) at SAMPLE_TIME with SAMPLE_IMAGE, unless
 * `fields` says otherwise. Fields keep their order; any may be given any
 * value (a hostile terminal's).
 */
export function verifiedRecord(fields: Record<string, unknown> = {}): VerifiedRecord & Record<string, unknown> {
  return { num: '1001', name: 'Zhang San', liveImageBase64: SAMPLE_IMAGE, verifiedCode: 0, time: SAMPLE_TIME, personType: '1', ...fields };
}

/** A stranger seen at SAMPLE_TIME with SAMPLE_IMAGE, unless `fields` says otherwise. */
export function strangerRecord(fields: Record<string, unknown> = {}): StrangerRecord & Record<string, unknown> {
  return { liveImageBase64: SAMPLE_IMAGE, time: SAMPLE_TIME, ...fields };
}

/** A terminal back from an outage uploads its backlog several records to a message, hence arrays. */
export function verifiedRecordU<R>(records: R[]): RecordsMessage<R> {
  return { cmd: 'verifiedRecordU', data: records };
}

export function strangerRecordU<R>(records: R[]): RecordsMessage<R> {
  return { cmd: 'strangerRecordU', data: records };
}

/**
 * The name of a terminal's answer to a downstream command: `openDoorD` →
 * `openDoorU` (README §Commands with replies: the protocol's
 * convention); undefined for what a terminal does not answer: `heartD`,
 * itself the bridge's answer to a heartbeat, and a name not ending in `D`.
 */
export function replyCmd(cmd: string): string | undefined {
  return cmd.length > 1 && cmd.endsWith('D') && cmd !== 'heartD' ? `${cmd.slice(0, -1)}U` : undefined;
}

/**
 * A terminal's answer to `command` (whose cmd replyCmd names): `code` 0 and
 * `msg` "ok" unless `outcome` says otherwise (a refusal, or fields of its
 * own such as an enrolment's `num`). With `replyField` (REPLY_FIELD) it
 * echoes the command's value of that field, when the command has one, as
 * firmware that echoes a request tag does; the bridge matches the reply to
 * its command by that value. The reply's own fields win over the echo.
 */
export function reply(
  command: { cmd: string } & Record<string, unknown>,
  sn: string,
  replyField?: string,
  outcome: { code: number; msg: string } & Record<string, unknown> = { code: 0, msg: 'ok' },
): Reply & Record<string, unknown> {
  const cmd = replyCmd(command.cmd);
  if (cmd === undefined) throw new Error(`${command.cmd} is not a command a terminal answers`);
  const echo = replyField !== undefined && Object.hasOwn(command, replyField) ? { [replyField]: command[replyField] } : {};
  return { cmd, ...echo, ...outcome, sn };
}

/**
 * The first person id of a numbered load: record i is person FIRST_NUM + i,
 * so whoever receives the records (the database, a webhook receiver, a
 * stream) tells a lost record from a doubled one by its `num`.
 */
export const FIRST_NUM = 100_000;

/** What a numbered load's records carry: a JPEG, stamped for each record with `label` and its number. */
export interface LoadImage {
  jpeg: Buffer;
  label: string;
}

/**
 * Record i of a numbered load, taken at `at`, with the image stamped
 * `${label} #${i}`; without an image it has no liveImageBase64 at all, as a
 * terminal set not to capture sends it.
 */
export function loadRecord(i: number, at: Date, image?: LoadImage): Record<string, unknown> {
  const fields = { num: String(FIRST_NUM + i), name: PEOPLE[i % PEOPLE.length].name, time: localTimestamp(at) };
  if (image === undefined) {
    const { liveImageBase64: _, ...record } = verifiedRecord(fields);
    return record;
  }
  return verifiedRecord({ ...fields, liveImageBase64: stampJpeg(image.jpeg, `${image.label} #${i}`).toString('base64') });
}

/** Record i of a numbered load as the bytes of its verifiedRecordU message. */
export function encodeLoadRecord(i: number, at: Date, image?: LoadImage): Buffer {
  return Buffer.from(JSON.stringify(verifiedRecordU([loadRecord(i, at, image)])));
}

/**
 * Records first…first+count−1 of a numbered load, all taken at `at`, for
 * `terminals` terminals: terminal t gets records first+t, first+t+T… A load
 * numbered past a burst's (the bench's warm-up) is never counted as one of
 * its records.
 */
export function encodeLoad(count: number, terminals: number, at: Date, image?: LoadImage, first = 0): Buffer[][] {
  const lists: Buffer[][] = Array.from({ length: terminals }, () => []);
  for (let i = 0; i < count; i++) lists[i % terminals].push(encodeLoadRecord(first + i, at, image));
  return lists;
}
