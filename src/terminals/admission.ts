import type { Logger } from '../lib/log.ts';
import { createRateLimiter } from '../lib/rate-limit.ts';

export interface AdmissionOptions {
  /** MAX_TERMINALS. */
  maxTerminals: number;
  /** DISCOVERY_RATE, as COMMAND_RATE's schema gives it. */
  rate: { perSecond: number; burst: number };
  /** Terminals known now (presence): stored and registered. */
  known: () => number;
  log: Logger;
  now?: () => number;
  /** How often at most the warning about serials not learned is written. */
  warnEveryMs?: number;
}

/** Why a serial was not learned: the detail of its reject, or of the refusal. */
export type NotAdmitted = { limit: 'MAX_TERMINALS' | 'DISCOVERY_RATE'; detail: string };

/**
 * Whether a serial the bridge does not know may be learned now (README
 * §Topics, discovery): at most MAX_TERMINALS terminals known, at most
 * DISCOVERY_RATE new ones a second. Anyone connected to the broker can
 * publish on the upLink of a serial it makes up; each one learned costs a row,
 * a place in presence and two events with their deliveries. Only serials
 * presence does not know are asked about: a known terminal never comes here.
 */
export function createAdmission({ maxTerminals, rate, known, log, now = Date.now, warnEveryMs = 60_000 }: AdmissionOptions) {
  const bucket = createRateLimiter(rate, now);
  const full: NotAdmitted = { limit: 'MAX_TERMINALS', detail: `MAX_TERMINALS (${maxTerminals}) terminals are known` };
  const fast: NotAdmitted = { limit: 'DISCOVERY_RATE', detail: `over DISCOVERY_RATE (${rate.perSecond} new serials a second, burst ${rate.burst})` };
  // Not learned since the last warning: a flood is one line a minute, not a line a message.
  let overMax = 0;
  let overRate = 0;
  let last = '';
  let quiet: NodeJS.Timeout | undefined;

  function warn() {
    log.warn(
      { refused: overMax + overRate, overMaxTerminals: overMax, overDiscoveryRate: overRate, known: known(), maxTerminals, last },
      'new terminals not learned',
    );
    overMax = overRate = 0;
  }

  /** Warns now, then at most once per `warnEveryMs` while serials keep being refused. */
  function noted(reason: NotAdmitted, sn: string): NotAdmitted {
    if (reason === full) overMax += 1;
    else overRate += 1;
    last = sn;
    if (quiet === undefined) {
      warn();
      const again = () => {
        if (overMax + overRate === 0) {
          quiet = undefined;
          return;
        }
        warn();
        quiet = setTimeout(again, warnEveryMs).unref();
      };
      quiet = setTimeout(again, warnEveryMs).unref();
    }
    return reason;
  }

  return {
    /** undefined when `sn` may be learned now; else why not. */
    admit(sn: string): NotAdmitted | undefined {
      if (known() >= maxTerminals) return noted(full, sn);
      if (bucket.take('') > 0) return noted(fast, sn);
      return undefined;
    },
    /** Writes what was refused since the last warning. */
    stop() {
      clearTimeout(quiet);
      quiet = undefined;
      if (overMax + overRate > 0) warn();
    },
  };
}

export type Admission = ReturnType<typeof createAdmission>;
