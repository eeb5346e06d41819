import * as v from 'valibot';
import { isSerial } from '../protocol/serial.ts';

/**
 * The `{sn}` of a path, once it is a serial (README §Topics). Anything else is
 * no terminal's: 404 before the store or the broker is asked anything
 * (route.ts answers a path that fails with 404). The message names it as
 * given, cut at a length no serial exceeds.
 */
export const SerialParam = v.object({
  sn: v.pipe(
    v.string(),
    v.check(isSerial, (issue) => {
      const sn = String(issue.input);
      return `no terminal ${sn.length > 64 ? `${sn.slice(0, 64)}…` : sn} is known`;
    }),
  ),
});
