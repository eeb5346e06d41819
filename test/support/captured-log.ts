import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '../../src/lib/log.ts';

/** A logger whose lines the test reads back, each parsed from its JSON. */
export function capturedLog(): { log: Logger; lines: any[] } {
  const lines: any[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) =>
    lines.push(
      ...chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    ),
  );
  return { log: createLogger('info', stream), lines };
}
