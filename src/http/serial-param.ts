import * as v from 'valibot';
import { isSerial, SERIAL_RULE } from '../protocol/serial.ts';

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

/**
 * `devices` of a fan-out and of a person: "all", or 1 to MAX_TERMINALS
 * distinct serials. `empty` says what to do instead of an empty list.
 */
export const Devices = (maxTerminals: number, empty: string) =>
  v.union(
    [
      v.literal('all'),
      v.pipe(
        v.array(v.pipe(v.string('each of devices must be a serial'), v.check(isSerial, `each of devices must be a serial of ${SERIAL_RULE}`))),
        v.minLength(1, empty),
        v.maxLength(maxTerminals, `devices may name at most MAX_TERMINALS (${maxTerminals}) serials`),
        v.check((list) => new Set(list).size === list.length, 'devices must not name a serial twice'),
      ),
    ],
    'devices must be "all" or a list of serials',
  );
