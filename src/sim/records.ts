import { localTimestamp } from '../lib/units.ts';

// Payloads a terminal sends on its upLink (protocol.md), built without any
// clock or randomness of their own so tests and the benchmark get exactly
// what they ask for.

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

/** One recognition; `verifiedCode` 0 lets the person pass, anything else is a refusal. */
export function verifiedRecord(person: Person, imageBase64: string, at: Date, verifiedCode = 0): VerifiedRecord {
  return { num: person.num, name: person.name, liveImageBase64: imageBase64, verifiedCode, time: localTimestamp(at), personType: '1' };
}

export function strangerRecord(imageBase64: string, at: Date): StrangerRecord {
  return { liveImageBase64: imageBase64, time: localTimestamp(at) };
}

/** A terminal back from an outage uploads its backlog several records to a message, hence arrays. */
export function verifiedRecordU(records: VerifiedRecord[]): RecordsMessage<VerifiedRecord> {
  return { cmd: 'verifiedRecordU', data: records };
}

export function strangerRecordU(records: StrangerRecord[]): RecordsMessage<StrangerRecord> {
  return { cmd: 'strangerRecordU', data: records };
}

/** The name of a terminal's answer to a downstream command: `openDoorD` → `openDoorU`. */
export function replyCmd(cmd: string): string {
  return cmd.endsWith('D') ? `${cmd.slice(0, -1)}U` : `${cmd}Reply`;
}

export function reply(cmd: string, sn: string): Reply {
  return { cmd: replyCmd(cmd), code: 0, msg: 'ok', sn };
}
