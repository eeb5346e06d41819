import { startChild } from '../../src/kit/child-process.ts';
import { makeTempDir } from '../../src/kit/temp-dir.ts';

// A process that owns a child and a temp dir as the bench and the tests do
// (src/kit/child-process.ts), for test/integration/child-cleanup.test.ts to
// end by a signal. With `answers`, it answers SIGTERM itself, as the bench
// does: it reports whether its child was still running when it did, then
// stops the child and ends with nothing left to wait for (exit code 0).

const child = startChild('sleep', ['120']);
const dir = makeTempDir('facegate-owner-');
const alive = setInterval(() => {}, 60_000);
if (process.argv[2] === 'answers') {
  process.on('SIGTERM', () => {
    console.log(JSON.stringify({ answered: true, childRunning: child.isRunning() }));
    clearInterval(alive);
    void child.stop();
  });
}
console.log(JSON.stringify({ pid: child.pid, dir }));
