// README §Quick start, Node.js: a door system must run on a Node.js that
// still gets security fixes. The end-of-life dates of the release lines
// facegate supports, from the Node.js release schedule; an odd (current,
// never LTS) line or one not listed here is not supported.

/** Last day of security fixes per major version (UTC). */
const END_OF_LIFE: Record<number, string> = {
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30',
};

/** The release line the README recommends. */
export const RECOMMENDED_NODE = 24;

export interface RuntimeSupport {
  major: number;
  /** Its end of life, when the line is one facegate supports. */
  endOfLife: string | undefined;
  /** `maintained`: still gets fixes; `ended`: past its end of life; `unknown`: a line facegate does not list. */
  status: 'maintained' | 'ended' | 'unknown';
}

/** What the running (or a given) Node.js version's line is, on `now`. */
export function runtimeSupport(version = process.version, now = new Date()): RuntimeSupport {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  const endOfLife = END_OF_LIFE[major];
  if (endOfLife === undefined) return { major, endOfLife, status: 'unknown' };
  // The whole last day still counts as maintained.
  const ended = now.getTime() >= Date.parse(`${endOfLife}T00:00:00Z`) + 86_400_000;
  return { major, endOfLife, status: ended ? 'ended' : 'maintained' };
}

/** One sentence for a warning, or undefined when the runtime is maintained. */
export function runtimeWarning(support: RuntimeSupport = runtimeSupport()): string | undefined {
  if (support.status === 'maintained') return undefined;
  if (support.status === 'ended')
    return `Node.js ${support.major} reached its end of life on ${support.endOfLife} and gets no security fixes: run Node.js ${RECOMMENDED_NODE} LTS`;
  return `Node.js ${support.major} is not a release line facegate supports: run Node.js ${RECOMMENDED_NODE} LTS (or 22, or 20.18.1 or later)`;
}

// What the bridge's process is started with: `npm start`, the systemd unit
// (wrangler-free.md), the container's image and the `facegate` command's
// first line all set these, and the benchmark starts its bridges with them
// (test/e2e/container.test.ts holds the four to them). README §Performance,
// Memory, says what each saves.

/** Node's flags: V8's young generation of 4 MB semi-spaces instead of up to 16 MB. */
export const NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * The environment glibc's allocator reads at the process's start: its mmap
 * threshold pinned at its default of 128 KiB. Left to itself glibc raises
 * it, and the trim threshold with it, to the largest block a thread has
 * freed (V8's compiler frees 2.2 MB ones), and every thread's heap then
 * keeps up to twice that free on top.
 */
export const ALLOCATOR_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: '131072' };
