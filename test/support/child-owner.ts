import { startChild } from '../../src/kit/child-process.ts';
import { makeTempDir } from '../../src/kit/temp-dir.ts';

// A process that owns a child and a temp dir as the bench and the tests do
// (src/kit/child-process.ts), for test/integration/child-cleanup.test.ts to
// end by a signal. With `answers`, it answers SIGTERM itself, as the bench
// does: it reports whether its child was still running when it did.

const child = startChild('sleep', ['120']);
const dir = makeTempDir('facegate-owner-');
if (process.argv[2] === 'answers') {
  process.on('SIGTERM', () => {
    console.log(JSON.stringify({ answered: true, childRunning: child.isRunning() }));
    process.exit(0);
  });
}
console.log(JSON.stringify({ pid: child.pid, dir }));
setInterval(() => {}, 60_000);
