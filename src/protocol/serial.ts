/**
 * What a terminal's serial may be (README §Topics): 1 to 64 ASCII letters,
 * digits and `_ . : -`, starting with a letter or a digit. A serial is read
 * from a topic anyone connected to the broker can publish on, and goes into
 * the database, the API's paths and lists, the logs and the downLink topic:
 * one rule, checked here, keeps a 60 KB "serial" or one of spaces and
 * control characters out of all of them.
 */
export const SERIAL_RULE = '1 to 64 letters, digits, _ . : or -, starting with a letter or a digit';

const SERIAL = /^[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}$/;
export const MAX_SERIAL_LENGTH = 64;

export function isSerial(text: string): boolean {
  return SERIAL.test(text);
}
