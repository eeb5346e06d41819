import { isSerial } from '../protocol/serial.ts';
import { ApiError } from './errors.ts';

/**
 * The `{sn}` of a path, once it is a serial (README §Topics). Anything else is
 * no terminal's: 404 before the store or the broker is asked anything. The
 * message names it as given, cut at a length no serial exceeds.
 */
export function serialParam(sn: string): string {
  if (!isSerial(sn)) throw new ApiError('not_found', `no terminal ${sn.length > 64 ? `${sn.slice(0, 64)}…` : sn} is known`);
  return sn;
}
