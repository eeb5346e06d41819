import { type Logger, pino } from 'pino';

export type { Logger };

/** One structured JSON line per unit of work. Never a face image, a token or a secret. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'facegate' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}
